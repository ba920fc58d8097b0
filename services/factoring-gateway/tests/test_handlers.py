"""The gateway's handlers through its routing table, with a fake unit of work and the in-memory repository.

No Kafka, no PostgreSQL: each test runs batches exactly as the consumers do after decoding (claim, prepare, a
handler per message, finish) and looks at what committed: cases, integrations, parked events, and what was
published (provider messages, factoring status, bookings, dead letters, command results).
"""

from __future__ import annotations

import base64
import uuid
from datetime import date
from typing import Any

import orjson
import pytest
from prometheus_client import REGISTRY

from factoring_gateway import SERVICE
from factoring_gateway.adapters.memory import FakeDirectory, FakeLedger, GatewayStore
from factoring_gateway.domain.lifecycle import Impossible
from factoring_gateway.domain.providers import installed_adapters
from factoring_gateway.service_layer.handlers import (
    CORE_HANDLERS,
    InvoicingEventBatch,
    consumers,
    handlers,
    retry_deferred_activations,
)
from ledgerline_abc_factoring import contract as abc
from ledgerline_contracts import topics
from ledgerline_contracts.factoring import (
    AccountRef,
    FactoringActivated,
    FactoringActivationRefused,
    FactoringStatusChanged,
    SetAccountMapping,
)
from ledgerline_contracts.invoicing import (
    DirectPaymentReceived,
    FactoringActivationRequested,
    FactoringIntegrationDeactivated,
    FactoringStatus,
    InvoiceCredited,
    InvoiceDelivery,
    InvoiceLine,
)
from ledgerline_contracts.ledger import PostVoucher
from ledgerline_contracts.messages import CommandResult, Message
from ledgerline_contracts.operations import DeadLetter
from ledgerline_contracts.samples import COMPANY
from ledgerline_contracts.topics import Topic
from ledgerline_fjord_invoice_sale import contract as fjord
from servicekit.messagebus import RoutingError, routes
from servicekit.testing import AUTOMATIC, USERS, Coverage, FakeInbox, FakeUnitOfWork, consumer_for, deliver

ADAPTERS = installed_adapters()

CLIENT = "c1"
ADMIN = "admin"
ABC, FJORD = "abc-factoring", "fjord-invoice-sale"
DAY = date(2026, 11, 23)
E = abc.AbcEventType
ABC_ACCOUNTS = {
    "intermediate": AccountRef(account="2400", party=20001),
    "fees": AccountRef(account="7770"),
    "interest_income": AccountRef(account="8050"),
    "bank": AccountRef(account="1920"),
    "receivables": AccountRef(account="1500"),
    "deviation": AccountRef(account="2900"),
}
FJORD_ACCOUNTS = {
    "intermediate": AccountRef(account="1590"),
    "holdback": AccountRef(account="1591"),
    "fees": AccountRef(account="7770"),
    "bank": AccountRef(account="1920"),
    "receivables": AccountRef(account="1500"),
    "deviation": AccountRef(account="2900"),
}
coverage = Coverage()
covers = coverage.covers


class Gateway:
    """The gateway's handlers over one store, one fake inbox and a ledger that knows the client's chart."""

    def __init__(self, providers: list[str] | None = None, core: bool = True) -> None:
        self.store = GatewayStore()
        self.uow = FakeUnitOfWork(service=SERVICE)
        self.ledger = FakeLedger()
        self.ledger.add(CLIENT, "2400", "7770", "8050", "1920", "1500", "2900", "1590", "1591", parties={20001: "2400"})
        served = [ADAPTERS[slug] for slug in providers or ADAPTERS]
        self.directory = FakeDirectory()
        self.consumers = consumers(
            self.ledger, providers=served, core=core, repository=self.store.repository, directory=self.directory
        )
        self.handlers = handlers(served, core=core)

    async def send(self, topic: Topic, *messages: Message, token: Any = AUTOMATIC) -> FakeInbox:
        """One batch on one topic; returns what it published."""
        before = len(self.uow.inbox.published)
        await deliver(consumer_for(self.consumers, topic), self.handlers, self.uow, *messages, token=token)
        return FakeInbox(published=self.uow.inbox.published[before:])

    async def command(self, command: SetAccountMapping, token: Any = None) -> CommandResult:
        """A mapping command, by default from the client's administrator."""
        if token is None:
            self.directory.add(command.client_id, ADMIN, "administrator")
            token = USERS.user(command.client_id, ADMIN)
        sent = await self.send(topics.TOPIC_FACTORING_COMMANDS, command, token=token)
        (result,) = sent.messages(kind=CommandResult)
        assert isinstance(result, CommandResult)
        return result

    async def invoicing(self, *events: Message) -> FakeInbox:
        return await self.send(topics.TOPIC_INVOICING_EVENTS, *events)

    async def provider(self, slug: str, *events: Message) -> FakeInbox:
        return await self.send(topics.factoring_inbound(slug), *events)

    async def retry_deferred(self) -> tuple[int, int]:
        """One round of the background retry of activations that waited for the ledger."""
        async with self.uow as uow:
            batch = InvoicingEventBatch(
                uow, topics.GROUP_FACTORING_INVOICING_EVENTS, self.store.repository, self.ledger, ADAPTERS
            )
            found = await retry_deferred_activations(batch)
        return found

    async def activate(self, provider: str = ABC) -> FakeInbox:
        accounts = ABC_ACCOUNTS if provider == ABC else FJORD_ACCOUNTS
        assert (await self.command(mapping(provider, accounts))).accepted
        sent = await self.invoicing(activation(provider))
        assert sent.messages(kind=FactoringActivated), sent.messages(kind=FactoringActivationRefused)
        return sent

    async def delivered(self, provider: str = ABC, gross_ore: int = 1_250_000) -> uuid.UUID:
        event = delivery(provider, gross_ore)
        sent = await self.invoicing(event)
        (status,) = sent.messages(kind=FactoringStatusChanged)
        assert status.status is FactoringStatus.PREPARED
        return event.invoice_id


def mapping(provider: str, accounts: dict[str, AccountRef]) -> SetAccountMapping:
    return SetAccountMapping(client_id=CLIENT, provider=provider, accounts=accounts)


