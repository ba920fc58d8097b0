"""Tenant checks in the factoring gateway (issue 17, item 5), with the fake unit of work and the in-memory repository.

An invoice id belongs to the client whose delivery opened its case. Every event that names an invoice is checked
against that case's client: another client's delivery, credit note or direct payment of it, a provider event for a
seller it does not belong to, or one covering several clients' invoices, is refused to the dead letters (with the
reason, counted, released from the inbox for a replay) and never delivered or booked.
"""

from __future__ import annotations

import base64
import uuid
from datetime import date

import pytest
from prometheus_client import REGISTRY

from factoring_gateway import SERVICE
from factoring_gateway.adapters.memory import FakeLedger, GatewayStore
from factoring_gateway.adapters.repository import CaseOfAnotherClient
from factoring_gateway.domain.lifecycle import Case
from factoring_gateway.domain.providers import installed_adapters
from factoring_gateway.service_layer.handlers import consumers, handlers
from ledgerline_abc_factoring import contract as abc
from ledgerline_contracts import catalogues, topics
from ledgerline_contracts.factoring import AccountRef, FactoringActivated, FactoringStatusChanged
from ledgerline_contracts.invoicing import (
    DirectPaymentReceived,
    FactoringActivationRequested,
    FactoringStatus,
    InvoiceCredited,
    InvoiceDelivery,
    InvoiceLine,
)
from ledgerline_contracts.messages import Message
from ledgerline_contracts.operations import DeadLetter
from ledgerline_contracts.samples import COMPANY
from ledgerline_contracts.topics import Topic
from ledgerline_fjord_invoice_sale import contract as fjord
from servicekit.testing import FakeInbox, FakeUnitOfWork, consumer_for, deliver

ADAPTERS = installed_adapters()
A, B = "client-a", "client-b"
ABC, FJORD = "abc-factoring", "fjord-invoice-sale"
DAY = date(2026, 11, 23)
ACCOUNTS = {
    ABC: {
        "intermediate": AccountRef(account="2400"),
        "fees": AccountRef(account="7770"),
        "interest_income": AccountRef(account="8050"),
        "bank": AccountRef(account="1920"),
        "receivables": AccountRef(account="1500"),
        "deviation": AccountRef(account="2900"),
    },
    FJORD: {
        "intermediate": AccountRef(account="1590"),
        "holdback": AccountRef(account="1591"),
        "fees": AccountRef(account="7770"),
        "bank": AccountRef(account="1920"),
        "receivables": AccountRef(account="1500"),
        "deviation": AccountRef(account="2900"),
    },
}
INVOICING_DEAD_LETTERS = topics.dead_letters(topics.GROUP_FACTORING_INVOICING_EVENTS)


class Gateway:
    """The gateway's handlers over one store and one fake inbox; clients A and B both have `provider` active."""

    def __init__(self) -> None:
        self.store = GatewayStore()
        self.uow = FakeUnitOfWork(service=SERVICE)
        self.ledger = FakeLedger()
        for client in (A, B):
            self.ledger.add(client, "2400", "7770", "8050", "1920", "1500", "2900", "1590", "1591")
        self.consumers = consumers(self.ledger, repository=self.store.repository)
        self.handlers = handlers()

    async def send(self, topic: Topic, *messages: Message) -> FakeInbox:
        before = len(self.uow.inbox.published)
        await deliver(consumer_for(self.consumers, topic), self.handlers, self.uow, *messages)
        return FakeInbox(published=self.uow.inbox.published[before:])

    async def invoicing(self, *events: Message) -> FakeInbox:
        return await self.send(topics.TOPIC_INVOICING_EVENTS, *events)

    async def provider(self, slug: str, *events: Message) -> FakeInbox:
        return await self.send(topics.factoring_inbound(slug), *events)

    async def activate(self, provider: str) -> None:
        for client in (A, B):
            self.store.tables.mappings[(client, provider)] = ACCOUNTS[provider]  # as SetAccountMapping saves it
            sent = await self.invoicing(
                FactoringActivationRequested(
                    client_id=client,
                    request_id=uuid.uuid4(),
                    provider=provider,
                    client_name=f"{client} AS",
                    organisation_number="912345678",
                )
            )
            assert sent.messages(kind=FactoringActivated)

    async def delivered(self, client: str, provider: str, invoice_id: uuid.UUID | None = None) -> uuid.UUID:
        event = delivery(client, provider, invoice_id or uuid.uuid4())
        (status,) = (await self.invoicing(event)).messages(kind=FactoringStatusChanged)
        assert status.status is FactoringStatus.PREPARED
        return event.invoice_id


