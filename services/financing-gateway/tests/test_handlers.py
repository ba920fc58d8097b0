"""Every handler of the financing gateway, run as the service runs it (its routing table, its consumers' batches,
the inbox's deduplication) but on a fake unit of work and the in-memory repository: no Kafka, no PostgreSQL.

Each test names the message types it covers with `@covers(...)`; a type in `HANDLERS` that no test covers fails
`test_every_routed_message_type_has_a_test`.
"""

from __future__ import annotations

import inspect
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from prometheus_client import REGISTRY

from financing_gateway.adapters.memory import FinancingStore, InMemoryFinancingRepository
from financing_gateway.adapters.repository import FinancingRepository
from financing_gateway.service_layer.handlers import HANDLERS, consumers
from ledgerline_contracts import topics
from ledgerline_contracts.factoring import AccountRef, FactoringStatusChanged
from ledgerline_contracts.financing import (
    CONSENT_TEXTS,
    CreditLimitChanged,
    FinancingContext,
    FinancingPostingsChanged,
    FinancingTransactionRecorded,
    GiveFinancingConsent,
    OnboardingState,
    OnboardingStateChanged,
    SetFinancingPostings,
    WithdrawFinancingConsent,
)
from ledgerline_contracts.invoicing import (
    INVOICE_FINANCING,
    ClientCreated,
    FactoringStatus,
    InvoiceDelivery,
    InvoiceLine,
    UserPrivilegesChanged,
)
from ledgerline_contracts.ledger import (
    AccountType,
    AccountUpserted,
    ControlRole,
    OpenItemChanged,
    PartyKind,
    PartyUpserted,
    PostVoucher,
    Side,
)
from ledgerline_contracts.messages import CommandResult, Message
from ledgerline_contracts.providers import buffer
from ledgerline_contracts.samples import COMPANY
from servicekit.messagebus import routes
from servicekit.testing import Coverage, FakeInbox, FakeUnitOfWork, deliver

CLIENT = "acme"
ADMIN, CLERK = "alice", "bob"
DUE = date(2026, 12, 23)
NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)

coverage = Coverage()
covers = coverage.covers


# --- the gateway in memory ----------------------------------------------------------------------------------------
class Gateway:
    """The gateway's tables and its inbox/outbox in memory; `deliver` runs messages as one batch of one consumer."""

    def __init__(self) -> None:
        self.store = FinancingStore()
        self.inbox = FakeInbox()
        self.consumers = consumers(repository=self.store.repository)

    async def deliver(self, *messages: Message) -> None:
        consumer = next(c for c in self.consumers if type(messages[0]) in c.types().models)
        assert all(type(m) in consumer.types().models for m in messages), "one batch is one consumer's"
        await deliver(consumer, HANDLERS, FakeUnitOfWork(self.inbox), *messages)

    def sent(self, topic: topics.Topic, kind: type[Any] | None = None) -> list[Any]:
        return self.inbox.messages(topic, kind)

    def to_buffer(self, kind: type[Any] | None = None) -> list[Any]:
        return self.sent(topics.TOPIC_BUFFER_OUTBOUND, kind)

    def events(self, kind: type[Any] | None = None) -> list[Any]:
        return self.sent(topics.TOPIC_FINANCING_EVENTS, kind)

    def result(self, command: Message) -> CommandResult:
        [found] = [
            r for r in self.sent(topics.TOPIC_COMMAND_RESULTS, CommandResult) if r.command_id == command.message_id
        ]
        return found

    @property
    def stream(self) -> Any:
        return self.store.streams[CLIENT]

    @property
    def onboarding_id(self) -> Any:
        return self.store.streams[CLIENT].onboarding_id


def privileges(user: str, privileges: list[str], sequence: int, name: str = "Alice Admin") -> UserPrivilegesChanged:
    return UserPrivilegesChanged(
        client_id=CLIENT, user_id=user, name=name, roles=["administrator"], privileges=privileges, sequence=sequence
    )


def consent(user: str = ADMIN, **changes: Any) -> GiveFinancingConsent:
    values: dict[str, Any] = {
        "client_id": CLIENT,
        "acting_user": user,
        "context": FinancingContext.OPEN_ITEMS,
        "agreed": True,
        "consent_text": CONSENT_TEXTS["en-1"],
        "consent_text_version": "en-1",
    }
    return GiveFinancingConsent(**(values | changes))


