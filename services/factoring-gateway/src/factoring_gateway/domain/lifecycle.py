"""One factored invoice's life at a provider, as facts, and which events may change them.

Providers describe the same life in different words; their adapters translate each event into `Step`s. A step
either applies (the facts change), cannot apply *yet* (`NotYet`: it depends on an event that has not arrived,
e.g. a remittance before the purchase decision; the event is parked and retried), or can never apply
(`Impossible`: e.g. an advance after a rejection; refused to the dead-letter topic, never booked).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from typing import Any
from uuid import UUID

from ledgerline_contracts.invoicing import FactoringStatus
from ledgerline_contracts.money import format_nok


class Step(StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    PURCHASED = "purchased"
    DELIVERED = "delivered"
    REMINDED = "reminded"
    ADVANCE_PAID = "advance_paid"
    FEE_CHARGED = "fee_charged"
    INTEREST_NOTE = "interest_note"
    DEBTOR_PAID = "debtor_paid"
    SETTLED = "settled"
    CREDITED = "credited"
    RECOURSE = "recourse"
    REOPENED = "reopened"
    PAYOUT = "payout"
    HOLDBACK_KEPT = "holdback_kept"
    HOLDBACK_RELEASED = "holdback_released"
    RECOURSE_NETTED = "recourse_netted"
    CREDIT_DEDUCTED = "credit_deducted"


class NotYet(Exception):
    """Depends on an event still to come: park it."""


class Impossible(Exception):
    """Can never apply to this invoice: refuse it."""


class OtherClients(Impossible):
    """Names an invoice whose case belongs to another client than the one the event is for: refused, and counted
    apart (`ledgerline_factoring_cross_client_refusals_total`). An invoice id belongs to the client whose delivery
    opened its case; where an event carries no client, that case is the authority."""


@dataclass
class Case:
    """What the gateway knows of one invoice handed to a provider."""

    invoice_id: UUID
    client_id: str
    provider: str
    invoice_number: str
    customer_number: int
    gross_ore: int
    decision: str | None = None
    delivered: bool = False
    advance_ore: int = 0
    fees_ore: int = 0
    interest_ore: int = 0
    debtor_paid_ore: int = 0
    credited_ore: int = 0
    settled_ore: int = 0
    settled: bool = False
    returned: bool = False
    purchase_price_ore: int = 0
    payout_ore: int = 0
    holdback_ore: int = 0
    released_ore: int = 0
    recourse_ore: int = 0
    netted_ore: int = 0
    # Credit notes the client issued (invoicing books them against the receivable): before the provider's
    # decision they reduce the claim it takes over; after a purchase they are owed back to the provider, which
    # deducts them from a remittance (`deducted_ore`).
    client_credited_ore: int = 0
    credited_after_purchase_ore: int = 0
    deducted_ore: int = 0
    last_sequence: int = 0
    status: FactoringStatus = FactoringStatus.PREPARED
    description: str = ""
    status_sequence: int = 1
    history: list[str] = field(default_factory=list)

    @property
    def collectable_ore(self) -> int:
        return self.gross_ore - self.credited_ore

    def facts(self) -> dict[str, Any]:
        """What the provider's events established (stored as one JSON document next to the identifying columns)."""
        return {name: getattr(self, name) for name in _FACTS}

    def copy(self) -> Case:
        return replace(self, history=list(self.history))


_IDENTITY = {
    "invoice_id",
    "client_id",
    "provider",
    "invoice_number",
    "customer_number",
    "gross_ore",
    "status",
    "description",
    "status_sequence",
}
_FACTS = [f.name for f in fields(Case) if f.name not in _IDENTITY]

_DECISIONS = {Step.ACCEPTED: "accepted", Step.REJECTED: "rejected", Step.PURCHASED: "purchased"}


