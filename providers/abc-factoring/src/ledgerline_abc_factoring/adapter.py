"""ABC Factoring: advance on acceptance, fees per invoice, interest notes, settlement per invoice.

Event → postings (intermediate = the client's account or supplier party with ABC; every intermediate line
carries the invoice number, so the account's balance per invoice is zero once settled):

| ABC event                 | debit                        | credit                        |
| ------------------------- | ---------------------------- | ----------------------------- |
| advance.paid a            | bank a                       | intermediate a                |
| fee.charged a             | fees a                       | intermediate a                |
| debtor.paid a             | intermediate a               | receivables/customer a (item) |
| interest_note.collected a | intermediate a               | interest income a             |
| invoice.settled a ≥ 0     | bank a                       | intermediate a                |
| invoice.settled a < 0     | intermediate |a|             | bank |a|                      |
| invoice.recourse a        | intermediate a (advance back)| bank a                        |
| accepted, rejected, delivered, reminded, credited, reopened: status only, no posting |

A debtor paying the client directly (not an ABC event; see base.direct_payment_vouchers): bank / deviation, then
deviation / bank as it is passed on to ABC, which then sends debtor.paid.
"""

from __future__ import annotations

from collections.abc import Mapping
from uuid import UUID

from factoring_gateway.domain.lifecycle import Case, Impossible, Step
from factoring_gateway.domain.mapping import AccountRole
from factoring_gateway.domain.providers.base import (
    DEVIATION,
    RECEIVABLES,
    ClientInfo,
    Effect,
    Translation,
    leg,
    voucher,
)
from ledgerline_contracts import chart
from ledgerline_contracts.factoring import AccountRef
from ledgerline_contracts.invoicing import (
    VAT_RATES,
    CustomerKind,
    DirectPaymentReceived,
    FactoringStatus,
    InvoiceCredited,
    InvoiceDelivery,
    line_vat,
)
from ledgerline_contracts.ledger import PostVoucher, Side
from ledgerline_contracts.messages import Message
from ledgerline_contracts.money import format_nok
from ledgerline_contracts.norway import seller_registration

from . import DISPLAY_NAME, SLUG
from . import contract as abc

_STEPS = {
    abc.AbcEventType.ACCEPTED: Step.ACCEPTED,
    abc.AbcEventType.REJECTED: Step.REJECTED,
    abc.AbcEventType.DELIVERED: Step.DELIVERED,
    abc.AbcEventType.ADVANCE_PAID: Step.ADVANCE_PAID,
    abc.AbcEventType.FEE_CHARGED: Step.FEE_CHARGED,
    abc.AbcEventType.REMINDED: Step.REMINDED,
    abc.AbcEventType.INTEREST_NOTE_COLLECTED: Step.INTEREST_NOTE,
    abc.AbcEventType.DEBTOR_PAID: Step.DEBTOR_PAID,
    abc.AbcEventType.SETTLED: Step.SETTLED,
    abc.AbcEventType.CREDITED: Step.CREDITED,
    abc.AbcEventType.RECOURSE: Step.RECOURSE,
    abc.AbcEventType.REOPENED: Step.REOPENED,
}
_WITH_AMOUNT = {
    Step.ADVANCE_PAID,
    Step.FEE_CHARGED,
    Step.INTEREST_NOTE,
    Step.DEBTOR_PAID,
    Step.SETTLED,
    Step.CREDITED,
    Step.RECOURSE,
}
ASSIGNMENT_TEXT = (
    "This claim has been assigned to ABC Factoring. Payment with discharging effect can only be made to "
    "ABC Factoring's account as stated on this invoice."
)


