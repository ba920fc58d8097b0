"""Fjord Invoice Sale's side, runnable: decisions, remittance reports, buyer payments, recourse, credit notes.

Per offer, following the seller's script: approved at face value (or declined, for `100 − accept_percent` %).
Each batch of offers is paid by remittance reports of up to `remittance_every` invoices: purchase price,
a fee of `fee_ore` and a holdback of `holdback_percent` % deducted. Then either the buyer pays Fjord and the
holdback is released in a later report, or (for `recourse_percent` %) the invoice is sold back and the amount
netted in a later report together with the holdback.

For `dispute_percent` % of the invoices the buyer disputes the invoice: after the first report nothing follows
until the seller's credit note. A credit note (CreditNoteNotice) on an invoice Fjord bought and still holds is
deducted in Fjord's next remittance report (a CREDIT_NOTE_DEDUCTION line: the claim Fjord paid for is that much
smaller); on a disputed invoice that ends the dispute: the buyer pays what it still owes (or the invoice is sold
back for that), and the holdback is released in the report after. Which invoices it bought, Fjord keeps in memory
only: after a restart it answers no credit note on an invoice offered before.

Message ids derive from the offer (and the credit note), so a message received twice yields the same messages.
Time is compressed: everything happens, and is dated, today.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date

from ledgerline_contracts import topics
from ledgerline_contracts.messages import Message
from ledgerline_contracts.money import decimal_from_ore, ore_from_decimal
from ledgerline_simulators import invoice_document
from ledgerline_simulators.runtime import Script, Simulator, SimulatorSettings, chance, script_from_env

from . import SLUG
from . import contract as fjord

L = fjord.RemittanceLineType
Answers = list[tuple[Message, str]]


def _id(*parts: object) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, "fjord:" + ":".join(str(p) for p in parts))


def _nok(ore: int) -> str:
    return str(decimal_from_ore(ore))


@dataclass
class Sale:
    """An invoice Fjord bought, as far as what it still sends for it depends on it."""

    seller: str
    gross: int
    holdback: int
    recourse: bool  # the buyer will not pay: the invoice goes back to the seller
    disputed: bool  # nothing follows the first report until the seller's credit note
    credit_notes: dict[uuid.UUID, int] = field(default_factory=dict)
    returned: bool = False

    @property
    def owed(self) -> int:
        """What the buyer owes once the seller's credit notes are taken off."""
        return self.gross - sum(self.credit_notes.values())


