"""What a provider adapter is: the translation between one provider's wire format and our own vocabulary.

Adding a provider means one module implementing `ProviderAdapter` (plus its wire format in
ledgerline_contracts.providers and an entry in the registry); nothing else changes in any service.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Protocol
from uuid import UUID

from ledgerline_contracts import chart
from ledgerline_contracts.factoring import AccountRef
from ledgerline_contracts.invoicing import DirectPaymentReceived, FactoringStatus, InvoiceCredited, InvoiceDelivery
from ledgerline_contracts.ledger import BookingSource, PostVoucher, Side, VoucherLine
from ledgerline_contracts.messages import Catalogue, Message

from ... import SERVICE
from ..lifecycle import Case, Step, set_status
from ..mapping import AccountRole


@dataclass(frozen=True)
class Effect:
    """What a provider event does to one invoice."""

    invoice_id: UUID
    step: Step
    amount_ore: int = 0
    reason: str | None = None
    """The provider's own words, where the step has them (why it rejected the invoice): shown to the client."""

    def described(self, text: str) -> str:
        """`text`, followed by the provider's reason when it gave one."""
        return f"{text}: {self.reason}" if self.reason else text


@dataclass(frozen=True)
class Translation:
    """A provider event, understood: its idempotency key, what it does to which invoices, and when."""

    key: str
    event_type: str
    effects: tuple[Effect, ...]
    occurred_on: date
    client_ref: str | None = None
    sequence: int | None = None
    note: str | None = None


@dataclass(frozen=True)
class ClientInfo:
    client_id: str
    name: str
    organisation_number: str


class ProviderAdapter(Protocol):
    slug: str
    display_name: str
    roles: list[AccountRole]
    inbound: Catalogue
    delivery_models: list[type[Message]]

    def onboarding(self, client: ClientInfo, accounts: Mapping[str, AccountRef]) -> Message: ...

    def offboarding(self, client_id: str) -> Message: ...

    def delivery(self, invoice: InvoiceDelivery) -> Message: ...

    def credit_note(self, credit: InvoiceCredited) -> Message: ...

    def direct_payment(self, payment: DirectPaymentReceived) -> Message:
        """Tells the provider the debtor paid the client by mistake and the amount is passed on."""
        ...

    def credit_vouchers(
        self, credit: InvoiceCredited, case: Case, accounts: Mapping[str, AccountRef]
    ) -> list[PostVoucher]:
        """Corrections to invoicing's booking of a credit note (against the receivable), where the provider's model
        needs them; computed before the credit is recorded on the case."""
        ...

    def translate(self, message: Message) -> Translation:
        """Raises lifecycle.Impossible for a message that makes no sense whatever else arrives."""
        ...

    def describe(self, effect: Effect, case: Case) -> tuple[FactoringStatus | None, str]:
        """The factoring status (None: unchanged) and description once all of an event's effects on the invoice
        have applied; `effect` is the last of them (see `decide_statuses`)."""
        ...

    def vouchers(
        self, translation: Translation, cases: Mapping[UUID, Case], accounts: Mapping[str, AccountRef]
    ) -> list[PostVoucher]: ...

    def expected_balances(self, case: Case) -> dict[str, int]:
        """Per account role, the balance (debit positive) the provider's events imply for this invoice."""
        ...

    def finished(self, case: Case) -> bool:
        """Whether the provider considers the invoice done (so its intermediate balance should be settled)."""
        ...


def decide_statuses(adapter: ProviderAdapter, effects: Iterable[Effect], cases: Mapping[UUID, Case]) -> list[Case]:
    """After all of an event's effects have applied to `cases`: each invoice's status and description, decided
    once from its facts with its last effect (a remittance report's lines are one event, whatever their order).
    Returns the cases whose status or description changed, in the order of their first effect."""
    last = {effect.invoice_id: effect for effect in effects}
    return [
        cases[invoice_id]
        for invoice_id, effect in last.items()
        if set_status(cases[invoice_id], *adapter.describe(effect, cases[invoice_id]))
    ]


def leg(
    ref: AccountRef, side: Side, amount: int, open_item: str | None = None, party: int | None = None
) -> VoucherLine:
    """One voucher line on a mapped account; the mapping's party (if any) rides along."""
    return VoucherLine(account=ref.account, side=side, amount_ore=amount, party=party or ref.party, open_item=open_item)


def voucher(
    slug: str,
    translation: Translation,
    client_id: str,
    invoice_id: UUID | None,
    text: str,
    lines: list[VoucherLine],
    part: int | None = None,
) -> PostVoucher:
    """A booking command for a provider event; exactly once through its idempotency key (one voucher per event, or
    per `part` of an event too large for one voucher)."""
    return PostVoucher(
        reply=False,
        client_id=client_id,
        correlation_id=str(invoice_id) if invoice_id else None,
        idempotency_key=f"{slug}:{translation.key}" + (f":{part}" if part is not None else ""),
        series="FACTORING",
        voucher_date=translation.occurred_on,
        text=text[:200],
        lines=lines,
        source=BookingSource(
            service=SERVICE,
            provider=slug,
            event_type=translation.event_type,
            provider_event_id=translation.key,
            invoice_id=invoice_id,
        ),
    )


DEVIATION = AccountRole(
    "deviation",
    "money a debtor paid the client by mistake, until it is passed on to the provider",
    expects=chart.BALANCE_SHEET,
)
"""Every provider's adapter declares it: debtors pay the client directly whatever the provider's model."""

RECEIVABLES = AccountRole(
    "receivables", "accounts receivable, the customers' control account", expects=chart.RECEIVABLES
)
"""Every provider's adapter declares it: the claims it advances on or buys are the client's customer receivables."""


def direct_payment_vouchers(
    slug: str, display_name: str, payment: DirectPaymentReceived, accounts: Mapping[str, AccountRef]
) -> list[PostVoucher]:
    """The debtor's payment into the client's bank against the deviation account, and its passing on to the
    provider out of the bank: the deviation account is back at zero, and the provider's own event (e.g. ABC's
    debtor.paid) then closes the receivable as if the debtor had paid the provider."""
    bank, deviation, item = accounts["bank"], accounts["deviation"], payment.invoice_number
    key = f"direct-payment:{payment.invoice_id}:{payment.payment_id}"
    steps = [
        (
            "direct_payment.received",
            key,
            f"Invoice {item}: debtor paid the client directly",
            [leg(bank, Side.DEBIT, payment.amount_ore), leg(deviation, Side.CREDIT, payment.amount_ore, item)],
        ),
        (
            "direct_payment.passed_on",
            f"{key}:passed-on",
            f"Invoice {item}: direct payment passed on to {display_name}",
            [leg(deviation, Side.DEBIT, payment.amount_ore, item), leg(bank, Side.CREDIT, payment.amount_ore)],
        ),
    ]
    return [
        voucher(
            slug,
            Translation(key=step_key, event_type=event_type, effects=(), occurred_on=payment.paid_on),
            payment.client_id,
            payment.invoice_id,
            text,
            lines,
        )
        for event_type, step_key, text, lines in steps
    ]