def open_item(item: str, balance: int, party: int = 10001, original: int = 1_250_000) -> OpenItemChanged:
    return OpenItemChanged(
        client_id=CLIENT,
        party=party,
        open_item=item,
        account="1500",
        original_ore=original,
        balance_ore=balance,
        due_date=DUE,
        voucher_id=uuid4(),
        cause=f"invoice {item}",
    )


def customer(number: int = 10001, name: str = "Nordlys AS") -> PartyUpserted:
    return PartyUpserted(
        client_id=CLIENT, number=number, name=name, kind=PartyKind.CUSTOMER, series="K", control_account="1500"
    )


def credit(onboarding_id: Any, limit: int, used: int, based_on: int, at: datetime = NOW) -> buffer.CreditLimitChanged:
    return buffer.CreditLimitChanged(
        client_id=CLIENT,
        onboarding_id=onboarding_id,
        limit_ore=limit,
        used_ore=used,
        available_ore=limit - used,
        based_on_sequence=based_on,
        calculated_at=at,
    )


def refusals(code: str) -> float:
    return REGISTRY.get_sample_value("ledgerline_financing_refusals_total", {"code": code}) or 0.0


@pytest.fixture
async def gateway() -> Gateway:
    """A client invoicing announced, with an administrator holding the privilege and a clerk without it."""
    gateway = Gateway()
    await gateway.deliver(
        ClientCreated(client_id=CLIENT, company_name="Acme AS", organisation_number="912345678"),
        privileges(ADMIN, [INVOICE_FINANCING, "invoicing"], 1),
        privileges(CLERK, ["invoicing"], 2, name="Bob Clerk"),
    )
    return gateway


@pytest.fixture
async def consented(gateway: Gateway) -> Gateway:
    """The client consented, with one open item known; the stream has sent its snapshot (sequence 1)."""
    await gateway.deliver(customer(), open_item("1001", 1_250_000))
    await gateway.deliver(consent())
    return gateway


# --- the routing table --------------------------------------------------------------------------------------------
def test_every_routed_message_type_has_a_test() -> None:
    untested = coverage.untested(HANDLERS)
    assert not untested, f"no test covers the handlers of {', '.join(untested)}"


def test_consumers_keep_their_groups_and_read_only_the_types_the_gateway_acts_on() -> None:
    subscriptions = {s.group: s for s in routes(consumers(), HANDLERS, FakeUnitOfWork)}
    assert set(subscriptions) == {
        topics.GROUP_FINANCING_COMMANDS,
        topics.GROUP_FINANCING_INVOICING_EVENTS,
        topics.GROUP_FINANCING_LEDGER_EVENTS,
        topics.GROUP_FINANCING_BUFFER,
        topics.GROUP_FINANCING_FACTORING_EVENTS,
    }
    assert subscriptions[topics.GROUP_FINANCING_COMMANDS].topic == topics.TOPIC_FINANCING_COMMANDS
    assert subscriptions[topics.GROUP_FINANCING_INVOICING_EVENTS].wants == {
        "invoicing.ClientCreated",
        "invoicing.UserPrivilegesChanged",
        "invoicing.InvoiceDelivery",
    }
    factoring = subscriptions[topics.GROUP_FINANCING_FACTORING_EVENTS]
    assert (factoring.topic, factoring.wants) == (topics.TOPIC_FACTORING_EVENTS, {"factoring.FactoringStatusChanged"})
    assert subscriptions[topics.GROUP_FINANCING_LEDGER_EVENTS].wants == {
        "ledger.OpenItemChanged",
        "ledger.AccountUpserted",
        "ledger.PartyUpserted",
    }
    assert subscriptions[topics.GROUP_FINANCING_BUFFER].wants == {m.type_name() for m in buffer.INBOUND.models}


def test_the_in_memory_repository_has_the_same_methods_as_the_postgresql_one() -> None:
    def methods(cls: type) -> dict[str, inspect.Signature]:
        return {
            name: inspect.signature(member)
            for name, member in vars(cls).items()
            if inspect.isfunction(member) and not name.startswith("_")
        }

    assert methods(InMemoryFinancingRepository) == methods(FinancingRepository)


# --- what invoicing announces -------------------------------------------------------------------------------------
@covers(ClientCreated)
async def test_the_company_is_kept_and_a_rename_replaces_it(gateway: Gateway) -> None:
    assert gateway.store.companies[CLIENT].name == "Acme AS"
    await gateway.deliver(
        ClientCreated(client_id=CLIENT, company_name="Acme Holding AS", organisation_number="912345678")
    )
    assert gateway.store.companies[CLIENT].name == "Acme Holding AS"
    assert gateway.store.companies[CLIENT].organisation_number == "912345678"
    assert gateway.inbox.published == []


