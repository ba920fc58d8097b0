"""Invoicing's aggregates: a client with its settings, users and roles; customer cards; invoices."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from uuid import UUID

from ledgerline_contracts.invoicing import (
    ADMINISTRATOR,
    GENERAL_MANAGER,
    INVOICE_FINANCING,
    Address,
    CustomerData,
    DeliveryMethod,
    FactoringStatus,
    FollowUp,
    InvoiceLine,
    InvoiceOrigin,
)
from ledgerline_contracts.norway import KidScheme

__all__ = [
    "ACCOUNTANT",
    "ADMINISTRATOR",
    "GENERAL_MANAGER",
    "MANAGE_ROLES",
    "Client",
    "CustomerCard",
    "Integration",
    "IntegrationState",
    "Invoice",
    "InvoiceState",
    "PostingAccounts",
    "User",
]

ACCOUNTANT = "accountant"
MANAGE_ROLES = "manage_roles"
DEFAULT_ROLES: dict[str, set[str]] = {
    ADMINISTRATOR: {INVOICE_FINANCING, MANAGE_ROLES},
    GENERAL_MANAGER: {INVOICE_FINANCING},
    ACCOUNTANT: set(),
}
"""Administrators and general managers hold «invoice financing» by default; role management can change that."""


class IntegrationState(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"


@dataclass
class Integration:
    provider: str
    state: IntegrationState
    request_id: UUID
    display_name: str | None = None


@dataclass(frozen=True)
class PostingAccounts:
    """Where invoicing books sales and payments; per client, never hard-coded elsewhere."""

    receivables: str = "1500"
    sales: str = "3000"
    sales_exempt: str = "3100"
    output_vat: str = "2700"
    bank: str = "1920"


@dataclass
class User:
    user_id: str
    name: str
    roles: set[str]


@dataclass
class Client:
    client_id: str
    company_name: str
    organisation_number: str
    legacy_factoring: bool = False
    reminders: bool = True
    debt_collection: bool = False
    e_invoice_agreement: bool = False
    address: Address | None = None
    vat_registered: bool = False  # «MVA» after the organisation number on its invoices
    kid_scheme: KidScheme = KidScheme.MOD10
    follow_up: dict[FollowUp, str] = field(default_factory=dict)
    """Outside reminder and debt-collection services by kind (their names): never beside a factoring integration."""
    integration: Integration | None = None
    roles: dict[str, set[str]] = field(default_factory=lambda: {r: set(p) for r, p in DEFAULT_ROLES.items()})
    users: dict[str, User] = field(default_factory=dict)
    accounts: PostingAccounts = field(default_factory=PostingAccounts)
    next_customer_number: int = 10001
    next_invoice_number: int = 1001
    privilege_sequence: int = 0
    closed_through: date | None = None  # the ledger's closed period, as its PeriodClosed events said

    @property
    def factoring_method(self) -> str | None:
        """The delivery method named after the active integration, e.g. «ABC Factoring»."""
        if self.integration is not None and self.integration.state is IntegrationState.ACTIVE:
            return self.integration.display_name
        return None

    @property
    def reminds(self) -> bool:
        """Whether the client's own overdue invoices are reminded: by the system, or by a reminder service."""
        return self.reminders or FollowUp.REMINDERS in self.follow_up

    @property
    def collects(self) -> bool:
        return self.debt_collection or FollowUp.DEBT_COLLECTION in self.follow_up

    def privileges_of(self, user_id: str) -> set[str]:
        user = self.users.get(user_id)
        if user is None:
            return set()
        return set().union(*(self.roles.get(role, set()) for role in user.roles))

    def delivery_methods(self) -> list[str]:
        methods = [m.value for m in DeliveryMethod]
        if self.factoring_method:
            methods.append(self.factoring_method)
        return methods


@dataclass
class CustomerCard:
    number: int
    data: CustomerData
    use_factoring: bool
    delivery_method: str
    delivery_method_before_factoring: str | None = None


class InvoiceState(StrEnum):
    DRAFT = "draft"
    SENT = "sent"


@dataclass
class Invoice:
    invoice_id: UUID
    customer_number: int
    origin: InvoiceOrigin
    invoice_date: date
    due_date: date
    lines: list[InvoiceLine]
    net_ore: int
    vat_ore: int
    gross_ore: int
    state: InvoiceState = InvoiceState.DRAFT
    number: str | None = None
    delivery_method: str | None = None
    factoring_provider: str | None = None
    factoring_status: FactoringStatus | None = None
    factoring_description: str | None = None
    status_sequence: int = 0
    reminders: bool = False
    debt_collection: bool = False
    legacy_transfer: str | None = None
    paid_ore: int = 0
    credited_ore: int = 0
    passed_on_ore: int = 0  # paid to the client by mistake and passed on to the factoring provider

    @property
    def outstanding_ore(self) -> int:
        return self.gross_ore - self.paid_ore - self.credited_ore

    @property
    def payment_state(self) -> str:
        if self.state is InvoiceState.DRAFT:
            return "draft"
        if self.outstanding_ore <= 0:
            return "paid" if self.paid_ore else "credited"
        return "partly_paid" if self.paid_ore or self.credited_ore else "unpaid"
