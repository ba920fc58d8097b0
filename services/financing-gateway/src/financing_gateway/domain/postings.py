"""The optional automatic postings of money moved on the provider account.

Manual by default (as the source help page says). A client that turns them on names a bank account and a
financing liability; then a drawdown is booked bank debit / liability credit, and a repayment the reverse. The
idempotency key comes from the provider's own transaction id, so the ledger books each one exactly once,
however often the provider's event arrives.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from ledgerline_contracts.factoring import AccountRef
from ledgerline_contracts.financing import PROVIDER, PROVIDER_NAME
from ledgerline_contracts.ledger import AccountType, BookingSource, PartyKind, PostVoucher, Side, VoucherLine
from ledgerline_contracts.money import format_nok

from .. import SERVICE
from .errors import Refused

TransactionKind = Literal["drawdown", "repayment"]


@dataclass(frozen=True, slots=True)
class KnownAccount:
    account_type: AccountType
    carries_subledger: bool


@dataclass(frozen=True, slots=True)
class KnownParty:
    kind: PartyKind
    control_account: str


@dataclass(frozen=True, slots=True)
class KnownChart:
    """The client's chart as the gateway last heard of it from the ledger's events."""

    accounts: dict[str, KnownAccount] = field(default_factory=dict)
    parties: dict[int, KnownParty] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PostingAccounts:
    bank_account: str
    liability: AccountRef


def check_accounts(bank_account: str, liability: AccountRef, chart: KnownChart) -> PostingAccounts:
    """The accounts if the ledger will take postings on them, or `Refused` naming what is wrong."""
    bank = chart.accounts.get(bank_account)
    if bank is None:
        raise Refused("unknown_account", f"bank account {bank_account} is not in the client's chart")
    if bank.account_type is not AccountType.ASSET or bank.carries_subledger:
        raise Refused("not_a_bank_account", f"account {bank_account} is not a plain asset account, so not a bank")
    account = chart.accounts.get(liability.account)
    if account is None:
        raise Refused("unknown_account", f"liability account {liability.account} is not in the client's chart")
    if account.account_type is not AccountType.LIABILITY:
        raise Refused(
            "not_a_liability",
            f"account {liability.account} is an {account.account_type.value} account; "
            f"financing from {PROVIDER_NAME} is a liability",
        )
    if liability.party is None:
        if account.carries_subledger:
            raise Refused(
                "party_required",
                f"account {liability.account} carries a sub-ledger; name {PROVIDER_NAME} as a supplier party on it",
            )
        return PostingAccounts(bank_account, liability)
    party = chart.parties.get(liability.party)
    if party is None or party.kind is not PartyKind.SUPPLIER:
        raise Refused("unknown_party", f"supplier party {liability.party} is not in the client's sub-ledger")
    if party.control_account != liability.account:
        raise Refused(
            "wrong_control_account",
            f"supplier {liability.party} belongs under account {party.control_account}, not {liability.account}",
        )
    return PostingAccounts(bank_account, liability)


def idempotency_key(kind: TransactionKind, transaction_id: str) -> str:
    return f"{PROVIDER}:{kind}:{transaction_id}"


def voucher_for(
    client_id: str,
    kind: TransactionKind,
    transaction_id: str,
    amount_ore: int,
    on: date,
    accounts: PostingAccounts,
    correlation_id: str | None = None,
) -> PostVoucher:
    """The voucher an accountant would book by hand for one drawdown or repayment."""
    into_bank = kind == "drawdown"
    liability = accounts.liability
    bank_side, liability_side = (Side.DEBIT, Side.CREDIT) if into_bank else (Side.CREDIT, Side.DEBIT)
    text = f"{PROVIDER_NAME} {kind} {transaction_id} {format_nok(amount_ore)}"
    return PostVoucher(
        reply=False,
        client_id=client_id,
        correlation_id=correlation_id,
        idempotency_key=idempotency_key(kind, transaction_id),
        voucher_date=on,
        text=text[:200],
        lines=[
            VoucherLine(account=accounts.bank_account, side=bank_side, amount_ore=amount_ore),
            VoucherLine(
                account=liability.account,
                side=liability_side,
                amount_ore=amount_ore,
                party=liability.party,
                description=f"{PROVIDER_NAME} account",
            ),
        ],
        source=BookingSource(
            service=SERVICE, provider=PROVIDER, event_type=f"{PROVIDER}.{kind}", provider_event_id=transaction_id
        ),
    )
