"""The ledger's handlers through its routing table, with a fake unit of work and the in-memory repository.

No Kafka, no PostgreSQL: each `send` is one batch run exactly as the consumer runs it after decoding (claim,
prepare, a handler per command, finish, commit), and the tests look at what committed: the store's tables,
the events and the answers.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from prometheus_client import REGISTRY

from ledger.adapters.memory import LedgerStore
from ledger.adapters.repository import ChartCache, Repository
from ledger.service_layer import handlers
from ledger.service_layer.handlers import HANDLERS, consumers
from ledgerline_contracts import auth, topics
from ledgerline_contracts.ledger import (
    LEDGER_COMMANDS,
    AccountUpserted,
    BookingRejected,
    BookingSource,
    BooksOpened,
    ClosePeriod,
    ControlRole,
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
    VoucherLine,
    VoucherPosted,
)
from ledgerline_contracts.messages import Command, CommandResult, Message
from ledgerline_contracts.operations import DeadLetter
from servicekit.messagebus import RoutingError, routes
from servicekit.testing import AUTOMATIC, USERS, Coverage, FakeUnitOfWork, consumer_for, deliver, service_issuer
from servicekit.unit_of_work import UnitOfWork

CLIENT = "c1"
DAY = date(2026, 11, 23)
SOURCE = BookingSource(service="test")
coverage = Coverage()
covers = coverage.covers


def line(account: str, side: str, ore: int, **more: Any) -> VoucherLine:
    return VoucherLine(account=account, side=side, amount_ore=ore, **more)


def post(key: str, *lines: VoucherLine, series: str = "GENERAL", day: date = DAY, text: str = "Sale") -> PostVoucher:
    return PostVoucher(
        client_id=CLIENT,
        idempotency_key=key,
        voucher_date=day,
        text=text,
        series=series,
        lines=list(lines) or [line("1920", "debit", 10_000), line("3000", "credit", 10_000)],
        source=SOURCE,
    )


class Ledger:
    """The ledger's handlers over one store and one fake inbox: `send` is one batch of commands."""

    def __init__(self, repository: Callable[[UnitOfWork, ChartCache], Repository] | None = None) -> None:
        self.store = LedgerStore()
        self.charts = ChartCache()
        self.uow = FakeUnitOfWork()
        self.consumer = consumer_for(
            consumers(repository=repository or self.store.repository, charts=self.charts),
            topics.TOPIC_LEDGER_COMMANDS,
        )

    async def send(self, *commands: Command, token: Any = AUTOMATIC) -> list[CommandResult]:
        """One batch (by default from a platform operator with every privilege); the answers it committed."""
        before = len(self.uow.inbox.published)
        await deliver(self.consumer, HANDLERS, self.uow, *commands, token=token)
        return [p.message for p in self.uow.inbox.published[before:] if isinstance(p.message, CommandResult)]

    async def accepted(self, command: Command) -> dict[str, Any]:
        (result,) = await self.send(command)
        assert result.accepted, result.reason
        assert result.command_id == command.message_id
        return result.details

    async def refused(self, command: Command) -> CommandResult:
        (result,) = await self.send(command)
        assert not result.accepted
        assert result.reason
        return result

    def events(self, kind: type[Message], topic: topics.Topic = topics.TOPIC_LEDGER_EVENTS) -> list[Any]:
        return self.uow.inbox.messages(topic, kind)


async def with_books(**extra: Any) -> Ledger:
    ledger = Ledger()
    await ledger.accepted(OpenBooks(client_id=CLIENT, company_name="Test AS", **extra))
    return ledger


async def with_customer() -> Ledger:
    ledger = await with_books()
    await ledger.accepted(UpsertParty(client_id=CLIENT, number=10001, name="Kunde C", kind=PartyKind.CUSTOMER))
    return ledger


