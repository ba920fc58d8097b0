"""The gateway's translations and lifecycle, without broker or database."""

from __future__ import annotations

import itertools
import random
import uuid
from collections import defaultdict
from datetime import date

import pytest

from factoring_gateway.domain import lifecycle
from factoring_gateway.domain.lifecycle import Case, Impossible, NotYet, Step
from factoring_gateway.domain.mapping import AccountRole, KnownLedger, problems
from factoring_gateway.domain.providers import installed_adapters
from factoring_gateway.domain.providers.base import Translation, decide_statuses, direct_payment_vouchers
from factoring_gateway.domain.reconciliation import LedgerBalance, reconcile
from ledgerline_abc_factoring import contract as abc
from ledgerline_contracts.factoring import AccountRef
from ledgerline_contracts.invoicing import DirectPaymentReceived, FactoringStatus, InvoiceCredited
from ledgerline_fjord_invoice_sale import contract as fjord

ADAPTERS = installed_adapters()

ABC, FJORD = ADAPTERS["abc-factoring"], ADAPTERS["fjord-invoice-sale"]
ACCOUNTS = {
    "intermediate": AccountRef(account="2400", party=20001),
    "fees": AccountRef(account="7770"),
    "interest_income": AccountRef(account="8050"),
    "bank": AccountRef(account="1920"),
    "receivables": AccountRef(account="1500"),
    "deviation": AccountRef(account="2900"),
    "holdback": AccountRef(account="1590"),
}
DAY = date(2026, 11, 23)


def case(provider: str = "abc-factoring", gross: int = 1_250_000) -> Case:
    return Case(uuid.uuid4(), "c1", provider, "1001", 10001, gross)


def abc_event(c: Case, sequence: int, kind: abc.AbcEventType, amount: int | None = None) -> abc.AbcInvoiceEvent:
    return abc.AbcInvoiceEvent(
        event_id=f"e{sequence}",
        submission_id=c.invoice_id,
        sequence=sequence,
        event_type=kind,
        amount_ore=amount,
        occurred_on=DAY,
    )


def run(adapter: object, c: Case, translation: Translation) -> list[object]:
    for effect in translation.effects:
        lifecycle.apply(c, effect.step, effect.amount_ore)
    decide_statuses(adapter, translation.effects, {c.invoice_id: c})  # type: ignore[arg-type]
    return adapter.vouchers(translation, {c.invoice_id: c}, ACCOUNTS)  # type: ignore[attr-defined,no-any-return]


def balances(vouchers: list[object]) -> dict[str, int]:
    totals: dict[str, int] = defaultdict(int)
    for v in vouchers:
        for line in v.lines:  # type: ignore[attr-defined]
            totals[line.account] += line.signed_ore
    return {k: v for k, v in totals.items() if v}


def domain_example(c: Case) -> list[abc.AbcInvoiceEvent]:
    E = abc.AbcEventType
    return [
        abc_event(c, 1, E.ACCEPTED),
        abc_event(c, 2, E.ADVANCE_PAID, 1_062_500),
        abc_event(c, 3, E.DELIVERED),
        abc_event(c, 4, E.FEE_CHARGED, 15_000),
        abc_event(c, 5, E.DEBTOR_PAID, 1_250_000),
        abc_event(c, 6, E.INTEREST_NOTE_COLLECTED, 8_000),
        abc_event(c, 7, E.SETTLED, 180_500),
    ]


def test_abc_books_the_domain_example_exactly() -> None:
    c = case()
    vouchers = [v for event in domain_example(c) for v in run(ABC, c, ABC.translate(event))]
    assert len(vouchers) == 5
    for v in vouchers:
        assert sum(line.signed_ore for line in v.lines) == 0
    # The sale itself (1500 +12 500) is invoicing's; here the customer's 12 500 is taken off 1500 again.
    assert balances(vouchers) == {"1920": 1_062_500 + 180_500, "7770": 15_000, "8050": -8_000, "1500": -1_250_000}
    intermediate = [line for v in vouchers for line in v.lines if line.account == "2400"]
    assert all(line.party == 20001 and line.open_item == "1001" for line in intermediate)
    assert sum(line.signed_ore for line in intermediate) == 0
    assert c.status is FactoringStatus.SETTLED and ABC.finished(c)
    assert ABC.expected_balances(c) == {"intermediate": 0}


