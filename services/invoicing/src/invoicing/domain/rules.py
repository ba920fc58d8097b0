"""The accounting system's factoring rules (DOMAIN.md rules 1–12), without I/O.

Every refusal raises `Refused` with a reason that names what is wrong and what to do about it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any
from uuid import UUID

from ledgerline_contracts import chart
from ledgerline_contracts.chart import ChartAccount
from ledgerline_contracts.invoicing import (
    ADMINISTRATOR,
    VAT_RATES,
    CustomerData,
    CustomerKind,
    DeliveryLine,
    DeliveryMethod,
    FactoringStatus,
    FollowUp,
    InvoiceLine,
    InvoiceOrigin,
    VatTotal,
    line_vat,
)

from .model import (
    MANAGE_ROLES,
    Client,
    CustomerCard,
    Integration,
    IntegrationState,
    Invoice,
    InvoiceState,
    PostingAccounts,
)


class Refused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --- who may do what ----------------------------------------------------------------------------------------------
def require_user(client: Client, user_id: str) -> None:
    if user_id not in client.users:
        raise Refused(f"user {user_id} is not a user of client {client.client_id}")


def require_administrator(client: Client, user_id: str) -> None:
    require_user(client, user_id)
    if ADMINISTRATOR not in client.users[user_id].roles:
        raise Refused(f"user {user_id} is not an administrator of client {client.client_id}")


def require_role_manager(client: Client, user_id: str) -> None:
    require_user(client, user_id)
    if MANAGE_ROLES not in client.privileges_of(user_id):
        raise Refused(f"user {user_id} lacks the privilege {MANAGE_ROLES} (role management)")


# --- customer cards -----------------------------------------------------------------------------------------------
def missing_for_factoring(data: CustomerData) -> list[str]:
    """What a customer card lacks for a provider to register and collect from the debtor (rule 8)."""
    if data.kind is CustomerKind.PERSON:
        wanted = {"first name": data.first_name, "last name": data.last_name}
    else:
        wanted = {"company name": data.company_name, "organisation number": data.organisation_number}
    wanted |= {
        "street address": data.address.street,
        "postcode": data.address.postcode,
        "city": data.address.city,
        "phone": data.phone,
        "e-mail": data.email,
    }
    return [name for name, value in wanted.items() if not value]


def new_card(
    client: Client, number: int, data: CustomerData, use_factoring: bool | None, delivery_method: str | None
) -> CustomerCard:
    """A new card: while an integration is active it uses factoring by default (rule 9)."""
    factoring = client.factoring_method
    uses = use_factoring if use_factoring is not None else factoring is not None
    method = delivery_method or (factoring if uses and factoring else DeliveryMethod.EMAIL.value)
    card = CustomerCard(number, data, uses, method)
    check_card(client, card)
    return card


def changed_card(
    client: Client, card: CustomerCard, data: CustomerData, use_factoring: bool | None, delivery_method: str | None
) -> CustomerCard:
    updated = CustomerCard(
        card.number,
        data,
        card.use_factoring if use_factoring is None else use_factoring,
        delivery_method or card.delivery_method,
        card.delivery_method_before_factoring,
    )
    check_card(client, updated)
    return updated


def check_card(client: Client, card: CustomerCard) -> None:
    if card.delivery_method not in client.delivery_methods():
        raise Refused(
            f"delivery method {card.delivery_method!r} is not available for this client "
            f"(available: {', '.join(client.delivery_methods())})"
        )
    factoring = client.factoring_method
    if card.delivery_method == factoring and not card.use_factoring:
        raise Refused(f"delivery method {factoring} needs «Use factoring» ticked on the customer card")
    if factoring and card.use_factoring:
        missing = missing_for_factoring(card.data)
        if missing:
            raise Refused(f"customer card {card.number} lacks what {factoring} needs: {', '.join(missing)}")


def exclude_from_factoring(client: Client, card: CustomerCard, method: DeliveryMethod) -> CustomerCard:
    """Untick «Use factoring» and choose another delivery method: no invoice of this customer goes via factoring."""
    return CustomerCard(card.number, card.data, False, method.value, None)


# --- activation saga ----------------------------------------------------------------------------------------------
_FOLLOW_UP_WORDS = {FollowUp.REMINDERS: "reminder", FollowUp.DEBT_COLLECTION: "debt-collection"}


def connect_follow_up(client: Client, kind: FollowUp, service_name: str) -> None:
    """Rule 3, from the follow-up side: a provider holding the client's invoices follows them up itself."""
    if client.integration is not None:
        state = "active" if client.integration.state is IntegrationState.ACTIVE else "being activated"
        raise Refused(
            f"the factoring integration {client.integration.display_name or client.integration.provider} is {state}: "
            f"invoices delivered via factoring cannot be combined with a {_FOLLOW_UP_WORDS[kind]} integration"
        )
    client.follow_up[kind] = service_name


