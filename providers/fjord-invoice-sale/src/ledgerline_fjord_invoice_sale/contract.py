"""Fjord Invoice Sale's wire format (JSON, camelCase, amounts as decimal strings in NOK).

Model: invoice sale. Fjord decides on each offered invoice; an approved invoice is *purchased*: the receivable
passes to Fjord at once. Fjord pays the purchase price later through remittance reports, each covering many
invoices of one seller: purchase price, fees deducted, a holdback kept back until the buyer pays, holdback
releases, recourse nettings, and deductions of the seller's credit notes on invoices already bought (the seller
owes Fjord the credited amount back). An invoice the buyer does not pay can be sold back to the seller (recourse).

There is no per-invoice sequence: consumers must accept a report before the decision it depends on and wait
for the decision. `messageId` is unique per message; a repeated message changes nothing (a message without one
is identified by its content). A remittance report is identified by its `reportId` too: the same report sent
again under a new `messageId` is still one payment. Dates are ISO `YYYY-MM-DD`.

Fjord produces the only invoice document the buyer sees, so a SaleOffer carries what a Norwegian invoice needs
(added within schemaVersion 1 as optional fields, absent from older offers): `invoiceLines` with quantity, unit
price, VAT rate and amount; `vatBreakdown` per rate; the seller's name, address and «MVA» registration; the `kid`
and its `kidAlgorithm`; Fjord's own `payeeAccount` (`PAYMENT_ACCOUNT`); and the `distribution` channel (EHF to
the buyer's `peppolId`, e-mail or print). Fjord declines an offer with these whose figures do not add up, whose KID
fails its check digit or whose account is not Fjord's, with the problems as the decision's `reason`.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Literal
from uuid import UUID

from pydantic import ConfigDict, Field, StringConstraints
from pydantic.alias_generators import to_camel

from ledgerline_contracts.invoicing import Quantity
from ledgerline_contracts.messages import Catalogue, Message, Part, ProviderDate
from ledgerline_contracts.norway import BankAccountText, KidScheme, KidText

Amount = Annotated[str, StringConstraints(pattern=r"^-?[0-9]{1,11}\.[0-9]{2}$")]
"""NOK with exactly two decimals, e.g. "12500.00"; negative for deductions."""


class FjordModel(Part):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class FjordMessage(Message):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    type: str = Field(alias="messageType")
    version: int = Field(alias="schemaVersion")


class BuyerType(StrEnum):
    B2B = "B2B"
    B2C = "B2C"


class Buyer(FjordModel):
    buyer_type: BuyerType
    legal_name: str
    given_name: str | None = None
    family_name: str | None = None
    org_no: str | None = None
    street: str
    zip: str
    town: str
    country_code: str = "NO"
    phone_number: str
    email_address: str
    peppol_id: str | None = Field(default=None, description="EHF/PEPPOL participant id, e.g. 0192:974760673.")


PAYMENT_ACCOUNT = "12064532012"
"""Fjord Invoice Sale's own bank account, printed on every invoice it delivers: the buyer pays here."""


class Distribution(StrEnum):
    """How Fjord sends the invoice document to the buyer."""

    EHF = "EHF"
    EMAIL = "EMAIL"
    PRINT = "PRINT"


class Address(FjordModel):
    street: str | None = None
    zip: str | None = None
    town: str | None = None
    country_code: str = "NO"


class InvoiceLine(FjordModel):
    """`quantity` × `unitPrice` rounded half up to the øre is `netAmount`; `vatAmount` is `netAmount` × `vatRate`
    %, rounded half up to the øre."""

    description: str
    quantity: Quantity
    unit_price: Amount
    net_amount: Amount
    vat_rate: int = Field(ge=0, le=100, description="Percent.")
    vat_amount: Amount


class VatBreakdown(FjordModel):
    vat_rate: int = Field(ge=0, le=100, description="Percent.")
    taxable_amount: Amount
    vat_amount: Amount


class SellerAccount(FjordModel):
    account: str
    sub_ledger_party: int | None = None


# --- we write (factoring.fjord-invoice-sale.outbound.v1) ----------------------------------------------------------
class SellerOnboarding(FjordMessage):
    kafka_key = "/sellerRef"
    type: Literal["fjord.SellerOnboarding"] = Field("fjord.SellerOnboarding", alias="messageType")
    version: Literal[1] = Field(1, alias="schemaVersion")
    seller_ref: str
    seller_name: str
    seller_org_no: str
    booking_accounts: dict[str, SellerAccount]


class SellerOffboarding(FjordMessage):
    kafka_key = "/sellerRef"
    type: Literal["fjord.SellerOffboarding"] = Field("fjord.SellerOffboarding", alias="messageType")
    version: Literal[1] = Field(1, alias="schemaVersion")
    seller_ref: str


class SaleOffer(FjordMessage):
    """An invoice offered for sale."""

    kafka_key = "/offerRef"
    type: Literal["fjord.SaleOffer"] = Field("fjord.SaleOffer", alias="messageType")
    version: Literal[1] = Field(1, alias="schemaVersion")
    offer_ref: UUID = Field(description="Our invoice id; Fjord's messages about the invoice refer to it.")
    seller_ref: str
    seller_org_no: str
    invoice_no: str
    issue_date: date
    due_date: date
    currency: Literal["NOK"] = "NOK"
    total_amount: Amount
    vat_amount: Amount
    buyer: Buyer
    notice_of_assignment: str
    # The invoice document's content (optional: absent from offers made before it was added).
    net_amount: Amount | None = None
    invoice_lines: list[InvoiceLine] | None = Field(default=None, max_length=200)
    vat_breakdown: list[VatBreakdown] | None = None
    seller_name: str | None = None
    seller_address: Address | None = None
    seller_vat_registered: bool | None = Field(default=None, description="«MVA» follows the organisation number.")
    kid: KidText | None = None
    kid_algorithm: KidScheme | None = None
    payee_account: BankAccountText | None = Field(default=None, description="Fjord's own account (PAYMENT_ACCOUNT).")
    distribution: Distribution | None = None