def activation(provider: str = ABC) -> FactoringActivationRequested:
    return FactoringActivationRequested(
        client_id=CLIENT,
        request_id=uuid.uuid4(),
        provider=provider,
        client_name="Demo AS",
        organisation_number="912345678",
    )


def delivery(provider: str = ABC, gross_ore: int = 1_250_000) -> InvoiceDelivery:
    invoice_id = uuid.uuid4()
    return InvoiceDelivery(
        client_id=CLIENT,
        correlation_id=str(invoice_id),
        provider=provider,
        invoice_id=invoice_id,
        invoice_number="1001",
        customer_number=10001,
        customer=COMPANY,
        client_name="Demo AS",
        client_organisation_number="912345678",
        invoice_date=DAY,
        due_date=date(2026, 12, 7),
        lines=[InvoiceLine(description="Consulting", net_ore=1_000_000)],
        net_ore=1_000_000,
        vat_ore=gross_ore - 1_000_000,
        gross_ore=gross_ore,
    )


def credit(invoice_id: uuid.UUID, provider: str | None = ABC, amount_ore: int = 250_000) -> InvoiceCredited:
    return InvoiceCredited(
        client_id=CLIENT,
        invoice_id=invoice_id,
        invoice_number="1001",
        credit_note_id=uuid.uuid4(),
        amount_ore=amount_ore,
        provider=provider,
        reason="wrong hours",
        credited_on=DAY,
    )


def direct_payment(invoice_id: uuid.UUID, provider: str = ABC, amount_ore: int = 1_250_000) -> DirectPaymentReceived:
    return DirectPaymentReceived(
        client_id=CLIENT,
        invoice_id=invoice_id,
        invoice_number="1001",
        payment_id=uuid.uuid4(),
        amount_ore=amount_ore,
        paid_on=DAY,
        provider=provider,
    )


def abc_event(
    invoice_id: uuid.UUID, sequence: int, kind: abc.AbcEventType, amount: int | None = None, event_id: str | None = None
) -> abc.AbcInvoiceEvent:
    return abc.AbcInvoiceEvent(
        event_id=event_id or f"{invoice_id}:{sequence}",
        submission_id=invoice_id,
        sequence=sequence,
        event_type=kind,
        amount_ore=amount,
        occurred_on=DAY,
    )


def domain_example(invoice_id: uuid.UUID) -> list[abc.AbcInvoiceEvent]:
    """DOMAIN.md's example: 12 500, advance 85 %, fee 150, interest note 80, settled."""
    return [
        abc_event(invoice_id, 1, E.ACCEPTED),
        abc_event(invoice_id, 2, E.ADVANCE_PAID, 1_062_500),
        abc_event(invoice_id, 3, E.DELIVERED),
        abc_event(invoice_id, 4, E.FEE_CHARGED, 15_000),
        abc_event(invoice_id, 5, E.DEBTOR_PAID, 1_250_000),
        abc_event(invoice_id, 6, E.INTEREST_NOTE_COLLECTED, 8_000),
        abc_event(invoice_id, 7, E.SETTLED, 180_500),
    ]


def purchase(invoice_id: uuid.UUID, price: str = "12500.00") -> fjord.PurchaseDecision:
    return fjord.PurchaseDecision(offer_ref=invoice_id, decision="APPROVED", purchase_price=price, decided_on=DAY)


def remittance(report_id: str, *lines: tuple[uuid.UUID, str, str], seller: str = CLIENT) -> fjord.RemittanceReport:
    total = sum(int(amount.replace(".", "")) for _, _, amount in lines)
    return fjord.RemittanceReport(
        report_id=report_id,
        seller_ref=seller,
        paid_on=DAY,
        total_amount=f"{total // 100}.{total % 100:02d}" if total >= 0 else f"-{-total // 100}.{-total % 100:02d}",
        lines=[fjord.RemittanceLine(offer_ref=i, line_type=kind, amount=amount) for i, kind, amount in lines],
    )


