"""Invoicing contracts: clients, users and roles, customer cards, invoices and the factoring rules."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal, Self
from uuid import UUID

from pydantic import EmailStr, Field, StringConstraints, field_validator, model_validator

from .ledger import AccountNumber
from .messages import Catalogue, ClientMessage, Command, Part, Slug
from .money import NonNegativeOre, PositiveOre
from .norway import KidScheme, KidText, PeppolId

UserId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
RoleName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{1,39}$")]
Privilege = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{1,39}$")]

INVOICE_FINANCING = "invoice_financing"
"""The privilege «Fakturafinansiering»: start financing onboarding, see the widget."""
ADMINISTRATOR, GENERAL_MANAGER = "administrator", "general_manager"


class CustomerKind(StrEnum):
    PERSON = "person"
    COMPANY = "company"


class DeliveryMethod(StrEnum):
    """How an invoice leaves the system, besides a factoring integration (which is named after the provider)."""

    EMAIL = "email"
    E_INVOICE = "e_invoice"
    PRINT = "print"


class InvoiceOrigin(StrEnum):
    CREATED = "created"
    IMPORTED = "imported"


class FactoringStatus(StrEnum):
    """The «factoring invoice status» column of every invoice report."""

    PREPARING = "preparing"
    PREPARED = "prepared"
    DELIVERY_REFUSED = "delivery_refused"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    PURCHASED = "purchased"
    DELIVERED = "delivered"
    ADVANCE_PAID = "advance_paid"
    REMINDED = "reminded"
    PAID = "paid"
    SETTLED = "settled"
    CREDITED = "credited"
    RETURNED = "returned"
    REOPENED = "reopened"


class VatCode(StrEnum):
    """Norwegian standard output VAT codes."""

    HIGH = "3"  # 25 %
    MEDIUM = "31"  # 15 %
    LOW = "33"  # 12 %
    EXEMPT = "6"  # 0 %, exempt


VAT_RATES: dict[VatCode, int] = {VatCode.HIGH: 25, VatCode.MEDIUM: 15, VatCode.LOW: 12, VatCode.EXEMPT: 0}


class Address(Part):
    street: str | None = Field(default=None, max_length=200)
    postcode: str | None = Field(default=None, max_length=10)
    city: str | None = Field(default=None, max_length=100)
    country: str = Field(default="NO", min_length=2, max_length=2)


class CustomerData(Part):
    """A customer card's master data, as sent to a factoring provider (the debtor)."""

    kind: CustomerKind
    first_name: str | None = Field(default=None, max_length=100)
    last_name: str | None = Field(default=None, max_length=100)
    company_name: str | None = Field(default=None, max_length=200)
    organisation_number: str | None = Field(default=None, pattern=r"^[0-9]{9}$")
    address: Address = Field(default_factory=Address)
    phone: str | None = Field(default=None, max_length=30)
    email: EmailStr | None = None
    peppol_id: PeppolId | None = Field(
        default=None,
        description="The customer's EHF/PEPPOL participant id, e.g. «0192:974760673» (0192: a Norwegian "
        "organisation number, MOD11-checked). With one, a provider delivers the invoice as EHF.",
    )

    @property
    def display_name(self) -> str:
        if self.kind is CustomerKind.COMPANY:
            return self.company_name or ""
        return " ".join(p for p in (self.first_name, self.last_name) if p)


Quantity = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,9}(\.[0-9]{1,3})?$")]
"""A quantity as a decimal string with up to three decimals, e.g. "1", "2.5", "0.125" (never a float)."""


def line_net(quantity: Decimal | str, unit_price_ore: int) -> int:
    """Quantity × unit price, rounded half up to the whole øre (the amount a line's `net_ore` must be)."""
    return int((Decimal(quantity) * unit_price_ore).to_integral_value(rounding=ROUND_HALF_UP))


def line_vat(net_ore: int, vat_percent: int) -> int:
    """A line's VAT, rounded half up to the øre (integer arithmetic: no float ever touches money)."""
    return (net_ore * vat_percent + 50) // 100


