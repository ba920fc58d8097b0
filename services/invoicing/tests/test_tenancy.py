"""Tenant-scoped keys in invoicing (issue 17, item 5), with the fake unit of work and the in-memory repository.

An invoice id is global: the client that created it owns it, and every other client's command naming it is
refused without saying whose it is; the invoice is never overwritten. Payment and credit-note ids are scoped by
client: another client's equal id neither blocks nor repeats a client's own.
"""

from __future__ import annotations

import copy
import uuid
from datetime import date
from typing import Any

import pytest

from invoicing.adapters.memory import FakeChart, InvoicingStore
from invoicing.adapters.repository import InvoiceIdTaken
from invoicing.domain.model import Invoice
from invoicing.service_layer.handlers import HANDLERS, consumers
from ledgerline_contracts import topics
from ledgerline_contracts.factoring import FactoringStatusChanged
from ledgerline_contracts.invoicing import (
    CreateClient,
    CreateInvoiceDraft,
    FactoringStatus,
    InvoiceCredited,
    InvoiceLine,
    IssueCreditNote,
    RegisterPayment,
    SendInvoice,
    UpsertCustomerCard,
)
from ledgerline_contracts.ledger import BookingRejected, BookingSource, PostVoucher
from ledgerline_contracts.messages import CommandResult, Message
from ledgerline_contracts.samples import COMPANY, SELLER_ADDRESS
from ledgerline_contracts.topics import Topic
from servicekit.testing import FakeUnitOfWork, consumer_for, deliver

A, B = "client-a", "client-b"
ADMINS = {A: "ada", B: "bo"}
DAY = date(2026, 11, 23)


class Invoicing:
    """Invoicing's handlers over one store and one fake inbox, with two clients that each have one customer."""

    def __init__(self) -> None:
        self.store = InvoicingStore()
        self.uow = FakeUnitOfWork()
        self.ledger = FakeChart()
        self.consumers = consumers(self.ledger, repository=self.store.repository)

    async def send(self, topic: Topic, *messages: Message) -> list[Any]:
        before = len(self.uow.inbox.published)
        await deliver(consumer_for(self.consumers, topic), HANDLERS, self.uow, *messages)
        return [p.message for p in self.uow.inbox.published[before:]]

    async def command(self, *commands: Message) -> list[CommandResult]:
        sent = await self.send(topics.TOPIC_INVOICING_COMMANDS, *commands)
        return [m for m in sent if isinstance(m, CommandResult)]

    async def accepted(self, command: Message) -> dict[str, Any]:
        (result,) = await self.command(command)
        assert result.accepted, result.reason
        return result.details

    async def refused(self, command: Message) -> str:
        """The reason of a refusal; the refused command published nothing but its answer."""
        before = len(self.uow.inbox.published)
        (result,) = await self.command(command)
        assert not result.accepted
        assert [type(p.message) for p in self.uow.inbox.published[before:]] == [CommandResult]
        assert result.reason
        return result.reason

    def invoice(self, invoice_id: uuid.UUID) -> tuple[str, Invoice]:
        return copy.deepcopy(self.store.invoices[invoice_id])


def draft(client: str, invoice_id: uuid.UUID, net_ore: int = 1_000_000) -> CreateInvoiceDraft:
    return CreateInvoiceDraft(
        client_id=client,
        acting_user=ADMINS[client],
        invoice_id=invoice_id,
        customer_number=10001,
        invoice_date=DAY,
        due_date=date(2026, 12, 7),
        lines=[InvoiceLine(description="Consulting", net_ore=net_ore)],
    )


def send(client: str, invoice_id: uuid.UUID) -> SendInvoice:
    return SendInvoice(client_id=client, acting_user=ADMINS[client], invoice_id=invoice_id)


def payment(client: str, invoice_id: uuid.UUID, payment_id: uuid.UUID, amount_ore: int = 250_000) -> RegisterPayment:
    return RegisterPayment(
        client_id=client,
        acting_user=ADMINS[client],
        invoice_id=invoice_id,
        amount_ore=amount_ore,
        paid_on=date(2026, 11, 30),
        payment_id=payment_id,
    )


def credit_note(
    client: str, invoice_id: uuid.UUID, credit_note_id: uuid.UUID, amount_ore: int = 125_000
) -> IssueCreditNote:
    return IssueCreditNote(
        client_id=client,
        acting_user=ADMINS[client],
        invoice_id=invoice_id,
        credit_note_id=credit_note_id,
        reason="Damaged",
        credited_on=date(2026, 11, 30),
        amount_ore=amount_ore,
    )


async def two_clients() -> Invoicing:
    app = Invoicing()
    for client, admin in ADMINS.items():
        await app.accepted(
            CreateClient(
                client_id=client,
                company_name=f"{client} AS",
                organisation_number="912345678",
                administrator=admin,
                administrator_name=admin.title(),
                address=SELLER_ADDRESS,
            )
        )
        await app.accepted(UpsertCustomerCard(client_id=client, acting_user=admin, customer=COMPANY))
    return app


