"""ABC Factoring's wire format (JSON, snake_case, amounts in øre).

Model: ABC accepts or rejects each submitted invoice, pays an advance on acceptance, sends the invoice to the
debtor with its own bank account and the assignment text, charges fees per invoice, collects interest notes,
and settles each invoice once the debtor has paid. An unpaid invoice can be handed back (recourse).

Each event carries `sequence` (1, 2, 3 … per invoice): consumers apply them in that order, whatever order
they arrive in, and `event_id`, unique per event: a repeated event changes nothing.

ABC produces the only invoice document the debtor sees, so a submission carries what a Norwegian invoice needs
(added compatibly: optional fields of version 1, absent from older submissions): every line with quantity, unit
price, VAT rate and amount; totals per VAT rate; the seller with its address and «MVA»; the KID and its check-digit
scheme; ABC's own account for payment (`PAYMENT_ACCOUNT`); and the delivery channel (EHF to the debtor's
`peppol_id`, e-mail or print). ABC rejects a submission with these whose figures do not add up, whose KID fails its
check digit or whose account is not ABC's, saying why in the rejection's `description`.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Literal
from uuid import UUID

from pydantic import Field

from ledgerline_contracts.factoring import AccountRef
from ledgerline_contracts.invoicing import CustomerKind, DeliveryMethod, Quantity
from ledgerline_contracts.messages import Catalogue, Message, Part, ProviderDate
from ledgerline_contracts.money import NonNegativeOre, Ore, PositiveOre
from ledgerline_contracts.norway import BankAccountText, KidScheme, KidText

PAYMENT_ACCOUNT = "15032080119"
"""ABC Factoring's own bank account, printed on every invoice it delivers: the debtor pays here."""


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
    peppol_id: str | None = Field(default=None, description="EHF/PEPPOL participant id, e.g. 0192:974760673.")


class AbcClient(Part):
    client_id: str
    name: str
    organisation_number: str


class AbcSeller(Part):
    """The seller as the invoice prints it."""

    name: str
    organisation_number: str
    vat_registered: bool = Field(description="«MVA» follows the organisation number.")
    registration_text: str = Field(description="As printed, e.g. «Org.nr. 912 345 678 MVA».")
    street: str | None = None
    postcode: str | None = None
    city: str | None = None
    country: str = "NO"


class AbcInvoiceLine(Part):
    """`quantity` × `unit_price_ore` rounded half up to the øre is `net_ore`; `vat_ore` is `net_ore` ×
    `vat_percent` %, rounded half up."""

    description: str
    quantity: Quantity
    unit_price_ore: PositiveOre
    net_ore: PositiveOre
    vat_percent: int = Field(ge=0, le=100)
    vat_ore: NonNegativeOre


class AbcVatTotal(Part):
    vat_percent: int = Field(ge=0, le=100)
    net_ore: NonNegativeOre
    vat_ore: NonNegativeOre


# --- we write (factoring.abc-factoring.outbound.v1) ---------------------------------------------------------------
class AbcClientOnboarding(Message):
    """Sent when a client activates the integration: who the client is and the accounts to book against. Keyed by
    the client's id, not an invoice's."""

    kafka_key = "/client/client_id"
    type: Literal["abc.ClientOnboarding"] = "abc.ClientOnboarding"
    version: Literal[1] = 1
    client: AbcClient
    accounts: dict[str, AccountRef]


class AbcClientOffboarding(Message):
    """Sent when a client deactivates the integration. Keyed by the client's id, not an invoice's."""

    kafka_key = "/client_id"
    type: Literal["abc.ClientOffboarding"] = "abc.ClientOffboarding"
    version: Literal[1] = 1
    client_id: str


class AbcInvoiceSubmission(Message):
    """One invoice for ABC to finance, send to the debtor and collect."""

    kafka_key = "/submission_id"
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
    # The invoice document's content (optional: absent from submissions made before it was added).
    net_ore: NonNegativeOre | None = Field(default=None, description="The sum of the lines' `net_ore`.")
    lines: list[AbcInvoiceLine] | None = Field(default=None, max_length=200)
    vat_totals: list[AbcVatTotal] | None = Field(default=None, description="Net and VAT per rate, highest first.")
    seller: AbcSeller | None = None
    kid: KidText | None = Field(default=None, description="The payment reference (its last digit checks it).")
    kid_scheme: KidScheme | None = None
    payment_account: BankAccountText | None = Field(
        default=None, description="Where the debtor pays: ABC's own account (`PAYMENT_ACCOUNT`)."
    )
    delivery_channel: DeliveryMethod | None = Field(
        default=None, description="e_invoice (EHF to the debtor's `peppol_id`), email or print."
    )


class AbcCreditNote(Message):
    kafka_key = "/submission_id"
    type: Literal["abc.CreditNote"] = "abc.CreditNote"
    version: Literal[1] = 1
    submission_id: UUID
    credit_note_id: UUID
    amount_ore: PositiveOre
    reason: str


class AbcDirectPaymentNotice(Message):
    """The debtor paid this invoice to the client by mistake; the client passes `amount_ore` on to ABC, which then
    registers it as the debtor's payment (debtor.paid)."""

    kafka_key = "/submission_id"
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

    Publish it keyed by `submission_id`, so one invoice's events stay in one partition, in order.
    """

    kafka_key = "/submission_id"
    type: Literal["abc.InvoiceEvent"] = "abc.InvoiceEvent"
    version: Literal[1] = 1
    event_id: str = Field(
        min_length=1,
        max_length=100,
        description="Unique per event: the same event sent again (a retried callback) changes nothing; another "
        "event under a used id is refused as a conflict.",
    )
    submission_id: UUID = Field(description="The `submission_id` of the invoice submission the event is about.")
    sequence: int = Field(
        ge=1,
        description="Numbers each invoice's events 1, 2, 3 … without gaps, per `submission_id`. They are applied in "
        "that order whatever order they arrive in: an event whose predecessor has not arrived waits (parked) until "
        "it does; a number already applied under another `event_id` is refused. The first event of an invoice is "
        "number 1.",
    )
    event_type: AbcEventType
    amount_ore: Ore | None = None
    occurred_on: ProviderDate
    description: str | None = Field(default=None, max_length=300)


OUTBOUND = Catalogue(
    "abc-factoring outbound",
    [AbcClientOnboarding, AbcClientOffboarding, AbcInvoiceSubmission, AbcCreditNote, AbcDirectPaymentNotice],
)
INBOUND = Catalogue("abc-factoring inbound", [AbcInvoiceEvent])