def test_every_voucher_is_exactly_once_per_provider_event() -> None:
    c = case()
    keys = [v.idempotency_key for event in domain_example(c) for v in run(ABC, c, ABC.translate(event))]
    assert keys == ["abc-factoring:e2", "abc-factoring:e4", "abc-factoring:e5", "abc-factoring:e6", "abc-factoring:e7"]


def test_a_rejected_invoice_books_nothing_and_accepts_nothing_after() -> None:
    c = case()
    assert run(ABC, c, ABC.translate(abc_event(c, 1, abc.AbcEventType.REJECTED))) == []
    assert c.status is FactoringStatus.REJECTED
    with pytest.raises(Impossible, match="rejected"):
        lifecycle.apply(c, Step.ADVANCE_PAID, 100)


def test_abc_recourse_reclaims_the_advance() -> None:
    c = case()
    E = abc.AbcEventType
    events = [
        abc_event(c, 1, E.ACCEPTED),
        abc_event(c, 2, E.ADVANCE_PAID, 1_062_500),
        abc_event(c, 3, E.RECOURSE, 1_062_500),
    ]
    vouchers = [v for e in events for v in run(ABC, c, ABC.translate(e))]
    assert balances(vouchers) == {}  # advance in, advance back: bank and intermediate both even
    assert c.status is FactoringStatus.RETURNED and c.returned


@pytest.mark.parametrize(
    ("steps", "error"),
    [
        ([(Step.ACCEPTED, 0), (Step.ACCEPTED, 0)], "already accepted"),
        ([(Step.ACCEPTED, 0), (Step.ADVANCE_PAID, 1), (Step.ADVANCE_PAID, 1)], "already paid"),
        ([(Step.ACCEPTED, 0), (Step.DEBTOR_PAID, 1_250_001)], "exceeds"),
        ([(Step.ACCEPTED, 0), (Step.SETTLED, 1)], "before the debtor paid in full"),
        ([(Step.ACCEPTED, 0), (Step.DEBTOR_PAID, 1_250_000), (Step.SETTLED, 0), (Step.FEE_CHARGED, 1)], "settled"),
        ([(Step.ACCEPTED, 0), (Step.REOPENED, 0)], "not returned"),
        ([(Step.ACCEPTED, 0), (Step.RECOURSE, 1)], "exceeds the 0,00 the provider paid"),
        ([(Step.ACCEPTED, 0), (Step.ADVANCE_PAID, 100), (Step.RECOURSE, 101)], "exceeds"),
        (
            [
                (Step.ACCEPTED, 0),
                (Step.ADVANCE_PAID, 100),
                (Step.RECOURSE, 100),
                (Step.REOPENED, 0),
                (Step.RECOURSE, 1),
            ],
            "has not yet taken back",
        ),
        ([(Step.PURCHASED, 1_000_000), (Step.RECOURSE, 1_000_001)], "exceeds"),
    ],
)
def test_impossible_transitions_are_refused_with_a_reason(steps: list[tuple[Step, int]], error: str) -> None:
    c = case()
    with pytest.raises(Impossible, match=error):
        for step, amount in steps:
            lifecycle.apply(c, step, amount)


def test_an_invoice_whose_delivery_was_refused_takes_no_provider_event() -> None:
    c = case()
    lifecycle.set_status(c, FactoringStatus.DELIVERY_REFUSED, "abc-factoring is not an active integration")
    for step in (Step.ACCEPTED, Step.ADVANCE_PAID, Step.PURCHASED):
        with pytest.raises(Impossible, match="never handed to abc-factoring"):
            lifecycle.apply(c, step, 100)


