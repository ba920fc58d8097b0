"""The Fjord simulator's answers, run through the gateway's Fjord adapter and lifecycle (no broker, no database):
what the simulated Fjord sends must give the books and statuses an accountant expects."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import date

from factoring_gateway.domain import lifecycle
from factoring_gateway.domain.lifecycle import Case
from factoring_gateway.domain.providers import installed_adapters
from factoring_gateway.domain.providers.base import decide_statuses
from ledgerline_contracts.invoicing import FactoringStatus, InvoiceCredited
from ledgerline_contracts.ledger import PostVoucher
from ledgerline_contracts.messages import Message
from ledgerline_fjord_invoice_sale import contract as fjord
from ledgerline_fjord_invoice_sale.simulator import Fjord
from ledgerline_simulators.runtime import Script

from .test_handlers import FJORD_ACCOUNTS

FJORD = installed_adapters()["fjord-invoice-sale"]
ACCOUNTS = FJORD_ACCOUNTS
SELLER = "c1"


def offer(gross: str = "12500.00") -> fjord.SaleOffer:
    return fjord.SaleOffer(
        offer_ref=uuid.uuid4(),
        seller_ref=SELLER,
        seller_org_no="912345678",
        invoice_no="1001",
        issue_date=date.today(),
        due_date=date.today(),
        total_amount=gross,
        vat_amount="2500.00",
        buyer=fjord.Buyer(
            buyer_type=fjord.BuyerType.B2B,
            legal_name="Kunde AS",
            street="Gata 1",
            zip="5003",
            town="Bergen",
            phone_number="+4755555555",
            email_address="kunde@example.no",
        ),
        notice_of_assignment="assigned",
    )


def notice(sale: fjord.SaleOffer, amount: str, ref: uuid.UUID | None = None) -> fjord.CreditNoteNotice:
    return fjord.CreditNoteNotice(offer_ref=sale.offer_ref, credit_note_ref=ref or uuid.uuid4(), amount=amount)


class Books:
    """One invoice at the gateway: its case, and every voucher its events booked (invoicing's own included)."""

    def __init__(self, sale: fjord.SaleOffer) -> None:
        gross = int(sale.total_amount.replace(".", ""))
        self.case = Case(sale.offer_ref, SELLER, "fjord-invoice-sale", "1001", 10001, gross)
        self.totals: dict[str, int] = defaultdict(int, {"1500": gross})  # invoicing booked the sale
        self.statuses: list[FactoringStatus] = []

    def book(self, vouchers: list[PostVoucher]) -> None:
        for v in vouchers:
            assert sum(line.signed_ore for line in v.lines) == 0
            for line in v.lines:
                self.totals[line.account] += line.signed_ore

    def receive(self, answers: list[tuple[Message, str]]) -> None:
        for message, _ in answers:
            translation = FJORD.translate(message)
            for effect in translation.effects:
                lifecycle.apply(self.case, effect.step, effect.amount_ore)
            if decide_statuses(FJORD, translation.effects, {self.case.invoice_id: self.case}):
                self.statuses.append(self.case.status)
            self.book(FJORD.vouchers(translation, {self.case.invoice_id: self.case}, ACCOUNTS))

    def credit(self, amount_ore: int) -> fjord.CreditNoteNotice:
        """The client's credit note: invoicing books it against the receivable, the gateway corrects that and
        tells Fjord."""
        credit = InvoiceCredited(
            client_id=SELLER,
            invoice_id=self.case.invoice_id,
            invoice_number="1001",
            credit_note_id=uuid.uuid4(),
            amount_ore=amount_ore,
            provider="fjord-invoice-sale",
            reason="damaged goods",
            credited_on=date.today(),
        )
        self.totals["1500"] -= amount_ore
        self.book(FJORD.credit_vouchers(credit, self.case, ACCOUNTS))
        lifecycle.record_client_credit(self.case, amount_ore)
        message = FJORD.credit_note(credit)
        assert isinstance(message, fjord.CreditNoteNotice)
        return message

    def nonzero(self) -> dict[str, int]:
        return {account: amount for account, amount in self.totals.items() if amount}


def test_a_disputed_invoice_waits_for_the_credit_note_which_fjord_deducts_before_the_buyer_pays_the_rest() -> None:
    desk, script = Fjord(), Script(dispute_percent=100, fee_ore=25_000)
    sale = offer()
    books = Books(sale)
    first = desk.offers([sale], {SELLER: script})
    desk.commit()
    kinds = [type(m).__name__ for m, _ in first]
    assert kinds == ["PurchaseDecision", "RemittanceReport"]  # the buyer disputes: nothing follows yet
    books.receive(first)
    assert books.case.status is FactoringStatus.PURCHASED
    after = desk.credit_notes([books.credit(250_000)], lambda _: script)
    desk.commit()
    assert [type(m).__name__ for m, _ in after] == ["RemittanceReport", "BuyerPayment", "RemittanceReport"]
    deduction, paid, release = (m for m, _ in after)
    assert isinstance(deduction, fjord.RemittanceReport) and [(x.line_type, x.amount) for x in deduction.lines] == [
        (fjord.RemittanceLineType.CREDIT_NOTE_DEDUCTION, "-2500.00")
    ]
    assert isinstance(paid, fjord.BuyerPayment) and paid.amount == "10000.00"  # what the buyer still owes
    assert isinstance(release, fjord.RemittanceReport) and release.total_amount == "1250.00"
    books.receive(after)
    assert books.statuses == [
        FactoringStatus.PURCHASED,  # the sale
        FactoringStatus.PURCHASED,  # paid out, 1 250 held back: the buyer has not paid (not «settled»)
        FactoringStatus.PURCHASED,  # the credit note deducted
        FactoringStatus.PAID,
        FactoringStatus.SETTLED,
    ]
    assert FJORD.expected_balances(books.case) == {"intermediate": 0, "holdback": 0}
    # Receivable, intermediate and holdback all zero; the bank got the invoice less the credit note (10 000) less
    # the fee (invoicing's sales and VAT accounts are left out here).
    assert books.nonzero() == {"1920": 975_000, "7770": 25_000}


def test_a_credit_note_told_twice_is_deducted_once_and_an_unsold_invoice_gets_none() -> None:
    desk, script = Fjord(), Script(dispute_percent=100)
    sale, declined = offer(), offer()
    desk.offers([sale], {SELLER: script})
    desk.offers([declined], {SELLER: script.model_copy(update={"accept_percent": 0})})
    desk.commit()
    twice = notice(sale, "100.00")
    answers = desk.credit_notes([twice, twice, notice(declined, "100.00")], lambda _: script)
    reports = [m for m, _ in answers if isinstance(m, fjord.RemittanceReport)]
    deductions = [line for r in reports for line in r.lines if line.line_type == "CREDIT_NOTE_DEDUCTION"]
    assert [(d.offer_ref, d.amount) for d in deductions] == [(sale.offer_ref, "-100.00")]


def test_a_batch_answered_again_after_a_failure_gets_the_same_answers() -> None:
    desk, script = Fjord(), Script(dispute_percent=100)
    sale = offer()
    desk.offers([sale], {SELLER: script})
    desk.commit()
    credit = notice(sale, "2500.00")
    first = desk.credit_notes([credit], lambda _: script)
    desk.rollback()  # the broker refused the answers: the batch comes again
    again = desk.credit_notes([credit], lambda _: script)

    def content(answers: list[tuple[Message, str]]) -> list[tuple[dict[str, object], str]]:
        return [(m.model_dump(exclude={"occurred_at"}), key) for m, key in answers]

    assert content(again) == content(first) and len(first) == 3


def test_without_a_dispute_a_later_credit_note_is_deducted_on_its_own_and_none_after_recourse() -> None:
    desk = Fjord()
    paid, returned = offer(), offer()
    life = desk.offers([paid], {SELLER: Script()}) + desk.offers([returned], {SELLER: Script(recourse_percent=100)})
    desk.commit()
    assert any(isinstance(m, fjord.BuyerPayment) for m, _ in life)
    answers = desk.credit_notes([notice(paid, "500.00"), notice(returned, "500.00")], lambda _: Script())
    ((report, key),) = answers
    assert isinstance(report, fjord.RemittanceReport) and key == SELLER
    assert [(line.offer_ref, line.line_type, line.amount) for line in report.lines] == [
        (paid.offer_ref, fjord.RemittanceLineType.CREDIT_NOTE_DEDUCTION, "-500.00")
    ]
    assert report.total_amount == "-500.00"  # nothing else to pay: the seller pays Fjord back
