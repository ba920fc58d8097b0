"""Reads and writes of the ledger's tables inside one unit of work. Bulk paths use asyncpg COPY and arrays."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol
from uuid import UUID

import asyncpg
import orjson

from ledgerline_contracts.ledger import AccountType, BookingSource, ControlRole, PartyKind
from servicekit.db import PostgresUnitOfWork

from ..domain.chart import Account, Chart, Party, Series
from ..domain.rules import Line


@dataclass(slots=True)
class NewVoucher:
    id: UUID
    client_id: str
    series: str
    voucher_date: date
    text: str
    idempotency_key: str
    command_id: UUID
    source: BookingSource
    lines: list[Line]
    reverses_voucher_id: UUID | None = None
    number: int = 0
    commanded_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class StoredVoucher:
    id: UUID
    client_id: str
    series: str
    number: int
    voucher_date: date
    reversed: bool
    lines: list[Line]


class ChartCache:
    """Charts by client, reloaded when the chart's version in the database moved (any instance changed it)."""

    def __init__(self) -> None:
        self._charts: dict[str, Chart] = {}

    def get(self, client_id: str) -> Chart | None:
        return self._charts.get(client_id)

    def put(self, chart: Chart) -> None:
        self._charts[chart.client_id] = chart

    def forget(self, client_id: str) -> None:
        self._charts.pop(client_id, None)


OpenItemKey = tuple[str, int, str]
"""(client, customer party, open item): an invoice's receivable."""


@dataclass(frozen=True, slots=True)
class OpenItemMove:
    """What a batch's postings add to one open item."""

    account: str
    original_ore: int
    balance_ore: int
    due_date: date | None


@dataclass(frozen=True, slots=True)
class OpenItemBalance:
    account: str
    original_ore: int
    balance_ore: int
    due_date: date | None


@dataclass(frozen=True, slots=True)
class OperatorAction:
    """One command of a platform operator, as the ledger's record of operator actions keeps it."""

    client_id: str
    command_id: UUID
    command_type: str
    operator: str
    accepted: bool
    reason: str | None
    details: Mapping[str, object]


class Repository(Protocol):
    """What the handlers read and write in one unit of work: `LedgerRepository` over PostgreSQL, and
    `adapters.memory.InMemoryLedgerRepository` for the handlers' unit tests."""

    async def charts(self, client_ids: Iterable[str]) -> dict[str, Chart]: ...

    async def open_books(self, client_id: str, company_name: str) -> bool: ...

    async def save_account(self, client_id: str, account: Account) -> None: ...

    async def save_series(self, client_id: str, series: Series) -> None: ...

    async def save_party(self, client_id: str, party: Party) -> None: ...

    async def close_period(self, client_id: str, through: date) -> None: ...

    async def reopen_period(self, client_id: str, closed_through: date | None) -> None: ...

    async def record_operator_actions(self, actions: Sequence[OperatorAction]) -> None: ...

    async def bump_chart_versions(self, client_ids: Iterable[str]) -> dict[str, int]: ...

    async def allocate_numbers(self, counts: dict[tuple[str, str], int]) -> dict[tuple[str, str], int]: ...

    async def insert_vouchers(self, vouchers: Sequence[NewVoucher]) -> None: ...

    async def record_rejection(
        self, client_id: str, key: str, command_id: UUID, code: str, reason: str, source: BookingSource | None
    ) -> None: ...

    async def earlier_outcome(self, client_id: str, key: str) -> dict[str, object] | None: ...

    async def voucher(self, client_id: str, voucher_id: UUID) -> StoredVoucher | None: ...

    async def move_open_items(
        self, moves: Mapping[OpenItemKey, OpenItemMove]
    ) -> dict[OpenItemKey, OpenItemBalance]: ...


