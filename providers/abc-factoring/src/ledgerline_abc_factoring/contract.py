"""ABC Factoring's wire format (JSON, snake_case, amounts in øre).

Model: ABC accepts or rejects each submitted invoice, pays an advance on acceptance, sends the invoice to the
debtor with its own bank account and the assignment text, charges fees per invoice, collects interest notes,
and settles each invoice once the debtor has paid. An unpaid invoice can be handed back (recourse).

Each event carries `sequence` (1, 2, 3 … per invoice): consumers apply them in that order, whatever order
they arrive in, and `event_id`, unique per event: a repeated event changes nothing.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Literal
from uuid import UUID

from pydantic import Field

from ledgerline_contracts.factoring import AccountRef
from ledgerline_contracts.invoicing import CustomerKind
from ledgerline_contracts.messages import Catalogue, Message, Part, ProviderDate
from ledgerline_contracts.money import NonNegativeOre, Ore, PositiveOre


class AbcDebtor(Part):
    debtor_type: CustomerKind
    name: str
    first_name: str | None = None
    last_name: str | None = None
    organisation_number: str | None = None
    street: str
    postcode: str
    city: str
    country: str = "NO"
    phone: str
    email: str


class AbcClient(Part):
    client_id: str
    name: str
    organisation_number: str


# --- we write (factoring.abc-factoring.outbound.v1) ---------------------------------------------------------------
class AbcClientOnboarding(Message):
    """Sent when a client activates the integration: who the client is and the accounts to book against."""

    type: Literal["abc.ClientOnboarding"] = "abc.ClientOnboarding"
    version: Literal[1] = 1
    client: AbcClient
    accounts: dict[str, AccountRef]


class AbcClientOffboarding(Message):
    type: Literal["abc.ClientOffboarding"] = "abc.ClientOffboarding"
    version: Literal[1] = 1
    client_id: str


class AbcInvoiceSubmission(Message):
    """One invoice for ABC to finance, send to the debtor and collect."""

    type: Literal["abc.InvoiceSubmission"] = "abc.InvoiceSubmission"
    version: Literal[1] = 1
    submission_id: UUID = Field(description="Our invoice id; every event about it refers to it.")
    client: AbcClient
    invoice_number: str
    invoice_date: date
    due_date: date
    currency: Literal["NOK"] = "NOK"
    amount_ore: PositiveOre = Field(description="Gross amount to collect from the debtor.")
    vat_ore: NonNegativeOre
    debtor: AbcDebtor
    assignment_text: str = Field(description="The notice that the claim has been transferred to ABC Factoring.")


class AbcCreditNote(Message):
    type: Literal["abc.CreditNote"] = "abc.CreditNote"
    version: Literal[1] = 1
    submission_id: UUID
    credit_note_id: UUID
    amount_ore: PositiveOre
    reason: str


class AbcDirectPaymentNotice(Message):
    """The debtor paid this invoice to the client by mistake; the client passes `amount_ore` on to ABC, which then
    registers it as the debtor's payment (debtor.paid)."""

    type: Literal["abc.DirectPaymentNotice"] = "abc.DirectPaymentNotice"
    version: Literal[1] = 1
    submission_id: UUID
    payment_id: UUID
    amount_ore: PositiveOre
    paid_on: date


# --- ABC writes (factoring.abc-factoring.inbound.v1) --------------------------------------------------------------
class AbcEventType(StrEnum):
    ACCEPTED = "invoice.accepted"
    REJECTED = "invoice.rejected"
    DELIVERED = "invoice.delivered"
    ADVANCE_PAID = "advance.paid"
    FEE_CHARGED = "fee.charged"
    REMINDED = "invoice.reminded"
    INTEREST_NOTE_COLLECTED = "interest_note.collected"
    DEBTOR_PAID = "debtor.paid"
    SETTLED = "invoice.settled"
    CREDITED = "invoice.credited"
    RECOURSE = "invoice.recourse"
    REOPENED = "invoice.reopened"


class AbcInvoiceEvent(Message):
    """Something that happened to a submitted invoice at ABC.

    Amounts: advance.paid, fee.charged, interest_note.collected, debtor.paid, invoice.credited and
    invoice.recourse (the advance reclaimed) carry a positive `amount_ore`; invoice.settled carries what ABC pays
    out (negative when the client owes ABC). Other events carry none.
    """

    type: Literal["abc.InvoiceEvent"] = "abc.InvoiceEvent"
    version: Literal[1] = 1
    event_id: str = Field(min_length=1, max_length=100)
    submission_id: UUID
    sequence: int = Field(ge=1)
    event_type: AbcEventType
    amount_ore: Ore | None = None
    occurred_on: ProviderDate
    description: str | None = Field(default=None, max_length=300)


OUTBOUND = Catalogue(
    "abc-factoring outbound",
    [AbcClientOnboarding, AbcClientOffboarding, AbcInvoiceSubmission, AbcCreditNote, AbcDirectPaymentNotice],
)
INBOUND = Catalogue("abc-factoring inbound", [AbcInvoiceEvent])
