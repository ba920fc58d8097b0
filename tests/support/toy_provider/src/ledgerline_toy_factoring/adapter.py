"""Toy Factoring's adapter: a purchase closes the receivable against what Toy owes (intermediate), the payment
clears it.

| Toy message  | debit          | credit                        |
| ------------ | -------------- | ----------------------------- |
| Bought p     | intermediate p | receivables/customer gross    |
|              | fees gross − p |                               |
| Paid a       | bank a         | intermediate a                |
"""

from __future__ import annotations

from collections.abc import Mapping
from uuid import UUID

from factoring_gateway.domain.lifecycle import Case, Impossible, Step
from factoring_gateway.domain.mapping import AccountRole
from factoring_gateway.domain.providers.base import DEVIATION, ClientInfo, Effect, Translation, leg, voucher
from ledgerline_contracts.factoring import AccountRef
from ledgerline_contracts.invoicing import DirectPaymentReceived, FactoringStatus, InvoiceCredited, InvoiceDelivery
from ledgerline_contracts.ledger import PostVoucher, Side
from ledgerline_contracts.messages import Message

from . import DISPLAY_NAME, SLUG
from . import contract as toy


class ToyFactoring:
    slug = SLUG
    display_name = DISPLAY_NAME
    inbound = toy.INBOUND
    delivery_models: list[type[Message]] = [toy.ToyClientJoined, toy.ToyClientLeft, toy.ToyOffer, toy.ToyNotice]
    roles = [
        AccountRole("intermediate", "what Toy Factoring owes for the invoices it bought"),
        AccountRole("fees", "the discount Toy Factoring keeps"),
        AccountRole("bank", "where Toy Factoring pays"),
        AccountRole("receivables", "accounts receivable, the customers' control account"),
        DEVIATION,
    ]

    def onboarding(self, client: ClientInfo, accounts: Mapping[str, AccountRef]) -> Message:
        return toy.ToyClientJoined(client_ref=client.client_id, name=client.name)

    def offboarding(self, client_id: str) -> Message:
        return toy.ToyClientLeft(client_ref=client_id)

    def delivery(self, invoice: InvoiceDelivery) -> Message:
        return toy.ToyOffer(
            invoice_ref=invoice.invoice_id,
            client_ref=invoice.client_id,
            invoice_number=invoice.invoice_number,
            debtor=invoice.customer.display_name or "",
            amount_ore=invoice.gross_ore,
            due_date=invoice.due_date,
        )

    def credit_note(self, credit: InvoiceCredited) -> Message:
        return toy.ToyNotice(invoice_ref=credit.invoice_id, amount_ore=-credit.amount_ore)

    def direct_payment(self, payment: DirectPaymentReceived) -> Message:
        return toy.ToyNotice(invoice_ref=payment.invoice_id, amount_ore=-payment.amount_ore)

    def credit_vouchers(
        self, credit: InvoiceCredited, case: Case, accounts: Mapping[str, AccountRef]
    ) -> list[PostVoucher]:
        return []

    def translate(self, message: Message) -> Translation:
        key = str(message.message_id)
        match message:
            case toy.ToyBought():
                effect = Effect(message.invoice_ref, Step.PURCHASED, message.price_ore)
                return Translation(key, "toy.bought", (effect,), message.bought_on)
            case toy.ToyPaid():
                effect = Effect(message.invoice_ref, Step.PAYOUT, message.amount_ore)
                return Translation(key, "toy.paid", (effect,), message.paid_on)
        raise Impossible(f"Toy Factoring does not send {message.type}")

    def describe(self, effect: Effect, case: Case) -> tuple[FactoringStatus | None, str]:
        if effect.step is Step.PURCHASED:
            return FactoringStatus.PURCHASED, "Bought by Toy Factoring"
        return (FactoringStatus.SETTLED if self.finished(case) else None), "Paid by Toy Factoring"

    def vouchers(
        self, translation: Translation, cases: Mapping[UUID, Case], accounts: Mapping[str, AccountRef]
    ) -> list[PostVoucher]:
        (effect,) = translation.effects
        case = cases[effect.invoice_id]
        item, amount = case.invoice_number, effect.amount_ore
        if effect.step is Step.PURCHASED:
            lines = [leg(accounts["intermediate"], Side.DEBIT, amount, item)]
            if case.gross_ore > amount:
                lines.append(leg(accounts["fees"], Side.DEBIT, case.gross_ore - amount))
            lines.append(leg(accounts["receivables"], Side.CREDIT, case.gross_ore, item, party=case.customer_number))
            text = f"Invoice {item} sold to Toy Factoring"
        else:
            lines = [
                leg(accounts["bank"], Side.DEBIT, amount),
                leg(accounts["intermediate"], Side.CREDIT, amount, item),
            ]
            text = f"Invoice {item} paid by Toy Factoring"
        return [voucher(self.slug, translation, case.client_id, case.invoice_id, text, lines)]

    def expected_balances(self, case: Case) -> dict[str, int]:
        return {"intermediate": case.purchase_price_ore - case.payout_ore}

    def finished(self, case: Case) -> bool:
        return case.decision == "purchased" and case.payout_ore >= case.purchase_price_ore
