"""Loading and saving invoicing's aggregates inside one unit of work."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict
from datetime import date
from uuid import UUID

import asyncpg

from ledgerline_contracts.invoicing import (
    Address,
    CustomerData,
    FactoringStatus,
    FollowUp,
    InvoiceLine,
    InvoiceOrigin,
)
from ledgerline_contracts.norway import KidScheme
from servicekit.db import PostgresUnitOfWork

from ..domain.model import (
    Client,
    CustomerCard,
    Integration,
    IntegrationState,
    Invoice,
    InvoiceState,
    PostingAccounts,
    User,
)


def _client(row: asyncpg.Record) -> Client:
    # JSONB arrives decoded: SQLAlchemy's asyncpg dialect installs the codec on every pooled connection.
    settings = row["settings"]
    integration = row["integration"]
    return Client(
        client_id=row["client_id"],
        company_name=row["company_name"],
        organisation_number=row["organisation_number"],
        legacy_factoring=settings["legacy_factoring"],
        reminders=settings["reminders"],
        debt_collection=settings["debt_collection"],
        e_invoice_agreement=settings["e_invoice_agreement"],
        address=Address.model_validate(settings["address"]) if settings.get("address") else None,
        vat_registered=settings.get("vat_registered", False),
        kid_scheme=KidScheme(settings.get("kid_scheme", KidScheme.MOD10)),
        follow_up={FollowUp(kind): name for kind, name in settings.get("follow_up", {}).items()},
        closed_through=date.fromisoformat(settings["closed_through"]) if settings.get("closed_through") else None,
        integration=Integration(
            integration["provider"],
            IntegrationState(integration["state"]),
            UUID(integration["request_id"]),
            integration.get("display_name"),
        )
        if integration
        else None,
        roles={name: set(privileges) for name, privileges in row["roles"].items()},
        users={u["user_id"]: User(u["user_id"], u["name"], set(u["roles"])) for u in row["users"]},
        accounts=PostingAccounts(**row["accounts"]),
        next_customer_number=row["next_customer_number"],
        next_invoice_number=row["next_invoice_number"],
        privilege_sequence=row["privilege_sequence"],
    )


def _invoice(row: asyncpg.Record) -> Invoice:
    return Invoice(
        invoice_id=row["invoice_id"],
        customer_number=row["customer_number"],
        origin=InvoiceOrigin(row["origin"]),
        invoice_date=row["invoice_date"],
        due_date=row["due_date"],
        lines=[InvoiceLine.model_validate(line) for line in row["lines"]],
        net_ore=row["net_ore"],
        vat_ore=row["vat_ore"],
        gross_ore=row["gross_ore"],
        state=InvoiceState(row["state"]),
        number=row["number"],
        delivery_method=row["delivery_method"],
        factoring_provider=row["factoring_provider"],
        factoring_status=FactoringStatus(row["factoring_status"]) if row["factoring_status"] else None,
        factoring_description=row["factoring_description"],
        status_sequence=row["status_sequence"],
        reminders=row["reminders"],
        debt_collection=row["debt_collection"],
        legacy_transfer=row["legacy_transfer"],
        paid_ore=row["paid_ore"],
        credited_ore=row["credited_ore"],
        passed_on_ore=row["passed_on_ore"],
    )


_INVOICE_COLUMNS = {
    "invoice_id": "uuid",
    "client_id": "text",
    "number": "text",
    "customer_number": "int",
    "origin": "text",
    "invoice_date": "date",
    "due_date": "date",
    "lines": "jsonb",
    "net_ore": "bigint",
    "vat_ore": "bigint",
    "gross_ore": "bigint",
    "state": "text",
    "delivery_method": "text",
    "factoring_provider": "text",
    "factoring_status": "text",
    "factoring_description": "text",
    "status_sequence": "int",
    "reminders": "boolean",
    "debt_collection": "boolean",
    "legacy_transfer": "text",
    "paid_ore": "bigint",
    "credited_ore": "bigint",
    "passed_on_ore": "bigint",
}
"""The columns `_invoice_row` fills, in its order, with their types (for one array per column)."""
_NAMES = ", ".join(_INVOICE_COLUMNS)
_ARRAYS = ", ".join(f"${n}::{kind}[]" for n, kind in enumerate(_INVOICE_COLUMNS.values(), 1))
_UPSERT_INVOICES = (
    # One statement for a batch's invoices (their ids are distinct): unnest() of one array per column. An invoice
    # id is global and belongs to the client that created it: a row of another client is never overwritten, and
    # RETURNING names the rows written, so `flush` sees any that were not.
    f"INSERT INTO invoices ({_NAMES}, sent_at) SELECT u.*, CASE WHEN u.state = 'sent' THEN now() END "
    f"FROM unnest({_ARRAYS}) AS u({_NAMES}) "
    "ON CONFLICT (invoice_id) DO UPDATE SET number = EXCLUDED.number, state = EXCLUDED.state, "
    "delivery_method = EXCLUDED.delivery_method, factoring_provider = EXCLUDED.factoring_provider, "
    "factoring_status = EXCLUDED.factoring_status, factoring_description = EXCLUDED.factoring_description, "
    "status_sequence = EXCLUDED.status_sequence, reminders = EXCLUDED.reminders, "
    "debt_collection = EXCLUDED.debt_collection, legacy_transfer = EXCLUDED.legacy_transfer, "
    "paid_ore = EXCLUDED.paid_ore, credited_ore = EXCLUDED.credited_ore, passed_on_ore = EXCLUDED.passed_on_ore, "
    "sent_at = COALESCE(invoices.sent_at, EXCLUDED.sent_at) "
    "WHERE invoices.client_id = EXCLUDED.client_id "
    "RETURNING invoice_id"
)


class InvoiceIdTaken(RuntimeError):
    """Invoices this batch wrote whose ids another client's transaction had taken first (committed after this batch
    read them as free). The batch fails and is retried; the retry reads the other client's invoice and refuses the
    command that named it (`rules.check_invoice_owner`)."""

    def __init__(self, invoice_ids: Iterable[UUID]) -> None:
        self.invoice_ids = sorted(invoice_ids)
        super().__init__(f"invoice ids taken by another client meanwhile: {', '.join(map(str, self.invoice_ids))}")


def _invoice_row(client_id: str, invoice: Invoice) -> tuple[object, ...]:
    return (
        invoice.invoice_id,
        client_id,
        invoice.number,
        invoice.customer_number,
        invoice.origin.value,
        invoice.invoice_date,
        invoice.due_date,
        json.dumps([line.model_dump(mode="json") for line in invoice.lines]),
        invoice.net_ore,
        invoice.vat_ore,
        invoice.gross_ore,
        invoice.state.value,
        invoice.delivery_method,
        invoice.factoring_provider,
        invoice.factoring_status.value if invoice.factoring_status else None,
        invoice.factoring_description,
        invoice.status_sequence,
        invoice.reminders,
        invoice.debt_collection,
        invoice.legacy_transfer,
        invoice.paid_ore,
        invoice.credited_ore,
        invoice.passed_on_ore,
    )


def _card(row: asyncpg.Record) -> CustomerCard:
    return CustomerCard(
        row["number"],
        CustomerData.model_validate(row["data"]),
        row["use_factoring"],
        row["delivery_method"],
        row["delivery_method_before_factoring"],
    )


class InvoicingRepository:
    """Clients, cards and invoices of one unit of work: each read once (invoices and clients locked), changed in
    memory, written once by `flush()` at the end of the batch."""

    def __init__(self, uow: PostgresUnitOfWork) -> None:
        self._uow = uow
        self._clients: dict[str, Client] = {}
        self._cards: dict[tuple[str, int], CustomerCard | None] = {}
        self._invoices: dict[UUID, tuple[str, Invoice] | None] = {}  # None: known not to exist
        self._dirty_clients: set[str] = set()
        self._dirty_invoices: set[UUID] = set()

    async def flush(self) -> None:
        for client_id in sorted(self._dirty_clients):
            await self._write_client(self._clients[client_id])
        dirty = [found for i in self._dirty_invoices if (found := self._invoices[i]) is not None]
        if dirty:
            rows = [_invoice_row(c, inv) for c, inv in dirty]
            written = await (await self._db()).fetch(
                _UPSERT_INVOICES, *(list(column) for column in zip(*rows, strict=True))
            )
            if len(written) != len(rows):
                raise InvoiceIdTaken({inv.invoice_id for _, inv in dirty} - {r["invoice_id"] for r in written})
        self._dirty_clients.clear()
        self._dirty_invoices.clear()

    async def _db(self) -> asyncpg.Connection:
        return await self._uow.driver()

    # --- clients --------------------------------------------------------------------------------------------------
    async def client(self, client_id: str) -> Client | None:
        if client_id not in self._clients:
            row = await (await self._db()).fetchrow("SELECT * FROM clients WHERE client_id = $1 FOR UPDATE", client_id)
            if row is None:
                return None
            self._clients[client_id] = _client(row)
        return self._clients[client_id]

    async def save_client(self, client: Client) -> None:
        self._clients[client.client_id] = client
        self._dirty_clients.add(client.client_id)

    async def _write_client(self, client: Client) -> None:
        integration = client.integration
        await (await self._db()).execute(
            "INSERT INTO clients (client_id, company_name, organisation_number, settings, integration, roles, users, "
            "accounts, next_customer_number, next_invoice_number, privilege_sequence) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (client_id) DO UPDATE SET "
            "company_name = EXCLUDED.company_name, settings = EXCLUDED.settings, integration = EXCLUDED.integration, "
            "roles = EXCLUDED.roles, users = EXCLUDED.users, accounts = EXCLUDED.accounts, "
            "next_customer_number = EXCLUDED.next_customer_number, next_invoice_number = EXCLUDED.next_invoice_number, "
            "privilege_sequence = EXCLUDED.privilege_sequence",
            client.client_id,
            client.company_name,
            client.organisation_number,
            json.dumps(
                {
                    "legacy_factoring": client.legacy_factoring,
                    "reminders": client.reminders,
                    "debt_collection": client.debt_collection,
                    "e_invoice_agreement": client.e_invoice_agreement,
                    "address": client.address.model_dump(mode="json") if client.address else None,
                    "vat_registered": client.vat_registered,
                    "kid_scheme": client.kid_scheme.value,
                    "follow_up": {kind.value: name for kind, name in client.follow_up.items()},
                    "closed_through": client.closed_through.isoformat() if client.closed_through else None,
                }
            ),
            json.dumps(
                {
                    "provider": integration.provider,
                    "state": integration.state.value,
                    "request_id": str(integration.request_id),
                    "display_name": integration.display_name,
                }
            )
            if integration
            else None,
            json.dumps({name: sorted(p) for name, p in client.roles.items()}),
            json.dumps(
                [{"user_id": u.user_id, "name": u.name, "roles": sorted(u.roles)} for u in client.users.values()]
            ),
            json.dumps(asdict(client.accounts)),
            client.next_customer_number,
            client.next_invoice_number,
            client.privilege_sequence,
        )

    # --- customer cards -------------------------------------------------------------------------------------------
    async def card(self, client_id: str, number: int) -> CustomerCard | None:
        if (client_id, number) not in self._cards:
            row = await (await self._db()).fetchrow(
                "SELECT * FROM customers WHERE client_id = $1 AND number = $2", client_id, number
            )
            self._cards[(client_id, number)] = _card(row) if row else None
        return self._cards[(client_id, number)]

    async def load_cards(self, keys: Iterable[tuple[str, int]]) -> None:
        """Reads every card a batch will use, in one statement (a card that does not exist is remembered too)."""
        wanted = sorted(set(keys) - self._cards.keys())
        if wanted:
            rows = await (await self._db()).fetch(
                "SELECT c.* FROM customers c JOIN unnest($1::text[], $2::int[]) AS k(client_id, number) "
                "ON c.client_id = k.client_id AND c.number = k.number",
                [k[0] for k in wanted],
                [k[1] for k in wanted],
            )
            self._cards.update(dict.fromkeys(wanted))
            self._cards.update({(r["client_id"], r["number"]): _card(r) for r in rows})

    async def cards(self, client_id: str) -> list[CustomerCard]:
        rows = await (await self._db()).fetch("SELECT * FROM customers WHERE client_id = $1 ORDER BY number", client_id)
        return [_card(r) for r in rows]

    async def save_cards(self, client_id: str, cards: list[CustomerCard]) -> None:
        if not cards:
            return
        self._cards.update({(client_id, card.number): card for card in cards})
        await (await self._db()).executemany(
            "INSERT INTO customers (client_id, number, data, use_factoring, delivery_method, "
            "delivery_method_before_factoring) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (client_id, number) "
            "DO UPDATE SET data = EXCLUDED.data, use_factoring = EXCLUDED.use_factoring, "
            "delivery_method = EXCLUDED.delivery_method, "
            "delivery_method_before_factoring = EXCLUDED.delivery_method_before_factoring, updated_at = now()",
            [
                (
                    client_id,
                    c.number,
                    c.data.model_dump_json(),
                    c.use_factoring,
                    c.delivery_method,
                    c.delivery_method_before_factoring,
                )
                for c in cards
            ],
        )

    # --- invoices -------------------------------------------------------------------------------------------------
    async def invoice(self, client_id: str, invoice_id: UUID) -> Invoice | None:
        """The invoice, locked until commit: commands and status updates never overwrite each other."""
        if invoice_id not in self._invoices:
            await self.load_invoices([invoice_id])
        found = self._invoices.get(invoice_id)
        return found[1] if found and found[0] == client_id else None

    async def owner(self, invoice_id: UUID) -> str | None:
        """The client the invoice id belongs to (read and locked as `invoice` reads it), or None if it is free."""
        if invoice_id not in self._invoices:
            await self.load_invoices([invoice_id])
        found = self._invoices.get(invoice_id)
        return found[0] if found else None

    async def load_invoices(self, invoice_ids: Iterable[UUID]) -> None:
        """Reads (and locks) every invoice a batch will touch, in one statement."""
        wanted = sorted(set(invoice_ids) - self._invoices.keys())
        if wanted:
            rows = await (await self._db()).fetch(
                "SELECT * FROM invoices WHERE invoice_id = ANY($1::uuid[]) ORDER BY invoice_id FOR UPDATE", wanted
            )
            self._invoices.update(dict.fromkeys(wanted))
            self._invoices.update({r["invoice_id"]: (r["client_id"], _invoice(r)) for r in rows})

    async def save_invoice(self, client_id: str, invoice: Invoice) -> None:
        self._invoices[invoice.invoice_id] = (client_id, invoice)
        self._dirty_invoices.add(invoice.invoice_id)

    async def record_closed_periods(self, periods: Iterable[tuple[str, date]]) -> None:
        """(client, closed through) from the ledger; only ever moves forward. Clients are locked first, as the
        command consumer locks them, so the two never deadlock and neither overwrites the other."""
        rows = sorted(periods)
        if rows:
            await (await self._db()).executemany(
                "UPDATE clients SET settings = jsonb_set(settings, '{closed_through}', to_jsonb($2::text)) "
                "WHERE client_id = $1 AND (settings->>'closed_through' IS NULL OR settings->>'closed_through' < $2)",
                [(client, day.isoformat()) for client, day in rows],
            )

    async def reopen_period(self, client_id: str, closed_through: date | None) -> None:
        """The ledger re-opened a closed period: its word replaces ours, backwards too."""
        await (await self._db()).execute(
            "UPDATE clients SET settings = CASE WHEN $2::text IS NULL THEN settings - 'closed_through' "
            "ELSE jsonb_set(settings, '{closed_through}', to_jsonb($2::text)) END WHERE client_id = $1",
            client_id,
            closed_through.isoformat() if closed_through else None,
        )

    async def record_settlements(self, open_items: Iterable[tuple[str, str, int, int]]) -> None:
        """(client, invoice number, customer, balance) from the ledger: what is open is what is not yet paid
        (credit notes aside). Only this column changes, so no concurrent status update or command is lost."""
        rows = list(open_items)
        if rows:
            await (await self._db()).execute(
                "UPDATE invoices i SET paid_ore = GREATEST(i.gross_ore - i.credited_ore - s.balance, 0) "
                "FROM unnest($1::text[], $2::text[], $3::int[], $4::bigint[]) AS s(client_id, number, customer, "
                "balance) WHERE i.client_id = s.client_id AND i.number = s.number AND i.customer_number = s.customer",
                [r[0] for r in rows],
                [r[1] for r in rows],
                [r[2] for r in rows],
                [r[3] for r in rows],
            )

    async def record_booking_problems(self, problems: Iterable[tuple[str, str, UUID, str | None, str, str]]) -> None:
        """(idempotency key, client, invoice, event type, code, reason) of bookings the ledger refused."""
        rows = list(problems)
        if rows:
            await (await self._db()).executemany(
                "INSERT INTO booking_problems (idempotency_key, client_id, invoice_id, event_type, code, reason) "
                "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (client_id, idempotency_key) DO NOTHING",
                rows,
            )

    async def unsent_legacy_count(self, client_id: str) -> int:
        await self.flush()  # invoices sent earlier in this batch count too
        return int(
            await (await self._db()).fetchval(
                "SELECT count(*) FROM invoices WHERE client_id = $1 AND legacy_transfer = 'unsent'", client_id
            )
        )

    async def transfer_legacy(self, client_id: str) -> int:
        await self.flush()
        self._invoices.clear()  # the update below changes invoices behind the cache
        rows = await (await self._db()).fetch(
            "UPDATE invoices SET legacy_transfer = 'transferred' WHERE client_id = $1 AND legacy_transfer = 'unsent' "
            "RETURNING invoice_id",
            client_id,
        )
        return len(rows)

    async def record_statuses(self, history: list[tuple[str, UUID, int, str, str, str | None, bool]]) -> None:
        """Status history rows (client, invoice, sequence, status, description, provider event, applied)."""
        if history:
            await (await self._db()).copy_records_to_table(
                "factoring_status_history",
                records=history,
                columns=[
                    "client_id",
                    "invoice_id",
                    "sequence",
                    "status",
                    "description",
                    "provider_event_id",
                    "applied",
                ],
            )