@covers(UserPrivilegesChanged)
async def test_only_a_newer_privilege_announcement_replaces_the_known_one(gateway: Gateway) -> None:
    assert INVOICE_FINANCING in gateway.store.users[(CLIENT, ADMIN)].privileges
    await gateway.deliver(privileges(ADMIN, ["invoicing"], 5))
    await gateway.deliver(privileges(ADMIN, [INVOICE_FINANCING], 4))  # late: older than what is known
    access = gateway.store.users[(CLIENT, ADMIN)]
    assert (access.sequence, access.privileges) == (5, frozenset({"invoicing"}))
    assert access.roles == ("administrator",)


# --- commands -----------------------------------------------------------------------------------------------------
@covers(GiveFinancingConsent)
async def test_consent_is_refused_without_the_invoice_financing_privilege(gateway: Gateway) -> None:
    before = refusals("missing_privilege")
    command = consent(user=CLERK)
    await gateway.deliver(command)
    result = gateway.result(command)
    assert not result.accepted
    assert result.reason is not None and INVOICE_FINANCING in result.reason and CLERK in result.reason
    assert result.details == {"code": "missing_privilege", "missing_privilege": INVOICE_FINANCING}
    assert result.service == "financing-gateway" and result.command_type == command.type
    assert gateway.to_buffer() == [] and gateway.events() == []
    assert gateway.store.onboardings == {} and not gateway.stream.streaming
    assert refusals("missing_privilege") == before + 1


@covers(GiveFinancingConsent)
async def test_a_user_invoicing_never_announced_is_refused_for_the_privilege(gateway: Gateway) -> None:
    command = consent(user="mallory")
    await gateway.deliver(command)
    result = gateway.result(command)
    assert not result.accepted and result.details["code"] == "missing_privilege"
    assert result.reason is not None and "not known for this client" in result.reason


@covers(GiveFinancingConsent, AccountUpserted, PartyUpserted, OpenItemChanged)
async def test_consent_starts_onboarding_and_sends_the_open_receivables_as_a_snapshot(gateway: Gateway) -> None:
    await gateway.deliver(
        customer(10001, "Nordlys AS"),
        customer(10002, "Fjellvann AS"),
        open_item("1001", 1_250_000),
        open_item("1002", 400_000, party=10002),
        open_item("1003", 100_000),
        open_item("1003", 0),  # settled before anyone consented: not a receivable
    )
    assert gateway.to_buffer() == []  # no consent, no stream: the items are only kept
    command = consent()
    await gateway.deliver(command)

    result = gateway.result(command)
    assert result.accepted, result.reason
    onboarding_id = gateway.onboarding_id
    assert result.details == {
        "onboarding_id": str(onboarding_id),
        "state": "consent_given",
        "receivables": 2,
        "snapshot_parts": 1,
        "last_sequence": 1,
    }
    [given] = gateway.to_buffer(buffer.ConsentGiven)
    assert given.onboarding_id == onboarding_id and given.client_id == CLIENT
    assert (given.company.name, given.company.organisation_number) == ("Acme AS", "912345678")
    assert (given.user.user_id, given.user.name, given.user.roles) == (ADMIN, "Alice Admin", ["administrator"])
    assert (given.consent.text_version, given.consent.context) == ("en-1", FinancingContext.OPEN_ITEMS)
    [snapshot] = gateway.to_buffer(buffer.ReceivablesSnapshot)
    assert (snapshot.sequence, snapshot.part, snapshot.parts, snapshot.total_count) == (1, 1, 1, 2)
    assert snapshot.total_ore == 1_650_000
    assert [(r.invoice_reference, r.debtor_name, r.balance_ore) for r in snapshot.receivables] == [
        ("1001", "Nordlys AS", 1_250_000),
        ("1002", "Fjellvann AS", 400_000),
    ]
    assert [type(m) for m in gateway.to_buffer()] == [buffer.ConsentGiven, buffer.ReceivablesSnapshot]
    [state] = gateway.events(OnboardingStateChanged)
    assert (state.state, state.acting_user, state.onboarding_id) == (
        OnboardingState.CONSENT_GIVEN,
        ADMIN,
        onboarding_id,
    )
    assert gateway.stream.streaming and gateway.stream.last_sequence == 1 and gateway.stream.snapshots_sent == 1
    assert gateway.store.onboardings[onboarding_id].consent.user_id == ADMIN