def back_with_the_client(invoice: Invoice) -> bool:
    """The provider no longer holds the invoice: it rejected it, never received it, or returned it by recourse."""
    return invoice.factoring_status in _THE_CLIENTS_AGAIN


def follow_up_returned(client: Client, invoice: Invoice) -> None:
    """An invoice back with the client is the client's to remind and collect again, as its own invoices are."""
    if back_with_the_client(invoice):
        invoice.reminders, invoice.debt_collection = client.reminds, client.collects


def start_activation(client: Client, provider: str, request_id: UUID) -> Integration:
    if client.follow_up:
        kind, name = min(client.follow_up.items())
        raise Refused(
            f"the {_FOLLOW_UP_WORDS[kind]} integration {name} is connected: invoices delivered via factoring cannot "
            f"be combined with reminder and debt-collection integrations; disconnect it before activating {provider}"
        )
    if client.legacy_factoring:
        raise Refused(
            "the old file-based factoring is still on: transfer its unsent invoices to the factoring company and "
            "turn the setting off before activating an integration"
        )
    if client.integration is not None:
        name = client.integration.display_name or client.integration.provider
        state = "is being activated" if client.integration.state is IntegrationState.PENDING else "is active"
        raise Refused(f"{name} {state}: a client has one factoring integration at a time")
    address = client.address
    if address is None or not (address.street and address.postcode and address.city):
        # With factoring on, the provider's document is the only invoice the debtor sees; it must name the seller.
        raise Refused(
            f"the client's address is missing: {provider}'s invoice must show the seller's name, address and "
            "organisation number; set it (ChangeClientSettings, `ledgerline client settings --street … --postcode … "
            "--city …`) before activating"
        )
    return Integration(provider, IntegrationState.PENDING, request_id)


_POSTING_CLASSES = {
    "receivables": chart.RECEIVABLES,
    "sales": chart.SALES,
    "sales_exempt": chart.SALES,
    "output_vat": chart.OUTPUT_VAT,
    "bank": chart.BANK,
}


def change_posting_accounts(
    client: Client, changes: dict[str, str], accounts: dict[str, ChartAccount], customer_series: dict[str, Any] | None
) -> PostingAccounts:
    """The client's posting accounts with `changes`, if every changed account exists in the ledger's chart and is of
    its role's class. The receivables account must be the control account of the customer series invoicing's
    customers are numbered in, and stays while a factoring integration exists (the provider's mapping agrees)."""
    found = []
    for role, number in changes.items():
        account = accounts.get(number)
        if account is None:
            found.append(f"{role}: account {number} does not exist in the ledger")
            continue
        refusal = _POSTING_CLASSES[role].refusal(account)
        if refusal:
            found.append(f"{role}: {refusal}")
    receivables = changes.get("receivables")
    if receivables is not None and receivables != client.accounts.receivables:
        if client.integration is not None:
            found.append(
                f"receivables: {client.integration.provider} books against {client.accounts.receivables}; "
                "deactivate the factoring integration before moving the receivables"
            )
        control = customer_series["control_account"] if customer_series else None
        if control != receivables:
            found.append(
                f"receivables: the customer series {customer_series['code'] if customer_series else '(none)'} "
                f"holding customer {client.next_customer_number} is kept on {control}, not {receivables}"
            )
    if found:
        raise Refused("; ".join(found))
    return replace(client.accounts, **changes)


def flag_cards_for_factoring(cards: list[CustomerCard], method: str) -> list[CustomerCard]:
    """Rule 6: every card gets «Use factoring» and the integration as delivery method (the old one remembered)."""
    return [CustomerCard(c.number, c.data, True, method, c.delivery_method) for c in cards]


def unflag_cards(cards: list[CustomerCard], method: str) -> list[CustomerCard]:
    """Deactivation: cards on the integration go back to the delivery method they had before it."""
    return [
        CustomerCard(c.number, c.data, False, c.delivery_method_before_factoring or DeliveryMethod.EMAIL.value, None)
        for c in cards
        if c.delivery_method == method or c.use_factoring
    ]


