"""Fjord Invoice Sale's side, runnable: decisions, remittance reports, buyer payments, recourse.

Per offer, following the seller's script: approved at face value (or declined, for `100 − accept_percent` %).
Each batch of offers is paid by remittance reports of up to `remittance_every` invoices: purchase price,
a fee of `fee_ore` and a holdback of `holdback_percent` % deducted. Then either the buyer pays Fjord and the
holdback is released in a later report, or (for `recourse_percent` %) the invoice is sold back and the amount
netted in a later report together with the holdback. Message ids derive from the offer, so an offer received
twice yields the same messages. Time is compressed: everything happens, and is dated, today.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import date

from ledgerline_contracts import topics
from ledgerline_contracts.messages import Message
from ledgerline_contracts.money import decimal_from_ore, ore_from_decimal
from ledgerline_simulators.runtime import Script, Simulator, SimulatorSettings, chance, script_from_env

from . import SLUG
from . import contract as fjord

L = fjord.RemittanceLineType


def _id(*parts: object) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, "fjord:" + ":".join(str(p) for p in parts))


def _nok(ore: int) -> str:
    return str(decimal_from_ore(ore))


def answers(offers: list[fjord.SaleOffer], scripts: dict[str, Script]) -> list[tuple[Message, str]]:
    """Everything Fjord sends for a batch of offers, in the order it sends it, with each message's key."""
    out: list[tuple[Message, str]] = []
    first_reports: dict[str, list[fjord.RemittanceLine]] = defaultdict(list)
    later_reports: dict[str, list[fjord.RemittanceLine]] = defaultdict(list)
    follow_ups: list[tuple[Message, str]] = []
    for offer in offers:
        script, key = scripts[offer.seller_ref], str(offer.offer_ref)
        if not chance(key, "accept", script.accept_percent):
            out.append(
                (
                    fjord.PurchaseDecision(
                        message_id=_id(key, "decision"),
                        offer_ref=offer.offer_ref,
                        decision=fjord.Decision.DECLINED,
                        decided_on=date.today(),
                        reason="Outside Fjord's credit policy",
                    ),
                    key,
                )
            )
            continue
        gross = ore_from_decimal(offer.total_amount)
        holdback = gross * script.holdback_percent // 100
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
        if holdback:
            first_reports[offer.seller_ref].append(
                fjord.RemittanceLine(offer_ref=offer.offer_ref, line_type=L.HOLDBACK, amount=_nok(-holdback))
            )
        if chance(key, "recourse", script.recourse_percent):
            follow_ups.append(
                (
                    fjord.RecourseNotice(
                        message_id=_id(key, "recourse"),
                        offer_ref=offer.offer_ref,
                        amount=_nok(gross),
                        returned_on=date.today(),
                        reason="Buyer did not pay",
                    ),
                    key,
                )
            )
            later_reports[offer.seller_ref].append(
                fjord.RemittanceLine(offer_ref=offer.offer_ref, line_type=L.RECOURSE_NETTING, amount=_nok(-gross))
            )
        else:
            follow_ups.append(
                (
                    fjord.BuyerPayment(
                        message_id=_id(key, "paid"), offer_ref=offer.offer_ref, amount=_nok(gross), paid_on=date.today()
                    ),
                    key,
                )
            )
        if holdback:
            later_reports[offer.seller_ref].append(
                fjord.RemittanceLine(offer_ref=offer.offer_ref, line_type=L.HOLDBACK_RELEASE, amount=_nok(holdback))
            )
    out += _reports(first_reports, scripts, "purchase")
    out += follow_ups
    out += _reports(later_reports, scripts, "release")
    return out


def _reports(
    lines_by_seller: dict[str, list[fjord.RemittanceLine]], scripts: dict[str, Script], stage: str
) -> list[tuple[Message, str]]:
    reports: list[tuple[Message, str]] = []
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


def build(settings: SimulatorSettings | None = None) -> Simulator:
    simulator = Simulator(
        SLUG,
        topics.factoring_outbound(SLUG),
        topics.factoring_inbound(SLUG),
        fjord.OUTBOUND,
        settings or SimulatorSettings(service_name="fjord-invoice-sale-simulator"),
        script_from_env(),
    )

    async def answer(batch: list[Message]) -> None:
        offers = [
            m
            for m in batch
            if isinstance(m, fjord.SaleOffer) and simulator.scripts.for_client(m.seller_ref).mode == "auto"
        ]
        if offers:
            scripts = {o.seller_ref: simulator.scripts.for_client(o.seller_ref) for o in offers}
            await simulator.send(answers(offers, scripts))

    simulator.on_batch(answer)
    return simulator


def run() -> None:
    build().run()