def balances(vouchers: list[Any]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for v in vouchers:
        assert sum(line.signed_ore for line in v.lines) == 0
        for line in v.lines:
            totals[line.account] = totals.get(line.account, 0) + line.signed_ore
    return {k: v for k, v in totals.items() if v}


def dead_letters(sent: FakeInbox, slug: str) -> list[DeadLetter]:
    return sent.messages(topics.dead_letters(topics.group_for_provider(slug)), DeadLetter)


# --- the routing table --------------------------------------------------------------------------------------------
def test_every_invoicing_event_the_gateway_acts_on_and_every_provider_message_is_routed() -> None:
    subscriptions = routes(consumers(FakeLedger()), handlers(), FakeUnitOfWork)
    wants = {s.group: s.wants for s in subscriptions}
    assert wants == {
        topics.GROUP_FACTORING_INVOICING_EVENTS: {
            "invoicing.FactoringActivationRequested",
            "invoicing.FactoringIntegrationDeactivated",
            "invoicing.InvoiceDelivery",
            "invoicing.InvoiceCredited",
            "invoicing.DirectPaymentReceived",
        },
        topics.GROUP_FACTORING_COMMANDS: {"factoring.SetAccountMapping"},
        topics.group_for_provider(ABC): {"abc.InvoiceEvent"},
        topics.group_for_provider(FJORD): {m.type_name() for m in fjord.INBOUND.models},
    }


def test_an_instance_without_the_core_reads_only_its_providers_topics() -> None:
    served = [ADAPTERS[ABC]]
    subscriptions = routes(
        consumers(FakeLedger(), providers=served, core=False), handlers(served, core=False), FakeUnitOfWork
    )
    assert [(s.topic.name, s.group) for s in subscriptions] == [
        (topics.factoring_inbound(ABC).name, topics.group_for_provider(ABC))
    ]
    with pytest.raises(RoutingError, match="no consumer reads"):  # the core's handlers without the core's consumers
        routes(consumers(FakeLedger(), providers=served, core=False), handlers(served), FakeUnitOfWork)


def test_an_unrouted_command_stops_the_service_from_starting() -> None:
    without = {kind: handler for kind, handler in handlers().items() if kind is not SetAccountMapping}
    with pytest.raises(RoutingError, match=r"no handler for factoring\.SetAccountMapping"):
        routes(consumers(FakeLedger()), without, FakeUnitOfWork)


# --- account mappings ---------------------------------------------------------------------------------------------
@covers(SetAccountMapping)
async def test_a_mapping_is_saved_and_what_the_ledger_lacks_is_reported() -> None:
    gw = Gateway()
    gw.ledger.charts.clear()
    gw.ledger.add(CLIENT, "2400", "7770", "8050", "1920", "1500")  # no 2900, no party 20001
    result = await gw.command(mapping(ABC, ABC_ACCOUNTS))
    assert result.accepted and result.service == "factoring-gateway"
    assert result.details == {
        "provider": ABC,
        "still_missing": [
            "intermediate: sub-ledger party 20001 does not exist in the ledger",
            "deviation: account 2900 does not exist in the ledger",
        ],
    }
    assert gw.store.tables.mappings[(CLIENT, ABC)] == ABC_ACCOUNTS
    assert gw.ledger.asked == [CLIENT]


@covers(SetAccountMapping)
async def test_a_mapping_for_an_unknown_provider_or_role_is_refused_and_saves_nothing() -> None:
    gw = Gateway()
    unknown = await gw.command(mapping("nobody-factoring", ABC_ACCOUNTS))
    assert not unknown.accepted and unknown.reason == "there is no provider 'nobody-factoring'"
    wrong_role = await gw.command(mapping(ABC, {**ABC_ACCOUNTS, "holdback": AccountRef(account="1590")}))
    assert not wrong_role.accepted
    assert wrong_role.reason is not None and "ABC Factoring uses no account role holdback" in wrong_role.reason
    assert gw.store.tables.mappings == {}
    assert gw.ledger.asked == []


@covers(SetAccountMapping)
async def test_a_repeated_command_is_answered_once() -> None:
    gw = Gateway()
    command = mapping(ABC, ABC_ACCOUNTS)
    await gw.command(command)
    again = await gw.send(topics.TOPIC_FACTORING_COMMANDS, command)
    assert again.published == []


@covers(SetAccountMapping)
@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (None, "unauthenticated: no token"),
        (USERS.user(CLIENT, "accountant"), "unauthorised: user accountant is not an administrator of c1"),
        (USERS.user("c2", ADMIN), "unauthorised: the token is for client c2, not c1"),
        (USERS.operator("ops"), "unauthorised: this needs a user of client c1"),
    ],
)
async def test_only_the_clients_administrator_changes_a_mapping(token: str | None, reason: str) -> None:
    gw = Gateway()
    gw.directory.add(CLIENT, ADMIN, "administrator")
    gw.directory.add(CLIENT, "accountant", "accountant")
    sent = await gw.send(topics.TOPIC_FACTORING_COMMANDS, mapping(ABC, ABC_ACCOUNTS), token=token)
    (result,) = sent.messages(kind=CommandResult)
    assert not result.accepted and (result.reason or "").startswith(reason), result.reason
    assert gw.store.tables.mappings == {} and gw.ledger.asked == []


@covers(SetAccountMapping)
async def test_on_a_live_integration_a_mapping_is_checked_as_activation_checks_it() -> None:
    gw = Gateway()
    await gw.activate()
    broken = {**ABC_ACCOUNTS, "fees": AccountRef(account="7999")}  # not in the ledger's chart
    result = await gw.command(mapping(ABC, broken))
    assert not result.accepted
    assert result.reason == (
        "ABC Factoring is live for this client, so every account must be right: "
        "fees: account 7999 does not exist in the ledger"
    )
    assert gw.store.tables.mappings[(CLIENT, ABC)] == ABC_ACCOUNTS


# --- activation ---------------------------------------------------------------------------------------------------
@covers(FactoringActivationRequested)
async def test_activation_is_refused_while_accounts_are_missing() -> None:
    gw = Gateway()
    request = activation(ABC)
    sent = await gw.invoicing(request)
    (refused,) = sent.messages(topics.TOPIC_FACTORING_EVENTS, FactoringActivationRefused)
    assert refused.request_id == request.request_id
    assert refused.reason.startswith("ABC Factoring cannot be activated: no account mapped for intermediate")
    assert len(refused.missing) == 6
    assert sent.messages(topics.factoring_outbound(ABC)) == []
    assert gw.store.active(CLIENT) == []

    await gw.command(mapping(ABC, {**ABC_ACCOUNTS, "deviation": AccountRef(account="2999")}))
    (refused,) = (await gw.invoicing(activation(ABC))).messages(kind=FactoringActivationRefused)
    assert refused.missing == ["deviation: account 2999 does not exist in the ledger"]
    assert gw.store.active(CLIENT) == []


@covers(FactoringActivationRequested)
async def test_activation_of_an_unknown_provider_is_refused() -> None:
    gw = Gateway()
    (refused,) = (await gw.invoicing(activation("nobody-factoring"))).messages(kind=FactoringActivationRefused)
    assert refused.reason == f"there is no factoring provider 'nobody-factoring' (known: {ABC}, {FJORD})"
    assert refused.missing == []


@covers(FactoringActivationRequested)
async def test_activation_is_accepted_when_every_account_is_mapped_and_the_provider_is_onboarded() -> None:
    gw = Gateway()
    await gw.command(mapping(ABC, ABC_ACCOUNTS))
    request = activation(ABC)
    sent = await gw.invoicing(request)
    (activated,) = sent.messages(topics.TOPIC_FACTORING_EVENTS, FactoringActivated)
    assert (activated.request_id, activated.provider, activated.display_name) == (
        request.request_id,
        ABC,
        "ABC Factoring",
    )
    assert activated.accounts == ABC_ACCOUNTS
    (onboarding,) = sent.messages(topics.factoring_outbound(ABC), abc.AbcClientOnboarding)
    assert onboarding.client.client_id == CLIENT and onboarding.accounts == ABC_ACCOUNTS
    assert [p.key for p in sent.published if p.topic == topics.factoring_outbound(ABC).name] == [CLIENT.encode()]
    assert gw.store.active(CLIENT) == [ABC]