class Fjord:
    """What Fjord sends for the offers and credit notes it is told of (pure: no broker, no clock but today).

    What a batch changes is a draft until `commit` (after its answers are sent); `rollback` forgets it, so a
    batch answered again after a broker failure gets the same answers, with the same ids."""

    def __init__(self) -> None:
        self.sales: dict[uuid.UUID, Sale] = {}
        self._draft: dict[uuid.UUID, Sale] = {}

    def commit(self) -> None:
        self.sales.update(self._draft)
        self._draft = {}

    def rollback(self) -> None:
        self._draft = {}

    def _sale(self, offer_ref: uuid.UUID) -> Sale | None:
        if offer_ref not in self._draft:
            found = self.sales.get(offer_ref)
            if found is None:
                return None
            self._draft[offer_ref] = replace(found, credit_notes=dict(found.credit_notes))
        return self._draft[offer_ref]

    def offers(self, offers: list[fjord.SaleOffer], scripts: dict[str, Script]) -> Answers:
        """Everything Fjord sends for a batch of offers, in the order it sends it, with each message's key."""
        out: Answers = []
        first_reports: dict[str, list[fjord.RemittanceLine]] = defaultdict(list)
        later_reports: dict[str, list[fjord.RemittanceLine]] = defaultdict(list)
        follow_ups: Answers = []
        for offer in offers:
            script, key = scripts[offer.seller_ref], str(offer.offer_ref)
            problems = document_problems(offer)  # an invoice Fjord could not print is declined at once
            if problems or not chance(key, "accept", script.accept_percent):
                out.append(
                    (
                        fjord.PurchaseDecision(
                            message_id=_id(key, "decision"),
                            offer_ref=offer.offer_ref,
                            decision=fjord.Decision.DECLINED,
                            decided_on=date.today(),
                            reason=invoice_document.refusal(problems) if problems else "Outside Fjord's credit policy",
                        ),
                        key,
                    )
                )
                continue
            gross = ore_from_decimal(offer.total_amount)
            sale = self._sale(offer.offer_ref) or self._draft.setdefault(
                offer.offer_ref,
                Sale(
                    offer.seller_ref,
                    gross,
                    gross * script.holdback_percent // 100,
                    recourse=chance(key, "recourse", script.recourse_percent),
                    disputed=chance(key, "dispute", script.dispute_percent),
                ),
            )
            out.append(
                (
                    fjord.PurchaseDecision(
                        message_id=_id(key, "decision"),
                        offer_ref=offer.offer_ref,
                        decision=fjord.Decision.APPROVED,
                        purchase_price=_nok(gross),
                        decided_on=date.today(),
                    ),
                    key,
                )
            )
            first_reports[offer.seller_ref] += [
                fjord.RemittanceLine(offer_ref=offer.offer_ref, line_type=L.PURCHASE_PRICE, amount=_nok(gross)),
                fjord.RemittanceLine(offer_ref=offer.offer_ref, line_type=L.FEE, amount=_nok(-script.fee_ore)),
            ]
            if sale.holdback:
                first_reports[offer.seller_ref].append(
                    fjord.RemittanceLine(offer_ref=offer.offer_ref, line_type=L.HOLDBACK, amount=_nok(-sale.holdback))
                )
            if not sale.disputed:
                self._follow_up(offer.offer_ref, sale, follow_ups, later_reports)
        out += _reports(first_reports, scripts, "purchase")
        out += follow_ups
        out += _reports(later_reports, scripts, "release")
        return out

    def credit_notes(self, notices: list[fjord.CreditNoteNotice], script_of: Callable[[str], Script]) -> Answers:
        """Each credit note on an invoice Fjord holds, deducted in one report per seller; the disputes they end
        followed up: the buyer's payment (or the recourse), then the holdback's release."""
        deductions: dict[str, list[tuple[uuid.UUID, fjord.RemittanceLine]]] = defaultdict(list)
        ended: list[tuple[uuid.UUID, Sale]] = []
        for notice in notices:
            sale = self._sale(notice.offer_ref)
            if sale is None or sale.returned or script_of(sale.seller).mode != "auto":
                continue  # not bought by Fjord (or not since its start), sold back, or the test plays Fjord
            if notice.credit_note_ref in sale.credit_notes:
                continue  # told twice: deducted once
            amount = ore_from_decimal(notice.amount)
            sale.credit_notes[notice.credit_note_ref] = amount
            line = fjord.RemittanceLine(
                offer_ref=notice.offer_ref, line_type=L.CREDIT_NOTE_DEDUCTION, amount=_nok(-amount)
            )
            deductions[sale.seller].append((notice.credit_note_ref, line))
            if sale.disputed:
                sale.disputed = False
                ended.append((notice.offer_ref, sale))
        out: Answers = []
        for seller, lines in deductions.items():
            report_id = str(_id(seller, "credit-notes", *(ref for ref, _ in lines)))[:18]
            total = sum(ore_from_decimal(line.amount) for _, line in lines)
            report = fjord.RemittanceReport(
                message_id=_id(report_id),
                report_id=f"R-{report_id}",
                seller_ref=seller,
                paid_on=date.today(),
                lines=[line for _, line in lines],
                total_amount=_nok(total),
            )
            out.append((report, seller))
        follow_ups: Answers = []
        later_reports: dict[str, list[fjord.RemittanceLine]] = defaultdict(list)
        for offer_ref, sale in ended:
            self._follow_up(offer_ref, sale, follow_ups, later_reports)
        scripts = {sale.seller: script_of(sale.seller) for _, sale in ended}
        return out + follow_ups + _reports(later_reports, scripts, "release")

    def _follow_up(
        self,
        offer_ref: uuid.UUID,
        sale: Sale,
        follow_ups: Answers,
        later_reports: dict[str, list[fjord.RemittanceLine]],
    ) -> None:
        """What follows the first report: the buyer pays what it owes, or the invoice is sold back for it (netted
        in a later report); the holdback is released in that later report."""
        key, owed = str(offer_ref), sale.owed
        if sale.recourse and owed > 0:
            sale.returned = True
            follow_ups.append(
                (
                    fjord.RecourseNotice(
                        message_id=_id(key, "recourse"),
                        offer_ref=offer_ref,
                        amount=_nok(owed),
                        returned_on=date.today(),
                        reason="Buyer did not pay",
                    ),
                    key,
                )
            )
            later_reports[sale.seller].append(
                fjord.RemittanceLine(offer_ref=offer_ref, line_type=L.RECOURSE_NETTING, amount=_nok(-owed))
            )
        elif owed > 0:
            follow_ups.append(
                (
                    fjord.BuyerPayment(
                        message_id=_id(key, "paid"), offer_ref=offer_ref, amount=_nok(owed), paid_on=date.today()
                    ),
                    key,
                )
            )
        if sale.holdback:
            later_reports[sale.seller].append(
                fjord.RemittanceLine(offer_ref=offer_ref, line_type=L.HOLDBACK_RELEASE, amount=_nok(sale.holdback))
            )


