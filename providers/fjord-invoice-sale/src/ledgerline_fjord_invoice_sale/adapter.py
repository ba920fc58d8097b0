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
| RecourseNotice a ≤ p             | receivables/customer a·claim/p  | intermediate a; fees a·claim/p − a   |
| DECLINED, BuyerPayment: status only, no posting (the receivable is Fjord's once sold)                |
| the client's credit note c after the purchase (invoicing credited the receivable): a correction       |
|                                  | receivables/customer c          | intermediate c (owed back to Fjord)  |
| (claim = gross − the client's credit notes before the purchase)                                         |
| a buyer paying the seller directly (not a Fjord message; base.direct_payment_vouchers): bank / deviation, |
|   then deviation / bank as it is passed on to Fjord                                                     |

Amounts arrive as decimal strings in NOK and become whole øre; a fraction of an øre is refused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from uuid import UUID

from factoring_gateway.domain.lifecycle import Case, Impossible, Step
from factoring_gateway.domain.mapping import AccountRole
from factoring_gateway.domain.providers.base import DEVIATION, ClientInfo, Effect, Translation, leg, voucher
from ledgerline_contracts.factoring import AccountRef
from ledgerline_contracts.invoicing import (
    CustomerKind,
    DirectPaymentReceived,
    FactoringStatus,
    InvoiceCredited,
    InvoiceDelivery,
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
}
"""Each line type's step, and the sign its amount must have on the report (+ paid out, − deducted)."""

NOTICE = "This invoice has been sold and assigned to Fjord Invoice Sale. Pay only to Fjord Invoice Sale's account."


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
        AccountRole("intermediate", "what Fjord owes for purchased invoices (settled by remittances)"),
        AccountRole("holdback", "amounts Fjord keeps back until the buyer pays"),
        AccountRole("fees", "factoring costs and fees deducted in remittances"),
        AccountRole("bank", "the bank account remittances are paid into"),
        AccountRole("receivables", "accounts receivable, the customers' control account"),
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
            ),
            notice_of_assignment=NOTICE,
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
                    (Effect(message.offer_ref, Step.REJECTED),),
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
        amount = format_nok(effect.amount_ore)
        match effect.step:
            case Step.PURCHASED:
                return FactoringStatus.PURCHASED, f"Sold to Fjord Invoice Sale for {amount}"
            case Step.REJECTED:
                return FactoringStatus.REJECTED, "Declined by Fjord Invoice Sale"
            case Step.DEBTOR_PAID:  # remittances may have finished before this news arrived
                status = FactoringStatus.SETTLED if self.finished(case) else FactoringStatus.PAID
                return status, f"Buyer paid {amount} to Fjord Invoice Sale"
            case Step.RECOURSE:
                return FactoringStatus.RETURNED, f"Sold back to the client (recourse): {amount}"
            case Step.PAYOUT | Step.FEE_CHARGED | Step.HOLDBACK_KEPT | Step.HOLDBACK_RELEASED | Step.RECOURSE_NETTED:
                done = (
                    case.payout_ore >= case.purchase_price_ore
                    and case.released_ore >= case.holdback_ore
                    and not case.returned
                )
                kept = case.holdback_ore - case.released_ore
                text = f"Remittance: {format_nok(case.payout_ore)} of {format_nok(case.purchase_price_ore)} paid"
                text += f", {format_nok(kept)} held back" if kept else ""
                return (FactoringStatus.SETTLED if done else None), text
        raise Impossible(f"Fjord Invoice Sale does not send {effect.step.value}")

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
            - case.credited_after_purchase_ore,
            "holdback": case.holdback_ore - case.released_ore,
        }

    def finished(self, case: Case) -> bool:
        paid_out = case.decision == "purchased" and case.payout_ore >= case.purchase_price_ore
        released = case.released_ore >= case.holdback_ore
        returned = case.returned and case.netted_ore >= case.recourse_ore
        return case.decision == "rejected" or (paid_out and released and (returned or not case.returned))