@covers(GiveFinancingConsent)
async def test_a_repeated_consent_message_changes_nothing(gateway: Gateway) -> None:
    command = consent()
    await gateway.deliver(command, command)  # twice in one batch
    await gateway.deliver(command)  # and again later
    assert len(gateway.sent(topics.TOPIC_COMMAND_RESULTS)) == 1
    assert len(gateway.to_buffer(buffer.ConsentGiven)) == 1 and len(gateway.to_buffer(buffer.ReceivablesSnapshot)) == 1
    assert len(gateway.store.onboardings) == 1 and gateway.stream.last_sequence == 1


@covers(GiveFinancingConsent)
async def test_a_second_consent_while_one_is_active_is_refused(consented: Gateway) -> None:
    again = consent()
    await consented.deliver(again)
    result = consented.result(again)
    assert not result.accepted and result.details["code"] == "already_active"
    assert len(consented.store.onboardings) == 1 and consented.stream.last_sequence == 1


@covers(GiveFinancingConsent)
async def test_consent_is_refused_for_a_client_invoicing_has_not_announced() -> None:
    gateway = Gateway()
    await gateway.deliver(
        UserPrivilegesChanged(
            client_id=CLIENT, user_id=ADMIN, name="A", roles=[], privileges=[INVOICE_FINANCING], sequence=1
        )
    )
    command = consent()
    await gateway.deliver(command)
    result = gateway.result(command)
    assert not result.accepted and result.details["code"] == "unknown_client"
    assert gateway.to_buffer() == []


@covers(GiveFinancingConsent)
async def test_consent_to_the_wrong_wording_is_refused(gateway: Gateway) -> None:
    command = consent(consent_text="I agree to anything")
    await gateway.deliver(command)
    result = gateway.result(command)
    assert not result.accepted and result.details["code"] == "consent_text_mismatch"
    assert gateway.store.onboardings == {}


@covers(WithdrawFinancingConsent, OpenItemChanged)
async def test_withdrawal_stops_the_stream_and_tells_buffer(consented: Gateway) -> None:
    onboarding_id = consented.onboarding_id
    command = WithdrawFinancingConsent(client_id=CLIENT, acting_user=ADMIN, reason="not now")
    await consented.deliver(command)
    result = consented.result(command)
    assert result.accepted and result.details == {"onboarding_id": str(onboarding_id), "last_sequence": 1}
    [withdrawn] = consented.to_buffer(buffer.ConsentWithdrawn)
    assert (withdrawn.withdrawn_by, withdrawn.last_sequence, withdrawn.reason) == (ADMIN, 1, "not now")
    [*_, state] = consented.events(OnboardingStateChanged)
    assert (state.state, state.reason) == (OnboardingState.WITHDRAWN, "not now")
    assert not consented.stream.streaming
    assert consented.store.onboardings[onboarding_id].state is OnboardingState.WITHDRAWN

    sent = len(consented.to_buffer())
    await consented.deliver(open_item("1001", 250_000))  # no stream runs: kept, not told
    assert len(consented.to_buffer()) == sent
    assert consented.store.open_items[(CLIENT, 10001, "1001")].balance_ore == 250_000


@covers(WithdrawFinancingConsent)
async def test_withdrawal_without_a_consent_is_refused(gateway: Gateway) -> None:
    command = WithdrawFinancingConsent(client_id=CLIENT, acting_user=ADMIN)
    await gateway.deliver(command)
    result = gateway.result(command)
    assert not result.accepted and result.details == {"code": "not_active"}
    assert gateway.to_buffer() == []