def test_fjord_books_a_purchase_below_face_value_as_cost_and_closes_the_receivable() -> None:
    c = case("fjord-invoice-sale")
    decision = fjord.PurchaseDecision(
        offer_ref=c.invoice_id, decision="APPROVED", purchase_price="12000.00", decided_on=DAY
    )
    vouchers = run(FJORD, c, FJORD.translate(decision))
    assert balances(vouchers) == {"1500": -1_250_000, "2400": 1_200_000, "7770": 50_000}
    assert FJORD.expected_balances(c) == {"intermediate": 1_200_000, "holdback": 0}
    back = fjord.RecourseNotice(offer_ref=c.invoice_id, amount="12000.00", returned_on=DAY, reason="unpaid")
    vouchers += run(FJORD, c, FJORD.translate(back))
    assert balances(vouchers) == {}  # the whole claim is the client's again, and the discount is undone


def test_anything_before_the_decision_waits() -> None:
    with pytest.raises(NotYet):
        lifecycle.apply(case(), Step.ADVANCE_PAID, 100)


def fjord_life(c: Case) -> list[fjord.FjordMessage]:
    line = fjord.RemittanceLine
    kind = fjord.RemittanceLineType
    return [
        fjord.PurchaseDecision(offer_ref=c.invoice_id, decision="APPROVED", purchase_price="12500.00", decided_on=DAY),
        fjord.RemittanceReport(
            report_id="R1",
            seller_ref="c1",
            paid_on=DAY,
            total_amount="11000.00",
            lines=[
                line(offer_ref=c.invoice_id, line_type=kind.PURCHASE_PRICE, amount="12500.00"),
                line(offer_ref=c.invoice_id, line_type=kind.FEE, amount="-250.00"),
                line(offer_ref=c.invoice_id, line_type=kind.HOLDBACK, amount="-1250.00"),
            ],
        ),
        fjord.BuyerPayment(offer_ref=c.invoice_id, amount="12500.00", paid_on=DAY),
        fjord.RemittanceReport(
            report_id="R2",
            seller_ref="c1",
            paid_on=DAY,
            total_amount="1250.00",
            lines=[line(offer_ref=c.invoice_id, line_type=kind.HOLDBACK_RELEASE, amount="1250.00")],
        ),
    ]


def test_fjord_closes_the_receivable_on_purchase_and_pays_through_remittances() -> None:
    c = case("fjord-invoice-sale")
    vouchers = [v for message in fjord_life(c) for v in run(FJORD, c, FJORD.translate(message))]
    assert balances(vouchers) == {"1500": -1_250_000, "1920": 1_100_000 + 125_000, "7770": 25_000}
    assert c.status is FactoringStatus.SETTLED and FJORD.finished(c)
    assert FJORD.expected_balances(c) == {"intermediate": 0, "holdback": 0}


def test_fjord_recourse_reopens_the_receivable_and_is_netted_later() -> None:
    c = case("fjord-invoice-sale")
    life = fjord_life(c)[:2]
    life += [
        fjord.RecourseNotice(offer_ref=c.invoice_id, amount="12500.00", returned_on=DAY, reason="unpaid"),
        fjord.RemittanceReport(
            report_id="R3",
            seller_ref="c1",
            paid_on=DAY,
            total_amount="-11250.00",
            lines=[
                fjord.RemittanceLine(offer_ref=c.invoice_id, line_type="RECOURSE_NETTING", amount="-12500.00"),
                fjord.RemittanceLine(offer_ref=c.invoice_id, line_type="HOLDBACK_RELEASE", amount="1250.00"),
            ],
        ),
    ]
    vouchers = [v for message in life for v in run(FJORD, c, FJORD.translate(message))]
    assert balances(vouchers) == {"1920": 1_100_000 - 1_125_000, "7770": 25_000}
    assert FJORD.expected_balances(c) == {"intermediate": 0, "holdback": 0}
    assert c.status is FactoringStatus.RETURNED and FJORD.finished(c)


