"""The ledger's repository in memory, for the handlers' unit tests: the same methods and the same semantics as
`LedgerRepository`, over a `LedgerStore` that outlives units of work as the tables do.

Each repository works on its own copy of the store's tables (rows are immutable, so copying the tables is
cheap) and puts it back only when its unit of work commits: a batch that fails leaves the store as it was, as
a rolled-back transaction leaves the tables. The constraints the handlers rely on hold here too (gap-free
numbers per client and series, one voucher per idempotency key, one reversal per voucher); breaking one raises
`ConstraintViolation`, where PostgreSQL would raise a unique violation. One unit of work at a time: unlike
PostgreSQL, two concurrent ones would not see each other's locks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from uuid import UUID

from ledgerline_contracts.ledger import BookingSource, PartyKind
from servicekit.unit_of_work import UnitOfWork

from ..domain.chart import Account, Chart, Party, Series
from ..domain.rules import Line
from .repository import (
    ChartCache,
    NewVoucher,
    OpenItemBalance,
    OpenItemKey,
    OpenItemMove,
    OperatorAction,
    Repository,
    StoredVoucher,
)


class ConstraintViolation(Exception):
    """What PostgreSQL would refuse with a unique or foreign-key violation."""


@dataclass(frozen=True, slots=True)
class BooksRow:
    company_name: str
    chart_version: int = 1
    closed_through: date | None = None


@dataclass(frozen=True, slots=True)
class PartyRow:
    name: str
    kind: PartyKind
    series: str


@dataclass(frozen=True, slots=True)
class VoucherRow:
    id: UUID
    client_id: str
    series: str
    number: int
    voucher_date: date
    text: str
    idempotency_key: str
    command_id: UUID
    source: BookingSource
    reverses_voucher_id: UUID | None
    lines: tuple[Line, ...]


@dataclass(frozen=True, slots=True)
class RejectionRow:
    command_id: UUID
    code: str
    reason: str
    source: BookingSource | None


@dataclass
class Tables:
    """The ledger's tables, keyed by their primary keys (and the unique indexes the handlers rely on)."""

    books: dict[str, BooksRow] = field(default_factory=dict)
    accounts: dict[tuple[str, str], Account] = field(default_factory=dict)
    series: dict[tuple[str, str], Series] = field(default_factory=dict)
    parties: dict[tuple[str, int], PartyRow] = field(default_factory=dict)
    voucher_sequences: dict[tuple[str, str], int] = field(default_factory=dict)
    vouchers: dict[UUID, VoucherRow] = field(default_factory=dict)
    voucher_numbers: dict[tuple[str, str, int], UUID] = field(default_factory=dict)
    voucher_keys: dict[tuple[str, str], UUID] = field(default_factory=dict)
    reversals: dict[UUID, UUID] = field(default_factory=dict)
    """reversed voucher → its reversal (`vouchers_reverses`, unique)"""
    rejected_bookings: dict[tuple[str, str], RejectionRow] = field(default_factory=dict)
    open_items: dict[OpenItemKey, OpenItemBalance] = field(default_factory=dict)
    operator_actions: dict[int, OperatorAction] = field(default_factory=dict)

    def copy(self) -> Tables:
        return Tables(**{name: dict(table) for name, table in vars(self).items()})


class LedgerStore:
    """The ledger's database in memory: what committed units of work wrote."""

    def __init__(self) -> None:
        self.tables = Tables()

    def repository(self, uow: UnitOfWork, charts: ChartCache) -> Repository:
        """The repository factory the service layer takes: `consumers(repository=store.repository)`."""
        return InMemoryLedgerRepository(self, uow, charts)

    # --- what the tests look at -----------------------------------------------------------------------------------
    def vouchers(self, client_id: str) -> list[VoucherRow]:
        """A client's vouchers by series and number."""
        found = [v for v in self.tables.vouchers.values() if v.client_id == client_id]
        return sorted(found, key=lambda v: (v.series, v.number))

    def balance(self, client_id: str, account: str) -> int:
        """The signed balance of an account (debit positive) over every posted line."""
        return sum(
            line.amount_ore
            for v in self.tables.vouchers.values()
            if v.client_id == client_id
            for line in v.lines
            if line.account == account
        )