def counter(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# --- the routing table --------------------------------------------------------------------------------------------
def test_every_ledger_command_is_routed_and_subscribed() -> None:
    (subscription,) = routes(consumers(), HANDLERS, FakeUnitOfWork)
    assert subscription.group == topics.GROUP_LEDGER
    assert subscription.topic == topics.TOPIC_LEDGER_COMMANDS
    assert subscription.wants == {model.type_name() for model in LEDGER_COMMANDS.models}


def test_an_unrouted_command_stops_the_ledger_from_starting() -> None:
    without = {kind: handler for kind, handler in HANDLERS.items() if kind is not ClosePeriod}
    with pytest.raises(RoutingError, match=r"no handler for ledger\.ClosePeriod"):
        routes(consumers(), without, FakeUnitOfWork)


# --- books and chart --------------------------------------------------------------------------------------------
@covers(OpenBooks)
async def test_opening_books_seeds_the_default_chart_and_announces_it() -> None:
    ledger = Ledger()
    details = await ledger.accepted(OpenBooks(client_id=CLIENT, company_name="Test AS"))
    assert details == {"accounts": 17}
    assert [e.company_name for e in ledger.events(BooksOpened)] == ["Test AS"]
    accounts = ledger.events(AccountUpserted)
    assert len(accounts) == 17 and {"1500", "1920", "3000"} <= {a.number for a in accounts}
    assert [(s.code, s.control_account) for s in ledger.events(SubledgerSeriesCreated)] == [
        ("CUSTOMERS", "1500"),
        ("SUPPLIERS", "2400"),
    ]
    assert ledger.store.tables.books[CLIENT].company_name == "Test AS"
    assert len([k for k in ledger.store.tables.accounts if k[0] == CLIENT]) == 17

    again = await ledger.accepted(OpenBooks(client_id=CLIENT, company_name="Other AS"))
    assert again == {"already_open": True}
    assert len(ledger.events(BooksOpened)) == 1
    assert ledger.store.tables.books[CLIENT].company_name == "Test AS"


@covers(OpenBooks)
async def test_books_without_the_default_chart_and_without_an_answer() -> None:
    ledger = Ledger()
    assert (
        await ledger.send(OpenBooks(client_id=CLIENT, company_name="Bare AS", seed_default_chart=False, reply=False))
        == []
    )
    assert len(ledger.events(BooksOpened)) == 1
    assert ledger.events(AccountUpserted) == []
    assert ledger.store.tables.accounts == {}


@covers(UpsertAccount)
async def test_an_account_is_added_changed_and_announced() -> None:
    ledger = await with_books()
    details = await ledger.accepted(
        UpsertAccount(client_id=CLIENT, number="2960", name="Mellomregning ABC", account_type="liability")
    )
    assert details == {"account": "2960"}
    await ledger.accepted(
        UpsertAccount(client_id=CLIENT, number="2960", name="Mellomregning ABC Factoring", account_type="liability")
    )
    assert ledger.store.tables.accounts[(CLIENT, "2960")].name == "Mellomregning ABC Factoring"
    assert [e.name for e in ledger.events(AccountUpserted) if e.number == "2960"] == [
        "Mellomregning ABC",
        "Mellomregning ABC Factoring",
    ]
    # the next batch books on it: the changed chart was reloaded, not served stale from the cache
    assert (await ledger.accepted(post("k1", line("2960", "debit", 5), line("3000", "credit", 5))))["number"] == 1


@covers(UpsertAccount)
async def test_account_changes_are_refused_without_books_or_for_a_control_account_in_use() -> None:
    ledger = Ledger()
    refused = await ledger.refused(UpsertAccount(client_id=CLIENT, number="2960", name="X", account_type="liability"))
    assert refused.details == {"code": "unknown_client"} and "has no books" in (refused.reason or "")
    assert ledger.events(AccountUpserted) == []

    ledger = await with_books()
    before = len(ledger.events(AccountUpserted))
    refused = await ledger.refused(
        UpsertAccount(client_id=CLIENT, number="1500", name="Kundefordringer", account_type="asset")
    )
    assert refused.details == {"code": "account_in_use"}
    assert ledger.store.tables.accounts[(CLIENT, "1500")].control_role is ControlRole.ACCOUNTS_RECEIVABLE
    assert len(ledger.events(AccountUpserted)) == before


@covers(CreateSubledgerSeries)
async def test_a_subledger_series_is_created_under_a_control_account() -> None:
    ledger = await with_books()
    series = CreateSubledgerSeries(
        client_id=CLIENT,
        code="FACTORING",
        name="Factoring",
        kind=PartyKind.SUPPLIER,
        control_account="2400",
        first_number=30000,
        last_number=30999,
    )
    assert await ledger.accepted(series) == {"series": "FACTORING"}
    stored = ledger.store.tables.series[(CLIENT, "FACTORING")]
    assert (stored.first_number, stored.last_number, stored.control_account) == (30000, 30999, "2400")
    assert ledger.events(SubledgerSeriesCreated)[-1].code == "FACTORING"

    again = series.model_copy(update={"message_id": uuid.uuid4()})
    assert (await ledger.refused(again)).details == {"code": "series_exists"}
    overlapping = series.model_copy(update={"message_id": uuid.uuid4(), "code": "OTHER", "first_number": 29000})
    refused = await ledger.refused(overlapping)
    assert refused.details == {"code": "overlapping_series"} and "SUPPLIERS" in (refused.reason or "")
    not_control = series.model_copy(update={"message_id": uuid.uuid4(), "code": "BANK", "control_account": "1920"})
    assert (await ledger.refused(not_control)).details == {"code": "not_a_control_account"}
    assert (CLIENT, "OTHER") not in ledger.store.tables.series


@covers(UpsertParty)
async def test_a_party_lands_in_the_series_whose_range_holds_its_number() -> None:
    ledger = await with_books()
    details = await ledger.accepted(UpsertParty(client_id=CLIENT, number=20001, name="ABC", kind=PartyKind.SUPPLIER))
    assert details == {"party": 20001, "series": "SUPPLIERS"}
    (event,) = ledger.events(PartyUpserted)
    assert (event.number, event.series, event.control_account) == (20001, "SUPPLIERS", "2400")
    assert ledger.store.tables.parties[(CLIENT, 20001)].name == "ABC"

    refused = await ledger.refused(UpsertParty(client_id=CLIENT, number=99, name="Nowhere", kind=PartyKind.CUSTOMER))
    assert refused.details == {"code": "no_series"}
    refused = await ledger.refused(UpsertParty(client_id=CLIENT, number=10002, name="X", kind=PartyKind.SUPPLIER))
    assert refused.details == {"code": "wrong_series_kind"}
    assert len(ledger.events(PartyUpserted)) == 1


@covers(ClosePeriod)
async def test_a_closed_period_refuses_vouchers_dated_in_it_and_never_reopens() -> None:
    ledger = await with_books()
    assert await ledger.accepted(ClosePeriod(client_id=CLIENT, through=date(2026, 10, 31))) == {
        "closed_through": "2026-10-31"
    }
    assert await ledger.accepted(ClosePeriod(client_id=CLIENT, through=date(2026, 9, 30))) == {
        "closed_through": "2026-10-31"
    }
    assert [e.closed_through for e in ledger.events(PeriodClosed)] == [date(2026, 10, 31)] * 2
    assert ledger.store.tables.books[CLIENT].closed_through == date(2026, 10, 31)

    refused = await ledger.refused(post("old", day=date(2026, 10, 31)))
    assert refused.details == {"code": "closed_period"} and "closed period" in (refused.reason or "")
    assert (await ledger.accepted(post("new", day=date(2026, 11, 1))))["number"] == 1
    assert (await ledger.refused(ClosePeriod(client_id="nobody", through=DAY))).details == {"code": "unknown_client"}


@covers(ReopenPeriod)
async def test_an_operator_reopens_a_closed_period_and_the_ledger_keeps_who_and_why() -> None:
    ledger = await with_books()
    await ledger.accepted(ClosePeriod(client_id=CLIENT, through=date(2026, 10, 31)))
    reopen = ReopenPeriod(client_id=CLIENT, reopen_from=date(2026, 10, 1), reason="late supplier invoice")
    (result,) = await ledger.send(reopen, token=USERS.operator("kari", [auth.LEDGER_PERIODS]))
    assert result.accepted and result.details == {"closed_through": "2026-09-30"}
    (event,) = ledger.events(PeriodReopened)
    assert (event.closed_through, event.reopened_from, event.operator) == (date(2026, 9, 30), date(2026, 10, 1), "kari")
    assert (await ledger.accepted(post("october", day=date(2026, 10, 15))))["number"] == 1

    nothing_closed = await ledger.refused(ReopenPeriod(client_id=CLIENT, reopen_from=DAY, reason="again"))
    assert nothing_closed.details == {"code": "period_not_closed"}
    reopened = [a for a in ledger.store.tables.operator_actions.values() if a.command_type == "ledger.ReopenPeriod"]
    assert [(a.operator, a.accepted, a.details["reason"]) for a in reopened] == [
        ("kari", True, "late supplier invoice"),
        ("test-operator", False, "again"),
    ]


# --- who may send what --------------------------------------------------------------------------------------------
def voucher_of(service: str, key: str = "k1") -> PostVoucher:
    return post(key).model_copy(update={"source": BookingSource(service=service)})


@pytest.mark.parametrize(
    ("command", "token", "reason"),
    [
        (ClosePeriod(client_id=CLIENT, through=DAY), None, "unauthenticated: no token"),
        (ClosePeriod(client_id=CLIENT, through=DAY), USERS.user(CLIENT, "ola"), "user ola of c1 cannot write"),
        (
            ClosePeriod(client_id=CLIENT, through=DAY),
            USERS.operator("kari", [auth.LEDGER_CHART]),
            "operator kari lacks the ledger.periods privilege",
        ),
        (
            ClosePeriod(client_id=CLIENT, through=DAY),
            service_issuer("invoicing").service(),
            "the invoicing service may not send ledger.ClosePeriod",
        ),
        (voucher_of("invoicing"), service_issuer("factoring-gateway").service(), "only its own vouchers"),
        (
            ClosePeriod(client_id=CLIENT, through=DAY),
            USERS.operator("kari", now=0),
            "unauthenticated: the token expired at 1970",
        ),
        (
            ClosePeriod(client_id=CLIENT, through=DAY),
            auth.Issuer(auth.USERS_ISSUER, auth.new_key()).operator("mallory"),
            "unauthenticated: invalid token: Signature verification failed",
        ),
    ],
)
async def test_a_command_from_a_sender_without_the_right_is_refused_and_changes_nothing(
    command: Command, token: str | None, reason: str
) -> None:
    ledger = await with_books()
    tables_before = {name: dict(table) for name, table in vars(ledger.store.tables).items()}
    published_before = len(ledger.uow.inbox.published)
    (result,) = await ledger.send(command, token=token)
    assert not result.accepted and reason in (result.reason or ""), result.reason
    assert {name: dict(table) for name, table in vars(ledger.store.tables).items()} == tables_before
    assert ledger.uow.inbox.published[published_before:] == [
        p for p in ledger.uow.inbox.published[published_before:] if isinstance(p.message, CommandResult)
    ]


async def test_a_refused_sender_does_not_use_up_the_booking_key_of_the_service_that_owns_it() -> None:
    ledger = await with_books()
    forged = voucher_of("invoicing", key="invoicing:sale:1")
    (refused,) = await ledger.send(forged, token=USERS.operator("mallory", [auth.LEDGER_CHART]))
    assert not refused.accepted
    genuine = voucher_of("invoicing", key="invoicing:sale:1")
    (result,) = await ledger.send(genuine, token=service_issuer("invoicing").service())
    assert result.accepted and result.details["number"] == 1


async def test_each_service_books_what_it_owns() -> None:
    ledger = await with_books()
    for number, service in enumerate(("invoicing", "factoring-gateway", "financing-gateway"), start=1):
        (result,) = await ledger.send(voucher_of(service, key=service), token=service_issuer(service).service())
        assert result.accepted and result.details["number"] == number


# --- bookings -----------------------------------------------------------------------------------------------------
@covers(PostVoucher)
async def test_a_voucher_is_numbered_written_and_announced() -> None:
    ledger = await with_books()
    command = post(
        "sale-1", line("1920", "debit", 12_500), line("3000", "credit", 10_000), line("2700", "credit", 2_500)
    )
    details = await ledger.accepted(command)
    assert details["series"] == "GENERAL" and details["number"] == 1
    (event,) = ledger.events(VoucherPosted)
    assert str(event.voucher_id) == details["voucher_id"]
    assert (event.number, event.idempotency_key, event.source) == (1, "sale-1", SOURCE)
    assert [(pl.line_number, pl.account, pl.side, pl.amount_ore) for pl in event.lines] == [
        (1, "1920", "debit", 12_500),
        (2, "3000", "credit", 10_000),
        (3, "2700", "credit", 2_500),
    ]
    (stored,) = ledger.store.vouchers(CLIENT)
    assert (str(stored.id), stored.number, stored.command_id) == (details["voucher_id"], 1, command.message_id)
    assert ledger.store.balance(CLIENT, "1920") == 12_500
    assert ledger.store.balance(CLIENT, "3000") == -10_000


@covers(PostVoucher)
async def test_numbers_are_gap_free_per_client_and_series_within_and_across_batches() -> None:
    ledger = await with_books()
    other = "c2"
    await ledger.accepted(OpenBooks(client_id=other, company_name="Other AS"))
    unbalanced = post("bad", line("1920", "debit", 1), line("3000", "credit", 2))
    results = await ledger.send(
        post("a"), post("b", series="BANK"), unbalanced, post("c"), post("d").model_copy(update={"client_id": other})
    )
    assert [r.accepted for r in results] == [True, True, False, True, True]
    assert [(r.details.get("series"), r.details.get("number")) for r in results] == [
        ("GENERAL", 1),
        ("BANK", 1),
        (None, None),
        ("GENERAL", 2),
        ("GENERAL", 1),
    ]
    await ledger.send(post("e"), post("f", series="BANK"))
    assert [(v.series, v.number) for v in ledger.store.vouchers(CLIENT)] == [
        ("BANK", 1),
        ("BANK", 2),
        ("GENERAL", 1),
        ("GENERAL", 2),
        ("GENERAL", 3),
    ]
    assert ledger.store.tables.voucher_sequences == {(CLIENT, "GENERAL"): 3, (CLIENT, "BANK"): 2, (other, "GENERAL"): 1}


@covers(PostVoucher)
async def test_a_refused_voucher_books_nothing_publishes_the_rejection_and_says_why() -> None:
    ledger = await with_books()
    rejected_before = counter("ledgerline_vouchers_rejected_total", code="unbalanced")
    bad = post("bad", line("1920", "debit", 10_000), line("3000", "credit", 9_999))
    refused = await ledger.refused(bad)
    assert refused.details == {"code": "unbalanced"} and "does not balance" in (refused.reason or "")
    (rejection,) = ledger.events(BookingRejected, topics.TOPIC_LEDGER_REJECTIONS)
    assert (rejection.command_id, rejection.idempotency_key, rejection.code) == (bad.message_id, "bad", "unbalanced")
    assert rejection.reason == refused.reason and rejection.source == SOURCE
    assert ledger.store.vouchers(CLIENT) == [] and ledger.events(VoucherPosted) == []
    assert ledger.store.tables.rejected_bookings[(CLIENT, "bad")].code == "unbalanced"
    assert counter("ledgerline_vouchers_rejected_total", code="unbalanced") == rejected_before + 1

    unknown = await ledger.refused(post("unknown", line("1999", "debit", 1), line("3000", "credit", 1)))
    assert "account 1999 is not in the chart" in (unknown.reason or "")
    no_party = await ledger.refused(post("no-party", line("1500", "debit", 1), line("3000", "credit", 1)))
    assert no_party.details == {"code": "party_required"}
    reversal = post("sneaky").model_copy(update={"reverses_voucher_id": uuid.uuid4()})
    assert (await ledger.refused(reversal)).details == {"code": "use_reverse_voucher"}
    no_books = await ledger.refused(post("x").model_copy(update={"client_id": "nobody"}))
    assert no_books.details == {"code": "unknown_client"}
    assert len(ledger.events(BookingRejected, topics.TOPIC_LEDGER_REJECTIONS)) == 5


@covers(PostVoucher)
async def test_a_repeated_booking_command_books_nothing_and_gets_the_original_outcome() -> None:
    ledger = await with_books()
    first = post("same-key")
    again = first.model_copy(update={"message_id": uuid.uuid4()})
    duplicates_before = counter("ledgerline_inbox_duplicates_total", service="ledger", consumer="ledger")
    one = await ledger.accepted(first)
    two = await ledger.accepted(again)
    assert two == {**one, "repeat": True}
    # within one batch too: the second copy is answered with the voucher the first one queued
    copies = await ledger.send(post("twice"), post("twice"), again.model_copy(update={"message_id": uuid.uuid4()}))
    assert [r.details.get("repeat") for r in copies] == [None, True, True]
    assert copies[1].details["voucher_id"] == copies[0].details["voucher_id"]
    assert copies[2].details["voucher_id"] == one["voucher_id"]
    assert [v.idempotency_key for v in ledger.store.vouchers(CLIENT)] == ["same-key", "twice"]
    assert len(ledger.events(VoucherPosted)) == 2
    assert counter("ledgerline_inbox_duplicates_total", service="ledger", consumer="ledger") == duplicates_before + 3

    # a refused key stays refused, with the original reason, when it is resent
    bad = post("refused-key", line("1920", "debit", 2), line("3000", "credit", 1))
    refused = await ledger.refused(bad)
    repeat = await ledger.refused(bad.model_copy(update={"message_id": uuid.uuid4()}))
    assert repeat.reason == refused.reason
    assert repeat.details == {"code": "unbalanced", "reason": refused.reason, "repeat": True}
    assert len(ledger.events(BookingRejected, topics.TOPIC_LEDGER_REJECTIONS)) == 1
    assert len(ledger.store.vouchers(CLIENT)) == 2


@covers(PostVoucher)
async def test_a_key_reused_for_a_different_booking_is_a_conflict_refused_and_dead_lettered() -> None:
    ledger = await with_books()
    conflicts_before = counter("ledgerline_inbox_conflicts_total", service="ledger", consumer="ledger")
    first = await ledger.accepted(post("sale-9"))
    other = post("sale-9", line("1920", "debit", 99_000), line("3000", "credit", 99_000))
    refused = await ledger.refused(other)
    assert refused.details == {"code": "conflict"}
    assert refused.reason is not None and "reuses the key booking:" in refused.reason
    (dead,) = ledger.events(DeadLetter, topics.dead_letters(topics.GROUP_LEDGER))
    assert dead.error_kind == "conflict"
    assert [v.idempotency_key for v in ledger.store.vouchers(CLIENT)] == ["sale-9"]
    assert ledger.store.vouchers(CLIENT)[0].id == uuid.UUID(first["voucher_id"])
    assert ledger.events(BookingRejected, topics.TOPIC_LEDGER_REJECTIONS) == []  # that would speak for the first
    # a corrected resend under a refused key is a different command: refused as a conflict, the rejection stands
    bad = post("refused-key", line("1920", "debit", 2), line("3000", "credit", 1))
    await ledger.refused(bad)
    assert (await ledger.refused(post("refused-key"))).details == {"code": "conflict"}
    assert len(ledger.events(BookingRejected, topics.TOPIC_LEDGER_REJECTIONS)) == 1
    assert counter("ledgerline_inbox_conflicts_total", service="ledger", consumer="ledger") == conflicts_before + 2


async def test_a_redelivered_chart_command_is_answered_as_a_repeat_and_changes_nothing() -> None:
    ledger = await with_books()
    command = UpsertAccount(client_id=CLIENT, number="2960", name="Mellomregning", account_type="liability")
    await ledger.accepted(command)
    assert await ledger.accepted(command) == {"repeat": True}
    assert len([e for e in ledger.events(AccountUpserted) if e.number == "2960"]) == 1


@covers(PostVoucher)
async def test_customer_open_items_move_with_the_vouchers_that_touch_them() -> None:
    ledger = await with_customer()
    due = date(2026, 12, 7)
    sale = post(
        "invoice-1",
        line("1500", "debit", 12_500, party=10001, open_item="1", due_date=due),
        line("3000", "credit", 12_500),
        text="Invoice 1",
    )
    posted = await ledger.accepted(sale)
    paid = await ledger.accepted(
        post("payment-1", line("1920", "debit", 12_500), line("1500", "credit", 12_500, party=10001, open_item="1"))
    )
    changes = ledger.events(OpenItemChanged)
    assert [(c.party, c.open_item, c.account, c.original_ore, c.balance_ore, c.due_date) for c in changes] == [
        (10001, "1", "1500", 12_500, 12_500, due),
        (10001, "1", "1500", 12_500, 0, due),
    ]
    assert [str(c.voucher_id) for c in changes] == [posted["voucher_id"], paid["voucher_id"]]
    assert changes[0].cause == "Invoice 1"


@covers(PostVoucher, UpsertAccount)
async def test_a_chart_change_is_seen_by_the_vouchers_after_it_in_the_same_batch() -> None:
    ledger = await with_books()
    results = await ledger.send(
        post("before", line("2960", "debit", 1), line("3000", "credit", 1)),
        UpsertAccount(client_id=CLIENT, number="2960", name="Mellomregning", account_type="liability"),
        post("after", line("2960", "debit", 1), line("3000", "credit", 1)),
    )
    assert [r.accepted for r in results] == [False, True, True]
    assert [v.idempotency_key for v in ledger.store.vouchers(CLIENT)] == ["after"]


@covers(ReverseVoucher)
async def test_a_reversal_mirrors_the_original_once_and_is_linked_to_it() -> None:
    ledger = await with_books()
    original = await ledger.accepted(post("typo", line("1920", "debit", 10_000), line("3000", "credit", 10_000)))
    original_id = uuid.UUID(original["voucher_id"])
    reverse = ReverseVoucher(
        client_id=CLIENT,
        idempotency_key="typo-reversal",
        voucher_id=original_id,
        voucher_date=DAY,
        reason="wrong amount",
        source=SOURCE,
    )
    details = await ledger.accepted(reverse)
    assert (details["series"], details["number"]) == ("GENERAL", 2)
    event = ledger.events(VoucherPosted)[-1]
    assert event.reverses_voucher_id == original_id and event.text == "Reversal: wrong amount"
    assert [(pl.account, pl.side, pl.amount_ore) for pl in event.lines] == [
        ("1920", "credit", 10_000),
        ("3000", "debit", 10_000),
    ]
    assert ledger.store.balance(CLIENT, "1920") == 0
    assert ledger.store.tables.reversals == {original_id: uuid.UUID(details["voucher_id"])}

    again = reverse.model_copy(update={"idempotency_key": "typo-reversal-2", "message_id": uuid.uuid4()})
    refused = await ledger.refused(again)
    assert refused.details == {"code": "already_reversed"} and "already been reversed" in (refused.reason or "")
    assert ledger.events(BookingRejected, topics.TOPIC_LEDGER_REJECTIONS)[-1].idempotency_key == "typo-reversal-2"
    unknown = reverse.model_copy(
        update={"idempotency_key": "r3", "message_id": uuid.uuid4(), "voucher_id": uuid.uuid4()}
    )
    assert (await ledger.refused(unknown)).details == {"code": "unknown_voucher"}
    foreign = reverse.model_copy(update={"idempotency_key": "r4", "message_id": uuid.uuid4(), "client_id": "c2"})
    await ledger.accepted(OpenBooks(client_id="c2", company_name="Other AS"))
    assert (await ledger.refused(foreign)).details == {"code": "unknown_voucher"}
    assert len(ledger.store.vouchers(CLIENT)) == 2


@covers(ReverseVoucher)
async def test_a_voucher_reversed_in_the_batch_that_posts_it_is_reversed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    ledger = await with_books()
    original_id, reversal_id = uuid.uuid4(), uuid.uuid4()
    ids = iter([original_id, reversal_id])
    monkeypatch.setattr(handlers, "uuid4", lambda: next(ids))  # the ledger makes voucher ids: know them ahead

    def undo(key: str) -> ReverseVoucher:
        return ReverseVoucher(
            client_id=CLIENT, idempotency_key=key, voucher_id=original_id, voucher_date=DAY, reason="r", source=SOURCE
        )

    results = await ledger.send(
        post("sale", line("1920", "debit", 700), line("3000", "credit", 700), series="BANK"), undo("u1"), undo("u2")
    )
    assert [r.accepted for r in results] == [True, True, False]
    assert results[0].details["voucher_id"] == str(original_id)
    assert (results[1].details["voucher_id"], results[1].details["series"]) == (str(reversal_id), "BANK")
    assert results[2].details == {"code": "already_reversed"}
    assert [(v.id, v.number, v.reverses_voucher_id) for v in ledger.store.vouchers(CLIENT)] == [
        (original_id, 1, None),
        (reversal_id, 2, original_id),
    ]
    assert ledger.store.balance(CLIENT, "1920") == 0
    monkeypatch.undo()
    assert (await ledger.refused(undo("u3"))).details == {"code": "already_reversed"}


class Outage:
    """Builds the store's repositories; while `failing` names one of their methods, that method raises."""

    def __init__(self) -> None:
        self.failing: str | None = None
        self.ledger = Ledger(repository=self.repository)

    def repository(self, uow: UnitOfWork, charts: ChartCache) -> Repository:
        repository = self.ledger.store.repository(uow, charts)
        if self.failing is not None:
            setattr(repository, self.failing, self._boom)
        return repository

    @staticmethod
    async def _boom(*args: Any) -> None:
        raise ConnectionError("the database went away")


@pytest.mark.parametrize("failing", ["save_party", "bump_chart_versions"])  # in a later handler, in finish()
async def test_a_failed_batch_leaves_the_store_and_the_chart_cache_as_they_were(failing: str) -> None:
    outage = Outage()
    ledger = outage.ledger
    await ledger.accepted(OpenBooks(client_id=CLIENT, company_name="Test AS"))
    outage.failing = failing
    with pytest.raises(ConnectionError):
        await ledger.send(
            UpsertAccount(client_id=CLIENT, number="2960", name="Mellomregning", account_type="liability"),
            UpsertParty(client_id=CLIENT, number=10001, name="Kunde C", kind=PartyKind.CUSTOMER),
        )
    assert ledger.uow.inbox.rollbacks == 1
    assert (CLIENT, "2960") not in ledger.store.tables.accounts
    assert ledger.charts.get(CLIENT) is None  # the change made in memory is forgotten, not served next time
    outage.failing = None
    refused = await ledger.refused(post("k", line("2960", "debit", 1), line("3000", "credit", 1)))
    assert "account 2960 is not in the chart" in (refused.reason or "")
    assert len(ledger.events(AccountUpserted)) == 17


async def test_posted_vouchers_are_counted_only_when_the_batch_commits() -> None:
    ledger = await with_books()
    lines_before = counter("ledgerline_posting_lines_total")
    posted_before = counter("ledgerline_vouchers_posted_total", series="GENERAL")
    await ledger.send(
        post("a"), post("b", line("1920", "debit", 2), line("3000", "credit", 1), line("2700", "credit", 1))
    )
    assert counter("ledgerline_posting_lines_total") == lines_before + 5
    assert counter("ledgerline_vouchers_posted_total", series="GENERAL") == posted_before + 2


def test_every_routed_type_has_a_handler_test() -> None:
    assert coverage.untested(HANDLERS) == []