async def sent_invoice(app: Invoicing, client: str) -> uuid.UUID:
    invoice_id = uuid.uuid4()
    await app.accepted(draft(client, invoice_id))
    await app.accepted(send(client, invoice_id))
    return invoice_id


def belongs_to_another(invoice_id: uuid.UUID) -> str:
    return f"invoice id {invoice_id} belongs to another client"


# --- invoice ids: global, owned by the client that created them ----------------------------------------------------
async def test_another_clients_draft_with_a_taken_invoice_id_is_refused_and_the_invoice_stays_as_it_was() -> None:
    app = await two_clients()
    invoice_id = await sent_invoice(app, A)
    before = app.invoice(invoice_id)
    reason = await app.refused(draft(B, invoice_id, net_ore=1))
    assert reason == belongs_to_another(invoice_id)
    assert A not in reason  # never says whose it is
    assert app.invoice(invoice_id) == before
    # The owner is told what it always was told.
    assert await app.refused(draft(A, invoice_id)) == f"invoice {invoice_id} already exists"


async def test_a_draft_is_protected_as_much_as_a_sent_invoice() -> None:
    app = await two_clients()
    invoice_id = uuid.uuid4()
    await app.accepted(draft(A, invoice_id))
    before = app.invoice(invoice_id)
    assert await app.refused(draft(B, invoice_id, net_ore=1)) == belongs_to_another(invoice_id)
    assert await app.refused(send(B, invoice_id)) == belongs_to_another(invoice_id)
    assert app.invoice(invoice_id) == before
    assert (await app.accepted(send(A, invoice_id)))["invoice_number"] == "1001"  # A's own goes on as before


async def test_another_client_cannot_send_pay_or_credit_an_invoice_it_does_not_own() -> None:
    app = await two_clients()
    invoice_id = await sent_invoice(app, A)
    before = app.invoice(invoice_id)
    for command in (
        send(B, invoice_id),
        payment(B, invoice_id, uuid.uuid4()),
        credit_note(B, invoice_id, uuid.uuid4()),
    ):
        assert await app.refused(command) == belongs_to_another(invoice_id)
    assert app.invoice(invoice_id) == before
    # An id nobody owns is still simply unknown.
    unknown = uuid.uuid4()
    assert await app.refused(send(B, unknown)) == f"invoice {unknown} does not exist"


async def test_two_clients_drafting_one_id_in_one_batch_the_first_owns_it() -> None:
    app = await two_clients()
    invoice_id = uuid.uuid4()
    first, second = await app.command(draft(A, invoice_id), draft(B, invoice_id, net_ore=1))
    assert first.accepted and not second.accepted
    assert second.reason == belongs_to_another(invoice_id)
    owner, invoice = app.invoice(invoice_id)
    assert (owner, invoice.net_ore) == (A, 1_000_000)


async def test_the_repository_never_overwrites_another_clients_invoice_and_fails_the_batch() -> None:
    """Two clients' batches that both read the id as free (PostgreSQL: two transactions at once): the one written
    second fails, and is retried, when it reads the other's invoice and refuses."""
    app = await two_clients()
    invoice_id = uuid.uuid4()
    theirs, ours = app.store.repository(), app.store.repository()
    assert await theirs.owner(invoice_id) is None and await ours.owner(invoice_id) is None
    mine = Invoice(invoice_id, 10001, draft(A, invoice_id).origin, DAY, DAY, [], 100, 25, 125)
    other = Invoice(invoice_id, 10001, draft(B, invoice_id).origin, DAY, DAY, [], 1, 0, 1)
    await theirs.save_invoice(A, mine)
    await theirs.flush()
    await ours.save_invoice(B, other)
    with pytest.raises(InvoiceIdTaken, match=str(invoice_id)):
        await ours.flush()
    assert app.store.invoices[invoice_id] == (A, mine)
    assert await app.refused(draft(B, invoice_id)) == belongs_to_another(invoice_id)


async def test_a_status_update_for_another_clients_invoice_changes_nothing() -> None:
    app = await two_clients()
    invoice_id = await sent_invoice(app, A)
    before = app.invoice(invoice_id)
    await app.send(
        topics.TOPIC_FACTORING_EVENTS,
        FactoringStatusChanged(
            client_id=B,
            invoice_id=invoice_id,
            provider="abc-factoring",
            status=FactoringStatus.ACCEPTED,
            description="Accepted",
            sequence=5,
        ),
    )
    assert app.invoice(invoice_id) == before and app.store.status_history == []


