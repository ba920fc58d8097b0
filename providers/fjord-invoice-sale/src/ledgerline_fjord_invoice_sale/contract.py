"""Fjord Invoice Sale's wire format (JSON, camelCase, amounts as decimal strings in NOK).

Model: invoice sale. Fjord decides on each offered invoice; an approved invoice is *purchased*: the receivable
passes to Fjord at once. Fjord pays the purchase price later through remittance reports, each covering many
invoices of one seller: purchase price, fees deducted, a holdback kept back until the buyer pays, holdback
releases, and recourse nettings. An invoice the buyer does not pay can be sold back to the seller (recourse).

There is no per-invoice sequence: consumers must accept a report before the decision it depends on and wait
for the decision. `messageId` is unique per message; a repeated message changes nothing (a message without one
is identified by its content). A remittance report is identified by its `reportId` too: the same report sent
again under a new `messageId` is still one payment. Dates are ISO `YYYY-MM-DD`.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Literal
from uuid import UUID

from pydantic import ConfigDict, Field, StringConstraints
from pydantic.alias_generators import to_camel

from ledgerline_contracts.messages import Catalogue, Message, Part, ProviderDate

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


class SellerAccount(FjordModel):
    account: str
    sub_ledger_party: int | None = None


# --- we write (factoring.fjord-invoice-sale.outbound.v1) ----------------------------------------------------------
class SellerOnboarding(FjordMessage):
    type: Literal["fjord.SellerOnboarding"] = Field("fjord.SellerOnboarding", alias="messageType")
    version: Literal[1] = Field(1, alias="schemaVersion")
    seller_ref: str
    seller_name: str
    seller_org_no: str
    booking_accounts: dict[str, SellerAccount]


class SellerOffboarding(FjordMessage):
    type: Literal["fjord.SellerOffboarding"] = Field("fjord.SellerOffboarding", alias="messageType")
    version: Literal[1] = Field(1, alias="schemaVersion")
    seller_ref: str


class SaleOffer(FjordMessage):
    """An invoice offered for sale."""

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


class CreditNoteNotice(FjordMessage):
    type: Literal["fjord.CreditNoteNotice"] = Field("fjord.CreditNoteNotice", alias="messageType")
    version: Literal[1] = Field(1, alias="schemaVersion")
    offer_ref: UUID
    credit_note_ref: UUID
    amount: Amount


class DirectPaymentNotice(FjordMessage):
    """The buyer paid a sold invoice to the seller by mistake; the seller passes `amount` on to Fjord."""

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

    type: Literal["fjord.PurchaseDecision"] = Field("fjord.PurchaseDecision", alias="messageType")
    version: Literal[1] = Field(1, alias="schemaVersion")
    offer_ref: UUID
    decision: Decision
    purchase_price: Amount | None = None
    decided_on: ProviderDate
    reason: str | None = None


class BuyerPayment(FjordMessage):
    """The buyer paid Fjord (information: the receivable is Fjord's)."""

    type: Literal["fjord.BuyerPayment"] = Field("fjord.BuyerPayment", alias="messageType")
    version: Literal[1] = Field(1, alias="schemaVersion")
    offer_ref: UUID
    amount: Amount
    paid_on: ProviderDate


class RemittanceLineType(StrEnum):
    PURCHASE_PRICE = "PURCHASE_PRICE"
    FEE = "FEE"
    HOLDBACK = "HOLDBACK"
    HOLDBACK_RELEASE = "HOLDBACK_RELEASE"
    RECOURSE_NETTING = "RECOURSE_NETTING"


class RemittanceLine(FjordModel):
    offer_ref: UUID
    line_type: RemittanceLineType
    amount: Amount = Field(description="Positive: paid to the seller; negative: deducted.")


class RemittanceReport(FjordMessage):
    """One payment to the seller's bank account, itemised per invoice. `totalAmount` is the sum of the lines."""

    type: Literal["fjord.RemittanceReport"] = Field("fjord.RemittanceReport", alias="messageType")
    version: Literal[1] = Field(1, alias="schemaVersion")
    report_id: str
    seller_ref: str
    paid_on: ProviderDate
    currency: Literal["NOK"] = "NOK"
    lines: list[RemittanceLine] = Field(min_length=1, max_length=5000)
    total_amount: Amount


class RecourseNotice(FjordMessage):
    """Fjord sells an unpaid invoice back to the seller; the amount is netted in a later remittance report."""

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