async def test_an_activation_the_ledger_does_not_answer_waits_while_the_batch_goes_on() -> None:
    gw = Gateway()
    await gw.activate(ABC)
    other = "c2"
    gw.ledger.add(other, "2400", "7770", "8050", "1920", "1500", "2900", parties={20001: "2400"})
    assert (await gw.command(mapping(ABC, ABC_ACCOUNTS).model_copy(update={"client_id": other}))).accepted
    request = activation(ABC).model_copy(update={"client_id": other})
    gw.ledger.away = True
    invoice = delivery(ABC)
    sent = await gw.invoicing(request, invoice)
    # The other client's delivery went out in the same batch; the activation is neither accepted nor refused.
    assert [d.submission_id for d in sent.messages(topics.factoring_outbound(ABC), abc.AbcInvoiceSubmission)] == [
        invoice.invoice_id
    ]
    assert not sent.messages(kind=FactoringActivated) and not sent.messages(kind=FactoringActivationRefused)
    assert [r.request_id for r, _, _ in gw.store.tables.deferred.values()] == [request.request_id]

    assert await gw.retry_deferred() == (0, 1)  # still away: it waits on, tried once more
    assert gw.store.tables.deferred[other][2] == 2
    gw.ledger.away = False
    retried = await gw.retry_deferred()
    assert retried == (1, 0)
    (activated,) = gw.uow.inbox.messages(kind=FactoringActivated)[-1:]
    assert activated.client_id == other and activated.request_id == request.request_id
    assert gw.store.active(other) == [ABC] and gw.store.tables.deferred == {}
    assert await gw.retry_deferred() == (0, 0)  # answered once


async def test_a_later_answered_request_of_the_client_drops_the_one_that_waited() -> None:
    gw = Gateway()
    await gw.command(mapping(ABC, ABC_ACCOUNTS))
    gw.ledger.away = True
    await gw.invoicing(activation(ABC))
    gw.ledger.away = False
    newer = activation(ABC)
    (activated,) = (await gw.invoicing(newer)).messages(kind=FactoringActivated)
    assert activated.request_id == newer.request_id
    assert gw.store.tables.deferred == {}


async def test_a_mapping_the_ledger_cannot_check_is_refused_with_a_try_again() -> None:
    gw = Gateway()
    gw.ledger.away = True
    result = await gw.command(mapping(ABC, ABC_ACCOUNTS))
    assert not result.accepted
    assert result.reason is not None and "ledger is unavailable" in result.reason and "try again" in result.reason
    assert gw.store.tables.mappings == {}


@covers(FactoringIntegrationDeactivated)
async def test_deactivation_offboards_the_client_and_later_deliveries_are_refused() -> None:
    gw = Gateway()
    await gw.activate(ABC)
    other = await gw.invoicing(FactoringIntegrationDeactivated(client_id=CLIENT, provider=FJORD))
    assert other.published == [] and gw.store.active(CLIENT) == [ABC]  # not the active one: nothing changes
    sent = await gw.invoicing(FactoringIntegrationDeactivated(client_id=CLIENT, provider=ABC))
    (offboarding,) = sent.messages(topics.factoring_outbound(ABC), abc.AbcClientOffboarding)
    assert offboarding.client_id == CLIENT
    assert gw.store.active(CLIENT) == []
    (status,) = (await gw.invoicing(delivery(ABC))).messages(kind=FactoringStatusChanged)
    assert status.status is FactoringStatus.DELIVERY_REFUSED


@covers(FactoringIntegrationDeactivated, FactoringActivationRequested, InvoiceDelivery)
async def test_an_integration_changed_within_a_batch_is_read_again_for_the_next_delivery() -> None:
    gw = Gateway()
    await gw.command(mapping(ABC, ABC_ACCOUNTS))
    first, second = delivery(ABC), delivery(ABC)
    sent = await gw.invoicing(first, activation(ABC), second)
    statuses = {s.invoice_id: s.status for s in sent.messages(kind=FactoringStatusChanged)}
    assert statuses == {first.invoice_id: FactoringStatus.DELIVERY_REFUSED, second.invoice_id: FactoringStatus.PREPARED}
    third = delivery(ABC)
    sent = await gw.invoicing(FactoringIntegrationDeactivated(client_id=CLIENT, provider=ABC), third)
    (status,) = sent.messages(kind=FactoringStatusChanged)
    assert status.status is FactoringStatus.DELIVERY_REFUSED


# --- deliveries, credit notes, direct payments --------------------------------------------------------------------
@covers(InvoiceDelivery)
async def test_a_delivery_goes_to_the_active_provider_in_its_format() -> None:
    gw = Gateway()
    await gw.activate(ABC)
    event = delivery(ABC)
    sent = await gw.invoicing(event)
    (submission,) = sent.messages(topics.factoring_outbound(ABC), abc.AbcInvoiceSubmission)
    assert submission.submission_id == event.invoice_id and submission.amount_ore == 1_250_000
    assert submission.debtor.name == "Fjellbygg AS" and "assigned to ABC Factoring" in submission.assignment_text
    (status,) = sent.messages(topics.TOPIC_FACTORING_EVENTS, FactoringStatusChanged)
    assert (status.status, status.description, status.sequence) == (
        FactoringStatus.PREPARED,
        "Invoice prepared for ABC Factoring",
        2,
    )
    case = gw.store.case(event.invoice_id)
    assert (case.provider, case.status, case.gross_ore) == (ABC, FactoringStatus.PREPARED, 1_250_000)
    assert (await gw.invoicing(event)).published == []  # redelivered: nothing again


@covers(InvoiceDelivery)
async def test_a_delivery_to_an_inactive_provider_is_refused_and_its_events_too() -> None:
    gw = Gateway()
    await gw.activate(ABC)
    await gw.command(mapping(FJORD, FJORD_ACCOUNTS))
    event = delivery(FJORD)
    sent = await gw.invoicing(event)
    assert sent.messages(topics.factoring_outbound(FJORD)) == []
    (status,) = sent.messages(kind=FactoringStatusChanged)
    assert status.status is FactoringStatus.DELIVERY_REFUSED
    assert status.description == f"{FJORD} is not an active integration of this client"
    assert gw.store.case(event.invoice_id).status is FactoringStatus.DELIVERY_REFUSED
    sent = await gw.provider(FJORD, purchase(event.invoice_id))
    (dead,) = dead_letters(sent, FJORD)
    assert "never handed to" in dead.error
    assert sent.messages(topics.TOPIC_LEDGER_COMMANDS) == []