class LedgerRepository:
    def __init__(self, uow: PostgresUnitOfWork, charts: ChartCache) -> None:
        self._uow = uow
        self._charts = charts

    async def _db(self) -> asyncpg.Connection:
        return await self._uow.driver()

    # --- charts ---------------------------------------------------------------------------------------------------
    async def charts(self, client_ids: Iterable[str]) -> dict[str, Chart]:
        ids = sorted(set(client_ids))
        db = await self._db()
        rows = await db.fetch(
            "SELECT client_id, chart_version, closed_through FROM books WHERE client_id = ANY($1::text[])", ids
        )
        current = {r["client_id"]: (r["chart_version"], r["closed_through"]) for r in rows}
        result: dict[str, Chart] = {}
        stale: list[str] = []
        for client_id in ids:
            if client_id not in current:
                result[client_id] = Chart(client_id)  # version 0: no books
                continue
            cached = self._charts.get(client_id)
            if cached is not None and cached.version == current[client_id][0]:
                result[client_id] = cached
            else:
                stale.append(client_id)
        if stale:
            for chart in await self._load(db, stale, current):
                self._charts.put(chart)
                result[chart.client_id] = chart
        return result

    async def _load(
        self, db: asyncpg.Connection, ids: list[str], current: dict[str, tuple[int, date | None]]
    ) -> list[Chart]:
        charts = {i: Chart(i, version=current[i][0], closed_through=current[i][1]) for i in ids}
        for r in await db.fetch("SELECT * FROM accounts WHERE client_id = ANY($1::text[])", ids):
            role = ControlRole(r["control_role"]) if r["control_role"] else None
            charts[r["client_id"]].accounts[r["number"]] = Account(
                r["number"], r["name"], AccountType(r["account_type"]), role
            )
        for r in await db.fetch("SELECT * FROM subledger_series WHERE client_id = ANY($1::text[])", ids):
            charts[r["client_id"]].series[r["code"]] = Series(
                r["code"], r["name"], PartyKind(r["kind"]), r["control_account"], r["first_number"], r["last_number"]
            )
        for r in await db.fetch("SELECT * FROM parties WHERE client_id = ANY($1::text[])", ids):
            chart = charts[r["client_id"]]
            series = chart.series[r["series"]]
            chart.parties[r["number"]] = Party(
                r["number"], r["name"], PartyKind(r["kind"]), series.code, series.control_account
            )
        return list(charts.values())

    async def open_books(self, client_id: str, company_name: str) -> bool:
        db = await self._db()
        inserted = await db.fetchval(
            "INSERT INTO books (client_id, company_name) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1",
            client_id,
            company_name,
        )
        return bool(inserted)

    async def save_account(self, client_id: str, account: Account) -> None:
        db = await self._db()
        await db.execute(
            "INSERT INTO accounts (client_id, number, name, account_type, control_role) VALUES ($1, $2, $3, $4, $5) "
            "ON CONFLICT (client_id, number) DO UPDATE SET name = EXCLUDED.name, "
            "account_type = EXCLUDED.account_type, control_role = EXCLUDED.control_role",
            client_id,
            account.number,
            account.name,
            account.account_type.value,
            account.control_role.value if account.control_role else None,
        )

    async def save_series(self, client_id: str, series: Series) -> None:
        db = await self._db()
        await db.execute(
            "INSERT INTO subledger_series (client_id, code, name, kind, control_account, first_number, last_number) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7)",
            client_id,
            series.code,
            series.name,
            series.kind.value,
            series.control_account,
            series.first_number,
            series.last_number,
        )

    async def save_party(self, client_id: str, party: Party) -> None:
        db = await self._db()
        await db.execute(
            "INSERT INTO parties (client_id, number, name, kind, series) VALUES ($1, $2, $3, $4, $5) "
            "ON CONFLICT (client_id, number) DO UPDATE SET name = EXCLUDED.name, kind = EXCLUDED.kind, "
            "series = EXCLUDED.series",
            client_id,
            party.number,
            party.name,
            party.kind.value,
            party.series,
        )

    async def close_period(self, client_id: str, through: date) -> None:
        db = await self._db()
        await db.execute(
            "UPDATE books SET closed_through = GREATEST(COALESCE(closed_through, $2), $2) WHERE client_id = $1",
            client_id,
            through,
        )

    async def reopen_period(self, client_id: str, closed_through: date | None) -> None:
        await (await self._db()).execute(
            "UPDATE books SET closed_through = $2 WHERE client_id = $1", client_id, closed_through
        )

    async def record_operator_actions(self, actions: Sequence[OperatorAction]) -> None:
        if actions:
            await (await self._db()).executemany(
                "INSERT INTO operator_actions (client_id, command_id, command_type, operator, accepted, reason, "
                "details) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)",
                [
                    (
                        a.client_id,
                        a.command_id,
                        a.command_type,
                        a.operator,
                        a.accepted,
                        a.reason,
                        orjson.dumps(a.details).decode(),
                    )
                    for a in actions
                ],
            )

    async def bump_chart_versions(self, client_ids: Iterable[str]) -> dict[str, int]:
        db = await self._db()
        rows = await db.fetch(
            "UPDATE books SET chart_version = chart_version + 1 WHERE client_id = ANY($1::text[]) "
            "RETURNING client_id, chart_version",
            sorted(set(client_ids)),
        )
        return {r["client_id"]: r["chart_version"] for r in rows}

    # --- vouchers -------------------------------------------------------------------------------------------------
    async def allocate_numbers(self, counts: dict[tuple[str, str], int]) -> dict[tuple[str, str], int]:
        """Reserves `count` consecutive numbers per (client, series); returns the first of each range.

        The row lock on the sequence holds until commit, so two transactions never share or skip a number.
        """
        if not counts:
            return {}
        keys = sorted(counts)
        db = await self._db()
        rows = await db.fetch(
            "INSERT INTO voucher_sequences AS s (client_id, series, last_number) "
            "SELECT * FROM unnest($1::text[], $2::text[], $3::int[]) "
            "ON CONFLICT (client_id, series) DO UPDATE SET last_number = s.last_number + EXCLUDED.last_number "
            "RETURNING client_id, series, last_number",
            [k[0] for k in keys],
            [k[1] for k in keys],
            [counts[k] for k in keys],
        )
        return {
            (r["client_id"], r["series"]): r["last_number"] - counts[(r["client_id"], r["series"])] + 1 for r in rows
        }

    async def insert_vouchers(self, vouchers: Sequence[NewVoucher]) -> None:
        db = await self._db()
        await db.copy_records_to_table(
            "vouchers",
            columns=[
                "id",
                "client_id",
                "series",
                "number",
                "voucher_date",
                "text",
                "idempotency_key",
                "command_id",
                "source",
                "invoice_id",
                "provider_event_id",
                "reverses_voucher_id",
            ],
            records=[
                (
                    v.id,
                    v.client_id,
                    v.series,
                    v.number,
                    v.voucher_date,
                    v.text,
                    v.idempotency_key,
                    v.command_id,
                    v.source.model_dump_json(),
                    v.source.invoice_id,
                    v.source.provider_event_id,
                    v.reverses_voucher_id,
                )
                for v in vouchers
            ],
        )
        await db.copy_records_to_table(
            "voucher_lines",
            columns=[
                "voucher_id",
                "line_number",
                "client_id",
                "voucher_date",
                "account",
                "amount_ore",
                "party",
                "open_item",
                "due_date",
                "vat_code",
                "description",
            ],
            records=[
                (
                    v.id,
                    line.line_number,
                    v.client_id,
                    v.voucher_date,
                    line.account,
                    line.amount_ore,
                    line.party,
                    line.open_item,
                    line.due_date,
                    line.vat_code,
                    line.description,
                )
                for v in vouchers
                for line in v.lines
            ],
        )

    async def record_rejection(
        self, client_id: str, key: str, command_id: UUID, code: str, reason: str, source: BookingSource | None
    ) -> None:
        db = await self._db()
        await db.execute(
            "INSERT INTO rejected_bookings (client_id, idempotency_key, command_id, code, reason, source) "
            "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            client_id,
            key,
            command_id,
            code,
            reason,
            source.model_dump_json() if source else None,
        )

    async def earlier_outcome(self, client_id: str, key: str) -> dict[str, object] | None:
        """What an idempotency key produced the first time: the voucher, or the rejection."""
        db = await self._db()
        row = await db.fetchrow(
            "SELECT id, series, number FROM vouchers WHERE client_id = $1 AND idempotency_key = $2", client_id, key
        )
        if row is not None:
            return {"accepted": True, "voucher_id": str(row["id"]), "series": row["series"], "number": row["number"]}
        row = await db.fetchrow(
            "SELECT code, reason FROM rejected_bookings WHERE client_id = $1 AND idempotency_key = $2", client_id, key
        )
        if row is not None:
            return {"accepted": False, "code": row["code"], "reason": row["reason"]}
        return None

    async def voucher(self, client_id: str, voucher_id: UUID) -> StoredVoucher | None:
        db = await self._db()
        head = await db.fetchrow(
            "SELECT v.id, v.client_id, v.series, v.number, v.voucher_date, "
            "EXISTS (SELECT 1 FROM vouchers r WHERE r.reverses_voucher_id = v.id) AS reversed "
            "FROM vouchers v WHERE v.client_id = $1 AND v.id = $2",
            client_id,
            voucher_id,
        )
        if head is None:
            return None
        lines = await db.fetch("SELECT * FROM voucher_lines WHERE voucher_id = $1 ORDER BY line_number", voucher_id)
        return StoredVoucher(
            head["id"],
            head["client_id"],
            head["series"],
            head["number"],
            head["voucher_date"],
            head["reversed"],
            [
                Line(
                    r["line_number"],
                    r["account"],
                    r["amount_ore"],
                    r["party"],
                    r["open_item"],
                    r["due_date"],
                    r["vat_code"],
                    r["description"],
                )
                for r in lines
            ],
        )

    async def move_open_items(self, moves: Mapping[OpenItemKey, OpenItemMove]) -> dict[OpenItemKey, OpenItemBalance]:
        """Adds a batch's postings to the open items they touch and returns their balances: one statement, kept
        in the same transaction as the postings (`open_item_balances` is the running sum of `voucher_lines`)."""
        if not moves:
            return {}
        keys = sorted(moves)
        rows = await (await self._db()).fetch(
            "INSERT INTO open_item_balances AS o (client_id, party, open_item, account, original_ore, balance_ore, "
            "due_date) SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::bigint[], "
            "$6::bigint[], $7::date[]) ON CONFLICT (client_id, party, open_item) DO UPDATE SET "
            "account = LEAST(o.account, EXCLUDED.account), original_ore = o.original_ore + EXCLUDED.original_ore, "
            "balance_ore = o.balance_ore + EXCLUDED.balance_ore, due_date = GREATEST(o.due_date, EXCLUDED.due_date) "
            "RETURNING client_id, party, open_item, account, original_ore, balance_ore, due_date",
            [k[0] for k in keys],
            [k[1] for k in keys],
            [k[2] for k in keys],
            [moves[k].account for k in keys],
            [moves[k].original_ore for k in keys],
            [moves[k].balance_ore for k in keys],
            [moves[k].due_date for k in keys],
        )
        return {
            (r["client_id"], r["party"], r["open_item"]): OpenItemBalance(
                r["account"], r["original_ore"], r["balance_ore"], r["due_date"]
            )
            for r in rows
        }