def test_a_remittance_too_large_for_one_voucher_is_booked_in_balanced_parts() -> None:
    cases = {}
    for n in range(300):  # 600 report lines: more than a voucher's 500
        c = Case(uuid.uuid4(), "c1", "fjord-invoice-sale", str(1001 + n), 10001, 1_250_000)
        lifecycle.apply(c, Step.PURCHASED, 1_250_000)
        cases[c.invoice_id] = c
    kind = fjord.RemittanceLineType
    lines = [
        fjord.RemittanceLine(offer_ref=invoice_id, line_type=line_type, amount=amount)
        for invoice_id in cases
        for line_type, amount in ((kind.PURCHASE_PRICE, "12500.00"), (kind.FEE, "-250.00"))
    ]
    report = fjord.RemittanceReport(
        report_id="R-big", seller_ref="c1", paid_on=DAY, total_amount=f"{300 * 12250}.00", lines=lines
    )
    translation = FJORD.translate(report)
    for effect in translation.effects:
        lifecycle.apply(cases[effect.invoice_id], effect.step, effect.amount_ore)
    vouchers = FJORD.vouchers(translation, cases, ACCOUNTS)
    assert [len(v.lines) for v in vouchers] == [500, 102]
    assert [v.idempotency_key for v in vouchers] == [f"fjord-invoice-sale:{translation.key}:{n}" for n in (1, 2)]
    assert all(sum(line.signed_ore for line in v.lines) == 0 for v in vouchers)
    assert balances(vouchers) == {"1920": 300 * 1_225_000, "2400": -300 * 1_250_000, "7770": 300 * 25_000}


def test_a_remittance_whose_total_is_not_its_lines_is_refused() -> None:
    c = case("fjord-invoice-sale")
    report = fjord.RemittanceReport(
        report_id="R9",
        seller_ref="c1",
        paid_on=DAY,
        total_amount="1.00",
        lines=[fjord.RemittanceLine(offer_ref=c.invoice_id, line_type="PURCHASE_PRICE", amount="2.00")],
    )
    with pytest.raises(Impossible, match="not the sum of its lines"):
        FJORD.translate(report)
    with pytest.raises(Impossible, match="fractions of an øre"):  # the contract refuses it first; belt and braces
        FJORD.translate(
            fjord.BuyerPayment.model_construct(
                type="fjord.BuyerPayment",
                version=1,
                message_id=uuid.uuid4(),
                offer_ref=c.invoice_id,
                amount="0.001",
                paid_on=DAY,
            )
        )


def deliver_shuffled(adapter: object, c: Case, translations: list[Translation], order: list[int]) -> list[object]:
    """Applies translations in `order`, parking what cannot apply yet and retrying it after each success,
    the way the gateway's handler does."""
    parked: list[Translation] = []
    vouchers: list[object] = []

    def attempt(t: Translation) -> bool:
        trial = Case(**{**c.__dict__, "history": list(c.history)})
        try:
            for effect in t.effects:
                if t.sequence is not None:
                    if t.sequence > trial.last_sequence + 1:
                        raise NotYet("gap")
                    trial.last_sequence = t.sequence
                lifecycle.apply(trial, effect.step, effect.amount_ore)
        except NotYet:
            return False
        c.__dict__.update(trial.__dict__)
        vouchers.extend(adapter.vouchers(t, {c.invoice_id: c}, ACCOUNTS))  # type: ignore[attr-defined]
        return True

    for index in order:
        if attempt(translations[index]):
            progress = True
            while progress:
                progress = False
                for t in list(parked):
                    if attempt(t):
                        parked.remove(t)
                        progress = True
        else:
            parked.append(translations[index])
    assert parked == []
    return vouchers


