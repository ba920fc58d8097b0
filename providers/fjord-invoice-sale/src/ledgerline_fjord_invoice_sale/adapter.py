"""Fjord Invoice Sale: the invoice is sold (the receivable closes on purchase); remittance reports pay it.

Event → postings (intermediate = what Fjord owes the client for purchased invoices; holdback = what Fjord keeps
back until the buyer pays; intermediate and holdback lines carry the invoice number):

| Fjord message                    | debit                           | credit                               |
| -------------------------------- | ------------------------------- | ------------------------------------ |
| PurchaseDecision APPROVED p      | intermediate p; fees claim − p  | receivables/customer claim (closed)  |
| RemittanceReport (per 499 lines):| bank (their total)              |                                      |
|   PURCHASE_PRICE a               |                                 | intermediate a                       |
|   FEE −a                         | fees a                          |                                      |
|   HOLDBACK −a                    | holdback a                      |                                      |
|   HOLDBACK_RELEASE a             |                                 | holdback a                           |
|   RECOURSE_NETTING −a            | intermediate a                  |                                      |
|   CREDIT_NOTE_DEDUCTION −a       | intermediate a                  |                                      |
| RecourseNotice a ≤ p             | receivables/customer a·claim/p  | intermediate a; fees a·claim/p − a   |
| DECLINED, BuyerPayment: status only, no posting (the receivable is Fjord's once sold)                |
| the client's credit note c after the purchase (invoicing credited the receivable): a correction       |
|                                  | receivables/customer c          | intermediate c (owed back to Fjord)  |
| (claim = gross − the client's credit notes before the purchase; CREDIT_NOTE_DEDUCTION takes back, out of   |
|  a remittance, what the client's credit note after the purchase put on intermediate, which is then zero)  |
| a buyer paying the seller directly (not a Fjord message; base.direct_payment_vouchers): bank / deviation, |
|   then deviation / bank as it is passed on to Fjord                                                     |

Amounts arrive as decimal strings in NOK and become whole øre; a fraction of an øre is refused.

The factoring status is decided once per invoice after all of a message's lines on it (a report's order says
nothing), from the facts alone: «purchased» from the sale until the buyer has paid what it owes (the price
paid out and the holdback kept change only the description); «paid» once it has; «settled» only when nothing
more can happen: the price paid out in full, the holdback released in full, every credit note after the sale
deducted, and the buyer's debt (the gross less every credit note) paid. An invoice sold back is «returned»
whatever follows (the claim is the client's again; the nettings only change the description). The description
states the figures: paid out, fees, held back or released, credit notes deducted, what the buyer paid or owes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
    DeliveryMethod,
    DirectPaymentReceived,
    FactoringStatus,
    InvoiceCredited,
    InvoiceDelivery,
    line_vat,
)
from ledgerline_contracts.ledger import MAX_VOUCHER_LINES, PostVoucher, Side, VoucherLine
from ledgerline_contracts.messages import Message
from ledgerline_contracts.money import decimal_from_ore, format_nok, ore_from_decimal

from . import DISPLAY_NAME, SLUG
from . import contract as fjord

_LINE_STEPS = {
    fjord.RemittanceLineType.PURCHASE_PRICE: (Step.PAYOUT, 1),
    fjord.RemittanceLineType.FEE: (Step.FEE_CHARGED, -1),
    fjord.RemittanceLineType.HOLDBACK: (Step.HOLDBACK_KEPT, -1),
    fjord.RemittanceLineType.HOLDBACK_RELEASE: (Step.HOLDBACK_RELEASED, 1),
    fjord.RemittanceLineType.RECOURSE_NETTING: (Step.RECOURSE_NETTED, -1),
    fjord.RemittanceLineType.CREDIT_NOTE_DEDUCTION: (Step.CREDIT_DEDUCTED, -1),
}
"""Each line type's step, and the sign its amount must have on the report (+ paid out, − deducted)."""
_REMITTED = frozenset(step for step, _ in _LINE_STEPS.values())

NOTICE = "This invoice has been sold and assigned to Fjord Invoice Sale. Pay only to Fjord Invoice Sale's account."


_DISTRIBUTION = {
    DeliveryMethod.E_INVOICE: fjord.Distribution.EHF,
    DeliveryMethod.EMAIL: fjord.Distribution.EMAIL,
    DeliveryMethod.PRINT: fjord.Distribution.PRINT,
}