def delivery(client: str, provider: str, invoice_id: uuid.UUID, gross_ore: int = 1_250_000) -> InvoiceDelivery:
    return InvoiceDelivery(
        client_id=client,
        correlation_id=str(invoice_id),
        provider=provider,
        invoice_id=invoice_id,
        invoice_number="1001" if client == A else "2001",
        customer_number=10001,
        customer=COMPANY,
        client_name=f"{client} AS",
        client_organisation_number="912345678",
        invoice_date=DAY,
        due_date=date(2026, 12, 7),
        lines=[InvoiceLine(description="Consulting", net_ore=1_000_000)],
        net_ore=1_000_000,
        vat_ore=gross_ore - 1_000_000,
        gross_ore=gross_ore,
    )


def refusals(source: str) -> float:
    return REGISTRY.get_sample_value("ledgerline_factoring_cross_client_refusals_total", {"source": source}) or 0


def refused_by_gateway(sent: FakeInbox, event: Message) -> DeadLetter:
    """The only thing published: the event's dead letter, refused, with its bytes for a replay."""
    (dead,) = sent.messages(INVOICING_DEAD_LETTERS, DeadLetter)
    assert len(sent.published) == 1
    assert (dead.consumer_group, dead.error_kind) == (topics.GROUP_FACTORING_INVOICING_EVENTS, "refused")
    assert dead.value_b64 is not None
    replay = catalogues.of(topics.TOPIC_INVOICING_EVENTS).decode(base64.b64decode(dead.value_b64))
    assert replay == event
    return dead


def other_clients_reason(event: InvoiceDelivery | InvoiceCredited | DirectPaymentReceived) -> str:
    return (
        f"{event.type} of client {event.client_id} names invoice id {event.invoice_id}, whose case belongs to "
        "another client: refused, nothing delivered or booked"
    )


# --- invoicing's events ---------------------------------------------------------------------------------------------
async def test_another_clients_delivery_of_an_invoice_id_with_a_case_is_refused() -> None:
    gw = Gateway()
    await gw.activate(ABC)
    invoice = await gw.delivered(A, ABC)
    case = gw.store.case(invoice)
    before = refusals("invoicing.InvoiceDelivery")
    theirs = delivery(B, ABC, invoice, gross_ore=1_000_000)
    sent = await gw.invoicing(theirs)
    dead = refused_by_gateway(sent, theirs)
    assert dead.error == other_clients_reason(theirs) and A not in dead.error
    assert gw.store.case(invoice) == case  # A's case as it was; nothing went to ABC, no status for B
    assert refusals("invoicing.InvoiceDelivery") == before + 1
    # Released from the inbox: a replay of the dead letter is handled (and refused) again.
    assert (topics.GROUP_FACTORING_INVOICING_EVENTS, str(theirs.message_id)) not in gw.uow.inbox.handled
    refused_by_gateway(await gw.invoicing(theirs), theirs)


async def test_of_two_clients_deliveries_of_one_invoice_id_in_one_batch_the_first_opens_the_case() -> None:
    gw = Gateway()
    await gw.activate(ABC)
    invoice = uuid.uuid4()
    ours, theirs = delivery(A, ABC, invoice), delivery(B, ABC, invoice)
    sent = await gw.invoicing(ours, theirs)
    (submission,) = sent.messages(topics.factoring_outbound(ABC), abc.AbcInvoiceSubmission)
    assert submission.client.client_id == A
    assert [s.client_id for s in sent.messages(kind=FactoringStatusChanged)] == [A]
    (dead,) = sent.messages(INVOICING_DEAD_LETTERS, DeadLetter)
    assert dead.error == other_clients_reason(theirs)
    assert gw.store.case(invoice).client_id == A