def turn_off_legacy_factoring(client: Client, unsent: int) -> None:
    if unsent:
        raise Refused(
            f"{unsent} invoice(s) have not been sent to the factoring company yet: transfer them with the "
            "factoring report first"
        )


# --- invoices -----------------------------------------------------------------------------------------------------
def check_invoice_owner(client: Client, invoice_id: UUID, owner: str | None) -> None:
    """An invoice id is global: the client that created it owns it, and a command of any other client naming it is
    refused. The reason says that the id is taken, never by whom."""
    if owner is not None and owner != client.client_id:
        raise Refused(f"invoice id {invoice_id} belongs to another client")


def vat_of(line: InvoiceLine) -> int:
    """VAT per line, rounded half up to the øre (integer arithmetic: no float ever touches money)."""
    return line_vat(line.net_ore, VAT_RATES[line.vat_code])


def totals(lines: list[InvoiceLine]) -> tuple[int, int, int]:
    net = sum(line.net_ore for line in lines)
    vat = sum(vat_of(line) for line in lines)
    return net, vat, net + vat


def vat_totals(lines: list[InvoiceLine]) -> list[VatTotal]:
    """Net and VAT per VAT rate (highest rate first), each the sum of its lines' amounts: VAT is rounded per line,
    as `totals` rounds it, so the rates' VAT adds up to the invoice's."""
    sums: dict[Any, list[int]] = {}
    for line in lines:
        found = sums.setdefault(line.vat_code, [0, 0])
        found[0] += line.net_ore
        found[1] += vat_of(line)
    return [
        VatTotal(vat_code=code, vat_percent=rate, net_ore=sums[code][0], vat_ore=sums[code][1])
        for code, rate in VAT_RATES.items()
        if code in sums
    ]


def delivery_lines(lines: list[InvoiceLine]) -> list[DeliveryLine]:
    """The lines as the provider prints them, each with its VAT rate and amount. The lines were validated when
    the draft was made, so they are copied without validating them again (the send path is hot)."""
    return [
        DeliveryLine.model_construct(
            **{name: getattr(line, name) for name in InvoiceLine.model_fields},
            vat_percent=VAT_RATES[line.vat_code],
            vat_ore=vat_of(line),
        )
        for line in lines
    ]


def delivery_channel(card: CustomerCard) -> DeliveryMethod:
    """How a provider delivers a factored invoice's document: EHF to the customer's PEPPOL id when the card has
    one, else e-mail, else print. The provider sends the EHF through its own access point, so the client's own
    e-invoice agreement (needed only when the client sends EHF itself, `choose_delivery`) does not matter here."""
    if card.data.peppol_id:
        return DeliveryMethod.E_INVOICE
    return DeliveryMethod.EMAIL if card.data.email else DeliveryMethod.PRINT


def check_draft(invoice: Invoice) -> None:
    if invoice.due_date < invoice.invoice_date:
        raise Refused(f"due date {invoice.due_date} is before invoice date {invoice.invoice_date}")


def choose_delivery(client: Client, card: CustomerCard, invoice: Invoice, override: str | None) -> tuple[str, bool]:
    """The delivery method for this invoice and whether it goes via factoring (rules 1, 2, 3, 8, 10)."""
    if invoice.state is not InvoiceState.DRAFT:
        raise Refused(f"invoice {invoice.number} has already been sent")
    method = override or card.delivery_method
    if method not in client.delivery_methods():
        raise Refused(
            f"delivery method {method!r} is not available for this client "
            f"(available: {', '.join(client.delivery_methods())})"
        )
    if method == DeliveryMethod.E_INVOICE and not client.e_invoice_agreement:
        raise Refused("the client has no e-invoice (EHF) agreement")
    via_factoring = method == client.factoring_method
    if not via_factoring:
        return method, False
    if invoice.origin is InvoiceOrigin.IMPORTED:
        raise Refused(
            "imported invoices cannot go via factoring: only invoices created in the system can "
            "(choose another delivery method for this invoice)"
        )
    if not card.use_factoring:
        raise Refused(f"customer {card.number} is excluded from factoring («Use factoring» is not ticked)")
    missing = missing_for_factoring(card.data)
    if missing:
        raise Refused(f"customer card {card.number} lacks what {method} needs: {', '.join(missing)}")
    return method, True