class AbcFactoring:
    slug = SLUG
    display_name = DISPLAY_NAME
    delivery_models: list[type[Message]] = [
        abc.AbcClientOnboarding,
        abc.AbcClientOffboarding,
        abc.AbcInvoiceSubmission,
        abc.AbcCreditNote,
        abc.AbcDirectPaymentNotice,
    ]
    inbound = abc.INBOUND
    roles = [
        AccountRole(
            "intermediate",
            "running balance with ABC Factoring (a liability while it finances)",
            expects=chart.LIABILITY_OR_SUPPLIER,
        ),
        AccountRole("fees", "factoring costs and fees", expects=chart.EXPENSE),
        AccountRole("interest_income", "interest income from interest notes", expects=chart.FINANCIAL_INCOME),
        AccountRole("bank", "the bank account ABC pays advances and settlements into", expects=chart.BANK),
        RECEIVABLES,
        DEVIATION,
    ]

    def onboarding(self, client: ClientInfo, accounts: Mapping[str, AccountRef]) -> Message:
        return abc.AbcClientOnboarding(
            client=abc.AbcClient(
                client_id=client.client_id, name=client.name, organisation_number=client.organisation_number
            ),
            accounts=dict(accounts),
        )

    def offboarding(self, client_id: str) -> Message:
        return abc.AbcClientOffboarding(client_id=client_id)

    def delivery(self, invoice: InvoiceDelivery) -> Message:
        customer = invoice.customer
        return abc.AbcInvoiceSubmission(
            correlation_id=str(invoice.invoice_id),
            submission_id=invoice.invoice_id,
            client=abc.AbcClient(
                client_id=invoice.client_id,
                name=invoice.client_name,
                organisation_number=invoice.client_organisation_number,
            ),
            invoice_number=invoice.invoice_number,
            invoice_date=invoice.invoice_date,
            due_date=invoice.due_date,
            amount_ore=invoice.gross_ore,
            vat_ore=invoice.vat_ore,
            debtor=abc.AbcDebtor(
                debtor_type=customer.kind,
                name=customer.display_name,
                first_name=customer.first_name if customer.kind is CustomerKind.PERSON else None,
                last_name=customer.last_name if customer.kind is CustomerKind.PERSON else None,
                organisation_number=customer.organisation_number,
                street=customer.address.street or "",
                postcode=customer.address.postcode or "",
                city=customer.address.city or "",
                country=customer.address.country,
                phone=customer.phone or "",
                email=str(customer.email or ""),
                peppol_id=customer.peppol_id,
            ),
            assignment_text=ASSIGNMENT_TEXT,
            **self._document(invoice),
        )

    @staticmethod
    def _document(invoice: InvoiceDelivery) -> dict[str, object]:
        """What the invoice document needs besides the amounts and the debtor (from deliveries that carry it)."""
        if invoice.kid is None:
            return {}  # a delivery made before invoicing sent the document's content
        address, registered = invoice.client_address, bool(invoice.client_vat_registered)
        return {
            "net_ore": invoice.net_ore,
            "lines": [
                abc.AbcInvoiceLine(
                    description=line.description,
                    quantity=line.quantity,
                    unit_price_ore=line.unit_price_ore or line.net_ore,
                    net_ore=line.net_ore,
                    vat_percent=VAT_RATES[line.vat_code],
                    vat_ore=line_vat(line.net_ore, VAT_RATES[line.vat_code]) if line.vat_ore is None else line.vat_ore,
                )
                for line in invoice.lines
            ],
            "vat_totals": [
                abc.AbcVatTotal(vat_percent=total.vat_percent, net_ore=total.net_ore, vat_ore=total.vat_ore)
                for total in invoice.vat_totals
            ],
            "seller": abc.AbcSeller(
                name=invoice.client_name,
                organisation_number=invoice.client_organisation_number,
                vat_registered=registered,
                registration_text=seller_registration(invoice.client_organisation_number, registered),
                street=address.street if address else None,
                postcode=address.postcode if address else None,
                city=address.city if address else None,
                country=address.country if address else "NO",
            ),
            "kid": invoice.kid,
            "kid_scheme": invoice.kid_scheme,
            "payment_account": abc.PAYMENT_ACCOUNT,
            "delivery_channel": invoice.delivery_channel,
        }

    def credit_note(self, credit: InvoiceCredited) -> Message:
        return abc.AbcCreditNote(
            submission_id=credit.invoice_id,
            credit_note_id=credit.credit_note_id,
            amount_ore=credit.amount_ore,
            reason=credit.reason,
        )

    def direct_payment(self, payment: DirectPaymentReceived) -> Message:
        return abc.AbcDirectPaymentNotice(
            submission_id=payment.invoice_id,
            payment_id=payment.payment_id,
            amount_ore=payment.amount_ore,
            paid_on=payment.paid_on,
        )

    def credit_vouchers(
        self, credit: InvoiceCredited, case: Case, accounts: Mapping[str, AccountRef]
    ) -> list[PostVoucher]:
        return []  # the receivable stays the client's: invoicing's booking against it is right

    def translate(self, message: Message) -> Translation:
        assert isinstance(message, abc.AbcInvoiceEvent)
        step = _STEPS[message.event_type]
        if (step in _WITH_AMOUNT) != (message.amount_ore is not None):
            raise Impossible(f"{message.event_type.value} {'needs' if step in _WITH_AMOUNT else 'takes no'} amount")
        return Translation(
            key=message.event_id,
            event_type=message.event_type.value,
            effects=(
                Effect(
                    message.submission_id,
                    step,
                    message.amount_ore or 0,
                    reason=message.description if step is Step.REJECTED else None,
                ),
            ),
            occurred_on=message.occurred_on,
            sequence=message.sequence,
            note=message.description,
        )

    def describe(self, effect: Effect, case: Case) -> tuple[FactoringStatus | None, str]:
        amount = format_nok(effect.amount_ore)
        match effect.step:
            case Step.ACCEPTED:
                return FactoringStatus.ACCEPTED, "Accepted by ABC Factoring"
            case Step.REJECTED:
                return FactoringStatus.REJECTED, effect.described("Rejected by ABC Factoring")
            case Step.DELIVERED:
                return FactoringStatus.DELIVERED, "Sent to the debtor by ABC Factoring"
            case Step.REMINDED:
                return FactoringStatus.REMINDED, "Reminder sent to the debtor by ABC Factoring"
            case Step.ADVANCE_PAID:
                return FactoringStatus.ADVANCE_PAID, f"Advance of {amount} paid by ABC Factoring"
            case Step.FEE_CHARGED:
                return None, f"Fee of {amount} charged by ABC Factoring"
            case Step.INTEREST_NOTE:
                return None, f"Interest note of {amount} collected by ABC Factoring"
            case Step.DEBTOR_PAID:
                full = case.debtor_paid_ore >= case.collectable_ore
                return (FactoringStatus.PAID if full else None), f"Debtor paid {amount} to ABC Factoring"
            case Step.SETTLED:
                return FactoringStatus.SETTLED, f"Settled by ABC Factoring: {amount} paid out"
            case Step.CREDITED:
                full = case.credited_ore >= case.gross_ore
                return (FactoringStatus.CREDITED if full else None), f"Credit note of {amount} registered"
            case Step.RECOURSE:
                return FactoringStatus.RETURNED, f"Returned to the client (recourse); advance {amount} reclaimed"
            case Step.REOPENED:
                return FactoringStatus.REOPENED, "Reopened by ABC Factoring"
        raise Impossible(f"ABC Factoring does not send {effect.step.value}")

    def vouchers(
        self, translation: Translation, cases: Mapping[UUID, Case], accounts: Mapping[str, AccountRef]
    ) -> list[PostVoucher]:
        (effect,) = translation.effects
        case = cases[effect.invoice_id]
        a, item = effect.amount_ore, case.invoice_number
        intermediate, bank = accounts["intermediate"], accounts["bank"]
        receivable = accounts["receivables"]
        match effect.step:
            case Step.ADVANCE_PAID:
                lines = [leg(bank, Side.DEBIT, a), leg(intermediate, Side.CREDIT, a, item)]
            case Step.FEE_CHARGED:
                lines = [leg(accounts["fees"], Side.DEBIT, a), leg(intermediate, Side.CREDIT, a, item)]
            case Step.DEBTOR_PAID:
                lines = [
                    leg(intermediate, Side.DEBIT, a, item),
                    leg(receivable, Side.CREDIT, a, item, party=case.customer_number),
                ]
            case Step.INTEREST_NOTE:
                lines = [leg(intermediate, Side.DEBIT, a, item), leg(accounts["interest_income"], Side.CREDIT, a)]
            case Step.SETTLED if a > 0:
                lines = [leg(bank, Side.DEBIT, a), leg(intermediate, Side.CREDIT, a, item)]
            case Step.SETTLED if a < 0:
                lines = [leg(intermediate, Side.DEBIT, -a, item), leg(bank, Side.CREDIT, -a)]
            case Step.RECOURSE if a > 0:
                lines = [leg(intermediate, Side.DEBIT, a, item), leg(bank, Side.CREDIT, a)]
            case _:
                return []
        text = f"ABC Factoring {translation.event_type} invoice {item}"
        return [voucher(self.slug, translation, case.client_id, case.invoice_id, text, lines)]

    def expected_balances(self, case: Case) -> dict[str, int]:
        return {
            "intermediate": case.debtor_paid_ore
            + case.interest_ore
            + case.recourse_ore
            - case.advance_ore
            - case.fees_ore
            - case.settled_ore
        }

    def finished(self, case: Case) -> bool:
        return case.settled or case.decision == "rejected"