def apply(case: Case, step: Step, amount: int = 0) -> None:
    """Changes the facts for one step, or raises NotYet / Impossible. Amounts are positive øre."""
    if case.status is FactoringStatus.DELIVERY_REFUSED:
        raise Impossible(f"{step.value} for invoice {case.invoice_number}, which was never handed to {case.provider}")
    if amount < 0 and step is not Step.SETTLED:  # a settlement can be negative: the client owes the provider
        raise Impossible(f"{step.value}: negative amount {amount}")
    if step in _DECISIONS:
        _decide(case, step, amount)
        return
    if case.decision == "rejected":
        raise Impossible(f"{step.value} after the provider rejected invoice {case.invoice_number}")
    if case.decision is None:
        raise NotYet(f"{step.value} before the provider's decision on invoice {case.invoice_number}")
    closed = case.settled or case.returned
    match step:
        case Step.DELIVERED | Step.REMINDED:
            _open(case, step, closed)
            case.delivered = True
        case Step.ADVANCE_PAID:
            _open(case, step, closed)
            if case.advance_ore:
                raise Impossible(f"an advance on invoice {case.invoice_number} was already paid")
            if amount > case.gross_ore:
                raise Impossible(f"advance {format_nok(amount)} exceeds the invoice's {format_nok(case.gross_ore)}")
            case.advance_ore = amount
        case Step.FEE_CHARGED:
            _open(case, step, case.settled)
            case.fees_ore += amount
        case Step.INTEREST_NOTE:
            _open(case, step, closed)
            case.interest_ore += amount
        case Step.DEBTOR_PAID:
            _open(case, step, closed)
            if case.debtor_paid_ore + amount > case.collectable_ore:
                raise Impossible(
                    f"payment of {format_nok(amount)} exceeds the "
                    f"{format_nok(case.collectable_ore - case.debtor_paid_ore)} outstanding"
                )
            case.debtor_paid_ore += amount
        case Step.SETTLED:
            _open(case, step, closed)
            if case.decision == "accepted" and case.debtor_paid_ore < case.collectable_ore:
                raise Impossible(f"settlement of invoice {case.invoice_number} before the debtor paid in full")
            case.settled, case.settled_ore = True, amount
        case Step.CREDITED:
            _open(case, step, closed)
            if amount > case.collectable_ore - case.debtor_paid_ore:
                raise Impossible(f"credit of {format_nok(amount)} exceeds what is outstanding")
            case.credited_ore += amount
        case Step.RECOURSE:
            _open(case, step, closed)
            if case.debtor_paid_ore >= case.collectable_ore:
                raise Impossible(f"recourse on invoice {case.invoice_number}, which the debtor has paid")
            # Recourse takes back what the provider paid for the invoice, never more, over all recourses together.
            paid = case.advance_ore if case.decision == "accepted" else case.purchase_price_ore
            if case.recourse_ore + amount > paid:
                raise Impossible(
                    f"recourse of {format_nok(amount)} exceeds the {format_nok(paid - case.recourse_ore)} the provider "
                    f"paid for invoice {case.invoice_number} and has not yet taken back"
                )
            case.returned = True
            case.recourse_ore += amount
        case Step.REOPENED:
            if not case.returned:
                raise Impossible(f"invoice {case.invoice_number} is not returned, so it cannot be reopened")
            case.returned = False
        case Step.PAYOUT:
            if case.payout_ore + amount > case.purchase_price_ore:
                raise Impossible(f"payouts exceed the purchase price {format_nok(case.purchase_price_ore)}")
            case.payout_ore += amount
        case Step.HOLDBACK_KEPT:
            case.holdback_ore += amount
        case Step.HOLDBACK_RELEASED:
            if case.released_ore + amount > case.holdback_ore:
                raise NotYet(f"release of {format_nok(amount)} before that much holdback was kept")
            case.released_ore += amount
        case Step.RECOURSE_NETTED:
            if case.netted_ore + amount > case.recourse_ore:
                raise NotYet(f"netting of {format_nok(amount)} before the recourse it settles")
            case.netted_ore += amount
        case Step.CREDIT_DEDUCTED:
            if case.deducted_ore + amount > case.credited_after_purchase_ore:
                raise NotYet(f"deduction of {format_nok(amount)} before the client's credit note it deducts")
            case.deducted_ore += amount
    case.history.append(step.value)


def record_client_credit(case: Case, amount: int) -> None:
    """A credit note the client issued on the invoice (not a provider event)."""
    if case.decision == "purchased" and not case.returned:
        case.credited_after_purchase_ore += amount
    else:
        case.client_credited_ore += amount


def _decide(case: Case, step: Step, amount: int) -> None:
    if case.decision is not None:
        raise Impossible(f"invoice {case.invoice_number} was already {case.decision}; {step.value} cannot follow")
    if step is Step.PURCHASED:
        claim = case.gross_ore - case.client_credited_ore
        if not 0 < amount <= claim:
            raise Impossible(f"purchase price {format_nok(amount)} is not within the claim's {format_nok(claim)}")
        case.purchase_price_ore = amount
    case.decision = _DECISIONS[step]
    case.history.append(step.value)


def _open(case: Case, step: Step, closed: bool) -> None:
    if closed:
        state = "settled" if case.settled else "returned to the client"
        raise Impossible(f"{step.value} on invoice {case.invoice_number}, which is {state}")


def set_status(case: Case, status: FactoringStatus | None, description: str) -> bool:
    """A new status or description for invoicing to show; returns whether anything changed."""
    status = status or case.status
    if status == case.status and description == case.description:
        return False
    case.status, case.description = status, description
    case.status_sequence += 1
    return True