@covers(InvoiceCredited)
async def test_a_credit_note_is_passed_on_and_recorded_on_the_case() -> None:
    gw = Gateway()
    await gw.activate(ABC)
    invoice = await gw.delivered(ABC)
    sent = await gw.invoicing(credit(invoice))
    (note,) = sent.messages(topics.factoring_outbound(ABC), abc.AbcCreditNote)
    assert (note.submission_id, note.amount_ore) == (invoice, 250_000)
    assert sent.messages(topics.TOPIC_LEDGER_COMMANDS) == []  # ABC leaves the receivable the client's
    assert gw.store.case(invoice).client_credited_ore == 250_000


@covers(InvoiceCredited, InvoiceDelivery)
async def test_a_credit_note_in_the_batch_of_its_delivery_is_recorded_on_the_new_case() -> None:
    gw = Gateway()
    await gw.activate(ABC)
    event = delivery(ABC)
    sent = await gw.invoicing(event, credit(event.invoice_id))
    assert len(sent.messages(topics.factoring_outbound(ABC))) == 2
    assert gw.store.case(event.invoice_id).client_credited_ore == 250_000


@covers(InvoiceCredited)
async def test_a_credit_note_on_an_invoice_sold_to_fjord_is_owed_back_to_fjord() -> None:
    gw = Gateway()
    await gw.activate(FJORD)
    invoice = await gw.delivered(FJORD)
    await gw.provider(FJORD, purchase(invoice))
    sent = await gw.invoicing(credit(invoice, FJORD))
    (notice,) = sent.messages(topics.factoring_outbound(FJORD), fjord.CreditNoteNotice)
    assert notice.amount == "2500.00"
    (booking,) = sent.messages(topics.TOPIC_LEDGER_COMMANDS, PostVoucher)
    assert booking.idempotency_key.startswith(f"{FJORD}:credit-note:")
    assert balances([booking]) == {"1500": 250_000, "1590": -250_000}
    assert gw.store.case(invoice).credited_after_purchase_ore == 250_000


@covers(InvoiceCredited)
async def test_a_credit_note_on_an_invoice_without_factoring_changes_nothing() -> None:
    gw = Gateway()
    sent = await gw.invoicing(credit(uuid.uuid4(), provider=None))
    assert sent.published == [] and gw.uow.inbox.commits == 1


@covers(DirectPaymentReceived)
async def test_a_direct_payment_is_booked_against_deviation_and_passed_on() -> None:
    gw = Gateway()
    await gw.activate(ABC)
    invoice = await gw.delivered(ABC)
    await gw.provider(ABC, abc_event(invoice, 1, E.ACCEPTED))
    payment = direct_payment(invoice)
    sent = await gw.invoicing(payment)
    vouchers = sent.messages(topics.TOPIC_LEDGER_COMMANDS, PostVoucher)
    assert [v.idempotency_key for v in vouchers] == [
        f"{ABC}:direct-payment:{invoice}:{payment.payment_id}",
        f"{ABC}:direct-payment:{invoice}:{payment.payment_id}:passed-on",
    ]
    assert balances(vouchers) == {}  # bank / deviation and back: deviation is zero once passed on
    (notice,) = sent.messages(topics.factoring_outbound(ABC), abc.AbcDirectPaymentNotice)
    assert notice.amount_ore == 1_250_000
    (status,) = sent.messages(kind=FactoringStatusChanged)
    assert status.description == "Debtor paid 12 500,00 to the client directly; passed on to ABC Factoring"
    assert gw.store.case(invoice).description == status.description


@covers(DirectPaymentReceived)
async def test_a_direct_payment_before_the_providers_decision_fails_and_changes_nothing() -> None:
    gw = Gateway()
    await gw.activate(ABC)
    invoice = await gw.delivered(ABC)
    published, payment = len(gw.uow.inbox.published), direct_payment(invoice)
    with pytest.raises(Impossible, match="does not hold invoice 1001 \\(prepared\\)"):
        await gw.invoicing(payment)
    assert len(gw.uow.inbox.published) == published and gw.uow.inbox.rollbacks == 1
    assert (topics.GROUP_FACTORING_INVOICING_EVENTS, str(payment.message_id)) not in gw.uow.inbox.handled
    with pytest.raises(Impossible, match="was not handed to"):
        await gw.invoicing(direct_payment(uuid.uuid4()))


# --- provider events ----------------------------------------------------------------------------------------------
@covers(abc.AbcInvoiceEvent)
async def test_abcs_events_book_the_domain_example_to_settlement() -> None:
    gw = Gateway()
    await gw.activate(ABC)
    invoice = await gw.delivered(ABC)
    events = domain_example(invoice)
    (accepted,) = (await gw.provider(ABC, events[0])).messages(kind=FactoringStatusChanged)
    assert (accepted.status, accepted.provider_event_id) == (FactoringStatus.ACCEPTED, events[0].event_id)
    sent = await gw.provider(ABC, *events[1:])
    vouchers = sent.messages(topics.TOPIC_LEDGER_COMMANDS, PostVoucher)
    assert [v.idempotency_key for v in vouchers] == [f"{ABC}:{e.event_id}" for e in events if e.amount_ore]
    assert balances(vouchers) == {"1920": 1_062_500 + 180_500, "7770": 15_000, "8050": -8_000, "1500": -1_250_000}
    statuses = [s.status for s in sent.messages(kind=FactoringStatusChanged)]
    assert statuses[0] is FactoringStatus.ADVANCE_PAID and statuses[-1] is FactoringStatus.SETTLED
    case = gw.store.case(invoice)
    assert case.settled and case.last_sequence == 7 and case.status is FactoringStatus.SETTLED


@covers(abc.AbcInvoiceEvent)
async def test_an_event_before_its_predecessor_is_parked_and_applied_when_it_arrives() -> None:
    gw = Gateway()
    await gw.activate(ABC)
    invoice = await gw.delivered(ABC)
    accepted, advance = domain_example(invoice)[:2]
    sent = await gw.provider(ABC, advance)
    assert sent.published == []
    (parked,) = gw.store.parked(ABC)
    assert parked.event_key == advance.event_id and parked.reason == "event number 2 of invoice 1001 before number 1"
    sent = await gw.provider(ABC, accepted)
    (booking,) = sent.messages(topics.TOPIC_LEDGER_COMMANDS, PostVoucher)
    assert booking.idempotency_key == f"{ABC}:{advance.event_id}"
    assert [s.status for s in sent.messages(kind=FactoringStatusChanged)] == [
        FactoringStatus.ACCEPTED,
        FactoringStatus.ADVANCE_PAID,
    ]
    assert gw.store.parked() == [] and gw.store.case(invoice).last_sequence == 2


