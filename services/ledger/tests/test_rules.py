"""The ledger's rules on their own: no broker, no database."""

from __future__ import annotations

from datetime import date

import pytest

from ledger.domain.chart import DEFAULT_ACCOUNTS, DEFAULT_SERIES, Chart, Party
from ledger.domain.reports import OpenItem, age_bucket, aged_receivables
from ledger.domain.rules import Refused, check_new_series, check_party, check_voucher, reversal_lines
from ledgerline_contracts.ledger import (
    BookingSource,
    CreateSubledgerSeries,
    PartyKind,
    PostVoucher,
    UpsertParty,
    VoucherLine,
)

TODAY = date(2026, 11, 23)


def chart() -> Chart:
    c = Chart("c1", version=1)
    c.accounts = {a.number: a for a in DEFAULT_ACCOUNTS}
    c.series = {s.code: s for s in DEFAULT_SERIES}
    c.parties = {
        10001: Party(10001, "Kunde C", PartyKind.CUSTOMER, "CUSTOMERS", "1500"),
        20001: Party(20001, "ABC Factoring", PartyKind.SUPPLIER, "SUPPLIERS", "2400"),
    }
    return c


def voucher(*lines: VoucherLine, day: date = TODAY) -> PostVoucher:
    return PostVoucher(
        client_id="c1",
        idempotency_key="k",
        voucher_date=day,
        text="t",
        lines=list(lines),
        source=BookingSource(service="test"),
    )


def debit(account: str, ore: int, **kw: object) -> VoucherLine:
    return VoucherLine(account=account, side="debit", amount_ore=ore, **kw)  # type: ignore[arg-type]


def credit(account: str, ore: int, **kw: object) -> VoucherLine:
    return VoucherLine(account=account, side="credit", amount_ore=ore, **kw)  # type: ignore[arg-type]


def test_a_balanced_invoice_voucher_gives_signed_lines() -> None:
    lines = check_voucher(
        voucher(
            debit("1500", 1_250_000, party=10001, open_item="1", due_date=TODAY),
            credit("3000", 1_000_000),
            credit("2700", 250_000),
        ),
        chart(),
    )
    assert [line.amount_ore for line in lines] == [1_250_000, -1_000_000, -250_000]
    assert sum(line.amount_ore for line in lines) == 0
    assert lines[0].party == 10001 and lines[0].open_item == "1"


def test_an_unbalanced_voucher_is_refused_with_the_difference_in_words() -> None:
    with pytest.raises(Refused) as refused:
        check_voucher(voucher(debit("1920", 100), credit("3000", 99)), chart())
    assert refused.value.code == "unbalanced"
    assert "difference 0,01" in refused.value.reason


@pytest.mark.parametrize(
    ("lines", "code"),
    [
        ((debit("9999", 100), credit("3000", 100)), "unknown_account"),
        ((debit("1500", 100, party=10999), credit("3000", 100)), "unknown_party"),
        ((debit("1500", 100), credit("3000", 100)), "party_required"),
        ((debit("1920", 100, party=10001), credit("3000", 100)), "wrong_control_account"),
        ((debit("2400", 100, party=10001), credit("3000", 100)), "wrong_control_account"),
    ],
)
def test_lines_that_name_the_wrong_things_are_refused(lines: tuple[VoucherLine, ...], code: str) -> None:
    with pytest.raises(Refused) as refused:
        check_voucher(voucher(*lines), chart())
    assert refused.value.code == code


def test_a_closed_period_refuses_vouchers_dated_in_it() -> None:
    c = chart()
    c.closed_through = date(2026, 10, 31)
    with pytest.raises(Refused, match="closed period"):
        check_voucher(voucher(debit("1920", 1), credit("3000", 1), day=date(2026, 10, 31)), c)
    assert check_voucher(voucher(debit("1920", 1), credit("3000", 1), day=date(2026, 11, 1)), c)


def test_a_client_without_books_books_nothing() -> None:
    with pytest.raises(Refused) as refused:
        check_voucher(voucher(debit("1920", 1), credit("3000", 1)), Chart("nobody"))
    assert refused.value.code == "unknown_client"


