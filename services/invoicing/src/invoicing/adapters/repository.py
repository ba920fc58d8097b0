"""Loading and saving invoicing's aggregates inside one unit of work."""

from __future__ import annotations

import json
from dataclasses import asdict
from uuid import UUID

import asyncpg

from ledgerline_contracts.invoicing import CustomerData, FactoringStatus, InvoiceLine, InvoiceOrigin
from servicekit.db import UnitOfWork

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
    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow
        self._clients: dict[str, Client] = {}

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

    def forget(self, client_id: str) -> None:
        self._clients.pop(client_id, None)

    async def save_client(self, client: Client) -> None:
        self._clients[client.client_id] = client
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
        row = await (await self._db()).fetchrow(
            "SELECT * FROM customers WHERE client_id = $1 AND number = $2", client_id, number
        )
        return _card(row) if row else None

    async def cards(self, client_id: str) -> list[CustomerCard]:
        rows = await (await self._db()).fetch("SELECT * FROM customers WHERE client_id = $1 ORDER BY number", client_id)
        return [_card(r) for r in rows]

    async def save_cards(self, client_id: str, cards: list[CustomerCard]) -> None:
        if not cards:
            return
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
        row = await (await self._db()).fetchrow(
            "SELECT * FROM invoices WHERE invoice_id = $1 AND client_id = $2 FOR UPDATE", invoice_id, client_id
        )
        return _invoice(row) if row else None

    async def record_settlement(self, client_id: str, number: str, customer_number: int, balance_ore: int) -> None:
        """What the ledger says is still open on the invoice; the rest (besides credit notes) counts as paid.

        Only this column changes, so a concurrent status update or command on the same invoice is never lost.
        """
        await (await self._db()).execute(
            "UPDATE invoices SET paid_ore = GREATEST(gross_ore - credited_ore - $4, 0) "
            "WHERE client_id = $1 AND number = $2 AND customer_number = $3",
            client_id,
            number,
            customer_number,
            balance_ore,
        )

    async def save_invoice(self, client_id: str, invoice: Invoice) -> None:
        await (await self._db()).execute(
            "INSERT INTO invoices (invoice_id, client_id, number, customer_number, origin, invoice_date, due_date, "
            "lines, net_ore, vat_ore, gross_ore, state, delivery_method, factoring_provider, factoring_status, "
            "factoring_description, status_sequence, reminders, debt_collection, legacy_transfer, paid_ore, "
            "credited_ore, sent_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, "
            "$17, $18, $19, $20, $21, $22, CASE WHEN $12 = 'sent' THEN now() END) "
            "ON CONFLICT (invoice_id) DO UPDATE SET number = EXCLUDED.number, state = EXCLUDED.state, "
            "delivery_method = EXCLUDED.delivery_method, factoring_provider = EXCLUDED.factoring_provider, "
            "factoring_status = EXCLUDED.factoring_status, factoring_description = EXCLUDED.factoring_description, "
            "status_sequence = EXCLUDED.status_sequence, reminders = EXCLUDED.reminders, "
            "debt_collection = EXCLUDED.debt_collection, legacy_transfer = EXCLUDED.legacy_transfer, "
            "paid_ore = EXCLUDED.paid_ore, credited_ore = EXCLUDED.credited_ore, "
            "sent_at = COALESCE(invoices.sent_at, EXCLUDED.sent_at)",
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
        )

    async def unsent_legacy_count(self, client_id: str) -> int:
        return int(
            await (await self._db()).fetchval(
                "SELECT count(*) FROM invoices WHERE client_id = $1 AND legacy_transfer = 'unsent'", client_id
            )
        )

    async def transfer_legacy(self, client_id: str) -> int:
        rows = await (await self._db()).fetch(
            "UPDATE invoices SET legacy_transfer = 'transferred' WHERE client_id = $1 AND legacy_transfer = 'unsent' "
            "RETURNING invoice_id",
            client_id,
        )
        return len(rows)

    async def record_status(
        self,
        client_id: str,
        invoice_id: UUID,
        sequence: int,
        status: str,
        description: str,
        provider_event_id: str | None,
        applied: bool,
    ) -> None:
        await (await self._db()).execute(
            "INSERT INTO factoring_status_history (client_id, invoice_id, sequence, status, description, "
            "provider_event_id, applied) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            client_id,
            invoice_id,
            sequence,
            status,
            description,
            provider_event_id,
            applied,
        )