def _nok(ore: int) -> str:
    return str(decimal_from_ore(ore))


def _document(invoice: InvoiceDelivery) -> dict[str, object]:
    """What the invoice document needs besides the amounts and the buyer (from deliveries that carry it)."""
    if invoice.kid is None:
        return {}  # a delivery made before invoicing sent the document's content
    address = invoice.client_address
    return {
        "net_amount": _nok(invoice.net_ore),
        "invoice_lines": [
            fjord.InvoiceLine(
                description=line.description,
                quantity=line.quantity,
                unit_price=_nok(line.unit_price_ore or line.net_ore),
                net_amount=_nok(line.net_ore),
                vat_rate=VAT_RATES[line.vat_code],
                vat_amount=_nok(
                    line_vat(line.net_ore, VAT_RATES[line.vat_code]) if line.vat_ore is None else line.vat_ore
                ),
            )
            for line in invoice.lines
        ],
        "vat_breakdown": [
            fjord.VatBreakdown(
                vat_rate=total.vat_percent, taxable_amount=_nok(total.net_ore), vat_amount=_nok(total.vat_ore)
            )
            for total in invoice.vat_totals
        ],
        "seller_name": invoice.client_name,
        "seller_address": fjord.Address(
            street=address.street, zip=address.postcode, town=address.city, country_code=address.country
        )
        if address
        else None,
        "seller_vat_registered": bool(invoice.client_vat_registered),
        "kid": invoice.kid,
        "kid_algorithm": invoice.kid_scheme,
        "payee_account": fjord.PAYMENT_ACCOUNT,
        "distribution": _DISTRIBUTION[invoice.delivery_channel] if invoice.delivery_channel else None,
    }


def _ore(amount: str) -> int:
    try:
        return ore_from_decimal(amount)
    except ValueError as error:
        raise Impossible(str(error)) from None