@covers(SetFinancingPostings, AccountUpserted, PartyUpserted)
async def test_automatic_postings_need_a_bank_and_a_liability_account_the_ledger_knows(gateway: Gateway) -> None:
    enable = SetFinancingPostings(
        client_id=CLIENT,
        acting_user=ADMIN,
        enabled=True,
        bank_account="1920",
        liability_account=AccountRef(account="2400", party=20001),
    )
    await gateway.deliver(enable)
    refused = gateway.result(enable)
    assert not refused.accepted and refused.details == {"code": "unknown_account"}
    assert gateway.events() == [] and CLIENT not in gateway.store.posting_settings

    await gateway.deliver(
        AccountUpserted(client_id=CLIENT, number="1920", name="Bank", account_type=AccountType.ASSET),
        AccountUpserted(
            client_id=CLIENT,
            number="2400",
            name="Suppliers",
            account_type=AccountType.LIABILITY,
            control_role=ControlRole.ACCOUNTS_PAYABLE,
        ),
        PartyUpserted(
            client_id=CLIENT, number=20001, name="Buffer", kind=PartyKind.SUPPLIER, series="L", control_account="2400"
        ),
    )
    assert gateway.store.accounts[(CLIENT, "2400")].control_role == "accounts_payable"
    assert gateway.store.parties[(CLIENT, 20001)].kind == "supplier"
    again = enable.model_copy(update={"message_id": uuid4()})
    await gateway.deliver(again)
    assert gateway.result(again).accepted and gateway.result(again).details == {"enabled": True}
    [changed] = gateway.events(FinancingPostingsChanged)
    assert (changed.enabled, changed.bank_account, changed.liability_account) == (
        True,
        "1920",
        AccountRef(account="2400", party=20001),
    )
    assert gateway.store.posting_settings[CLIENT].enabled

    disable = SetFinancingPostings(client_id=CLIENT, acting_user=ADMIN, enabled=False)
    await gateway.deliver(disable)
    assert gateway.result(disable).details == {"enabled": False}
    assert gateway.events(FinancingPostingsChanged)[-1].bank_account is None
    assert not gateway.store.posting_settings[CLIENT].enabled


@covers(SetFinancingPostings)
async def test_the_posting_option_also_needs_the_privilege(gateway: Gateway) -> None:
    command = SetFinancingPostings(client_id=CLIENT, acting_user=CLERK, enabled=False)
    await gateway.deliver(command)
    assert gateway.result(command).details["code"] == "missing_privilege"
    assert gateway.events() == []


# --- the ledger's open items while the stream runs ----------------------------------------------------------------
@covers(OpenItemChanged, PartyUpserted)
async def test_each_change_of_an_open_item_goes_to_buffer_numbered_in_the_ledgers_order(consented: Gateway) -> None:
    await consented.deliver(
        customer(10003, "Havbris AS"),  # a new customer announced in the same batch as its first invoice
        open_item("1004", 300_000, party=10003),
        open_item("1001", 250_000),
        open_item("1001", 250_000),  # nothing the provider reads changed
        open_item("1004", 0, party=10003),
    )
    changes = consented.to_buffer(buffer.ReceivableChanged)
    assert [(c.sequence, c.change, c.receivable.invoice_reference, c.previous_balance_ore) for c in changes] == [
        (2, buffer.ReceivableChange.OPENED, "1004", None),
        (3, buffer.ReceivableChange.REDUCED, "1001", 1_250_000),
        (4, buffer.ReceivableChange.SETTLED, "1004", 300_000),
    ]
    assert changes[0].receivable.debtor_name == "Havbris AS"
    assert changes[0].onboarding_id == consented.onboarding_id and changes[0].cause == "invoice 1004"
    assert consented.stream.last_sequence == 4 and consented.stream.changes_sent == 3
    assert (CLIENT, 10003, "1004") not in consented.store.open_items  # settled: forgotten

    sent = len(consented.to_buffer())
    repeated = open_item("1001", 100_000)
    await consented.deliver(repeated)
    await consented.deliver(repeated)  # the same message again: told once
    assert len(consented.to_buffer()) == sent + 1 and consented.stream.last_sequence == 5


# --- receivables a factoring provider holds -----------------------------------------------------------------------
def delivery(number: str, party: int = 10001, gross_ore: int = 1_250_000) -> InvoiceDelivery:
    """Invoicing hands invoice `number` (the open item of the same number under `party`) to ABC Factoring."""
    invoice_id = uuid4()
    return InvoiceDelivery(
        client_id=CLIENT,
        correlation_id=str(invoice_id),
        provider="abc-factoring",
        invoice_id=invoice_id,
        invoice_number=number,
        customer_number=party,
        customer=COMPANY,
        client_name="Acme AS",
        client_organisation_number="912345678",
        invoice_date=NOW.date(),
        due_date=DUE,
        lines=[InvoiceLine(description="Consulting", net_ore=1_000_000)],
        net_ore=1_000_000,
        vat_ore=gross_ore - 1_000_000,
        gross_ore=gross_ore,
    )


def status(sent: InvoiceDelivery, status: FactoringStatus, sequence: int) -> FactoringStatusChanged:
    """The factoring gateway's status of the delivered invoice, at its per-invoice `sequence`."""
    return FactoringStatusChanged(
        client_id=CLIENT,
        invoice_id=sent.invoice_id,
        provider="abc-factoring",
        status=status,
        description=f"{status.value} by ABC Factoring",
        sequence=sequence,
    )