@covers(abc.AbcInvoiceEvent)
async def test_a_parked_event_redelivered_is_parked_once_and_shuffled_events_settle_the_same() -> None:
    gw = Gateway()
    await gw.activate(ABC)
    invoice = await gw.delivered(ABC)
    events = domain_example(invoice)
    await gw.provider(ABC, events[6], events[3], events[4])
    await gw.provider(ABC, events[6].model_copy(update={"message_id": uuid.uuid4()}))
    assert sorted(p.event_key for p in gw.store.parked(ABC)) == sorted(
        e.event_id for e in (events[3], events[4], events[6])
    )
    sent = await gw.provider(ABC, events[2], events[0], events[5], events[1])
    vouchers = sent.messages(topics.TOPIC_LEDGER_COMMANDS, PostVoucher)
    assert balances(vouchers) == {"1920": 1_062_500 + 180_500, "7770": 15_000, "8050": -8_000, "1500": -1_250_000}
    assert gw.store.parked() == [] and gw.store.case(invoice).status is FactoringStatus.SETTLED


@covers(abc.AbcInvoiceEvent)
async def test_a_duplicate_event_books_nothing() -> None:
    gw = Gateway()
    await gw.activate(ABC)
    invoice = await gw.delivered(ABC)
    accepted, advance = domain_example(invoice)[:2]
    first = await gw.provider(ABC, accepted, advance, advance)  # within one batch, too
    assert len(first.messages(topics.TOPIC_LEDGER_COMMANDS)) == 1
    again = await gw.provider(ABC, advance.model_copy(update={"message_id": uuid.uuid4()}), accepted)
    assert again.published == []
    assert gw.store.case(invoice).advance_ore == 1_062_500


@covers(abc.AbcInvoiceEvent)
async def test_an_event_id_reused_for_other_content_is_a_conflict_refused_and_counted() -> None:
    gw = Gateway()
    await gw.activate(ABC)
    invoice = await gw.delivered(ABC)
    accepted, advance = domain_example(invoice)[:2]
    await gw.provider(ABC, accepted)
    labels = {"service": SERVICE, "consumer": topics.group_for_provider(ABC)}
    before = REGISTRY.get_sample_value("ledgerline_inbox_conflicts_total", labels) or 0
    forged = advance.model_copy(update={"event_id": accepted.event_id})  # an advance under the "accepted" id
    sent = await gw.provider(ABC, forged)
    (dead,) = dead_letters(sent, ABC)
    assert dead.error_kind == "conflict"
    assert f"under event id {accepted.event_id}, which an earlier event with other content" in dead.error
    assert abc.INBOUND.decode(base64.b64decode(dead.value_b64 or "")) == forged
    assert sent.messages(topics.TOPIC_LEDGER_COMMANDS) == [] and gw.store.case(invoice).advance_ore == 0
    assert REGISTRY.get_sample_value("ledgerline_inbox_conflicts_total", labels) == before + 1
    same_again = await gw.provider(ABC, accepted.model_copy(update={"message_id": uuid.uuid4()}))
    assert same_again.published == []  # the same content again is an ordinary repeat
    assert REGISTRY.get_sample_value("ledgerline_inbox_conflicts_total", labels) == before + 1


@covers(fjord.BuyerPayment, fjord.RemittanceReport)
async def test_fjord_messages_without_a_message_id_are_booked_once_however_often_they_come() -> None:
    gw = Gateway()
    await gw.activate(FJORD)
    invoice = await gw.delivered(FJORD)
    await gw.provider(FJORD, purchase(invoice))

    def as_sent_without_id(message: Message) -> Message:
        data = orjson.loads(message.to_bytes())
        del data["messageId"]
        return fjord.INBOUND.decode(orjson.dumps(data))  # what a consumer makes of the bytes, each time anew

    report = remittance("R7", (invoice, "PURCHASE_PRICE", "12500.00"))
    first = await gw.provider(FJORD, as_sent_without_id(report))
    assert len(first.messages(topics.TOPIC_LEDGER_COMMANDS)) == 1
    again = await gw.provider(FJORD, as_sent_without_id(report), report)  # and under a new messageId
    assert again.published == []
    paid = fjord.BuyerPayment(offer_ref=invoice, amount="12500.00", paid_on=DAY)
    await gw.provider(FJORD, as_sent_without_id(paid))
    assert (await gw.provider(FJORD, as_sent_without_id(paid))).published == []


@covers(abc.AbcInvoiceEvent, fjord.PurchaseDecision)
async def test_an_event_for_another_providers_invoice_is_refused_to_the_dead_letters() -> None:
    gw = Gateway()
    await gw.activate(ABC)
    invoice = await gw.delivered(ABC)
    labels = {
        "service": "factoring-gateway",
        "consumer": topics.group_for_provider(FJORD),
        "topic": topics.factoring_inbound(FJORD).name,
        "kind": "refused",
    }
    before = REGISTRY.get_sample_value("ledgerline_dead_letters_total", labels) or 0
    decision = purchase(invoice)
    sent = await gw.provider(FJORD, decision)
    (dead,) = dead_letters(sent, FJORD)
    assert dead.error == (
        f"invoice 1001 of client {CLIENT} was not handed to {FJORD}; its events are not {FJORD}'s to send"
    )
    assert (dead.consumer_group, dead.topic, dead.error_kind) == (
        topics.group_for_provider(FJORD),
        topics.factoring_inbound(FJORD).name,
        "refused",
    )
    assert dead.value_b64 is not None and fjord.INBOUND.decode(base64.b64decode(dead.value_b64)) == decision
    assert sent.messages(topics.TOPIC_LEDGER_COMMANDS) == [] and sent.messages(kind=FactoringStatusChanged) == []
    assert gw.store.case(invoice).decision is None
    assert REGISTRY.get_sample_value("ledgerline_dead_letters_total", labels) == before + 1
    # Released from the inbox: the same event can be replayed after a fix.
    assert (topics.group_for_provider(FJORD), str(decision.message_id)) not in gw.uow.inbox.handled
    unknown = await gw.provider(ABC, abc_event(uuid.uuid4(), 1, E.ACCEPTED))
    assert "for unknown invoice" in dead_letters(unknown, ABC)[0].error