@pytest.mark.parametrize("seed", range(20))
def test_shuffled_events_give_the_same_books(seed: int) -> None:
    abc_case, fjord_case = case(), case("fjord-invoice-sale")
    for adapter, c, messages in [
        (ABC, abc_case, domain_example(abc_case)),
        (FJORD, fjord_case, fjord_life(fjord_case)),
    ]:
        translations = [adapter.translate(m) for m in messages]
        reference = balances(deliver_shuffled(adapter, _fresh(c), translations, list(range(len(translations)))))
        order = list(range(len(translations)))
        random.Random(seed).shuffle(order)
        assert balances(deliver_shuffled(adapter, _fresh(c), translations, order)) == reference


def _fresh(c: Case) -> Case:
    return Case(c.invoice_id, c.client_id, c.provider, c.invoice_number, c.customer_number, c.gross_ore)


def test_activation_names_every_missing_or_wrong_account() -> None:
    roles = [AccountRole("intermediate", "x"), AccountRole("fees", "y"), AccountRole("extra", "z", required=False)]
    ledger = KnownLedger.of({"2400", "7770"}, {20001: "2400", 10001: "1500"})
    assert (
        problems(
            roles, {"intermediate": AccountRef(account="2400", party=20001), "fees": AccountRef(account="7770")}, ledger
        )
        == []
    )
    found = problems(
        roles, {"intermediate": AccountRef(account="2400", party=10001), "other": AccountRef(account="1920")}, ledger
    )
    assert found == [
        "intermediate: party 10001 belongs under account 1500, not 2400",
        "no account mapped for fees (y)",
        "roles this provider does not use: other",
    ]
    assert problems(
        roles, {"intermediate": AccountRef(account="2960"), "fees": AccountRef(account="7770")}, ledger
    ) == ["intermediate: account 2960 does not exist in the ledger"]


def test_reconciliation_lists_what_is_left_after_settlement_with_its_vouchers() -> None:
    done, open_ = case(), case()
    open_.invoice_number = "1002"
    for c in (done, open_):
        for event in domain_example(c):
            run(ABC, c, ABC.translate(event))
    ledger = {"intermediate": {"1001": LedgerBalance(0, ["FACTORING-1"]), "1002": LedgerBalance(-500, ["F-9"])}}
    report = reconcile(ABC, [done, open_], ledger, {})
    assert report["finished_with_zero_balance"] == 1
    assert [d["invoice_number"] for d in report["differences"]] == ["1002"]
    assert report["differences"][0]["accounts"]["intermediate"] == {
        "expected_ore": 0,
        "ledger_ore": -500,
        "difference_ore": -500,
        "vouchers": ["F-9"],
    }


def test_permutations_of_a_short_life_all_converge() -> None:
    c = case()
    translations = [ABC.translate(e) for e in domain_example(c)[:4]]
    outcomes = {
        tuple(sorted(balances(deliver_shuffled(ABC, _fresh(c), translations, list(order))).items()))
        for order in itertools.permutations(range(4))
    }
    assert len(outcomes) == 1


def test_a_direct_payment_goes_through_the_deviation_account_and_is_passed_on() -> None:
    payment = DirectPaymentReceived(
        client_id="c1",
        invoice_id=uuid.uuid4(),
        invoice_number="1001",
        payment_id=uuid.uuid4(),
        amount_ore=1_250_000,
        paid_on=DAY,
        provider="abc-factoring",
    )
    vouchers = direct_payment_vouchers("abc-factoring", "ABC Factoring", payment, ACCOUNTS)
    assert [v.idempotency_key for v in vouchers] == [
        f"abc-factoring:direct-payment:{payment.invoice_id}:{payment.payment_id}",
        f"abc-factoring:direct-payment:{payment.invoice_id}:{payment.payment_id}:passed-on",
    ]
    assert [[(line.account, line.signed_ore) for line in v.lines] for v in vouchers] == [
        [("1920", 1_250_000), ("2900", -1_250_000)],
        [("2900", 1_250_000), ("1920", -1_250_000)],
    ]
    assert all(line.open_item == "1001" for v in vouchers for line in v.lines if line.account == "2900")
    notices = [ADAPTERS[slug].direct_payment(payment) for slug in ("abc-factoring", "fjord-invoice-sale")]
    assert isinstance(notices[0], abc.AbcDirectPaymentNotice) and notices[0].amount_ore == 1_250_000
    assert isinstance(notices[1], fjord.DirectPaymentNotice) and notices[1].amount == "12500.00"