def _reports(lines_by_seller: dict[str, list[fjord.RemittanceLine]], scripts: dict[str, Script], stage: str) -> Answers:
    reports: Answers = []
    paid_on = date.today()
    for seller, lines in lines_by_seller.items():
        per_invoice: dict[uuid.UUID, list[fjord.RemittanceLine]] = defaultdict(list)
        for line in lines:
            per_invoice[line.offer_ref].append(line)
        invoices = list(per_invoice)
        size = max(scripts[seller].remittance_every, 1)
        for start in range(0, len(invoices), size):
            chunk = [line for ref in invoices[start : start + size] for line in per_invoice[ref]]
            report_id = str(_id(seller, stage, *(line.offer_ref for line in chunk)))[:18]
            total = sum(ore_from_decimal(line.amount) for line in chunk)
            reports.append(
                (
                    fjord.RemittanceReport(
                        message_id=_id(report_id),
                        report_id=f"R-{report_id}",
                        seller_ref=seller,
                        paid_on=paid_on,
                        lines=chunk,
                        total_amount=_nok(total),
                    ),
                    seller,
                )
            )
    return reports


def document_problems(offer: fjord.SaleOffer) -> list[str]:
    """Why Fjord cannot make the invoice document from an offer that carries its content (none for an offer made
    before it did, which Fjord takes as it always has)."""
    if offer.invoice_lines is None and offer.kid is None:
        return []
    buyer = offer.buyer
    return invoice_document.problems(
        invoice_document.Document(
            lines=[
                invoice_document.Line(
                    line.description,
                    line.quantity,
                    ore_from_decimal(line.unit_price),
                    ore_from_decimal(line.net_amount),
                    line.vat_rate,
                    ore_from_decimal(line.vat_amount),
                )
                for line in offer.invoice_lines or []
            ],
            vat_totals=[
                (t.vat_rate, ore_from_decimal(t.taxable_amount), ore_from_decimal(t.vat_amount))
                for t in offer.vat_breakdown or []
            ],
            net_ore=ore_from_decimal(offer.net_amount) if offer.net_amount is not None else None,
            vat_ore=ore_from_decimal(offer.vat_amount),
            gross_ore=ore_from_decimal(offer.total_amount),
            kid=offer.kid,
            kid_scheme=offer.kid_algorithm,
            payment_account=offer.payee_account,
            channel=_CHANNELS.get(offer.distribution) if offer.distribution else None,
            peppol_id=buyer.peppol_id,
            email=buyer.email_address,
            seller_named=bool(offer.seller_name and offer.seller_org_no),
        ),
        fjord.PAYMENT_ACCOUNT,
    )


_CHANNELS = {fjord.Distribution.EHF: "e_invoice", fjord.Distribution.EMAIL: "email", fjord.Distribution.PRINT: "print"}


def build(settings: SimulatorSettings | None = None) -> Simulator:
    simulator = Simulator(
        SLUG,
        topics.factoring_outbound(SLUG),
        topics.factoring_inbound(SLUG),
        fjord.OUTBOUND,
        settings or SimulatorSettings(service_name="fjord-invoice-sale-simulator"),
        script_from_env(),
    )
    desk = Fjord()

    async def answer(batch: list[Message]) -> None:
        offers = [
            m
            for m in batch
            if isinstance(m, fjord.SaleOffer) and simulator.scripts.for_client(m.seller_ref).mode == "auto"
        ]
        notices = [m for m in batch if isinstance(m, fjord.CreditNoteNotice)]
        try:
            out: Answers = []
            if offers:
                out += desk.offers(offers, {o.seller_ref: simulator.scripts.for_client(o.seller_ref) for o in offers})
            if notices:
                out += desk.credit_notes(notices, simulator.scripts.for_client)
            if out:
                await simulator.send(out)
        except BaseException:
            desk.rollback()  # the batch is answered again from where it started
            raise
        desk.commit()

    simulator.on_batch(answer)
    return simulator


def run() -> None:
    build().run()