@covers(abc.AbcInvoiceEvent)
async def test_an_event_that_cannot_be_translated_is_refused_before_it_is_claimed() -> None:
    gw = Gateway()
    await gw.activate(ABC)
    invoice = await gw.delivered(ABC)
    broken = abc_event(invoice, 1, E.ADVANCE_PAID)  # an advance without its amount
    sent = await gw.provider(ABC, broken)
    (dead,) = dead_letters(sent, ABC)
    assert dead.error == "advance.paid needs amount"
    assert not any(group == topics.group_for_provider(ABC) for group, _ in gw.uow.inbox.handled)


@covers(abc.AbcInvoiceEvent)
async def test_after_a_refused_event_the_later_ones_wait_for_its_correction() -> None:
    gw = Gateway()
    await gw.activate(ABC)
    invoice = await gw.delivered(ABC)
    accepted, advance, delivered = domain_example(invoice)[:3]
    too_much = abc_event(invoice, 2, E.ADVANCE_PAID, 2_000_000, event_id="wrong-advance")
    sent = await gw.provider(ABC, accepted, too_much, delivered)
    (dead,) = dead_letters(sent, ABC)
    assert dead.error.startswith("advance 20 000,00 exceeds")
    assert sent.messages(topics.TOPIC_LEDGER_COMMANDS) == []
    assert [p.event_key for p in gw.store.parked(ABC)] == [delivered.event_id]
    sent = await gw.provider(ABC, advance)  # ABC's corrected event for the refused place in the sequence
    assert len(sent.messages(topics.TOPIC_LEDGER_COMMANDS)) == 1
    assert gw.store.parked() == [] and gw.store.case(invoice).last_sequence == 3


@covers(fjord.PurchaseDecision, fjord.RemittanceReport, fjord.BuyerPayment)
async def test_fjord_buys_the_invoice_and_pays_through_remittances() -> None:
    gw = Gateway()
    await gw.activate(FJORD)
    invoice = await gw.delivered(FJORD)
    sent = await gw.provider(FJORD, purchase(invoice, "12000.00"))
    (sale,) = sent.messages(topics.TOPIC_LEDGER_COMMANDS, PostVoucher)
    assert balances([sale]) == {"1590": 1_200_000, "7770": 50_000, "1500": -1_250_000}
    (status,) = sent.messages(kind=FactoringStatusChanged)
    assert status.status is FactoringStatus.PURCHASED
    first = remittance(
        "R1", (invoice, "PURCHASE_PRICE", "12000.00"), (invoice, "FEE", "-250.00"), (invoice, "HOLDBACK", "-1200.00")
    )
    sent = await gw.provider(FJORD, first, fjord.BuyerPayment(offer_ref=invoice, amount="12500.00", paid_on=DAY))
    vouchers = sent.messages(topics.TOPIC_LEDGER_COMMANDS, PostVoucher)
    assert len(vouchers) == 1  # the buyer's payment is news only: the receivable is Fjord's
    assert balances(vouchers) == {"1920": 1_055_000, "7770": 25_000, "1591": 120_000, "1590": -1_200_000}
    assert sent.messages(kind=FactoringStatusChanged)[-1].status is FactoringStatus.PAID
    sent = await gw.provider(FJORD, remittance("R2", (invoice, "HOLDBACK_RELEASE", "1200.00")))
    assert sent.messages(kind=FactoringStatusChanged)[-1].status is FactoringStatus.SETTLED
    assert gw.store.case(invoice).released_ore == 120_000


@covers(fjord.RemittanceReport, fjord.PurchaseDecision)
async def test_a_remittance_before_the_purchase_decision_is_parked_until_it_arrives() -> None:
    gw = Gateway()
    await gw.activate(FJORD)
    invoice = await gw.delivered(FJORD)
    report = remittance("R1", (invoice, "PURCHASE_PRICE", "12500.00"))
    assert (await gw.provider(FJORD, report)).published == []
    parked = [p.event_key for p in gw.store.parked(FJORD)]
    assert parked == [f"remittance-report:{report.seller_ref}:{report.report_id}"]
    sent = await gw.provider(FJORD, purchase(invoice))
    assert len(sent.messages(topics.TOPIC_LEDGER_COMMANDS, PostVoucher)) == 2
    # The price is paid out, but the buyer has not paid Fjord yet: sold, not settled.
    assert gw.store.parked() == [] and gw.store.case(invoice).status is FactoringStatus.PURCHASED


@covers(fjord.RemittanceReport)
async def test_a_fjord_report_decides_the_status_once_after_all_its_lines_not_after_the_price_line() -> None:
    """Issue 19, item 6: [PURCHASE_PRICE, HOLDBACK] used to show «settled» after the price line, before the
    holdback line was read; the buyer has not paid, so the invoice is still only sold."""
    gw = Gateway()
    await gw.activate(FJORD)
    invoice = await gw.delivered(FJORD, gross_ore=1_000_000)
    await gw.provider(FJORD, purchase(invoice, "10000.00"))
    before = gw.store.case(invoice).status_sequence
    report = remittance("R1", (invoice, "PURCHASE_PRICE", "10000.00"), (invoice, "HOLDBACK", "-1000.00"))
    sent = await gw.provider(FJORD, report)
    (status,) = sent.messages(kind=FactoringStatusChanged)  # one decision for the whole report
    assert status.status is FactoringStatus.PURCHASED
    assert status.description == (
        "Remittance: purchase price 10 000,00 of 10 000,00 paid out, 1 000,00 held back; the buyer has not paid"
    )
    assert status.sequence == before + 1 == gw.store.case(invoice).status_sequence