# --- payment and credit-note ids: per client -------------------------------------------------------------------------
async def test_payment_ids_are_per_client_and_still_deduplicated() -> None:
    app = await two_clients()
    a_invoice, b_invoice = await sent_invoice(app, A), await sent_invoice(app, B)
    payment_id = uuid.uuid4()
    assert (await app.accepted(payment(A, a_invoice, payment_id)))["outstanding_ore"] == 1_000_000
    # B's payment with the same id is B's own: registered, booked for B, A untouched.
    sent = await app.send(topics.TOPIC_INVOICING_COMMANDS, payment(B, b_invoice, payment_id, 500_000))
    (answer,) = [m for m in sent if isinstance(m, CommandResult)]
    assert answer.accepted and answer.details["outstanding_ore"] == 750_000
    assert [v.client_id for v in sent if isinstance(v, PostVoucher)] == [B]
    assert app.invoice(a_invoice)[1].paid_ore == 250_000
    # Resent, each is a repeat of its own client's only.
    for client, invoice in ((A, a_invoice), (B, b_invoice)):
        again = await app.accepted(payment(client, invoice, payment_id, 1))
        assert again["already_registered"] is True
    assert (app.invoice(a_invoice)[1].paid_ore, app.invoice(b_invoice)[1].paid_ore) == (250_000, 500_000)
    assert {key for group, key in app.uow.inbox.handled if group == "invoicing.payments"} == {
        f"{A}:{a_invoice}:{payment_id}",
        f"{B}:{b_invoice}:{payment_id}",
    }


async def test_credit_note_ids_are_per_client_and_still_deduplicated() -> None:
    app = await two_clients()
    a_invoice, b_invoice = await sent_invoice(app, A), await sent_invoice(app, B)
    note = uuid.uuid4()
    await app.accepted(credit_note(A, a_invoice, note))
    # B's credit note with A's id is issued for B; it neither repeats nor changes A's.
    sent = await app.send(topics.TOPIC_INVOICING_COMMANDS, credit_note(B, b_invoice, note, 200_000))
    (answer,) = [m for m in sent if isinstance(m, CommandResult)]
    assert answer.accepted and answer.details["credited_ore"] == 200_000
    assert [(c.client_id, c.invoice_id) for c in sent if isinstance(c, InvoiceCredited)] == [(B, b_invoice)]
    assert [v.client_id for v in sent if isinstance(v, PostVoucher)] == [B]
    for client, invoice in ((A, a_invoice), (B, b_invoice)):
        assert (await app.accepted(credit_note(client, invoice, note)))["already_issued"] is True
    assert (app.invoice(a_invoice)[1].credited_ore, app.invoice(b_invoice)[1].credited_ore) == (125_000, 200_000)
    # Nothing is claimed under the bare id any more.
    assert {key for group, key in app.uow.inbox.handled if group == "invoicing.credit-notes"} == {
        f"{A}:{note}",
        f"{B}:{note}",
    }


async def test_a_credit_note_id_claimed_before_ids_were_scoped_stays_taken() -> None:
    """Claims made before migration e3a91c5d7f20 name no client: such an id is a repeat for every client."""
    app = await two_clients()
    invoice_id = await sent_invoice(app, A)
    old = uuid.uuid4()
    app.uow.inbox.handled.add(("invoicing.credit-notes", str(old)))
    assert (await app.accepted(credit_note(A, invoice_id, old)))["already_issued"] is True
    assert app.invoice(invoice_id)[1].credited_ore == 0


async def test_a_refused_credit_note_leaves_its_id_free() -> None:
    app = await two_clients()
    invoice_id = await sent_invoice(app, A)
    note = uuid.uuid4()
    assert "is more than" in await app.refused(credit_note(A, invoice_id, note, amount_ore=99_000_000))
    assert not any(group == "invoicing.credit-notes" for group, _ in app.uow.inbox.handled)
    assert (await app.accepted(credit_note(A, invoice_id, note)))["credited_ore"] == 125_000


async def test_the_ledgers_refusals_are_kept_per_client_even_under_one_key() -> None:
    app = await two_clients()
    a_invoice, b_invoice = await sent_invoice(app, A), await sent_invoice(app, B)
    await app.send(
        topics.TOPIC_LEDGER_REJECTIONS,
        *(
            BookingRejected(
                client_id=client,
                command_id=uuid.uuid4(),
                idempotency_key="credit:same-id",
                code="closed_period",
                reason=f"closed for {client}",
                source=BookingSource(service="invoicing", event_type="credit_note", invoice_id=invoice),
            )
            for client, invoice in ((A, a_invoice), (B, b_invoice))
        ),
    )
    assert app.store.booking_problems == {
        (A, "credit:same-id"): (a_invoice, "credit_note", "closed_period", f"closed for {A}"),
        (B, "credit:same-id"): (b_invoice, "credit_note", "closed_period", f"closed for {B}"),
    }