class FjordInvoiceSale:
    slug = SLUG
    display_name = DISPLAY_NAME
    delivery_models: list[type[Message]] = [
        fjord.SellerOnboarding,
        fjord.SellerOffboarding,
        fjord.SaleOffer,
        fjord.CreditNoteNotice,
        fjord.DirectPaymentNotice,
    ]
    inbound = fjord.INBOUND
    roles = [
        # Fjord buys the invoices: what it still owes for them is the client's asset, not a liability as with a
        # financier such as ABC (an accountant may also keep Fjord as a party in a supplier series).
        AccountRole(
            "intermediate",
            "what Fjord owes for purchased invoices (settled by remittances)",
            expects=chart.ASSET_OR_SUPPLIER,
        ),
        AccountRole("holdback", "amounts Fjord keeps back until the buyer pays", expects=chart.ASSET),
        AccountRole("fees", "factoring costs and fees deducted in remittances", expects=chart.EXPENSE),
        AccountRole("bank", "the bank account remittances are paid into", expects=chart.BANK),
        RECEIVABLES,
        DEVIATION,
    ]

    def onboarding(self, client: ClientInfo, accounts: Mapping[str, AccountRef]) -> Message:
        return fjord.SellerOnboarding(
            seller_ref=client.client_id,
            seller_name=client.name,
            seller_org_no=client.organisation_number,
            booking_accounts={
                role: fjord.SellerAccount(account=ref.account, sub_ledger_party=ref.party)
                for role, ref in accounts.items()
            },
        )

    def offboarding(self, client_id: str) -> Message:
        return fjord.SellerOffboarding(seller_ref=client_id)

    def delivery(self, invoice: InvoiceDelivery) -> Message:
        customer = invoice.customer
        person = customer.kind is CustomerKind.PERSON
        return fjord.SaleOffer(
            correlation_id=str(invoice.invoice_id),
            offer_ref=invoice.invoice_id,
            seller_ref=invoice.client_id,
            seller_org_no=invoice.client_organisation_number,
            invoice_no=invoice.invoice_number,
            issue_date=invoice.invoice_date,
            due_date=invoice.due_date,
            total_amount=str(decimal_from_ore(invoice.gross_ore)),
            vat_amount=str(decimal_from_ore(invoice.vat_ore)),
            buyer=fjord.Buyer(
                buyer_type=fjord.BuyerType.B2C if person else fjord.BuyerType.B2B,
                legal_name=customer.display_name,
                given_name=customer.first_name if person else None,
                family_name=customer.last_name if person else None,
                org_no=customer.organisation_number,
                street=customer.address.street or "",
                zip=customer.address.postcode or "",
                town=customer.address.city or "",
                country_code=customer.address.country,
                phone_number=customer.phone or "",
                email_address=str(customer.email or ""),
                peppol_id=customer.peppol_id,
            ),
            notice_of_assignment=NOTICE,
            **_document(invoice),
        )

    def credit_note(self, credit: InvoiceCredited) -> Message:
        return fjord.CreditNoteNotice(
            offer_ref=credit.invoice_id,
            credit_note_ref=credit.credit_note_id,
            amount=str(decimal_from_ore(credit.amount_ore)),
        )

    def direct_payment(self, payment: DirectPaymentReceived) -> Message:
        return fjord.DirectPaymentNotice(
            offer_ref=payment.invoice_id,
            payment_ref=payment.payment_id,
            amount=str(decimal_from_ore(payment.amount_ore)),
            paid_on=payment.paid_on,
        )

    def credit_vouchers(
        self, credit: InvoiceCredited, case: Case, accounts: Mapping[str, AccountRef]
    ) -> list[PostVoucher]:
        if case.decision != "purchased" or case.returned:
            return []  # the receivable is still (or again) the client's
        # Sold: invoicing credited a receivable the purchase had already closed. Move the credit to what Fjord
        # owes the client, which it now owes less (Fjord deducts it from a remittance).
        item = case.invoice_number
        lines = [
            leg(accounts["receivables"], Side.DEBIT, credit.amount_ore, item, party=case.customer_number),
            leg(accounts["intermediate"], Side.CREDIT, credit.amount_ore, item),
        ]
        translation = Translation(
            key=f"credit-note:{credit.credit_note_id}",
            event_type="credit_note.sold_invoice",
            effects=(),
            occurred_on=credit.credited_on or credit.occurred_at.date(),
        )
        text = f"Credit note on invoice {item}, sold to Fjord Invoice Sale"
        return [voucher(self.slug, translation, case.client_id, case.invoice_id, text, lines)]

    def translate(self, message: Message) -> Translation:
        key = str(message.message_id)
        match message:
            case fjord.PurchaseDecision(decision=fjord.Decision.APPROVED):
                if message.purchase_price is None:
                    raise Impossible("an approved purchase needs a purchasePrice")
                effects: tuple[Effect, ...] = (Effect(message.offer_ref, Step.PURCHASED, _ore(message.purchase_price)),)
                return Translation(key, "purchase.approved", effects, message.decided_on)
            case fjord.PurchaseDecision():
                return Translation(
                    key,
                    "purchase.declined",
                    (Effect(message.offer_ref, Step.REJECTED, reason=message.reason),),
                    message.decided_on,
                    note=message.reason,
                )
            case fjord.BuyerPayment():
                return Translation(
                    key,
                    "buyer.paid",
                    (Effect(message.offer_ref, Step.DEBTOR_PAID, _ore(message.amount)),),
                    message.paid_on,
                )
            case fjord.RecourseNotice():
                return Translation(
                    key,
                    "recourse",
                    (Effect(message.offer_ref, Step.RECOURSE, _ore(message.amount)),),
                    message.returned_on,
                    note=message.reason,
                )
            case fjord.RemittanceReport():
                return self._remittance(message)
        raise Impossible(f"Fjord Invoice Sale does not send {message.type}")

    def _remittance(self, report: fjord.RemittanceReport) -> Translation:
        effects = []
        for number, line in enumerate(report.lines, start=1):
            step, sign = _LINE_STEPS[line.line_type]
            amount = _ore(line.amount)
            if amount == 0 or (amount > 0) != (sign > 0):
                raise Impossible(
                    f"line {number}: {line.line_type.value} must be "
                    f"{'positive' if sign > 0 else 'negative'}, got {line.amount}"
                )
            effects.append(Effect(line.offer_ref, step, abs(amount)))
        total = sum(_ore(line.amount) for line in report.lines)
        if total != _ore(report.total_amount):
            raise Impossible(
                f"report {report.report_id}: totalAmount {report.total_amount} is not the sum of its "
                f"lines ({decimal_from_ore(total)})"
            )
        return Translation(
            f"remittance-report:{report.seller_ref}:{report.report_id}",  # one payment, whatever its messageId
            "remittance",
            tuple(effects),
            report.paid_on,
            client_ref=report.seller_ref,
            note=report.report_id,
        )

    def describe(self, effect: Effect, case: Case) -> tuple[FactoringStatus | None, str]:
        """Once per invoice, after all of a message's effects on it (`effect` is the last): the status follows
        the facts, never one line of a report."""
        match effect.step:
            case Step.PURCHASED:
                return FactoringStatus.PURCHASED, f"Sold to Fjord Invoice Sale for {format_nok(effect.amount_ore)}"
            case Step.REJECTED:
                return FactoringStatus.REJECTED, effect.described("Declined by Fjord Invoice Sale")
            case step if step not in _REMITTED and step not in (Step.DEBTOR_PAID, Step.RECOURSE):
                raise Impossible(f"Fjord Invoice Sale does not send {effect.step.value}")
        status = self._status(case)
        if status is FactoringStatus.RETURNED:  # the claim is the client's again; what follows only settles up
            text = f"Sold back to the client (recourse): {format_nok(case.recourse_ore)}"
            if case.netted_ore:
                netted = case.netted_ore >= case.recourse_ore
                text += ", netted" if netted else f", {format_nok(case.netted_ore)} of it netted"
            return status, f"{text}; {_figures(case)}"
        if status is FactoringStatus.SETTLED:
            return status, f"Settled with Fjord Invoice Sale: {_figures(case)}; {_buyer(case)}"
        if effect.step is Step.DEBTOR_PAID:
            owed = buyer_owes(case)
            still = f", {format_nok(owed)} still owed" if owed > 0 else ""
            return status, f"Buyer paid {format_nok(effect.amount_ore)} to Fjord Invoice Sale{still}; {_figures(case)}"
        return status, f"Remittance: {_figures(case)}; {_buyer(case)}"

    def _status(self, case: Case) -> FactoringStatus:
        if case.decision == "rejected":
            return FactoringStatus.REJECTED
        if case.returned:
            return FactoringStatus.RETURNED
        if self.finished(case):
            return FactoringStatus.SETTLED
        if buyer_owes(case) > 0:
            return FactoringStatus.PURCHASED
        return FactoringStatus.PAID if case.debtor_paid_ore else FactoringStatus.CREDITED

    def vouchers(
        self, translation: Translation, cases: Mapping[UUID, Case], accounts: Mapping[str, AccountRef]
    ) -> list[PostVoucher]:
        intermediate, receivable = accounts["intermediate"], accounts["receivables"]
        first = cases[translation.effects[0].invoice_id]
        if translation.event_type == "purchase.approved":
            (effect,) = translation.effects
            p, item = effect.amount_ore, first.invoice_number
            claim = first.gross_ore - first.client_credited_ore  # what the receivable still holds
            lines = [leg(intermediate, Side.DEBIT, p, item)]
            if claim > p:  # sold below face value: the discount is the sale's cost
                lines.append(leg(accounts["fees"], Side.DEBIT, claim - p))
            lines.append(leg(receivable, Side.CREDIT, claim, item, party=first.customer_number))
            return [
                voucher(
                    self.slug,
                    translation,
                    first.client_id,
                    first.invoice_id,
                    f"Invoice {item} sold to Fjord Invoice Sale",
                    lines,
                )
            ]
        if translation.event_type == "recourse":
            (effect,) = translation.effects
            a, item = effect.amount_ore, first.invoice_number
            # The claim comes back in the proportion of the price repaid, so the discount booked as cost at
            # purchase is reversed with it (all of it when all of the price is repaid).
            price = first.purchase_price_ore
            claim = first.gross_ore - first.client_credited_ore
            reopened = (a * claim + price // 2) // price if price else a
            lines = [
                leg(receivable, Side.DEBIT, reopened, item, party=first.customer_number),
                leg(intermediate, Side.CREDIT, a, item),
            ]
            if reopened > a:
                lines.append(leg(accounts["fees"], Side.CREDIT, reopened - a))
            return [
                voucher(
                    self.slug,
                    translation,
                    first.client_id,
                    first.invoice_id,
                    f"Invoice {item} sold back by Fjord (recourse)",
                    lines,
                )
            ]
        if translation.event_type == "remittance":
            # A report may itemise up to 5,000 lines; a voucher holds 500. Each part is balanced by its own bank
            # line and has its own key, so the parts are booked exactly once each, whatever is redelivered.
            size = MAX_VOUCHER_LINES - 1
            effects = translation.effects
            parts = [effects[i : i + size] for i in range(0, len(effects), size)]
            if len(parts) == 1:
                return [self._remittance_voucher(translation, effects, cases, accounts)]
            return [
                self._remittance_voucher(translation, part, cases, accounts, (number, len(parts)))
                for number, part in enumerate(parts, start=1)
            ]
        return []

    def _remittance_voucher(
        self,
        translation: Translation,
        effects: Sequence[Effect],
        cases: Mapping[UUID, Case],
        accounts: Mapping[str, AccountRef],
        part: tuple[int, int] | None = None,
    ) -> PostVoucher:
        side_and_role = {
            Step.PAYOUT: (Side.CREDIT, "intermediate"),
            Step.FEE_CHARGED: (Side.DEBIT, "fees"),
            Step.HOLDBACK_KEPT: (Side.DEBIT, "holdback"),
            Step.HOLDBACK_RELEASED: (Side.CREDIT, "holdback"),
            Step.RECOURSE_NETTED: (Side.DEBIT, "intermediate"),
            Step.CREDIT_DEDUCTED: (Side.DEBIT, "intermediate"),
        }
        lines: list[VoucherLine] = []
        bank_total = 0
        for effect in effects:
            side, role = side_and_role[effect.step]
            item = cases[effect.invoice_id].invoice_number if role != "fees" else None
            lines.append(leg(accounts[role], side, effect.amount_ore, item))
            bank_total += effect.amount_ore if side is Side.CREDIT else -effect.amount_ore
        if bank_total:
            lines.insert(0, leg(accounts["bank"], Side.DEBIT if bank_total > 0 else Side.CREDIT, abs(bank_total)))
        first = cases[effects[0].invoice_id]
        single = len({effect.invoice_id for effect in effects}) == 1
        text = f"Fjord remittance {translation.note}" + (f" (part {part[0]} of {part[1]})" if part else "")
        return voucher(
            self.slug,
            translation,
            first.client_id,
            first.invoice_id if single else None,
            text,
            lines,
            part[0] if part else None,
        )

    def expected_balances(self, case: Case) -> dict[str, int]:
        return {
            "intermediate": case.purchase_price_ore
            - case.payout_ore
            - case.recourse_ore
            + case.netted_ore
            - case.credited_after_purchase_ore
            + case.deducted_ore,
            "holdback": case.holdback_ore - case.released_ore,
        }

    def finished(self, case: Case) -> bool:
        """Nothing more can happen: every remittance for the invoice made (price paid out, holdback released,
        credit notes after the sale deducted), and the buyer has paid what it owes, or the invoice was sold back
        and the recourse netted."""
        if case.decision == "rejected":
            return True
        if case.decision != "purchased":
            return False
        remitted = (
            case.payout_ore >= case.purchase_price_ore
            and case.released_ore >= case.holdback_ore
            and case.deducted_ore >= case.credited_after_purchase_ore
        )
        if case.returned:
            return remitted and case.netted_ore >= case.recourse_ore
        return remitted and buyer_owes(case) <= 0


def buyer_owes(case: Case) -> int:
    """What the buyer still owes Fjord for a sold invoice: the gross less every credit note and its payments."""
    return case.gross_ore - case.client_credited_ore - case.credited_after_purchase_ore - case.debtor_paid_ore


def _figures(case: Case) -> str:
    """The remittances' figures so far: what the description of a sold invoice states."""
    parts = [f"purchase price {format_nok(case.payout_ore)} of {format_nok(case.purchase_price_ore)} paid out"]
    if case.fees_ore:
        parts.append(f"fees {format_nok(case.fees_ore)}")
    kept = case.holdback_ore - case.released_ore
    if kept:
        parts.append(f"{format_nok(kept)} held back")
    elif case.holdback_ore:
        parts.append(f"holdback {format_nok(case.holdback_ore)} released")
    credited, deducted = case.credited_after_purchase_ore, case.deducted_ore
    if credited:
        of = "" if deducted >= credited else f" of {format_nok(credited)}"
        parts.append(f"credit notes {format_nok(deducted)}{of} deducted")
    return ", ".join(parts)


def _buyer(case: Case) -> str:
    owed, paid = buyer_owes(case), case.debtor_paid_ore
    if not paid:
        return "the buyer has not paid" if owed > 0 else "the buyer owes nothing (credited)"
    return f"the buyer paid {format_nok(paid)}" + (f", {format_nok(owed)} still owed" if owed > 0 else "")