class CreditNoteNotice(FjordMessage):
    kafka_key = "/offerRef"
    type: Literal["fjord.CreditNoteNotice"] = Field("fjord.CreditNoteNotice", alias="messageType")
    version: Literal[1] = Field(1, alias="schemaVersion")
    offer_ref: UUID
    credit_note_ref: UUID
    amount: Amount


class DirectPaymentNotice(FjordMessage):
    """The buyer paid a sold invoice to the seller by mistake; the seller passes `amount` on to Fjord."""

    kafka_key = "/offerRef"
    type: Literal["fjord.DirectPaymentNotice"] = Field("fjord.DirectPaymentNotice", alias="messageType")
    version: Literal[1] = Field(1, alias="schemaVersion")
    offer_ref: UUID
    payment_ref: UUID
    amount: Amount
    paid_on: date


# --- Fjord writes (factoring.fjord-invoice-sale.inbound.v1) -------------------------------------------------------
class Decision(StrEnum):
    APPROVED = "APPROVED"
    DECLINED = "DECLINED"


class PurchaseDecision(FjordMessage):
    """Approved: Fjord has bought the invoice for `purchasePrice` (fees and holdback are settled by remittance)."""

    kafka_key = "/offerRef"
    type: Literal["fjord.PurchaseDecision"] = Field("fjord.PurchaseDecision", alias="messageType")
    version: Literal[1] = Field(1, alias="schemaVersion")
    offer_ref: UUID
    decision: Decision
    purchase_price: Amount | None = None
    decided_on: ProviderDate
    reason: str | None = None


class BuyerPayment(FjordMessage):
    """The buyer paid Fjord (information: the receivable is Fjord's)."""

    kafka_key = "/offerRef"
    type: Literal["fjord.BuyerPayment"] = Field("fjord.BuyerPayment", alias="messageType")
    version: Literal[1] = Field(1, alias="schemaVersion")
    offer_ref: UUID
    amount: Amount
    paid_on: ProviderDate


class RemittanceLineType(StrEnum):
    """What a remittance line pays or deducts for one invoice (sign of its `amount`):

    - PURCHASE_PRICE (+): the purchase price, or part of it, paid out;
    - FEE (−): Fjord's fee deducted;
    - HOLDBACK (−): part of the price kept back until the buyer pays;
    - HOLDBACK_RELEASE (+): kept-back money paid out;
    - RECOURSE_NETTING (−): the price of an invoice sold back (RecourseNotice) taken back;
    - CREDIT_NOTE_DEDUCTION (−): what the seller owes back for its credit note on an invoice Fjord had already
      bought (CreditNoteNotice after the purchase): the claim Fjord paid for is that much smaller. Added later
      within schemaVersion 1, compatibly: every report valid before is valid and means the same.
    """

    PURCHASE_PRICE = "PURCHASE_PRICE"
    FEE = "FEE"
    HOLDBACK = "HOLDBACK"
    HOLDBACK_RELEASE = "HOLDBACK_RELEASE"
    RECOURSE_NETTING = "RECOURSE_NETTING"
    CREDIT_NOTE_DEDUCTION = "CREDIT_NOTE_DEDUCTION"


class RemittanceLine(FjordModel):
    offer_ref: UUID
    line_type: RemittanceLineType
    amount: Amount = Field(
        description="Positive: paid to the seller (PURCHASE_PRICE, HOLDBACK_RELEASE); negative: deducted (FEE, "
        "HOLDBACK, RECOURSE_NETTING, CREDIT_NOTE_DEDUCTION: a credit note the seller issued after the sale)."
    )


class RemittanceReport(FjordMessage):
    """One payment to the seller's bank account, itemised per invoice. `totalAmount` is the sum of the lines.

    Fjord numbers nothing per invoice: a report may arrive before the purchase decision of an invoice it covers,
    and is accepted; what depends on the decision waits for it. Keyed by the seller (`sellerRef`)."""

    kafka_key = "/sellerRef"
    type: Literal["fjord.RemittanceReport"] = Field("fjord.RemittanceReport", alias="messageType")
    version: Literal[1] = Field(1, alias="schemaVersion")
    report_id: str = Field(
        description="Identifies the payment: the same report sent again, even under a new `messageId`, is one payment."
    )
    seller_ref: str
    paid_on: ProviderDate
    currency: Literal["NOK"] = "NOK"
    lines: list[RemittanceLine] = Field(min_length=1, max_length=5000)
    total_amount: Amount


class RecourseNotice(FjordMessage):
    """Fjord sells an unpaid invoice back to the seller; the amount is netted in a later remittance report."""

    kafka_key = "/offerRef"
    type: Literal["fjord.RecourseNotice"] = Field("fjord.RecourseNotice", alias="messageType")
    version: Literal[1] = Field(1, alias="schemaVersion")
    offer_ref: UUID
    amount: Amount
    returned_on: ProviderDate
    reason: str


OUTBOUND = Catalogue(
    "fjord-invoice-sale outbound",
    [SellerOnboarding, SellerOffboarding, SaleOffer, CreditNoteNotice, DirectPaymentNotice],
    type_field="messageType",
    version_field="schemaVersion",
)
INBOUND = Catalogue(
    "fjord-invoice-sale inbound",
    [PurchaseDecision, BuyerPayment, RemittanceReport, RecourseNotice],
    type_field="messageType",
    version_field="schemaVersion",
)