async def test_the_same_clients_repeated_delivery_is_not_refused() -> None:
    gw = Gateway()
    await gw.activate(ABC)
    invoice = await gw.delivered(A, ABC)
    sent = await gw.invoicing(delivery(A, ABC, invoice))  # a new message id: not an inbox repeat
    assert sent.messages(INVOICING_DEAD_LETTERS) == []
    assert gw.store.case(invoice).client_id == A


async def test_another_clients_credit_note_on_an_invoice_is_refused_and_nothing_reaches_the_provider() -> None:
    gw = Gateway()
    await gw.activate(FJORD)
    invoice = await gw.delivered(A, FJORD)
    await gw.provider(
        FJORD, fjord.PurchaseDecision(offer_ref=invoice, decision="APPROVED", purchase_price="12500.00", decided_on=DAY)
    )
    case = gw.store.case(invoice)
    before = refusals("invoicing.InvoiceCredited")
    credit = InvoiceCredited(
        client_id=B,
        invoice_id=invoice,
        invoice_number="2001",
        credit_note_id=uuid.uuid4(),
        amount_ore=250_000,
        provider=FJORD,
        reason="wrong hours",
        credited_on=DAY,
    )
    sent = await gw.invoicing(credit)
    assert refused_by_gateway(sent, credit).error == other_clients_reason(credit)
    assert gw.store.case(invoice) == case  # no credit recorded, no booking, no CreditNoteNotice to Fjord
    assert refusals("invoicing.InvoiceCredited") == before + 1


async def test_another_clients_credit_note_in_the_batch_of_a_delivery_is_refused() -> None:
    gw = Gateway()
    await gw.activate(ABC)
    invoice = uuid.uuid4()
    credit = InvoiceCredited(
        client_id=B,
        invoice_id=invoice,
        invoice_number="2001",
        credit_note_id=uuid.uuid4(),
        amount_ore=250_000,
        provider=ABC,
        reason="x",
        credited_on=DAY,
    )
    sent = await gw.invoicing(delivery(A, ABC, invoice), credit)
    assert sent.messages(topics.factoring_outbound(ABC), abc.AbcCreditNote) == []
    (dead,) = sent.messages(INVOICING_DEAD_LETTERS, DeadLetter)
    assert dead.error == other_clients_reason(credit)
    assert gw.store.case(invoice).client_credited_ore == 0


async def test_another_clients_direct_payment_on_an_invoice_is_refused_and_books_nothing() -> None:
    gw = Gateway()
    await gw.activate(ABC)
    invoice = await gw.delivered(A, ABC)
    await gw.provider(
        ABC,
        abc.AbcInvoiceEvent(
            event_id=f"{invoice}:1",
            submission_id=invoice,
            sequence=1,
            event_type=abc.AbcEventType.ACCEPTED,
            occurred_on=DAY,
        ),
    )
    case = gw.store.case(invoice)
    before = refusals("invoicing.DirectPaymentReceived")
    payment = DirectPaymentReceived(
        client_id=B,
        invoice_id=invoice,
        invoice_number="2001",
        payment_id=uuid.uuid4(),
        amount_ore=1_250_000,
        paid_on=DAY,
        provider=ABC,
    )
    sent = await gw.invoicing(payment)
    assert refused_by_gateway(sent, payment).error == other_clients_reason(payment)
    assert gw.store.case(invoice) == case
    assert refusals("invoicing.DirectPaymentReceived") == before + 1