def changes(gateway: Gateway) -> list[tuple[int, str, str, int, int | None]]:
    return [
        (c.sequence, c.change.value, c.receivable.invoice_reference, c.receivable.balance_ore, c.previous_balance_ore)
        for c in gateway.to_buffer(buffer.ReceivableChanged)
    ]


@covers(InvoiceDelivery, FactoringStatusChanged, GiveFinancingConsent)
async def test_an_invoice_a_factoring_provider_holds_is_left_out_of_the_snapshot_and_its_changes(
    gateway: Gateway,
) -> None:
    factored = delivery("1001")
    await gateway.deliver(customer(), open_item("1001", 1_250_000), open_item("1002", 400_000))
    await gateway.deliver(factored)
    await gateway.deliver(status(factored, FactoringStatus.PREPARED, 2))  # awaiting ABC's decision: held
    command = consent()
    await gateway.deliver(command)
    [snapshot] = gateway.to_buffer(buffer.ReceivablesSnapshot)
    assert [r.invoice_reference for r in snapshot.receivables] == ["1002"]
    assert (snapshot.total_count, snapshot.total_ore) == (1, 400_000)
    assert gateway.result(command).details["receivables"] == 1

    await gateway.deliver(status(factored, FactoringStatus.ADVANCE_PAID, 4))
    await gateway.deliver(open_item("1001", 1_000_000), open_item("1002", 300_000))  # the first is ABC's business
    assert changes(gateway) == [(2, "reduced", "1002", 300_000, 400_000)]
    assert gateway.store.open_items[(CLIENT, 10001, "1001")].balance_ore == 1_000_000  # kept all the same


@covers(FactoringStatusChanged, OpenItemChanged)
async def test_an_invoice_returned_by_recourse_comes_back_into_the_stream_at_what_is_open_now(
    gateway: Gateway,
) -> None:
    factored = delivery("1001")
    await gateway.deliver(customer(), open_item("1001", 1_250_000))
    await gateway.deliver(factored)
    await gateway.deliver(consent())
    assert gateway.to_buffer(buffer.ReceivablesSnapshot)[0].receivables == []
    await gateway.deliver(status(factored, FactoringStatus.ADVANCE_PAID, 3), status(factored, FactoringStatus.PAID, 4))
    await gateway.deliver(open_item("1001", 1_100_000))  # a part payment while ABC holds it: not told
    assert changes(gateway) == []

    returned = status(factored, FactoringStatus.RETURNED, 5)
    await gateway.deliver(returned)
    await gateway.deliver(returned)  # the same event again
    await gateway.deliver(status(factored, FactoringStatus.ADVANCE_PAID, 3))  # a late, older status changes nothing
    [back] = gateway.to_buffer(buffer.ReceivableChanged)
    assert (back.sequence, back.change, back.receivable.balance_ore, back.previous_balance_ore) == (
        2,
        buffer.ReceivableChange.OPENED,
        1_100_000,
        None,
    )
    assert back.cause == "returned by ABC Factoring" and back.receivable.debtor_name == "Nordlys AS"
    await gateway.deliver(open_item("1001", 600_000))  # the client's again: every change is told
    assert changes(gateway)[1:] == [(3, "reduced", "1001", 600_000, 1_100_000)]
    assert gateway.stream.last_sequence == 3


@covers(InvoiceDelivery)
async def test_a_receivable_buffer_already_holds_is_withdrawn_when_it_is_handed_to_a_factoring_provider(
    consented: Gateway,
) -> None:
    # The ledger's open item can arrive before invoicing's delivery (two topics): Buffer then had it for a moment.
    factored = delivery("1004", gross_ore=1_500_000)
    await consented.deliver(open_item("1004", 1_500_000, original=1_500_000))
    await consented.deliver(factored, delivery("9999"))  # and one whose open item the ledger has not reported yet
    assert changes(consented) == [
        (2, "opened", "1004", 1_500_000, None),
        (3, "factored", "1004", 1_500_000, 1_500_000),
    ]
    withdrawn = consented.to_buffer(buffer.ReceivableChanged)[-1]
    assert withdrawn.cause == "invoice 1004 delivered to abc-factoring for factoring"
    await consented.deliver(open_item("9999", 1_250_000))  # held from the moment it opens: never told
    assert len(changes(consented)) == 2 and consented.stream.last_sequence == 3
    assert consented.store.factored_invoices[(CLIENT, factored.invoice_id)].held