class InvoiceLine(Part):
    """One invoice line. `quantity` × `unit_price_ore`, rounded half up to the øre, is `net_ore` (without VAT).

    Both are optional, for lines written before they were added: a line without them is one unit at its net
    amount. A line with a quantity other than 1 needs its unit price."""

    description: str = Field(min_length=1, max_length=200)
    net_ore: PositiveOre
    vat_code: VatCode = VatCode.HIGH
    quantity: Quantity = Field(default="1", description="Up to 3 decimals, above zero; 1 when left out.")
    unit_price_ore: PositiveOre | None = Field(
        default=None, description="Price per unit without VAT, in øre; left out: `net_ore` (the quantity is then 1)."
    )

    @model_validator(mode="before")
    @classmethod
    def _unit_price_defaults_to_net(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("unit_price_ore") is None and "net_ore" in data:
            quantity = data.get("quantity", "1")
            if isinstance(quantity, str) and quantity.replace(".", "", 1).isdigit() and Decimal(quantity) != 1:
                raise ValueError("unit_price_ore is needed when the quantity is not 1")
            data = {**data, "unit_price_ore": data["net_ore"]}
        return data

    @model_validator(mode="after")
    def _quantity_times_price_is_net(self) -> Self:
        if Decimal(self.quantity) <= 0:
            raise ValueError("quantity must be above zero")
        assert self.unit_price_ore is not None  # filled in before validation
        expected = line_net(self.quantity, self.unit_price_ore)
        if expected != self.net_ore:
            raise ValueError(
                f"quantity {self.quantity} × unit price {self.unit_price_ore} øre is {expected} øre (rounded half up "
                f"to the øre), not net_ore {self.net_ore}"
            )
        return self


class DeliveryLine(InvoiceLine):
    """An invoice line as a provider prints it: with its VAT rate and amount, the line's net amount times the rate
    rounded half up to the øre (both absent from deliveries made before they were added)."""

    vat_percent: int | None = Field(default=None, ge=0, le=100)
    vat_ore: NonNegativeOre | None = None


class VatTotal(Part):
    """The invoice's totals at one VAT rate: the sum of its lines' net amounts and of their (rounded) VAT."""

    vat_code: VatCode
    vat_percent: int = Field(ge=0, le=100)
    net_ore: NonNegativeOre
    vat_ore: NonNegativeOre


# --- commands (invoicing.commands.v1) ----------------------------------------------------------------------------
class CreateClient(Command):
    """A new client: its books are opened in the ledger; its first user is the administrator."""

    type: Literal["invoicing.CreateClient"] = "invoicing.CreateClient"
    version: Literal[1] = 1
    company_name: str = Field(min_length=1, max_length=200)
    organisation_number: str = Field(pattern=r"^[0-9]{9}$")
    administrator: UserId
    administrator_name: str = Field(min_length=1, max_length=200)
    address: Address | None = Field(default=None, description="The seller's address on its invoices.")
    vat_registered: bool = Field(
        default=False, description="Registered for VAT: «MVA» follows the organisation number on its invoices."
    )
    kid_scheme: KidScheme = Field(
        default=KidScheme.MOD10, description="The check digit of the KID on its invoices (as agreed with its bank)."
    )


class AddUser(Command):
    type: Literal["invoicing.AddUser"] = "invoicing.AddUser"
    version: Literal[1] = 1
    acting_user: UserId
    user_id: UserId
    name: str = Field(min_length=1, max_length=200)
    roles: list[RoleName] = Field(min_length=1)


class CreateRole(Command):
    type: Literal["invoicing.CreateRole"] = "invoicing.CreateRole"
    version: Literal[1] = 1
    acting_user: UserId
    role: RoleName


class GrantPrivilege(Command):
    """Role management: give a privilege to every user holding `role`."""

    type: Literal["invoicing.GrantPrivilege"] = "invoicing.GrantPrivilege"
    version: Literal[1] = 1
    acting_user: UserId
    role: RoleName
    privilege: Privilege


class RevokePrivilege(Command):
    type: Literal["invoicing.RevokePrivilege"] = "invoicing.RevokePrivilege"
    version: Literal[1] = 1
    acting_user: UserId
    role: RoleName
    privilege: Privilege


class ChangeClientSettings(Command):
    """Turns client settings on or off; a field left out is left as it is."""

    type: Literal["invoicing.ChangeClientSettings"] = "invoicing.ChangeClientSettings"
    version: Literal[1] = 1
    acting_user: UserId
    legacy_factoring: bool | None = Field(default=None, description="The old file-based factoring setting.")
    reminders: bool | None = None
    debt_collection: bool | None = None
    e_invoice_agreement: bool | None = None
    vat_registered: bool | None = Field(default=None, description="«MVA» after the organisation number.")
    kid_scheme: KidScheme | None = Field(default=None, description="MOD10 or MOD11, for invoices sent from now on.")
    address: Address | None = Field(default=None, description="The client's (the seller's) address.")


class FollowUp(StrEnum):
    """An outside service that follows up overdue invoices: reminders («purring») or debt collection («inkasso»)."""

    REMINDERS = "reminders"
    DEBT_COLLECTION = "debt_collection"


class ConnectFollowUpIntegration(Command):
    """Connects a reminder or debt-collection service (one of each at most; connecting again renames it). Refused
    while a factoring integration is active or being activated: the provider follows up what it holds (rule 3)."""

    type: Literal["invoicing.ConnectFollowUpIntegration"] = "invoicing.ConnectFollowUpIntegration"
    version: Literal[1] = 1
    acting_user: UserId
    kind: FollowUp
    service_name: str = Field(min_length=1, max_length=80, description="The service, e.g. «Kredinor».")


class DisconnectFollowUpIntegration(Command):
    type: Literal["invoicing.DisconnectFollowUpIntegration"] = "invoicing.DisconnectFollowUpIntegration"
    version: Literal[1] = 1
    acting_user: UserId
    kind: FollowUp


class SetPostingAccounts(Command):
    """Where invoicing books this client's sales, VAT and payments; a field left out is left as it is. Each account
    is checked against the ledger's chart (it must exist and be of the right NS 4102 class), and the receivables
    account cannot change while a factoring integration is active or being activated (its mapping must agree)."""

    type: Literal["invoicing.SetPostingAccounts"] = "invoicing.SetPostingAccounts"
    version: Literal[1] = 1
    acting_user: UserId
    receivables: AccountNumber | None = Field(default=None, description="Customer receivables (15xx), default 1500.")
    sales: AccountNumber | None = Field(default=None, description="Sales with output VAT (3xxx), default 3000.")
    sales_exempt: AccountNumber | None = Field(default=None, description="VAT-exempt sales (3xxx), default 3100.")
    output_vat: AccountNumber | None = Field(default=None, description="Output VAT (27xx), default 2700.")
    bank: AccountNumber | None = Field(default=None, description="The bank account payments arrive in (19xx), 1920.")


class TransferUnsentLegacyInvoices(Command):
    """The old factoring report: hands every unsent invoice to the factoring company (as a file)."""

    type: Literal["invoicing.TransferUnsentLegacyInvoices"] = "invoicing.TransferUnsentLegacyInvoices"
    version: Literal[1] = 1
    acting_user: UserId


class ActivateFactoringIntegration(Command):
    type: Literal["invoicing.ActivateFactoringIntegration"] = "invoicing.ActivateFactoringIntegration"
    version: Literal[1] = 1
    acting_user: UserId
    provider: Slug


class DeactivateFactoringIntegration(Command):
    type: Literal["invoicing.DeactivateFactoringIntegration"] = "invoicing.DeactivateFactoringIntegration"
    version: Literal[1] = 1
    acting_user: UserId


class UpsertCustomerCard(Command):
    """Create (no number) or change a customer card. `use_factoring`/`delivery_method` left out keep defaults."""

    type: Literal["invoicing.UpsertCustomerCard"] = "invoicing.UpsertCustomerCard"
    version: Literal[1] = 1
    acting_user: UserId
    customer_number: int | None = Field(default=None, ge=10000, le=19999)
    customer: CustomerData
    use_factoring: bool | None = None
    delivery_method: str | None = Field(default=None, max_length=80)


class ExcludeCustomerFromFactoring(Command):
    """Untick «Use factoring» and choose another delivery method: its invoices never go via factoring."""

    type: Literal["invoicing.ExcludeCustomerFromFactoring"] = "invoicing.ExcludeCustomerFromFactoring"
    version: Literal[1] = 1
    acting_user: UserId
    customer_number: int
    delivery_method: DeliveryMethod


class CreateInvoiceDraft(Command):
    type: Literal["invoicing.CreateInvoiceDraft"] = "invoicing.CreateInvoiceDraft"
    version: Literal[1] = 1
    acting_user: UserId
    invoice_id: UUID
    customer_number: int
    origin: InvoiceOrigin = InvoiceOrigin.CREATED
    invoice_date: date
    due_date: date
    lines: list[InvoiceLine] = Field(min_length=1, max_length=200)


class SendInvoice(Command):
    """Sends a draft by the customer's delivery method, or by `delivery_method` for this invoice only."""

    type: Literal["invoicing.SendInvoice"] = "invoicing.SendInvoice"
    version: Literal[1] = 1
    acting_user: UserId
    invoice_id: UUID
    delivery_method: str | None = Field(default=None, max_length=80)


class RegisterPayment(Command):
    """A payment from the customer into the client's bank account. On an invoice handed to a factoring provider
    (and not returned by recourse) it is a payment by mistake: it is passed on to the provider
    (`DirectPaymentReceived`)."""

    type: Literal["invoicing.RegisterPayment"] = "invoicing.RegisterPayment"
    version: Literal[1] = 1
    acting_user: UserId
    invoice_id: UUID
    amount_ore: PositiveOre
    paid_on: date
    payment_id: UUID | None = None
    """The payment's own id (e.g. the bank transaction's): the same id for the same invoice, even in a new message,
    is registered once (one transaction may pay several invoices). Without it, the message id is the payment's id."""


class IssueCreditNote(Command):
    """Credits a sent invoice in full (no amount) or in part; a credit note sent again with the same
    `credit_note_id`, even as a new message, is issued once."""

    type: Literal["invoicing.IssueCreditNote"] = "invoicing.IssueCreditNote"
    version: Literal[1] = 1
    acting_user: UserId
    invoice_id: UUID
    credit_note_id: UUID
    amount_ore: PositiveOre | None = None
    reason: str = Field(min_length=1, max_length=200)
    credited_on: date


# --- events (invoicing.events.v1) ---------------------------------------------------------------------------------
class ClientCreated(ClientMessage):
    type: Literal["invoicing.ClientCreated"] = "invoicing.ClientCreated"
    version: Literal[1] = 1
    company_name: str
    organisation_number: str


class UserPrivilegesChanged(ClientMessage):
    """A user's effective privileges after any change of roles or grants (the whole set, not a delta)."""

    type: Literal["invoicing.UserPrivilegesChanged"] = "invoicing.UserPrivilegesChanged"
    version: Literal[1] = 1
    user_id: UserId
    name: str
    roles: list[str]
    privileges: list[str]
    sequence: int = Field(description="Grows with every change for this client; older ones are ignored.")


class FactoringActivationRequested(ClientMessage):
    type: Literal["invoicing.FactoringActivationRequested"] = "invoicing.FactoringActivationRequested"
    version: Literal[1] = 1
    request_id: UUID
    provider: Slug
    client_name: str
    organisation_number: str
    receivables_account: AccountNumber | None = Field(
        default=None,
        description="Where invoicing books the client's customer receivables; the provider's receivables role must "
        "be mapped to the same account (absent from requests made before it was added).",
    )


class FactoringIntegrationDeactivated(ClientMessage):
    type: Literal["invoicing.FactoringIntegrationDeactivated"] = "invoicing.FactoringIntegrationDeactivated"
    version: Literal[1] = 1
    provider: Slug


class InvoiceDelivery(ClientMessage):
    """An invoice handed to the client's factoring integration (the provider produces and sends the document)."""

    type: Literal["invoicing.InvoiceDelivery"] = "invoicing.InvoiceDelivery"
    version: Literal[1] = 1
    provider: Slug
    invoice_id: UUID
    invoice_number: str
    customer_number: int
    customer: CustomerData
    client_name: str
    client_organisation_number: str
    invoice_date: date
    due_date: date
    currency: Literal["NOK"] = "NOK"
    lines: list[DeliveryLine]
    net_ore: NonNegativeOre
    vat_ore: NonNegativeOre
    gross_ore: PositiveOre
    # What the invoice document needs besides, added compatibly (absent from deliveries made before):
    vat_totals: list[VatTotal] = Field(default_factory=list, description="Net and VAT per VAT rate.")
    client_address: Address | None = Field(default=None, description="The seller's address.")
    client_vat_registered: bool | None = Field(
        default=None, description="«MVA» follows the seller's organisation number (bokføringsforskriften § 5-1-1)."
    )
    kid: KidText | None = Field(default=None, description="The payment reference, valid under `kid_scheme`.")
    kid_scheme: KidScheme | None = None
    delivery_channel: DeliveryMethod | None = Field(
        default=None,
        description="How the provider delivers the document: e_invoice (EHF to the customer's `peppol_id`), "
        "email (to its e-mail), or print.",
    )

    @field_validator("lines", mode="before")
    @classmethod
    def _plain_lines_too(cls, lines: Any) -> Any:
        """Plain invoice lines (without their VAT) are taken as delivery lines, as in deliveries made before."""
        if isinstance(lines, list):
            return [line.model_dump() if type(line) is InvoiceLine else line for line in lines]
        return lines


class InvoiceCredited(ClientMessage):
    """A credit note on an invoice; for a factored invoice the provider must hear of it."""

    type: Literal["invoicing.InvoiceCredited"] = "invoicing.InvoiceCredited"
    version: Literal[1] = 1
    invoice_id: UUID
    invoice_number: str
    credit_note_id: UUID
    amount_ore: PositiveOre
    provider: Slug | None
    reason: str
    credited_on: date | None = None
    """The credit note's date (the voucher date of its booking); absent from events before it was added."""


class DirectPaymentReceived(ClientMessage):
    """The debtor paid a factored invoice to the client's own bank account by mistake. The factoring gateway books
    it against the provider's deviation account, passes it on to the provider and tells the provider."""

    type: Literal["invoicing.DirectPaymentReceived"] = "invoicing.DirectPaymentReceived"
    version: Literal[1] = 1
    invoice_id: UUID
    invoice_number: str
    payment_id: UUID
    amount_ore: PositiveOre
    paid_on: date
    provider: Slug


INVOICING_COMMANDS = Catalogue(
    "invoicing.commands",
    [
        CreateClient,
        AddUser,
        CreateRole,
        GrantPrivilege,
        RevokePrivilege,
        ChangeClientSettings,
        ConnectFollowUpIntegration,
        DisconnectFollowUpIntegration,
        SetPostingAccounts,
        TransferUnsentLegacyInvoices,
        ActivateFactoringIntegration,
        DeactivateFactoringIntegration,
        UpsertCustomerCard,
        ExcludeCustomerFromFactoring,
        CreateInvoiceDraft,
        SendInvoice,
        RegisterPayment,
        IssueCreditNote,
    ],
)
INVOICING_EVENTS = Catalogue(
    "invoicing.events",
    [
        ClientCreated,
        UserPrivilegesChanged,
        FactoringActivationRequested,
        FactoringIntegrationDeactivated,
        InvoiceDelivery,
        InvoiceCredited,
        DirectPaymentReceived,
    ],
)