def _credited(c: Case, amount: int) -> InvoiceCredited:
    return InvoiceCredited(
        client_id=c.client_id,
        invoice_id=c.invoice_id,
        invoice_number=c.invoice_number,
        credit_note_id=uuid.uuid4(),
        amount_ore=amount,
        provider=c.provider,
        reason="returned goods",
        credited_on=DAY,
    )


def test_a_credit_note_on_an_invoice_sold_to_fjord_is_owed_back_to_fjord_not_to_the_receivable() -> None:
    c = case("fjord-invoice-sale")
    purchase = fjord.PurchaseDecision(
        offer_ref=c.invoice_id, decision="APPROVED", purchase_price="12500.00", decided_on=DAY
    )
    vouchers = run(FJORD, c, FJORD.translate(purchase))
    credit = _credited(c, 250_000)
    vouchers += FJORD.credit_vouchers(credit, c, ACCOUNTS)
    lifecycle.record_client_credit(c, credit.amount_ore)
    # invoicing's own bookings: the sale (1500 +12 500) and the credit note (1500 −2 500)
    assert balances(vouchers)["1500"] + 1_250_000 - 250_000 == 0
    assert balances(vouchers)["2400"] == 1_000_000 == FJORD.expected_balances(c)["intermediate"]
    assert [v.voucher_date for v in vouchers[1:]] == [DAY]
    assert ABC.credit_vouchers(credit, case(), ACCOUNTS) == []


def test_a_credit_note_before_fjords_decision_leaves_the_purchase_the_reduced_claim() -> None:
    c = case("fjord-invoice-sale")
    lifecycle.record_client_credit(c, 250_000)
    assert FJORD.credit_vouchers(_credited(c, 250_000), case("fjord-invoice-sale"), ACCOUNTS) == []
    purchase = fjord.PurchaseDecision(
        offer_ref=c.invoice_id, decision="APPROVED", purchase_price="9500.00", decided_on=DAY
    )
    vouchers = run(FJORD, c, FJORD.translate(purchase))
    assert balances(vouchers) == {"1500": -1_000_000, "2400": 950_000, "7770": 50_000}  # 1500 nets to zero
    more = case("fjord-invoice-sale")
    lifecycle.record_client_credit(more, 250_000)
    with pytest.raises(Impossible, match="not within the claim's 10 000,00"):
        lifecycle.apply(more, Step.PURCHASED, 1_000_001)


# --- Fjord: the status follows the whole report and what the buyer owes (issue 19, item 6) --------------------------
def fjord_report(c: Case, report_id: str, *lines: tuple[str, str]) -> fjord.RemittanceReport:
    total = sum(int(amount.replace(".", "")) for _, amount in lines)
    return fjord.RemittanceReport(
        report_id=report_id,
        seller_ref=c.client_id,
        paid_on=DAY,
        total_amount=f"{'-' if total < 0 else ''}{abs(total) // 100}.{abs(total) % 100:02d}",
        lines=[fjord.RemittanceLine(offer_ref=c.invoice_id, line_type=kind, amount=amount) for kind, amount in lines],
    )