def test_float_amounts_never_reach_the_rules() -> None:
    with pytest.raises(ValueError, match="valid integer"):
        VoucherLine.model_validate({"account": "1920", "side": "debit", "amount_ore": 1.5})


def test_a_reversal_mirrors_every_line() -> None:
    lines = check_voucher(
        voucher(
            debit("1500", 500, party=10001, open_item="7", due_date=TODAY), credit("3000", 400), credit("2700", 100)
        ),
        chart(),
    )
    mirrored = reversal_lines(lines)
    assert [line.amount_ore for line in mirrored] == [-500, 400, 100]
    assert mirrored[0].open_item == "7" and mirrored[0].due_date is None


def test_a_dedicated_series_for_a_provider_must_sit_under_a_payables_control_account() -> None:
    command = CreateSubledgerSeries(
        client_id="c1",
        code="ABC",
        name="ABC Factoring",
        kind="supplier",
        control_account="2400",
        first_number=30000,
        last_number=30099,
    )
    series = check_new_series(command, chart())
    assert series.control_account == "2400" and series.holds(30000)
    with pytest.raises(Refused) as refused:
        check_new_series(command.model_copy(update={"control_account": "1920"}), chart())
    assert refused.value.code == "not_a_control_account"
    with pytest.raises(Refused) as refused:
        check_new_series(command.model_copy(update={"first_number": 29990}), chart())
    assert refused.value.code == "overlapping_series"


def test_a_party_lands_in_the_series_whose_range_holds_its_number() -> None:
    party = check_party(UpsertParty(client_id="c1", number=20002, name="ABC", kind="supplier"), chart())
    assert party.series == "SUPPLIERS" and party.control_account == "2400"
    with pytest.raises(Refused) as refused:
        check_party(UpsertParty(client_id="c1", number=20002, name="ABC", kind="customer"), chart())
    assert refused.value.code == "wrong_series_kind"
    with pytest.raises(Refused) as refused:
        check_party(UpsertParty(client_id="c1", number=50000, name="X", kind="customer"), chart())
    assert refused.value.code == "no_series"


@pytest.mark.parametrize(
    ("due", "bucket"),
    [
        (TODAY, "not_due"),
        (date(2026, 11, 22), "1_30"),
        (date(2026, 10, 24), "1_30"),
        (date(2026, 10, 23), "31_60"),
        (date(2026, 9, 24), "31_60"),
        (date(2026, 9, 23), "61_90"),
        (date(2026, 8, 25), "61_90"),
        (date(2026, 8, 24), "over_90"),
        (None, "not_due"),
    ],
)
def test_age_buckets_by_days_past_due(due: date | None, bucket: str) -> None:
    assert age_bucket(due, TODAY) == bucket


def test_aged_receivables_sum_per_party_and_in_total() -> None:
    report = aged_receivables(
        [
            OpenItem(10001, "1", 100, 100, TODAY),
            OpenItem(10001, "2", 50, 30, date(2026, 7, 1)),
            OpenItem(10002, "3", 70, 70, date(2026, 11, 1)),
        ],
        TODAY,
    )
    assert report["total_ore"] == {"not_due": 100, "1_30": 70, "31_60": 0, "61_90": 0, "over_90": 30}
    assert report["parties"][0] == {
        "party": 10001,
        "not_due": 100,
        "1_30": 0,
        "31_60": 0,
        "61_90": 0,
        "over_90": 30,
        "total_ore": 130,
    }


def test_aged_receivables_list_every_item_with_its_bucket() -> None:
    overdue = OpenItem(10001, "2", 50, 30, date(2026, 7, 1))
    report = aged_receivables([OpenItem(10001, "1", 100, 100, TODAY), overdue], TODAY)
    assert report["items"] == [
        {
            "party": 10001,
            "open_item": "1",
            "original_ore": 100,
            "balance_ore": 100,
            "due_date": TODAY,
            "bucket": "not_due",
        },
        {
            "party": 10001,
            "open_item": "2",
            "original_ore": 50,
            "balance_ore": 30,
            "due_date": overdue.due_date,
            "bucket": "over_90",
        },
    ]