def check_open_period(client: Client, day: date, what: str) -> None:
    """The ledger would refuse a booking dated in its closed period: refuse the command instead, saying so."""
    if client.closed_through is not None and day <= client.closed_through:
        raise Refused(
            f"{what} {day} is in a closed period (the books are closed through {client.closed_through}): "
            "choose a later date"
        )


def send(client: Client, invoice: Invoice, method: str, via_factoring: bool) -> None:
    """Marks the invoice sent (rule 11): via factoring it is «being prepared», with reminders and collection off."""
    invoice.state = InvoiceState.SENT
    invoice.number = str(client.next_invoice_number)
    client.next_invoice_number += 1
    invoice.delivery_method = method
    if via_factoring:
        assert client.integration is not None
        invoice.factoring_provider = client.integration.provider
        invoice.factoring_status = FactoringStatus.PREPARING
        invoice.factoring_description = f"Being prepared for factoring with {method}"
        invoice.reminders = invoice.debt_collection = False  # rule 3: the provider does the follow-up
    else:
        invoice.reminders, invoice.debt_collection = client.reminds, client.collects
        if client.legacy_factoring:
            invoice.legacy_transfer = "unsent"


_THE_CLIENTS_AGAIN = {FactoringStatus.REJECTED, FactoringStatus.DELIVERY_REFUSED, FactoringStatus.RETURNED}
_UNDECIDED = {FactoringStatus.PREPARING, FactoringStatus.PREPARED}
_PROVIDER_PAID = {FactoringStatus.PAID, FactoringStatus.SETTLED, FactoringStatus.CREDITED}


def _held_by_provider(invoice: Invoice) -> bool:
    return invoice.factoring_provider is not None and invoice.factoring_status not in _THE_CLIENTS_AGAIN


def _owed_to_provider(invoice: Invoice) -> int:
    """What the debtor still owes the provider holding the invoice (its sale may have closed the receivable)."""
    return invoice.gross_ore - invoice.credited_ore - invoice.passed_on_ore


def check_payment(invoice: Invoice, amount: int) -> bool:
    """Whether the payment is the provider's to collect: a debtor who paid a factored invoice to the client did so
    by mistake, and the money is passed on (the provider's own events then close the receivable). An invoice the
    provider rejected, never received or returned by recourse is the client's to collect."""
    if invoice.state is not InvoiceState.SENT:
        raise Refused("only a sent invoice can be paid")
    provider = invoice.factoring_provider
    if provider is None or not _held_by_provider(invoice):
        if amount > invoice.outstanding_ore:
            raise Refused(f"payment of {amount} øre exceeds the {invoice.outstanding_ore} øre outstanding")
        return False
    if invoice.factoring_status in _UNDECIDED:
        raise Refused(
            f"invoice {invoice.number} awaits {provider}'s decision: register the payment once {provider} has "
            "accepted or rejected it"
        )
    if invoice.factoring_status in _PROVIDER_PAID:
        raise Refused(f"invoice {invoice.number} is already paid at {provider}: the debtor paid twice")
    owed = _owed_to_provider(invoice)
    if amount > owed:
        raise Refused(f"payment of {amount} øre exceeds the {owed} øre the debtor still owes {provider}")
    return True


def check_credit(invoice: Invoice, amount: int | None) -> int:
    """The amount to credit: all that is open by default. While a provider holds the invoice, what is open is what
    the debtor still owes the provider: a sale to the provider closed the receivable, not the debt."""
    if invoice.state is not InvoiceState.SENT:
        raise Refused("only a sent invoice can be credited")
    if _held_by_provider(invoice) and invoice.factoring_status not in _PROVIDER_PAID:
        open_ore = _owed_to_provider(invoice)
    else:
        open_ore = invoice.outstanding_ore
    amount = open_ore if amount is None else amount
    if amount <= 0 or amount > open_ore:
        raise Refused(f"credit of {amount} øre is more than the {open_ore} øre outstanding")
    return amount


def apply_status(invoice: Invoice, status: FactoringStatus, description: str, sequence: int) -> bool:
    """Rule 12: the gateway's status updates; an older update than the one shown is ignored."""
    if sequence <= invoice.status_sequence:
        return False
    invoice.factoring_status, invoice.factoring_description, invoice.status_sequence = status, description, sequence
    return True
