"""The ledger's message handlers: one batch of commands, one transaction.

`HANDLERS` routes each command type to its handler; `consumers()` reads them from `ledger.commands.v1` a batch
at a time (see `servicekit.messagebus`). Commands apply in their order within the batch (a chart change is seen by
the vouchers after it); vouchers are validated one by one by their handlers and then numbered and written
together by `CommandBatch.finish`. Every command is answered: `VoucherPosted` or `BookingRejected`, and a
`CommandResult`. A command whose key was seen before books nothing and is answered with the original outcome.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, cast
from uuid import UUID, uuid4

from ledgerline_contracts import encoders, topics
from ledgerline_contracts.auth import NotAuthenticated, Principal
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
    PeriodReopened,
    PostVoucher,
    ReopenPeriod,
    ReverseVoucher,
    SubledgerSeriesCreated,
    UpsertAccount,
    UpsertParty,
    VoucherPosted,
)
from ledgerline_contracts.messages import Command, Message
from servicekit import metrics
from servicekit.commands import answer, refuse_caller
from servicekit.consumer import Delivery
from servicekit.messagebus import Batch, Consumer, Handler, fingerprint, refuse
from servicekit.unit_of_work import UnitOfWork

from .. import SERVICE
from .. import metrics as ledger_metrics
from ..adapters.repository import (
    ChartCache,
    LedgerRepository,
    NewVoucher,
    OpenItemKey,
    OpenItemMove,
    OperatorAction,
    Repository,
)
from ..domain import access, rules
from ..domain.chart import DEFAULT_ACCOUNTS, DEFAULT_SERIES, Account, Chart, Series
from ..domain.rules import Line, Refused

RepositoryFactory = Callable[[Any, ChartCache], Repository]
"""Builds the repository a batch works through from its unit of work and the chart cache (which outlives
batches): `LedgerRepository` for PostgreSQL, `adapters.memory.LedgerStore.repository` in unit tests."""


def dedup_key(command: Message) -> str:
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


# --- the batch: what one batch's handlers share, read before and written after ------------------------------------
class CommandBatch(Batch):
    """One batch of ledger commands: every command answered, a repeat with its original outcome; the vouchers
    the handlers queued are numbered and written in one go at the end."""

    def __init__(self, uow: UnitOfWork, group: str, repository: RepositoryFactory, charts: ChartCache) -> None:
        super().__init__(uow, group)
        self.repo = repository(uow, charts)
        self._cache = charts
        self.charts: dict[str, Chart] = {}
        self.fresh: set[str] = set()
        self.delivered: dict[int, Delivery] = {}
        self.prints: dict[int, bytes] = {}
        """What each command says (`messagebus.fingerprint`): a repeat of a key with other content is a conflict."""
        self.first_prints: dict[str, bytes] = {}
        self.vouchers: list[NewVoucher] = []
        self.pending_by_id: dict[UUID, NewVoucher] = {}
        self.reversed_in_batch: set[UUID] = set()
        self.changed_charts: set[str] = set()
        self.results: list[_Result] = []
        self.operators: dict[UUID, Principal] = {}
        """The platform operator behind each operator command, for the record of operator actions."""

    async def claim(self, deliveries: Sequence[Delivery]) -> list[Message]:
        """Every command of the batch from a sender allowed to send it (a repeat is answered too); `fresh` holds the
        dedup keys seen first here. A command refused for its sender claims nothing: its booking key stays free
        for the producer that owns it."""
        commands: list[Message] = []
        for delivery in deliveries:
            command = delivery.message
            if not isinstance(command, Command):
                continue
            try:
                caller = self.caller(command)
                access.authorise(caller, command)
            except NotAuthenticated as refusal:
                refuse_caller(self.uow, SERVICE, command, refusal)
                continue
            if caller.kind == "operator":
                self.operators[command.message_id] = caller
            commands.append(command)
            self.delivered[id(command)] = delivery
            self.prints[id(command)] = fingerprint(delivery)
        keys = [dedup_key(c) for c in commands]
        self.fresh = await self.uow.claim(self.group, keys, [self.prints[id(c)] for c in commands])
        repeats = [k for k in keys if k not in self.fresh]
        self.first_prints = await self.uow.fingerprints(self.group, repeats) if repeats else {}
        return commands

    async def prepare(self, messages: Sequence[Message]) -> None:
        self.charts = await self.repo.charts(c.client_id for c in cast(Sequence[Command], messages))

    async def dispatch(self, handler: Handler, message: Message) -> None:
        command = cast(Command, message)  # claim() hands on commands only
        key = dedup_key(command)
        printed = self.prints[id(command)]
        if key not in self.fresh:
            if self.first_prints.get(key, printed) != printed:
                self._reused_key(command, key)
                return
            self.uow.after_commit(metrics.inbox_duplicates.labels(SERVICE, self.group).inc)
            await self._answer_repeat(command)
            return
        self.fresh.discard(key)  # a second copy in this same batch is a repeat too (or a conflict)
        self.first_prints[key] = printed
        try:
            await handler(self, command)
        except Refused as refusal:
            await self._refuse(command, refusal)

    async def finish(self) -> None:
        await self._write_vouchers()
        if self.changed_charts:
            await self.repo.bump_chart_versions(self.changed_charts)
        await self.repo.record_operator_actions(
            [
                OperatorAction(
                    r.command.client_id,
                    r.command.message_id,
                    r.command.type,
                    operator.subject,
                    r.accepted,
                    r.reason,
                    _action_details(r.command),
                )
                for r in self.results
                if (operator := self.operators.get(r.command.message_id)) is not None
            ]
        )
        for result in self.results:
            details = dict(result.details)
            if result.voucher is not None:
                details |= {
                    "voucher_id": str(result.voucher.id),
                    "series": result.voucher.series,
                    "number": result.voucher.number,
                }
            answer(self.uow, SERVICE, result.command, accepted=result.accepted, reason=result.reason, details=details)

    def close(self) -> None:
        # Charts were changed in memory as the batch went; whether it commits or not, reload them.
        for client_id in self.changed_charts:
            self._cache.forget(client_id)

    def accept(self, command: Command, voucher: NewVoucher | None = None, **details: object) -> None:
        self.results.append(_Result(command, True, None, dict(details), voucher))

    def queue(self, command: Command, voucher: NewVoucher) -> None:
        self.vouchers.append(voucher)
        self.pending_by_id[voucher.id] = voucher
        self.accept(command, voucher)

    async def _refuse(self, command: Command, refusal: Refused) -> None:
        if isinstance(command, (PostVoucher, ReverseVoucher)):
            await self.repo.record_rejection(
                command.client_id,
                command.idempotency_key,
                command.message_id,
                refusal.code,
                refusal.reason,
                command.source,
            )
            self.uow.publish(
                topics.TOPIC_LEDGER_REJECTIONS,
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
            self.uow.after_commit(ledger_metrics.vouchers_rejected.labels(refusal.code).inc)
        self.results.append(_Result(command, False, refusal.reason, {"code": refusal.code}))

    def _reused_key(self, command: Command, key: str) -> None:
        """Another command under a key already used for a different one (say a voucher with other lines under a
        booking's idempotency key): a sender's bug or a forgery. Nothing is booked and the first stands; the
        command is answered refused (no BookingRejected: that would speak for the first) and dead-lettered."""
        reason = (
            f"{command.type} reuses the key {key} of a different command handled before (a sender's bug or a "
            "forgery): refused, nothing booked; the first stands"
        )
        self.uow.after_commit(metrics.inbox_conflicts.labels(SERVICE, self.group).inc)
        refuse(self.uow, self.group, self.delivered[id(command)], reason, kind="conflict")
        self.results.append(_Result(command, False, reason, {"code": "conflict"}))

    async def _answer_repeat(self, command: Command) -> None:
        """A command seen before: no effect, the original outcome as the answer."""
        if isinstance(command, (PostVoucher, ReverseVoucher)):
            same = next(
                (
                    v
                    for v in self.vouchers
                    if v.client_id == command.client_id and v.idempotency_key == command.idempotency_key
                ),
                None,
            )
            if same is not None:
                self.results.append(_Result(command, True, None, {"repeat": True}, same))
                return
            outcome = await self.repo.earlier_outcome(command.client_id, command.idempotency_key)
            if outcome is not None:
                accepted = bool(outcome.pop("accepted"))
                reason = None if accepted else str(outcome.get("reason"))
                self.results.append(_Result(command, accepted, reason, {**outcome, "repeat": True}))
                return
        self.accept(command, repeat=True)

    async def _write_vouchers(self) -> None:
        if not self.vouchers:
            return
        counts: dict[tuple[str, str], int] = defaultdict(int)
        for voucher in self.vouchers:
            counts[(voucher.client_id, voucher.series)] += 1
        next_number = await self.repo.allocate_numbers(counts)
        for voucher in self.vouchers:
            key = (voucher.client_id, voucher.series)
            voucher.number = next_number[key]
            next_number[key] += 1
        await self.repo.insert_vouchers(self.vouchers)

        touched: dict[OpenItemKey, NewVoucher] = {}
        moves: dict[OpenItemKey, OpenItemMove] = {}
        for voucher in self.vouchers:
            chart = self.charts[voucher.client_id]
            for line in voucher.lines:
                party = chart.parties.get(line.party) if line.party is not None else None
                if party is not None and party.kind is PartyKind.CUSTOMER and line.open_item is not None:
                    item_key = (voucher.client_id, party.number, line.open_item)
                    touched[item_key] = voucher
                    moves[item_key] = _moved(moves.get(item_key), line)
            self.uow.publish_encoded(
                topics.TOPIC_LEDGER_EVENTS,
                VoucherPosted.type_name(),
                _posted_event(voucher),
                key=voucher.client_id,
                correlation_id=_correlation(voucher),
            )
        vouchers = self.vouchers
        self.uow.after_commit(lambda: _count_posted(vouchers))
        balances = await self.repo.move_open_items(moves)
        for (client_id, party_number, item), voucher in touched.items():
            found = balances[(client_id, party_number, item)]
            self.uow.publish_encoded(
                topics.TOPIC_LEDGER_EVENTS,
                OpenItemChanged.type_name(),
                encoders.open_item_changed(
                    client_id=client_id,
                    correlation_id=_correlation(voucher),
                    party=party_number,
                    open_item=item,
                    account=found.account,
                    original_ore=found.original_ore,
                    balance_ore=found.balance_ore,
                    due_date=found.due_date,
                    voucher_id=voucher.id,
                    cause=voucher.source.event_type or voucher.text,
                    source_service=voucher.source.service,
                ),
                key=client_id,
                correlation_id=_correlation(voucher),
            )


# --- bookings -----------------------------------------------------------------------------------------------------
async def post_voucher(batch: CommandBatch, command: PostVoucher) -> None:
    if command.reverses_voucher_id is not None:
        raise Refused("use_reverse_voucher", "reversals are booked with ReverseVoucher, which checks the original")
    lines = rules.check_voucher(command, batch.charts[command.client_id])
    batch.queue(
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


async def reverse_voucher(batch: CommandBatch, command: ReverseVoucher) -> None:
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
        batch.charts[command.client_id],
    )
    batch.reversed_in_batch.add(command.voucher_id)
    batch.queue(
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


# --- books, chart of accounts, sub-ledgers, periods ---------------------------------------------------------------
async def open_books(batch: CommandBatch, command: OpenBooks) -> None:
    chart = batch.charts[command.client_id]
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
        topics.TOPIC_LEDGER_EVENTS,
        BooksOpened(
            client_id=command.client_id,
            correlation_id=command.correlation_id,
            company_name=command.company_name,
        ),
        key=command.client_id,
    )
    for account in chart.accounts.values():
        batch.uow.publish(topics.TOPIC_LEDGER_EVENTS, _account_event(command, account), key=command.client_id)
    for series in chart.series.values():
        batch.uow.publish(topics.TOPIC_LEDGER_EVENTS, _series_event(command, series), key=command.client_id)
    batch.accept(command, accounts=len(chart.accounts))


async def upsert_account(batch: CommandBatch, command: UpsertAccount) -> None:
    chart = _books(batch, command)
    account = rules.check_account_change(command, chart)
    await batch.repo.save_account(command.client_id, account)
    chart.accounts[account.number] = account
    batch.changed_charts.add(command.client_id)
    batch.uow.publish(topics.TOPIC_LEDGER_EVENTS, _account_event(command, account), key=command.client_id)
    batch.accept(command, account=account.number)


async def create_subledger_series(batch: CommandBatch, command: CreateSubledgerSeries) -> None:
    chart = _books(batch, command)
    series = rules.check_new_series(command, chart)
    await batch.repo.save_series(command.client_id, series)
    chart.series[series.code] = series
    batch.changed_charts.add(command.client_id)
    batch.uow.publish(topics.TOPIC_LEDGER_EVENTS, _series_event(command, series), key=command.client_id)
    batch.accept(command, series=series.code)


async def upsert_party(batch: CommandBatch, command: UpsertParty) -> None:
    chart = _books(batch, command)
    party = rules.check_party(command, chart)
    await batch.repo.save_party(command.client_id, party)
    chart.parties[party.number] = party
    batch.changed_charts.add(command.client_id)
    batch.uow.publish(
        topics.TOPIC_LEDGER_EVENTS,
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


async def close_period(batch: CommandBatch, command: ClosePeriod) -> None:
    chart = _books(batch, command)
    await batch.repo.close_period(command.client_id, command.through)
    if chart.closed_through is None or command.through > chart.closed_through:
        chart.closed_through = command.through
    batch.changed_charts.add(command.client_id)
    batch.uow.publish(
        topics.TOPIC_LEDGER_EVENTS,
        PeriodClosed(
            client_id=command.client_id,
            correlation_id=command.correlation_id,
            closed_through=chart.closed_through,
        ),
        key=command.client_id,
    )
    batch.accept(command, closed_through=str(chart.closed_through))


async def reopen_period(batch: CommandBatch, command: ReopenPeriod) -> None:
    chart = _books(batch, command)
    if chart.closed_through is None or command.reopen_from > chart.closed_through:
        raise Refused(
            "period_not_closed",
            f"nothing to re-open: {command.reopen_from} is not in a closed period "
            f"(closed through {chart.closed_through or 'nothing'})",
        )
    closed_through = command.reopen_from - timedelta(days=1)
    await batch.repo.reopen_period(command.client_id, closed_through)
    chart.closed_through = closed_through
    batch.changed_charts.add(command.client_id)
    batch.uow.publish(
        topics.TOPIC_LEDGER_EVENTS,
        PeriodReopened(
            client_id=command.client_id,
            correlation_id=command.correlation_id,
            closed_through=closed_through,
            reopened_from=command.reopen_from,
            reason=command.reason,
            operator=batch.operators[command.message_id].subject,
        ),
        key=command.client_id,
    )
    batch.accept(command, closed_through=str(closed_through))


def _action_details(command: Command) -> dict[str, object]:
    """What the record of operator actions keeps of a command: its own fields, without the envelope's."""
    return command.model_dump(mode="json", exclude={"type", "version", "message_id", "occurred_at", "reply"})


def _books(batch: CommandBatch, command: Command) -> Chart:
    """The client's chart, or `Refused` if the client has no books yet."""
    chart = batch.charts[command.client_id]
    if chart.version == 0:
        raise Refused("unknown_client", f"client {chart.client_id} has no books: open them first")
    return chart


# --- the routing table --------------------------------------------------------------------------------------------
HANDLERS: dict[type[Message], Handler] = {
    PostVoucher: post_voucher,
    ReverseVoucher: reverse_voucher,
    OpenBooks: open_books,
    UpsertAccount: upsert_account,
    CreateSubledgerSeries: create_subledger_series,
    UpsertParty: upsert_party,
    ClosePeriod: close_period,
    ReopenPeriod: reopen_period,
}


def consumers(repository: RepositoryFactory = LedgerRepository, charts: ChartCache | None = None) -> list[Consumer]:
    """The ledger's subscription. `repository` is the PostgreSQL one, or an in-memory one in unit tests; `charts`
    is the chart cache its batches share (one per process; a new one if not given)."""
    return [
        Consumer(
            topics.TOPIC_LEDGER_COMMANDS,
            topics.GROUP_LEDGER,
            partial(CommandBatch, repository=repository, charts=ChartCache() if charts is None else charts),
            "Chart, sub-ledger, period and booking commands. Booking commands are exactly once per idempotency key.",
            routes_every_type=True,
        )
    ]


def _moved(before: OpenItemMove | None, line: Line) -> OpenItemMove:
    """An open item's move with one more posting line (the line that opens it carries its due date)."""
    original = line.amount_ore if line.due_date is not None else 0
    if before is None:
        return OpenItemMove(line.account, original, line.amount_ore, line.due_date)
    due = max((d for d in (before.due_date, line.due_date) if d is not None), default=None)
    return OpenItemMove(
        min(before.account, line.account), before.original_ore + original, before.balance_ore + line.amount_ore, due
    )


def _posted_event(voucher: NewVoucher) -> bytes:
    # Encoded straight from the voucher: every value comes from a command validated on the way in and from the
    # ledger's own rules; building and dumping a model per voucher was a fifth of the ledger's CPU.
    return encoders.voucher_posted(
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
            (
                line.line_number,
                line.account,
                line.amount_ore,
                line.party,
                line.open_item,
                line.due_date,
                line.vat_code,
                line.description,
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
