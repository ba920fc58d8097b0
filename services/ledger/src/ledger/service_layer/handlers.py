"""The ledger's message handlers: one batch of commands, one transaction.

Commands apply in their order within the batch (a chart change is seen by the vouchers after it); vouchers are
validated one by one and then numbered and written together. Every command is answered: `VoucherPosted` or
`BookingRejected`, and a `CommandResult`. A command whose key was seen before books nothing and is answered
with the original outcome.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import UUID, uuid4

from ledgerline_contracts import topics
from ledgerline_contracts.ledger import (
    AccountUpserted,
    BookingRejected,
    BooksOpened,
    ClosePeriod,
    CreateSubledgerSeries,
    OpenBooks,
    OpenItemChanged,
    PartyKind,
    PartyUpserted,
    PeriodClosed,
    PostedLine,
    PostVoucher,
    ReverseVoucher,
    Side,
    SubledgerSeriesCreated,
    UpsertAccount,
    UpsertParty,
    VoucherPosted,
)
from ledgerline_contracts.messages import Command
from servicekit import metrics
from servicekit.commands import answer
from servicekit.consumer import Delivery
from servicekit.db import UnitOfWork

from .. import metrics as ledger_metrics
from ..adapters.repository import ChartCache, LedgerRepository, NewVoucher
from ..domain import rules
from ..domain.chart import DEFAULT_ACCOUNTS, DEFAULT_SERIES, Account, Chart, Series
from ..domain.rules import Refused

CONSUMER = "ledger"
SERVICE = "ledger"


def dedup_key(command: Command) -> str:
    """Booking commands deduplicate on their business key, so a resent command with a new id books nothing."""
    if isinstance(command, (PostVoucher, ReverseVoucher)):
        return f"booking:{command.client_id}:{command.idempotency_key}"
    return f"message:{command.message_id}"


@dataclass
class _Result:
    command: Command
    accepted: bool
    reason: str | None = None
    details: dict[str, object] = field(default_factory=dict)
    voucher: NewVoucher | None = None


@dataclass
class _Batch:
    uow: UnitOfWork
    repo: LedgerRepository
    charts: dict[str, Chart]
    vouchers: list[NewVoucher] = field(default_factory=list)
    pending_by_id: dict[UUID, NewVoucher] = field(default_factory=dict)
    reversed_in_batch: set[UUID] = field(default_factory=set)
    changed_charts: set[str] = field(default_factory=set)
    results: list[_Result] = field(default_factory=list)

    def accept(self, command: Command, voucher: NewVoucher | None = None, **details: object) -> None:
        self.results.append(_Result(command, True, None, dict(details), voucher))


class LedgerHandlers:
    def __init__(self, uow: Callable[[], UnitOfWork], charts: ChartCache | None = None) -> None:
        self._uow = uow
        self._charts = charts or ChartCache()

    async def handle_commands(self, deliveries: Sequence[Delivery]) -> None:
        commands = [d.message for d in deliveries if isinstance(d.message, Command)]
        async with self._uow() as uow:
            repo = LedgerRepository(uow, self._charts)
            fresh = await uow.claim(CONSUMER, [dedup_key(c) for c in commands])
            batch = _Batch(uow, repo, await repo.charts(c.client_id for c in commands))
            try:
                await self._run(batch, commands, fresh)
            finally:
                # Charts were changed in memory as the batch went; whether it commits or not, reload them.
                for client_id in batch.changed_charts:
                    self._charts.forget(client_id)

    async def _run(self, batch: _Batch, commands: list[Command], fresh: set[str]) -> None:
        uow, repo = batch.uow, batch.repo
        for command in commands:
            key = dedup_key(command)
            if key not in fresh:
                uow.after_commit(metrics.inbox_duplicates.labels(SERVICE, CONSUMER).inc)
                await self._answer_repeat(batch, command)
                continue
            fresh.discard(key)  # a second copy in this same batch is a repeat too
            try:
                await self._apply(batch, command)
            except Refused as refusal:
                await self._refuse(batch, command, refusal)
        await self._write_vouchers(batch)
        if batch.changed_charts:
            await repo.bump_chart_versions(batch.changed_charts)
        for result in batch.results:
            details = dict(result.details)
            if result.voucher is not None:
                details |= {
                    "voucher_id": str(result.voucher.id),
                    "series": result.voucher.series,
                    "number": result.voucher.number,
                }
            answer(uow, SERVICE, result.command, accepted=result.accepted, reason=result.reason, details=details)

    # --- dispatch -------------------------------------------------------------------------------------------------
    async def _apply(self, batch: _Batch, command: Command) -> None:
        chart = batch.charts.setdefault(command.client_id, Chart(command.client_id))
        match command:
            case PostVoucher():
                self._post(batch, chart, command)
            case ReverseVoucher():
                await self._reverse(batch, chart, command)
            case OpenBooks():
                await self._open_books(batch, chart, command)
            case UpsertAccount():
                self._require_books(chart)
                account = rules.check_account_change(command, chart)
                await batch.repo.save_account(command.client_id, account)
                chart.accounts[account.number] = account
                batch.changed_charts.add(command.client_id)
                batch.uow.publish(topics.LEDGER_EVENTS, _account_event(command, account), key=command.client_id)
                batch.accept(command, account=account.number)
            case CreateSubledgerSeries():
                self._require_books(chart)
                series = rules.check_new_series(command, chart)
                await batch.repo.save_series(command.client_id, series)
                chart.series[series.code] = series
                batch.changed_charts.add(command.client_id)
                batch.uow.publish(topics.LEDGER_EVENTS, _series_event(command, series), key=command.client_id)
                batch.accept(command, series=series.code)
            case UpsertParty():
                self._require_books(chart)
                party = rules.check_party(command, chart)
                await batch.repo.save_party(command.client_id, party)
                chart.parties[party.number] = party
                batch.changed_charts.add(command.client_id)
                batch.uow.publish(
                    topics.LEDGER_EVENTS,
                    PartyUpserted(
                        client_id=command.client_id,
                        correlation_id=command.correlation_id,
                        number=party.number,
                        name=party.name,
                        kind=party.kind,
                        series=party.series,
                        control_account=party.control_account,
                    ),
                    key=command.client_id,
                )
                batch.accept(command, party=party.number, series=party.series)
            case ClosePeriod():
                self._require_books(chart)
                await batch.repo.close_period(command.client_id, command.through)
                if chart.closed_through is None or command.through > chart.closed_through:
                    chart.closed_through = command.through
                batch.changed_charts.add(command.client_id)
                batch.uow.publish(
                    topics.LEDGER_EVENTS,
                    PeriodClosed(
                        client_id=command.client_id,
                        correlation_id=command.correlation_id,
                        closed_through=chart.closed_through,
                    ),
                    key=command.client_id,
                )
                batch.accept(command, closed_through=str(chart.closed_through))
            case _:
                raise Refused("unsupported", f"the ledger does not handle {command.type}")

    @staticmethod
    def _require_books(chart: Chart) -> None:
        if chart.version == 0:
            raise Refused("unknown_client", f"client {chart.client_id} has no books: open them first")

    async def _open_books(self, batch: _Batch, chart: Chart, command: OpenBooks) -> None:
        if not await batch.repo.open_books(command.client_id, command.company_name):
            batch.accept(command, already_open=True)
            return
        chart.version = 1
        if command.seed_default_chart:
            for account in DEFAULT_ACCOUNTS:
                await batch.repo.save_account(command.client_id, account)
                chart.accounts[account.number] = account
            for series in DEFAULT_SERIES:
                await batch.repo.save_series(command.client_id, series)
                chart.series[series.code] = series
        batch.changed_charts.add(command.client_id)
        batch.uow.publish(
            topics.LEDGER_EVENTS,
            BooksOpened(
                client_id=command.client_id,
                correlation_id=command.correlation_id,
                company_name=command.company_name,
            ),
            key=command.client_id,
        )
        for account in chart.accounts.values():
            batch.uow.publish(topics.LEDGER_EVENTS, _account_event(command, account), key=command.client_id)
        for series in chart.series.values():
            batch.uow.publish(topics.LEDGER_EVENTS, _series_event(command, series), key=command.client_id)
        batch.accept(command, accounts=len(chart.accounts))

    def _post(self, batch: _Batch, chart: Chart, command: PostVoucher) -> None:
        if command.reverses_voucher_id is not None:
            raise Refused("use_reverse_voucher", "reversals are booked with ReverseVoucher, which checks the original")
        lines = rules.check_voucher(command, chart)
        self._queue(
            batch,
            command,
            NewVoucher(
                uuid4(),
                command.client_id,
                command.series,
                command.voucher_date,
                command.text,
                command.idempotency_key,
                command.message_id,
                command.source,
                lines,
                commanded_at=command.occurred_at,
            ),
        )

    async def _reverse(self, batch: _Batch, chart: Chart, command: ReverseVoucher) -> None:
        pending = batch.pending_by_id.get(command.voucher_id)
        if pending is not None and pending.client_id == command.client_id:
            original_lines, series, reversed_before = pending.lines, pending.series, False
        else:
            stored = await batch.repo.voucher(command.client_id, command.voucher_id)
            if stored is None:
                raise Refused("unknown_voucher", f"voucher {command.voucher_id} does not exist for this client")
            original_lines, series, reversed_before = stored.lines, stored.series, stored.reversed
        rules.check_reversal(
            command.voucher_id,
            reversed_before or command.voucher_id in batch.reversed_in_batch,
            command.voucher_date,
            chart,
        )
        batch.reversed_in_batch.add(command.voucher_id)
        self._queue(
            batch,
            command,
            NewVoucher(
                uuid4(),
                command.client_id,
                series,
                command.voucher_date,
                f"Reversal: {command.reason}",
                command.idempotency_key,
                command.message_id,
                command.source,
                rules.reversal_lines(original_lines),
                reverses_voucher_id=command.voucher_id,
                commanded_at=command.occurred_at,
            ),
        )

    @staticmethod
    def _queue(batch: _Batch, command: Command, voucher: NewVoucher) -> None:
        batch.vouchers.append(voucher)
        batch.pending_by_id[voucher.id] = voucher
        batch.accept(command, voucher)

    async def _refuse(self, batch: _Batch, command: Command, refusal: Refused) -> None:
        if isinstance(command, (PostVoucher, ReverseVoucher)):
            await batch.repo.record_rejection(
                command.client_id,
                command.idempotency_key,
                command.message_id,
                refusal.code,
                refusal.reason,
                command.source,
            )
            batch.uow.publish(
                topics.LEDGER_REJECTIONS,
                BookingRejected(
                    client_id=command.client_id,
                    correlation_id=command.correlation_id,
                    command_id=command.message_id,
                    idempotency_key=command.idempotency_key,
                    code=refusal.code,
                    reason=refusal.reason,
                    source=command.source,
                ),
                key=command.client_id,
            )
            batch.uow.after_commit(ledger_metrics.vouchers_rejected.labels(refusal.code).inc)
        batch.results.append(_Result(command, False, refusal.reason, {"code": refusal.code}))

    async def _answer_repeat(self, batch: _Batch, command: Command) -> None:
        """A command seen before: no effect, the original outcome as the answer."""
        if isinstance(command, (PostVoucher, ReverseVoucher)):
            same = next(
                (
                    v
                    for v in batch.vouchers
                    if v.client_id == command.client_id and v.idempotency_key == command.idempotency_key
                ),
                None,
            )
            if same is not None:
                batch.results.append(_Result(command, True, None, {"repeat": True}, same))
                return
            outcome = await batch.repo.earlier_outcome(command.client_id, command.idempotency_key)
            if outcome is not None:
                accepted = bool(outcome.pop("accepted"))
                reason = None if accepted else str(outcome.get("reason"))
                batch.results.append(_Result(command, accepted, reason, {**outcome, "repeat": True}))
                return
        batch.accept(command, repeat=True)

    # --- writing --------------------------------------------------------------------------------------------------
    async def _write_vouchers(self, batch: _Batch) -> None:
        if not batch.vouchers:
            return
        counts: dict[tuple[str, str], int] = defaultdict(int)
        for voucher in batch.vouchers:
            counts[(voucher.client_id, voucher.series)] += 1
        next_number = await batch.repo.allocate_numbers(counts)
        for voucher in batch.vouchers:
            key = (voucher.client_id, voucher.series)
            voucher.number = next_number[key]
            next_number[key] += 1
        await batch.repo.insert_vouchers(batch.vouchers)

        touched: dict[tuple[str, int, str], NewVoucher] = {}
        for voucher in batch.vouchers:
            chart = batch.charts[voucher.client_id]
            for line in voucher.lines:
                party = chart.parties.get(line.party) if line.party is not None else None
                if party is not None and party.kind is PartyKind.CUSTOMER and line.open_item is not None:
                    touched[(voucher.client_id, party.number, line.open_item)] = voucher
            batch.uow.publish(topics.LEDGER_EVENTS, _posted_event(voucher), key=voucher.client_id)
        batch.uow.after_commit(lambda: _count_posted(batch.vouchers))
        balances = await batch.repo.open_item_balances(touched)
        for (client_id, party_number, item), voucher in touched.items():
            account, original, balance, due = balances[(client_id, party_number, item)]
            batch.uow.publish(
                topics.LEDGER_EVENTS,
                OpenItemChanged.trusted(
                    client_id=client_id,
                    correlation_id=_correlation(voucher),
                    party=party_number,
                    open_item=item,
                    account=account,
                    original_ore=original,
                    balance_ore=balance,
                    due_date=due,
                    voucher_id=voucher.id,
                    cause=voucher.source.event_type or voucher.text,
                ),
                key=client_id,
            )


def _posted_event(voucher: NewVoucher) -> VoucherPosted:
    # model_construct: every value comes from a command that was validated on the way in and from the ledger's
    # own rules; validating it all again per voucher was a tenth of the ledger's CPU.
    return VoucherPosted.trusted(
        client_id=voucher.client_id,
        correlation_id=_correlation(voucher),
        voucher_id=voucher.id,
        series=voucher.series,
        number=voucher.number,
        voucher_date=voucher.voucher_date,
        text=voucher.text,
        source=voucher.source,
        idempotency_key=voucher.idempotency_key,
        reverses_voucher_id=voucher.reverses_voucher_id,
        lines=[
            PostedLine.model_construct(
                line_number=line.line_number,
                account=line.account,
                side=Side.DEBIT if line.amount_ore > 0 else Side.CREDIT,
                amount_ore=abs(line.amount_ore),
                party=line.party,
                open_item=line.open_item,
                due_date=line.due_date,
                vat_code=line.vat_code,
                description=line.description,
            )
            for line in voucher.lines
        ],
    )


def _account_event(command: Command, account: Account) -> AccountUpserted:
    return AccountUpserted(
        client_id=command.client_id,
        correlation_id=command.correlation_id,
        number=account.number,
        name=account.name,
        account_type=account.account_type,
        control_role=account.control_role,
    )


def _series_event(command: Command, series: Series) -> SubledgerSeriesCreated:
    return SubledgerSeriesCreated(
        client_id=command.client_id,
        correlation_id=command.correlation_id,
        code=series.code,
        name=series.name,
        kind=series.kind,
        control_account=series.control_account,
        first_number=series.first_number,
        last_number=series.last_number,
    )


def _count_posted(vouchers: list[NewVoucher]) -> None:
    now = datetime.now(UTC)
    for voucher in vouchers:
        ledger_metrics.vouchers_posted.labels(voucher.series).inc()
        ledger_metrics.posting_lines.inc(len(voucher.lines))
        if voucher.commanded_at is not None:
            ledger_metrics.booking_latency.labels(voucher.source.service).observe(
                max((now - voucher.commanded_at).total_seconds(), 0.0)
            )


def _correlation(voucher: NewVoucher) -> str | None:
    return str(voucher.source.invoice_id) if voucher.source.invoice_id else None