@covers(fjord.RemittanceReport, fjord.BuyerPayment, InvoiceCredited)
async def test_a_credit_note_after_fjords_first_remittance_is_deducted_and_the_invoice_then_settles() -> None:
    gw = Gateway()
    await gw.activate(FJORD)
    invoice = await gw.delivered(FJORD)
    vouchers = (await gw.provider(FJORD, purchase(invoice))).messages(topics.TOPIC_LEDGER_COMMANDS, PostVoucher)
    first = remittance(
        "R1", (invoice, "PURCHASE_PRICE", "12500.00"), (invoice, "FEE", "-250.00"), (invoice, "HOLDBACK", "-1250.00")
    )
    sent = await gw.provider(FJORD, first)
    vouchers += sent.messages(topics.TOPIC_LEDGER_COMMANDS, PostVoucher)
    assert sent.messages(kind=FactoringStatusChanged)[-1].status is FactoringStatus.PURCHASED
    sent = await gw.invoicing(credit(invoice, FJORD, 250_000))
    vouchers += sent.messages(topics.TOPIC_LEDGER_COMMANDS, PostVoucher)
    deduction = remittance("R2", (invoice, "CREDIT_NOTE_DEDUCTION", "-2500.00"))
    sent = await gw.provider(FJORD, deduction)
    (booked,) = sent.messages(topics.TOPIC_LEDGER_COMMANDS, PostVoucher)
    assert balances([booked]) == {"1590": 250_000, "1920": -250_000}  # debit intermediate, the bank that much less
    vouchers.append(booked)
    (status,) = sent.messages(kind=FactoringStatusChanged)
    assert status.status is FactoringStatus.PURCHASED  # the buyer still owes 10 000
    assert "credit notes 2 500,00 deducted" in status.description and "the buyer has not paid" in status.description
    sent = await gw.provider(FJORD, fjord.BuyerPayment(offer_ref=invoice, amount="10000.00", paid_on=DAY))
    (status,) = sent.messages(kind=FactoringStatusChanged)
    assert status.status is FactoringStatus.PAID  # all it owes after the credit note; the holdback is still kept
    sent = await gw.provider(FJORD, remittance("R3", (invoice, "HOLDBACK_RELEASE", "1250.00")))
    vouchers += sent.messages(topics.TOPIC_LEDGER_COMMANDS, PostVoucher)
    (status,) = sent.messages(kind=FactoringStatusChanged)
    assert status.status is FactoringStatus.SETTLED
    assert status.description == (
        "Settled with Fjord Invoice Sale: purchase price 12 500,00 of 12 500,00 paid out, fees 250,00, holdback "
        "1 250,00 released, credit notes 2 500,00 deducted; the buyer paid 10 000,00"
    )
    # Invoicing's own bookings are the sale (1500 +12 500) and the credit note (1500 −2 500): with them, the
    # receivable is closed, and intermediate and holdback are zero.
    assert balances(vouchers) == {"1500": -1_000_000, "1920": 1_225_000 - 250_000 - 125_000 + 125_000, "7770": 25_000}
    case = gw.store.case(invoice)
    assert ADAPTERS[FJORD].expected_balances(case) == {"intermediate": 0, "holdback": 0}
    assert ADAPTERS[FJORD].finished(case)


@covers(fjord.RemittanceReport)
async def test_a_credit_note_deduction_before_the_credit_note_waits_for_it() -> None:
    gw = Gateway()
    await gw.activate(FJORD)
    invoice = await gw.delivered(FJORD)
    await gw.provider(FJORD, purchase(invoice))
    early = remittance("R9", (invoice, "CREDIT_NOTE_DEDUCTION", "-2500.00"))
    assert (await gw.provider(FJORD, early)).published == []
    assert [p.event_key for p in gw.store.parked(FJORD)] == [f"remittance-report:{CLIENT}:R9"]
    await gw.invoicing(credit(invoice, FJORD, 250_000))
    assert gw.store.parked(FJORD) != []  # the invoicing consumer does not retry the provider's parked events
    sent = await gw.provider(FJORD, fjord.BuyerPayment(offer_ref=invoice, amount="5000.00", paid_on=DAY))
    assert gw.store.parked() == [] and gw.store.case(invoice).deducted_ore == 250_000  # retried, and applied
    status = sent.messages(kind=FactoringStatusChanged)[-1]
    assert status.status is FactoringStatus.PURCHASED and status.provider_event_id == f"remittance-report:{CLIENT}:R9"
    assert status.description.endswith("credit notes 2 500,00 deducted; the buyer paid 5 000,00, 5 000,00 still owed")


@covers(fjord.RemittanceReport)
async def test_a_remittance_for_another_sellers_invoice_is_refused() -> None:
    gw = Gateway()
    await gw.activate(FJORD)
    invoice = await gw.delivered(FJORD)
    await gw.provider(FJORD, purchase(invoice))
    sent = await gw.provider(FJORD, remittance("R1", (invoice, "PURCHASE_PRICE", "12500.00"), seller="c2"))
    (dead,) = dead_letters(sent, FJORD)
    assert dead.error == "invoice 1001 does not belong to seller c2"
    assert sent.messages(topics.TOPIC_LEDGER_COMMANDS) == []


@covers(fjord.RecourseNotice)
async def test_fjords_recourse_gives_the_claim_back_to_the_client() -> None:
    gw = Gateway()
    await gw.activate(FJORD)
    invoice = await gw.delivered(FJORD)
    sale = (await gw.provider(FJORD, purchase(invoice))).messages(topics.TOPIC_LEDGER_COMMANDS, PostVoucher)
    notice = fjord.RecourseNotice(offer_ref=invoice, amount="12500.00", returned_on=DAY, reason="unpaid")
    sent = await gw.provider(FJORD, notice)
    back = sent.messages(topics.TOPIC_LEDGER_COMMANDS, PostVoucher)
    assert balances(sale + back) == {}
    (status,) = sent.messages(kind=FactoringStatusChanged)
    assert status.status is FactoringStatus.RETURNED
    assert gw.store.case(invoice).returned


# --- every routed type has its test -------------------------------------------------------------------------------
def test_every_routed_message_type_has_a_test() -> None:
    routed = set(handlers())
    assert set(CORE_HANDLERS) <= routed
    untested = coverage.untested(routed)
    assert untested == [], f"routed message types without a handler test: {', '.join(untested)}"