@covers(FactoringStatusChanged, InvoiceDelivery)
async def test_a_rejection_heard_before_the_delivery_leaves_the_receivable_with_buffer(consented: Gateway) -> None:
    factored = delivery("1001")  # the open item of the consent's snapshot
    await consented.deliver(status(factored, FactoringStatus.REJECTED, 3))  # factoring.events.v1 was quicker
    await consented.deliver(factored)
    assert changes(consented) == [] and consented.stream.last_sequence == 1
    stored = consented.store.factored_invoices[(CLIENT, factored.invoice_id)]
    assert (stored.status, stored.item, stored.held) == (FactoringStatus.REJECTED, (10001, "1001"), False)


@covers(InvoiceDelivery, FactoringStatusChanged)
async def test_holdings_are_kept_without_a_stream_and_a_delivery_refused_gives_the_item_back(gateway: Gateway) -> None:
    first, second = delivery("1001"), delivery("1002")
    await gateway.deliver(customer(), open_item("1001", 1_250_000), open_item("1002", 1_250_000))
    await gateway.deliver(first, second)
    await gateway.deliver(status(second, FactoringStatus.DELIVERY_REFUSED, 2))
    assert gateway.to_buffer() == []  # no consent: nothing is told, the holdings are kept
    await gateway.deliver(consent())
    [snapshot] = gateway.to_buffer(buffer.ReceivablesSnapshot)
    assert [r.invoice_reference for r in snapshot.receivables] == ["1002"]


# --- Buffer -------------------------------------------------------------------------------------------------------
@covers(buffer.OnboardingProgressed)
async def test_buffer_moves_the_onboarding_forward_only(consented: Gateway) -> None:
    onboarding_id = consented.onboarding_id

    def step(name: buffer.OnboardingStep, onboarding: Any = onboarding_id) -> buffer.OnboardingProgressed:
        return buffer.OnboardingProgressed(client_id=CLIENT, onboarding_id=onboarding, step=name, description=name)

    await consented.deliver(step(buffer.OnboardingStep.ANALYSING))
    await consented.deliver(step(buffer.OnboardingStep.SIGNED_IN))  # behind: nothing changes
    await consented.deliver(step(buffer.OnboardingStep.OFFER_MADE, uuid4()))  # another onboarding: ignored
    assert consented.store.onboardings[onboarding_id].state is OnboardingState.ANALYSING
    states = consented.events(OnboardingStateChanged)
    assert [(s.state, s.reason, s.acting_user) for s in states[1:]] == [(OnboardingState.ANALYSING, "analysing", None)]


@covers(buffer.OnboardingRefused)
async def test_a_refusal_by_buffer_ends_the_onboarding_and_the_stream(consented: Gateway) -> None:
    onboarding_id = consented.onboarding_id
    refusal = buffer.OnboardingRefused(
        client_id=CLIENT,
        onboarding_id=onboarding_id,
        code=buffer.RefusalCode.NO_SIGNING_AUTHORITY,
        reason="Alice may not sign for Acme AS",
    )
    await consented.deliver(refusal)
    await consented.deliver(refusal.model_copy(update={"message_id": uuid4()}))  # ended already: nothing more
    stored = consented.store.onboardings[onboarding_id]
    assert (stored.state, stored.refusal_code) == (OnboardingState.REFUSED, "no_signing_authority")
    assert not consented.stream.streaming
    [*_, state] = consented.events(OnboardingStateChanged)
    assert (state.state, state.reason) == (OnboardingState.REFUSED, "Alice may not sign for Acme AS")
    assert len(consented.events(OnboardingStateChanged)) == 2

    sent = len(consented.to_buffer())
    await consented.deliver(open_item("1001", 1_000))
    assert len(consented.to_buffer()) == sent


@covers(buffer.CreditLimitChanged)
async def test_credit_limits_are_shown_when_they_change_and_stale_ones_are_ignored(consented: Gateway) -> None:
    onboarding_id = consented.onboarding_id
    await consented.deliver(credit(onboarding_id, 1_000_000, 0, based_on=1))
    [shown] = consented.events(CreditLimitChanged)
    assert (shown.limit_ore, shown.available_ore, shown.based_on_sequence) == (1_000_000, 1_000_000, 1)
    assert shown.correlation_id == str(onboarding_id)

    await consented.deliver(credit(onboarding_id, 1_000_000, 0, based_on=3, at=NOW + timedelta(minutes=1)))
    await consented.deliver(credit(onboarding_id, 800_000, 0, based_on=2))  # computed on an older position
    await consented.deliver(credit(uuid4(), 5_000_000, 0, based_on=9))  # an onboarding we do not know
    assert len(consented.events(CreditLimitChanged)) == 1
    [(client, figures)] = consented.store.credit_limits
    assert (client, figures.limit_ore, figures.based_on_sequence) == (CLIENT, 1_000_000, 3)  # confirmed up to 3

    await consented.deliver(credit(onboarding_id, 1_000_000, 400_000, based_on=4, at=NOW + timedelta(minutes=2)))
    assert [e.used_ore for e in consented.events(CreditLimitChanged)] == [0, 400_000]
    assert len(consented.store.credit_limits) == 2


