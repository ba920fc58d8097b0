"""Reads and writes of the gateway's tables inside one unit of work (asyncpg, arrays for the bulk paths)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

import asyncpg

from ledgerline_contracts.factoring import AccountRef
from ledgerline_contracts.financing import FinancingContext, OnboardingState
from ledgerline_contracts.invoicing import FactoringStatus
from ledgerline_contracts.ledger import AccountType, PartyKind
from servicekit.db import PostgresUnitOfWork

from ..domain.access import UserAccess
from ..domain.factored import FactoredInvoice
from ..domain.limits import CreditFigures
from ..domain.onboarding import Consent, Onboarding
from ..domain.postings import KnownAccount, KnownChart, KnownParty, PostingAccounts
from ..domain.stream import OpenItem, ReceivableStream


@dataclass(frozen=True, slots=True)
class Company:
    name: str
    organisation_number: str


@dataclass(frozen=True, slots=True)
class PostingSettings:
    enabled: bool
    accounts: PostingAccounts | None


def access_from_row(row: Mapping[str, Any]) -> UserAccess:
    return UserAccess(row["user_id"], row["name"], tuple(row["roles"]), frozenset(row["privileges"]), row["sequence"])


def _open_item(row: asyncpg.Record) -> OpenItem:
    return OpenItem(
        row["party"], row["open_item"], row["account"], row["original_ore"], row["balance_ore"], row["due_date"]
    )


def _onboarding(row: asyncpg.Record) -> Onboarding:
    return Onboarding(
        onboarding_id=row["onboarding_id"],
        client_id=row["client_id"],
        context=FinancingContext(row["context"]),
        consent=Consent(
            row["consent_given_by"], row["consent_given_at"], row["consent_text"], row["consent_text_version"]
        ),
        state=OnboardingState(row["state"]),
        refusal_code=row["refusal_code"],
        refusal_reason=row["refusal_reason"],
        withdrawn_by=row["withdrawn_by"],
        withdrawn_at=row["withdrawn_at"],
        withdrawal_reason=row["withdrawal_reason"],
    )


class FinancingRepository:
    def __init__(self, uow: PostgresUnitOfWork) -> None:
        self._uow = uow

    async def _db(self) -> asyncpg.Connection:
        return await self._uow.driver()

    # --- the per-client stream, which is also the per-client lock -------------------------------------------------
    async def lock_streams(self, client_ids: Iterable[str]) -> dict[str, ReceivableStream]:
        """The clients' stream rows, locked until commit (created when missing), in one order to avoid deadlocks."""
        ids = sorted(set(client_ids))
        if not ids:
            return {}
        db = await self._db()
        await db.execute(
            "INSERT INTO receivable_streams (client_id) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING", ids
        )
        rows = await db.fetch(
            "SELECT * FROM receivable_streams WHERE client_id = ANY($1::text[]) ORDER BY client_id FOR UPDATE", ids
        )
        return {
            r["client_id"]: ReceivableStream(
                r["client_id"],
                r["onboarding_id"],
                r["streaming"],
                r["last_sequence"],
                r["snapshots_sent"],
                r["changes_sent"],
                r["last_sent_at"],
            )
            for r in rows
        }

    async def save_streams(self, streams: Iterable[ReceivableStream]) -> None:
        rows = [
            (
                s.client_id,
                s.onboarding_id,
                s.streaming,
                s.last_sequence,
                s.snapshots_sent,
                s.changes_sent,
                s.last_sent_at,
            )
            for s in streams
        ]
        if not rows:
            return
        db = await self._db()
        await db.executemany(
            "UPDATE receivable_streams SET onboarding_id = $2, streaming = $3, last_sequence = $4, "
            "snapshots_sent = $5, changes_sent = $6, last_sent_at = $7 WHERE client_id = $1",
            rows,
        )

    # --- what invoicing told us -----------------------------------------------------------------------------------
    async def save_company(self, client_id: str, company: Company) -> None:
        db = await self._db()
        await db.execute(
            "INSERT INTO clients (client_id, company_name, organisation_number) VALUES ($1, $2, $3) "
            "ON CONFLICT (client_id) DO UPDATE SET company_name = EXCLUDED.company_name, "
            "organisation_number = EXCLUDED.organisation_number, updated_at = now()",
            client_id,
            company.name,
            company.organisation_number,
        )

    async def company(self, client_id: str) -> Company | None:
        db = await self._db()
        row = await db.fetchrow("SELECT company_name, organisation_number FROM clients WHERE client_id = $1", client_id)
        return Company(row["company_name"], row["organisation_number"]) if row else None

    async def user_access(self, client_id: str, user_id: str) -> UserAccess | None:
        db = await self._db()
        row = await db.fetchrow("SELECT * FROM users WHERE client_id = $1 AND user_id = $2", client_id, user_id)
        return access_from_row(row) if row else None

    async def save_user_access(self, client_id: str, access: UserAccess) -> None:
        """Stores the announcement unless a newer one is already there (the database decides, race-free)."""
        db = await self._db()
        await db.execute(
            "INSERT INTO users AS u (client_id, user_id, name, roles, privileges, sequence) "
            "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (client_id, user_id) DO UPDATE SET name = EXCLUDED.name, "
            "roles = EXCLUDED.roles, privileges = EXCLUDED.privileges, sequence = EXCLUDED.sequence, "
            "updated_at = now() WHERE u.sequence < EXCLUDED.sequence",
            client_id,
            access.user_id,
            access.name,
            list(access.roles),
            sorted(access.privileges),
            access.sequence,
        )

    # --- what the ledger told us ----------------------------------------------------------------------------------
    async def save_accounts(self, rows: Sequence[tuple[str, str, str, str | None]]) -> None:
        """(client, number, account type, control role) rows."""
        if not rows:
            return
        db = await self._db()
        await db.executemany(
            "INSERT INTO ledger_accounts (client_id, number, account_type, control_role) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT (client_id, number) DO UPDATE SET account_type = EXCLUDED.account_type, "
            "control_role = EXCLUDED.control_role",
            rows,
        )

    async def save_parties(self, rows: Sequence[tuple[str, int, str, str, str]]) -> None:
        """(client, number, name, kind, control account) rows."""
        if not rows:
            return
        db = await self._db()
        await db.executemany(
            "INSERT INTO ledger_parties (client_id, number, name, kind, control_account) VALUES ($1, $2, $3, $4, $5) "
            "ON CONFLICT (client_id, number) DO UPDATE SET name = EXCLUDED.name, kind = EXCLUDED.kind, "
            "control_account = EXCLUDED.control_account",
            rows,
        )

    async def chart(self, client_id: str) -> KnownChart:
        db = await self._db()
        accounts = await db.fetch("SELECT * FROM ledger_accounts WHERE client_id = $1", client_id)
        parties = await db.fetch("SELECT * FROM ledger_parties WHERE client_id = $1", client_id)
        return KnownChart(
            accounts={
                r["number"]: KnownAccount(AccountType(r["account_type"]), r["control_role"] is not None)
                for r in accounts
            },
            parties={r["number"]: KnownParty(PartyKind(r["kind"]), r["control_account"]) for r in parties},
        )

    async def party_names(self, keys: Iterable[tuple[str, int]]) -> dict[tuple[str, int], str]:
        keys = sorted(set(keys))
        if not keys:
            return {}
        db = await self._db()
        rows = await db.fetch(
            "SELECT p.client_id, p.number, p.name FROM ledger_parties p "
            "JOIN unnest($1::text[], $2::int[]) AS k(client_id, number) "
            "ON p.client_id = k.client_id AND p.number = k.number",
            [k[0] for k in keys],
            [k[1] for k in keys],
        )
        return {(r["client_id"], r["number"]): r["name"] for r in rows}

    async def pledgeable_open_items(self, client_id: str) -> list[OpenItem]:
        """The client's open items that no factoring provider holds: what Buffer may have."""
        db = await self._db()
        rows = await db.fetch(
            "SELECT o.* FROM open_items o WHERE o.client_id = $1 AND NOT EXISTS (SELECT 1 FROM factored_invoices f "
            "WHERE f.held AND f.client_id = o.client_id AND f.party = o.party AND f.open_item = o.open_item) "
            "ORDER BY o.party, o.open_item",
            client_id,
        )
        return [_open_item(r) for r in rows]

    async def open_items_by_key(self, keys: Iterable[tuple[str, int, str]]) -> dict[tuple[str, int, str], OpenItem]:
        keys = sorted(set(keys))
        if not keys:
            return {}
        db = await self._db()
        rows = await db.fetch(
            "SELECT o.* FROM open_items o JOIN unnest($1::text[], $2::int[], $3::text[]) AS k(client_id, party, item) "
            "ON o.client_id = k.client_id AND o.party = k.party AND o.open_item = k.item",
            [k[0] for k in keys],
            [k[1] for k in keys],
            [k[2] for k in keys],
        )
        return {(r["client_id"], r["party"], r["open_item"]): _open_item(r) for r in rows}

    async def save_open_items(self, items: dict[tuple[str, int, str], OpenItem]) -> None:
        """Writes each item's latest state: open ones are upserted, settled ones (balance 0) removed."""
        open_rows = [
            (client, i.party, i.open_item, i.account, i.original_ore, i.balance_ore, i.due_date)
            for (client, _, _), i in items.items()
            if i.balance_ore != 0
        ]
        settled = [key for key, i in items.items() if i.balance_ore == 0]
        db = await self._db()
        if open_rows:
            await db.execute(  # one statement for the batch (the rows' keys are distinct)
                "INSERT INTO open_items (client_id, party, open_item, account, original_ore, balance_ore, due_date) "
                "SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], "
                "$7::date[]) ON CONFLICT (client_id, party, open_item) DO UPDATE SET "
                "account = EXCLUDED.account, original_ore = EXCLUDED.original_ore, "
                "balance_ore = EXCLUDED.balance_ore, due_date = EXCLUDED.due_date, updated_at = now()",
                *(list(column) for column in zip(*open_rows, strict=True)),
            )
        if settled:
            await db.execute(
                "DELETE FROM open_items o USING unnest($1::text[], $2::int[], $3::text[]) AS k(client_id, party, item) "
                "WHERE o.client_id = k.client_id AND o.party = k.party AND o.open_item = k.item",
                [k[0] for k in settled],
                [k[1] for k in settled],
                [k[2] for k in settled],
            )

    # --- invoices a factoring provider holds -----------------------------------------------------------------------
    async def factored_invoices(self, keys: Iterable[tuple[str, UUID]]) -> dict[tuple[str, UUID], FactoredInvoice]:
        """The invoices known by (client, invoice id) among `keys`."""
        keys = sorted(set(keys))
        if not keys:
            return {}
        db = await self._db()
        rows = await db.fetch(
            "SELECT f.* FROM factored_invoices f JOIN unnest($1::text[], $2::uuid[]) AS k(client_id, invoice_id) "
            "ON f.client_id = k.client_id AND f.invoice_id = k.invoice_id",
            [k[0] for k in keys],
            [k[1] for k in keys],
        )
        return {
            (r["client_id"], r["invoice_id"]): FactoredInvoice(
                r["invoice_id"],
                r["provider"],
                r["party"],
                r["open_item"],
                FactoringStatus(r["status"]) if r["status"] else None,
                r["status_sequence"],
            )
            for r in rows
        }

    async def save_factored_invoices(self, invoices: Mapping[tuple[str, UUID], FactoredInvoice]) -> None:
        """Writes each invoice's latest state, with whether it holds its open item now (one statement)."""
        rows = [
            (
                client,
                i.invoice_id,
                i.provider,
                i.party,
                i.open_item,
                i.status and i.status.value,
                i.status_sequence,
                i.held,
            )
            for (client, _), i in invoices.items()
        ]
        if not rows:
            return
        db = await self._db()
        await db.execute(
            "INSERT INTO factored_invoices (client_id, invoice_id, provider, party, open_item, status, "
            "status_sequence, held) SELECT * FROM unnest($1::text[], $2::uuid[], $3::text[], $4::int[], $5::text[], "
            "$6::text[], $7::bigint[], $8::boolean[]) ON CONFLICT (client_id, invoice_id) DO UPDATE SET "
            "provider = EXCLUDED.provider, party = EXCLUDED.party, open_item = EXCLUDED.open_item, "
            "status = EXCLUDED.status, status_sequence = EXCLUDED.status_sequence, held = EXCLUDED.held, "
            "updated_at = now()",
            *(list(column) for column in zip(*rows, strict=True)),
        )

    async def held_items(self, keys: Iterable[tuple[str, int, str]]) -> set[tuple[str, int, str]]:
        """Which of these open items (client, party, invoice number) a factoring provider holds."""
        keys = sorted(set(keys))
        if not keys:
            return set()
        db = await self._db()
        rows = await db.fetch(
            "SELECT DISTINCT f.client_id, f.party, f.open_item FROM factored_invoices f "
            "JOIN unnest($1::text[], $2::int[], $3::text[]) AS k(client_id, party, item) "
            "ON f.client_id = k.client_id AND f.party = k.party AND f.open_item = k.item WHERE f.held",
            [k[0] for k in keys],
            [k[1] for k in keys],
            [k[2] for k in keys],
        )
        return {(r["client_id"], r["party"], r["open_item"]) for r in rows}

    # --- onboardings ----------------------------------------------------------------------------------------------
    async def onboarding(self, onboarding_id: UUID) -> Onboarding | None:
        db = await self._db()
        row = await db.fetchrow("SELECT * FROM onboardings WHERE onboarding_id = $1", onboarding_id)
        return _onboarding(row) if row else None

    async def save_onboarding(self, onboarding: Onboarding) -> None:
        db = await self._db()
        o = onboarding
        await db.execute(
            "INSERT INTO onboardings (onboarding_id, client_id, context, state, consent_given_by, consent_given_at, "
            "consent_text, consent_text_version, refusal_code, refusal_reason, withdrawn_by, withdrawn_at, "
            "withdrawal_reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) "
            "ON CONFLICT (onboarding_id) DO UPDATE SET state = EXCLUDED.state, refusal_code = EXCLUDED.refusal_code, "
            "refusal_reason = EXCLUDED.refusal_reason, withdrawn_by = EXCLUDED.withdrawn_by, "
            "withdrawn_at = EXCLUDED.withdrawn_at, withdrawal_reason = EXCLUDED.withdrawal_reason, updated_at = now()",
            o.onboarding_id,
            o.client_id,
            o.context.value,
            o.state.value,
            o.consent.user_id,
            o.consent.given_at,
            o.consent.text,
            o.consent.text_version,
            o.refusal_code,
            o.refusal_reason,
            o.withdrawn_by,
            o.withdrawn_at,
            o.withdrawal_reason,
        )

    # --- credit limits --------------------------------------------------------------------------------------------
    async def latest_credit(self, client_id: str) -> CreditFigures | None:
        db = await self._db()
        row = await db.fetchrow("SELECT * FROM credit_limits WHERE client_id = $1 ORDER BY id DESC LIMIT 1", client_id)
        if row is None:
            return None
        return CreditFigures(
            row["onboarding_id"],
            row["limit_ore"],
            row["used_ore"],
            row["available_ore"],
            row["based_on_sequence"],
            row["calculated_at"],
        )

    async def add_credit(self, client_id: str, figures: CreditFigures) -> None:
        db = await self._db()
        await db.execute(
            "INSERT INTO credit_limits (client_id, onboarding_id, limit_ore, used_ore, available_ore, "
            "based_on_sequence, calculated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            client_id,
            figures.onboarding_id,
            figures.limit_ore,
            figures.used_ore,
            figures.available_ore,
            figures.based_on_sequence,
            figures.calculated_at,
        )

    async def confirm_credit(self, client_id: str, figures: CreditFigures) -> None:
        """The shown figures still hold at a newer position: move the latest row's basis forward."""
        db = await self._db()
        await db.execute(
            "UPDATE credit_limits SET based_on_sequence = $2, calculated_at = $3 "
            "WHERE id = (SELECT max(id) FROM credit_limits WHERE client_id = $1)",
            client_id,
            figures.based_on_sequence,
            figures.calculated_at,
        )

    # --- postings -------------------------------------------------------------------------------------------------
    async def posting_settings(self, client_id: str) -> PostingSettings:
        db = await self._db()
        row = await db.fetchrow("SELECT * FROM posting_settings WHERE client_id = $1", client_id)
        if row is None or not row["enabled"]:
            return PostingSettings(False, None)
        liability = AccountRef(account=row["liability_account"], party=row["liability_party"])
        return PostingSettings(True, PostingAccounts(row["bank_account"], liability))

    async def save_posting_settings(
        self, client_id: str, accounts: PostingAccounts | None, changed_by: str, changed_at: datetime
    ) -> None:
        """Enabled with `accounts`, disabled without them."""
        db = await self._db()
        await db.execute(
            "INSERT INTO posting_settings (client_id, enabled, bank_account, liability_account, liability_party, "
            "changed_by, changed_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (client_id) DO UPDATE SET "
            "enabled = EXCLUDED.enabled, bank_account = EXCLUDED.bank_account, "
            "liability_account = EXCLUDED.liability_account, liability_party = EXCLUDED.liability_party, "
            "changed_by = EXCLUDED.changed_by, changed_at = EXCLUDED.changed_at",
            client_id,
            accounts is not None,
            accounts.bank_account if accounts else None,
            accounts.liability.account if accounts else None,
            accounts.liability.party if accounts else None,
            changed_by,
            changed_at,
        )

    async def record_transaction(
        self, client_id: str, kind: str, transaction_id: str, amount_ore: int, on: date, key: str | None
    ) -> bool:
        """True the first time this transaction is seen; False for a repeat (which must change nothing)."""
        db = await self._db()
        inserted = await db.fetchval(
            "INSERT INTO provider_transactions (client_id, kind, transaction_id, amount_ore, transaction_date, "
            "idempotency_key) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING 1",
            client_id,
            kind,
            transaction_id,
            amount_ore,
            on,
            key,
        )
        return bool(inserted)