def bought(gross: int = 1_250_000) -> Case:
    c = case("fjord-invoice-sale", gross)
    decision = fjord.PurchaseDecision(
        offer_ref=c.invoice_id, decision="APPROVED", purchase_price=f"{gross // 100}.00", decided_on=DAY
    )
    run(FJORD, c, FJORD.translate(decision))
    return c


@pytest.mark.parametrize("order", [("PURCHASE_PRICE", "HOLDBACK"), ("HOLDBACK", "PURCHASE_PRICE")])
def test_a_fjord_report_is_one_fact_whatever_the_order_of_its_lines(order: tuple[str, str]) -> None:
    c = bought(1_000_000)
    amounts = {"PURCHASE_PRICE": "10000.00", "HOLDBACK": "-1000.00"}
    run(FJORD, c, FJORD.translate(fjord_report(c, "R1", *((kind, amounts[kind]) for kind in order))))
    assert c.status is FactoringStatus.PURCHASED and not FJORD.finished(c)
    assert c.description == (
        "Remittance: purchase price 10 000,00 of 10 000,00 paid out, 1 000,00 held back; the buyer has not paid"
    )


def test_a_sold_invoice_paid_out_in_full_without_holdback_waits_for_the_buyer() -> None:
    c = bought()
    run(FJORD, c, FJORD.translate(fjord_report(c, "R1", ("PURCHASE_PRICE", "12500.00"))))
    assert c.status is FactoringStatus.PURCHASED and not FJORD.finished(c)
    run(FJORD, c, FJORD.translate(fjord.BuyerPayment(offer_ref=c.invoice_id, amount="12500.00", paid_on=DAY)))
    assert c.status is FactoringStatus.SETTLED and FJORD.finished(c)


def test_fjord_settles_only_once_the_buyer_has_paid_and_the_holdback_is_released() -> None:
    c = bought()
    run(FJORD, c, FJORD.translate(fjord_report(c, "R1", ("PURCHASE_PRICE", "12500.00"), ("HOLDBACK", "-1250.00"))))
    run(FJORD, c, FJORD.translate(fjord.BuyerPayment(offer_ref=c.invoice_id, amount="5000.00", paid_on=DAY)))
    assert c.status is FactoringStatus.PURCHASED  # a part payment: the buyer still owes 7 500
    assert c.description.startswith("Buyer paid 5 000,00 to Fjord Invoice Sale, 7 500,00 still owed; ")
    run(FJORD, c, FJORD.translate(fjord.BuyerPayment(offer_ref=c.invoice_id, amount="7500.00", paid_on=DAY)))
    assert c.status is FactoringStatus.PAID and not FJORD.finished(c)  # Fjord still keeps 1 250
    assert c.description == (
        "Buyer paid 7 500,00 to Fjord Invoice Sale; purchase price 12 500,00 of 12 500,00 paid out, 1 250,00 held back"
    )
    run(FJORD, c, FJORD.translate(fjord_report(c, "R2", ("HOLDBACK_RELEASE", "1250.00"))))
    assert c.status is FactoringStatus.SETTLED and FJORD.finished(c)
    assert FJORD.expected_balances(c) == {"intermediate": 0, "holdback": 0}