@covers(buffer.ResnapshotRequested)
async def test_a_resnapshot_request_sends_a_fresh_snapshot_on_the_same_numbering(consented: Gateway) -> None:
    request = buffer.ResnapshotRequested(
        client_id=CLIENT, onboarding_id=consented.onboarding_id, expected_sequence=2, received_sequence=3
    )
    await consented.deliver(request)
    snapshots = consented.to_buffer(buffer.ReceivablesSnapshot)
    assert [s.sequence for s in snapshots] == [1, 2]
    assert snapshots[1].snapshot_id != snapshots[0].snapshot_id and snapshots[1].total_count == 1
    assert consented.stream.snapshots_sent == 2

    await consented.deliver(request.model_copy(update={"message_id": uuid4(), "onboarding_id": uuid4()}))
    assert len(consented.to_buffer(buffer.ReceivablesSnapshot)) == 2  # not the running onboarding: ignored


async def enable_postings(gateway: Gateway) -> None:
    await gateway.deliver(
        AccountUpserted(client_id=CLIENT, number="1920", name="Bank", account_type=AccountType.ASSET),
        AccountUpserted(client_id=CLIENT, number="2290", name="Buffer", account_type=AccountType.LIABILITY),
    )
    await gateway.deliver(
        SetFinancingPostings(
            client_id=CLIENT,
            acting_user=ADMIN,
            enabled=True,
            bank_account="1920",
            liability_account=AccountRef(account="2290"),
        )
    )


@covers(buffer.DrawdownMade)
async def test_a_drawdown_is_booked_exactly_once_when_automatic_postings_are_on(consented: Gateway) -> None:
    await enable_postings(consented)
    booked_before = REGISTRY.get_sample_value(
        "ledgerline_financing_transactions_total", {"kind": "drawdown", "posting": "booked"}
    )
    drawdown = buffer.DrawdownMade(client_id=CLIENT, drawdown_id="d-1", amount_ore=500_000, paid_out_on=DUE)
    await consented.deliver(drawdown)
    await consented.deliver(drawdown.model_copy(update={"message_id": uuid4()}))  # Buffer again, under a new id

    [voucher] = consented.sent(topics.TOPIC_LEDGER_COMMANDS, PostVoucher)
    assert voucher.idempotency_key == "buffer:drawdown:d-1" and voucher.voucher_date == DUE
    assert [(line.account, line.side, line.amount_ore) for line in voucher.lines] == [
        ("1920", Side.DEBIT, 500_000),
        ("2290", Side.CREDIT, 500_000),
    ]
    [recorded] = consented.events(FinancingTransactionRecorded)
    assert (recorded.kind, recorded.booked, recorded.idempotency_key) == ("drawdown", True, "buffer:drawdown:d-1")
    assert consented.store.transactions[(CLIENT, "drawdown", "d-1")].idempotency_key == "buffer:drawdown:d-1"
    booked_after = REGISTRY.get_sample_value(
        "ledgerline_financing_transactions_total", {"kind": "drawdown", "posting": "booked"}
    )
    assert (booked_after or 0) == (booked_before or 0) + 1


@covers(buffer.RepaymentMade)
async def test_a_repayment_is_left_manual_while_automatic_postings_are_off(consented: Gateway) -> None:
    repayment = buffer.RepaymentMade(client_id=CLIENT, repayment_id="r-1", amount_ore=200_000, repaid_on=DUE)
    await consented.deliver(repayment)
    await consented.deliver(repayment)
    assert consented.sent(topics.TOPIC_LEDGER_COMMANDS) == []
    [recorded] = consented.events(FinancingTransactionRecorded)
    assert (recorded.kind, recorded.amount_ore, recorded.booked, recorded.idempotency_key) == (
        "repayment",
        200_000,
        False,
        None,
    )
    stored = consented.store.transactions[(CLIENT, "repayment", "r-1")]
    assert (stored.amount_ore, stored.transaction_date, stored.idempotency_key) == (200_000, DUE, None)
