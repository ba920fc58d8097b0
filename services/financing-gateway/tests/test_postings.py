"""The optional postings: which accounts are acceptable, and the voucher of a drawdown and a repayment."""

from __future__ import annotations

from datetime import date

import pytest

from financing_gateway.domain.errors import Refused
from financing_gateway.domain.postings import (
    KnownAccount,
    KnownChart,
    KnownParty,
    PostingAccounts,
    check_accounts,
    voucher_for,
)
from ledgerline_contracts.factoring import AccountRef
from ledgerline_contracts.ledger import AccountType, PartyKind, Side

CHART = KnownChart(
    accounts={
        "1920": KnownAccount(AccountType.ASSET, carries_subledger=False),
        "1500": KnownAccount(AccountType.ASSET, carries_subledger=True),
        "2380": KnownAccount(AccountType.LIABILITY, carries_subledger=False),
        "2400": KnownAccount(AccountType.LIABILITY, carries_subledger=True),
        "3000": KnownAccount(AccountType.INCOME, carries_subledger=False),
    },
    parties={20001: KnownParty(PartyKind.SUPPLIER, "2400"), 10001: KnownParty(PartyKind.CUSTOMER, "1500")},
)
ACCOUNTS = PostingAccounts("1920", AccountRef(account="2380"))


@pytest.mark.parametrize(
    "liability", [AccountRef(account="2380"), AccountRef(account="2400", party=20001)], ids=["plain", "supplier"]
)
def test_a_bank_and_a_liability_account_in_the_chart_are_accepted(liability: AccountRef) -> None:
    assert check_accounts("1920", liability, CHART) == PostingAccounts("1920", liability)


@pytest.mark.parametrize(
    ("bank", "liability", "code"),
    [
        ("1910", AccountRef(account="2380"), "unknown_account"),
        ("1500", AccountRef(account="2380"), "not_a_bank_account"),
        ("1920", AccountRef(account="2390"), "unknown_account"),
        ("1920", AccountRef(account="3000"), "not_a_liability"),
        ("1920", AccountRef(account="2400"), "party_required"),
        ("1920", AccountRef(account="2400", party=20999), "unknown_party"),
        ("1920", AccountRef(account="2400", party=10001), "unknown_party"),
        ("1920", AccountRef(account="2380", party=20001), "wrong_control_account"),
    ],
)
def test_accounts_the_ledger_would_refuse_are_refused_up_front(bank: str, liability: AccountRef, code: str) -> None:
    with pytest.raises(Refused) as refused:
        check_accounts(bank, liability, CHART)
    assert refused.value.code == code


def test_a_drawdown_books_bank_against_the_financing_liability() -> None:
    voucher = voucher_for("c1", "drawdown", "dd-1", 5_000_000, date(2026, 11, 23), ACCOUNTS)
    assert [(line.account, line.side, line.amount_ore) for line in voucher.lines] == [
        ("1920", Side.DEBIT, 5_000_000),
        ("2380", Side.CREDIT, 5_000_000),
    ]
    assert voucher.voucher_date == date(2026, 11, 23)
    assert voucher.idempotency_key == "buffer:drawdown:dd-1"
    assert voucher.source.provider == "buffer" and voucher.source.provider_event_id == "dd-1"


def test_a_repayment_books_the_reverse_with_its_own_key() -> None:
    liability = AccountRef(account="2400", party=20001)
    voucher = voucher_for("c1", "repayment", "rp-1", 1_000_000, date(2026, 11, 24), PostingAccounts("1920", liability))
    assert [(line.account, line.side, line.party) for line in voucher.lines] == [
        ("1920", Side.CREDIT, None),
        ("2400", Side.DEBIT, 20001),
    ]
    assert voucher.idempotency_key == "buffer:repayment:rp-1"


def test_the_same_provider_transaction_always_gives_the_same_key() -> None:
    first = voucher_for("c1", "drawdown", "dd-7", 100, date(2026, 11, 23), ACCOUNTS)
    again = voucher_for("c1", "drawdown", "dd-7", 100, date(2026, 11, 23), ACCOUNTS)
    assert first.idempotency_key == again.idempotency_key and first.message_id != again.message_id