def test_a_credit_note_after_the_sale_is_deducted_by_fjord_and_brings_intermediate_back_to_zero() -> None:
    c = bought()
    vouchers = run(
        FJORD,
        c,
        FJORD.translate(
            fjord_report(c, "R1", ("PURCHASE_PRICE", "12500.00"), ("FEE", "-250.00"), ("HOLDBACK", "-1250.00"))
        ),
    )
    credit = _credited(c, 250_000)
    vouchers += FJORD.credit_vouchers(credit, c, ACCOUNTS)
    lifecycle.record_client_credit(c, credit.amount_ore)
    assert FJORD.expected_balances(c)["intermediate"] == -250_000  # the client owes Fjord the credit back
    run(FJORD, c, FJORD.translate(fjord.BuyerPayment(offer_ref=c.invoice_id, amount="10000.00", paid_on=DAY)))
    run(FJORD, c, FJORD.translate(fjord_report(c, "R2", ("HOLDBACK_RELEASE", "1250.00"))))
    assert c.status is FactoringStatus.PAID and not FJORD.finished(c)  # the credit note is not deducted yet
    assert c.description.endswith("credit notes 0,00 of 2 500,00 deducted; the buyer paid 10 000,00")
    deduction = run(FJORD, c, FJORD.translate(fjord_report(c, "R3", ("CREDIT_NOTE_DEDUCTION", "-2500.00"))))
    assert [(line.account, line.signed_ore, line.open_item) for line in deduction[0].lines] == [
        ("1920", -250_000, None),
        ("2400", 250_000, "1001"),
    ]
    assert c.status is FactoringStatus.SETTLED and FJORD.finished(c)
    assert FJORD.expected_balances(c) == {"intermediate": 0, "holdback": 0}
    vouchers += deduction
    intermediate = sum(line.signed_ore for v in vouchers for line in v.lines if line.account == "2400")
    assert intermediate == -1_250_000  # the purchase's debit is in `bought`'s voucher: with it, zero
    with pytest.raises(NotYet, match="before the client's credit note"):
        lifecycle.apply(c, Step.CREDIT_DEDUCTED, 1)


def test_a_credit_note_deduction_must_be_a_deduction() -> None:
    c = bought()
    with pytest.raises(Impossible, match="CREDIT_NOTE_DEDUCTION must be negative"):
        FJORD.translate(fjord_report(c, "R1", ("CREDIT_NOTE_DEDUCTION", "2500.00")))


def test_a_returned_fjord_invoice_stays_returned_and_says_what_was_netted() -> None:
    c = bought(2_500_000)
    run(
        FJORD,
        c,
        FJORD.translate(
            fjord_report(c, "R1", ("PURCHASE_PRICE", "25000.00"), ("FEE", "-250.00"), ("HOLDBACK", "-2500.00"))
        ),
    )
    back = fjord.RecourseNotice(offer_ref=c.invoice_id, amount="25000.00", returned_on=DAY, reason="unpaid")
    run(FJORD, c, FJORD.translate(back))
    assert c.status is FactoringStatus.RETURNED and not FJORD.finished(c)
    run(
        FJORD,
        c,
        FJORD.translate(fjord_report(c, "R2", ("RECOURSE_NETTING", "-25000.00"), ("HOLDBACK_RELEASE", "2500.00"))),
    )
    assert c.status is FactoringStatus.RETURNED and FJORD.finished(c)
    assert c.description == (
        "Sold back to the client (recourse): 25 000,00, netted; purchase price 25 000,00 of 25 000,00 paid out, "
        "fees 250,00, holdback 2 500,00 released"
    )


def test_a_rejection_shows_the_providers_own_reason() -> None:
    rejected = case()
    event = abc_event(rejected, 1, abc.AbcEventType.REJECTED).model_copy(
        update={"description": "Debtor's credit rating is too low"}
    )
    run(ABC, rejected, ABC.translate(event))
    assert (rejected.status, rejected.description) == (
        FactoringStatus.REJECTED,
        "Rejected by ABC Factoring: Debtor's credit rating is too low",
    )
    silent = case()
    run(ABC, silent, ABC.translate(abc_event(silent, 1, abc.AbcEventType.REJECTED)))
    assert silent.description == "Rejected by ABC Factoring"

    declined = case("fjord-invoice-sale")
    decision = fjord.PurchaseDecision(
        offer_ref=declined.invoice_id, decision="DECLINED", decided_on=DAY, reason="Buyer unknown to us"
    )
    run(FJORD, declined, FJORD.translate(decision))
    assert declined.description == "Declined by Fjord Invoice Sale: Buyer unknown to us"