class InMemoryLedgerRepository:
    def __init__(self, store: LedgerStore, uow: UnitOfWork, charts: ChartCache) -> None:
        self._store = store
        self._charts = charts
        self._t = store.tables.copy()
        uow.after_commit(self._commit)

    def _commit(self) -> None:
        self._store.tables = self._t

    # --- charts ---------------------------------------------------------------------------------------------------
    async def charts(self, client_ids: Iterable[str]) -> dict[str, Chart]:
        ids = sorted(set(client_ids))
        result: dict[str, Chart] = {}
        stale: list[str] = []
        for client_id in ids:
            books = self._t.books.get(client_id)
            if books is None:
                result[client_id] = Chart(client_id)  # version 0: no books
                continue
            cached = self._charts.get(client_id)
            if cached is not None and cached.version == books.chart_version:
                result[client_id] = cached
            else:
                stale.append(client_id)
        for client_id in stale:
            chart = self._load(client_id)
            self._charts.put(chart)
            result[client_id] = chart
        return result

    def _load(self, client_id: str) -> Chart:
        books = self._t.books[client_id]
        chart = Chart(client_id, version=books.chart_version, closed_through=books.closed_through)
        for (owner, account_number), account in self._t.accounts.items():
            if owner == client_id:
                chart.accounts[account_number] = account
        for (owner, code), series in self._t.series.items():
            if owner == client_id:
                chart.series[code] = series
        for (owner, number), party in self._t.parties.items():
            if owner == client_id:
                series = chart.series[party.series]
                chart.parties[number] = Party(number, party.name, party.kind, series.code, series.control_account)
        return chart

    async def open_books(self, client_id: str, company_name: str) -> bool:
        if client_id in self._t.books:
            return False
        self._t.books[client_id] = BooksRow(company_name)
        return True

    async def save_account(self, client_id: str, account: Account) -> None:
        self._t.accounts[(client_id, account.number)] = account

    async def save_series(self, client_id: str, series: Series) -> None:
        if (client_id, series.code) in self._t.series:
            raise ConstraintViolation(f"series {series.code} of {client_id} exists already")
        self._t.series[(client_id, series.code)] = series

    async def save_party(self, client_id: str, party: Party) -> None:
        self._t.parties[(client_id, party.number)] = PartyRow(party.name, party.kind, party.series)

    async def close_period(self, client_id: str, through: date) -> None:
        books = self._t.books.get(client_id)
        if books is not None:
            closed = through if books.closed_through is None else max(books.closed_through, through)
            self._t.books[client_id] = replace(books, closed_through=closed)

    async def reopen_period(self, client_id: str, closed_through: date | None) -> None:
        books = self._t.books.get(client_id)
        if books is not None:
            self._t.books[client_id] = replace(books, closed_through=closed_through)

    async def record_operator_actions(self, actions: Sequence[OperatorAction]) -> None:
        for action in actions:
            self._t.operator_actions[len(self._t.operator_actions) + 1] = action

    async def bump_chart_versions(self, client_ids: Iterable[str]) -> dict[str, int]:
        bumped: dict[str, int] = {}
        for client_id in sorted(set(client_ids)):
            books = self._t.books.get(client_id)
            if books is not None:
                self._t.books[client_id] = replace(books, chart_version=books.chart_version + 1)
                bumped[client_id] = books.chart_version + 1
        return bumped

    # --- vouchers -------------------------------------------------------------------------------------------------
    async def allocate_numbers(self, counts: dict[tuple[str, str], int]) -> dict[tuple[str, str], int]:
        first: dict[tuple[str, str], int] = {}
        for key in sorted(counts):
            last = self._t.voucher_sequences.get(key, 0) + counts[key]
            self._t.voucher_sequences[key] = last
            first[key] = last - counts[key] + 1
        return first

    async def insert_vouchers(self, vouchers: Sequence[NewVoucher]) -> None:
        t = self._t
        for v in vouchers:
            number, key = (v.client_id, v.series, v.number), (v.client_id, v.idempotency_key)
            if v.id in t.vouchers or number in t.voucher_numbers or key in t.voucher_keys:
                raise ConstraintViolation(f"voucher {v.id} ({v.series} {v.number}, key {v.idempotency_key}) exists")
            if v.reverses_voucher_id is not None:
                if v.reverses_voucher_id in t.reversals:
                    raise ConstraintViolation(f"voucher {v.reverses_voucher_id} has been reversed already")
                t.reversals[v.reverses_voucher_id] = v.id
            t.vouchers[v.id] = VoucherRow(
                v.id,
                v.client_id,
                v.series,
                v.number,
                v.voucher_date,
                v.text,
                v.idempotency_key,
                v.command_id,
                v.source,
                v.reverses_voucher_id,
                tuple(v.lines),
            )
            t.voucher_numbers[number] = v.id
            t.voucher_keys[key] = v.id

    async def record_rejection(
        self, client_id: str, key: str, command_id: UUID, code: str, reason: str, source: BookingSource | None
    ) -> None:
        self._t.rejected_bookings.setdefault((client_id, key), RejectionRow(command_id, code, reason, source))

    async def earlier_outcome(self, client_id: str, key: str) -> dict[str, object] | None:
        voucher_id = self._t.voucher_keys.get((client_id, key))
        if voucher_id is not None:
            v = self._t.vouchers[voucher_id]
            return {"accepted": True, "voucher_id": str(v.id), "series": v.series, "number": v.number}
        rejection = self._t.rejected_bookings.get((client_id, key))
        if rejection is not None:
            return {"accepted": False, "code": rejection.code, "reason": rejection.reason}
        return None

    async def voucher(self, client_id: str, voucher_id: UUID) -> StoredVoucher | None:
        v = self._t.vouchers.get(voucher_id)
        if v is None or v.client_id != client_id:
            return None
        lines = sorted(v.lines, key=lambda line: line.line_number)
        return StoredVoucher(
            v.id, v.client_id, v.series, v.number, v.voucher_date, voucher_id in self._t.reversals, lines
        )

    async def move_open_items(self, moves: Mapping[OpenItemKey, OpenItemMove]) -> dict[OpenItemKey, OpenItemBalance]:
        result: dict[OpenItemKey, OpenItemBalance] = {}
        for key, move in moves.items():
            before = self._t.open_items.get(key)
            if before is None:
                after = OpenItemBalance(move.account, move.original_ore, move.balance_ore, move.due_date)
            else:
                dues = [d for d in (before.due_date, move.due_date) if d is not None]
                after = OpenItemBalance(
                    min(before.account, move.account),
                    before.original_ore + move.original_ore,
                    before.balance_ore + move.balance_ore,
                    max(dues) if dues else None,
                )
            self._t.open_items[key] = after
            result[key] = after
        return result