async def test_a_case_another_client_opened_meanwhile_fails_the_batch_instead_of_being_overwritten() -> None:
    """Two clients' batches that both read the id as free (PostgreSQL: two transactions at once): the one written
    second fails, and its retry reads the other's case and refuses the delivery."""
    gw = Gateway()
    invoice = uuid.uuid4()
    first, second = FakeUnitOfWork(gw.uow.inbox, SERVICE), FakeUnitOfWork(gw.uow.inbox, SERVICE)
    with pytest.raises(CaseOfAnotherClient, match=str(invoice)):
        async with second:
            theirs = gw.store.repository(second)
            assert await theirs.cases([invoice]) == {}
            async with first:
                ours = gw.store.repository(first)
                assert await ours.cases([invoice]) == {}
                await ours.save_cases([Case(invoice, A, ABC, "1001", 10001, 1_250_000)], new=True)
            await theirs.save_cases([Case(invoice, B, ABC, "2001", 10001, 1)], new=True)
    assert gw.store.case(invoice).client_id == A and gw.store.case(invoice).gross_ore == 1_250_000
    assert gw.uow.inbox.rollbacks == 1


# --- the providers' events -----------------------------------------------------------------------------------------
def remittance(report_id: str, seller: str, *invoices: uuid.UUID) -> fjord.RemittanceReport:
    return fjord.RemittanceReport(
        report_id=report_id,
        seller_ref=seller,
        paid_on=DAY,
        total_amount=f"{12500 * len(invoices)}.00",
        lines=[fjord.RemittanceLine(offer_ref=i, line_type="PURCHASE_PRICE", amount="12500.00") for i in invoices],
    )


async def test_a_provider_event_naming_another_sellers_invoice_is_refused_and_counted() -> None:
    gw = Gateway()
    await gw.activate(FJORD)
    invoice = await gw.delivered(A, FJORD)
    await gw.provider(
        FJORD, fjord.PurchaseDecision(offer_ref=invoice, decision="APPROVED", purchase_price="12500.00", decided_on=DAY)
    )
    before = refusals(FJORD)
    sent = await gw.provider(FJORD, remittance("R1", B, invoice))
    (dead,) = sent.messages(topics.dead_letters(topics.group_for_provider(FJORD)), DeadLetter)
    assert dead.error == "invoice 1001 does not belong to seller client-b" and dead.error_kind == "refused"
    assert sent.messages(topics.TOPIC_LEDGER_COMMANDS) == [] and gw.store.case(invoice).payout_ore == 0
    assert refusals(FJORD) == before + 1


async def test_a_provider_event_covering_several_clients_invoices_is_refused_and_counted() -> None:
    gw = Gateway()
    await gw.activate(FJORD)
    ours, theirs = await gw.delivered(A, FJORD), await gw.delivered(B, FJORD)
    for invoice in (ours, theirs):
        await gw.provider(
            FJORD,
            fjord.PurchaseDecision(offer_ref=invoice, decision="APPROVED", purchase_price="12500.00", decided_on=DAY),
        )
    before = refusals(FJORD)
    sent = await gw.provider(FJORD, remittance("R2", A, ours, theirs))
    (dead,) = sent.messages(topics.dead_letters(topics.group_for_provider(FJORD)), DeadLetter)
    assert dead.error == "invoice 2001 does not belong to seller client-a"
    assert sent.messages(topics.TOPIC_LEDGER_COMMANDS) == []
    assert refusals(FJORD) == before + 1


async def test_a_parked_event_carries_the_client_whose_cases_it_names() -> None:
    gw = Gateway()
    await gw.activate(ABC)
    invoice = await gw.delivered(B, ABC)
    advance = abc.AbcInvoiceEvent(
        event_id=f"{invoice}:2",
        submission_id=invoice,
        sequence=2,
        event_type=abc.AbcEventType.ADVANCE_PAID,
        amount_ore=1_000_000,
        occurred_on=DAY,
    )
    assert (await gw.provider(ABC, advance)).published == []
    (parked,) = gw.store.parked(ABC)
    assert (parked.client_id, parked.invoice_ids) == (B, (invoice,))
