"""What kind of account a role needs, in the terms of the Norwegian standard chart of accounts (NS 4102).

A client's chart may add accounts, but their numbers keep the standard's meaning: the first digit is the class
(1 assets, 2 equity and liabilities, 3 operating income, 4-7 operating expenses, 8 financial items, tax and the
result) and within class 8, 80 is financial income and 81 financial expenses. The ledger also stores each
account's type; where it is known, the type must agree too, so "2400" typed as an asset is no liability.

Both the factoring gateway (a provider's account roles) and invoicing (its own posting accounts) check a mapped
account against these classes before anything is booked on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .ledger import AccountType, ControlRole, PartyKind


@dataclass(frozen=True)
class ChartAccount:
    """One account as the ledger's chart shows it (`account_type`/`control_role` None when not known)."""

    number: str
    account_type: AccountType | None = None
    control_role: ControlRole | None = None


@dataclass(frozen=True)
class AccountClass:
    """The accounts a role may use: number ranges (NS 4102 prefixes) of the right type, and optionally a party
    of a sub-ledger series instead (whose control account is then the account)."""

    words: str
    prefixes: tuple[str, ...]
    types: frozenset[AccountType]
    control_role: ControlRole | None = None
    party_kind: PartyKind | None = None

    def refusal(self, account: ChartAccount, party_kind: PartyKind | None = None) -> str | None:
        """Why the account (with the kind of its party, when one is mapped) is the wrong class, or None."""
        if party_kind is not None and party_kind is self.party_kind:
            return None
        wrong = (
            not account.number.startswith(self.prefixes)
            or (account.account_type is not None and account.account_type not in self.types)
            # Only an account the chart made a control account carries the sub-ledger's parties.
            or (
                self.control_role is not None
                and account.account_type is not None
                and account.control_role is not self.control_role
            )
        )
        if not wrong:
            return None
        what = f"account {account.number}" + (f" ({account.account_type.value})" if account.account_type else "")
        return f"{what} is not {self.words}"


L, A = AccountType.LIABILITY, AccountType.ASSET
LIABILITY = AccountClass("a liability (NS 4102 class 2)", ("2",), frozenset({L}))
LIABILITY_OR_SUPPLIER = AccountClass(
    "a liability (NS 4102 class 2) or a supplier party", ("2",), frozenset({L}), party_kind=PartyKind.SUPPLIER
)
ASSET = AccountClass("an asset (NS 4102 class 1)", ("1",), frozenset({A}))
ASSET_OR_SUPPLIER = AccountClass(
    "an asset (NS 4102 class 1) or a supplier party", ("1",), frozenset({A}), party_kind=PartyKind.SUPPLIER
)
BALANCE_SHEET = AccountClass("a balance-sheet account (NS 4102 class 1 or 2)", ("1", "2"), frozenset({A, L}))
BANK = AccountClass("a bank account (NS 4102 19xx)", ("19",), frozenset({A}))
RECEIVABLES = AccountClass(
    "a customer receivables account (NS 4102 15xx, carrying the customer sub-ledger)",
    ("15",),
    frozenset({A}),
    control_role=ControlRole.ACCOUNTS_RECEIVABLE,
)
EXPENSE = AccountClass(
    "an expense (NS 4102 classes 4-7, or 81 financial expenses)",
    ("4", "5", "6", "7", "81"),
    frozenset({AccountType.EXPENSE}),
)
FINANCIAL_INCOME = AccountClass("financial income (NS 4102 80xx)", ("80",), frozenset({AccountType.INCOME}))
SALES = AccountClass("operating income (NS 4102 class 3)", ("3",), frozenset({AccountType.INCOME}))
OUTPUT_VAT = AccountClass("an output VAT account (NS 4102 27xx, a liability)", ("27",), frozenset({L}))


def accounts_of(chart: dict[str, Any]) -> dict[str, ChartAccount]:
    """The accounts of the ledger's chart query (`GET /clients/{client_id}/chart`), by number."""
    return {
        a["number"]: ChartAccount(
            a["number"],
            AccountType(a["account_type"]),
            ControlRole(a["control_role"]) if a.get("control_role") else None,
        )
        for a in chart["accounts"]
    }


def series_holding(chart: dict[str, Any], number: int) -> dict[str, Any] | None:
    """The sub-ledger series whose number range holds a party number, as the chart query shows it."""
    return next((s for s in chart["series"] if s["first_number"] <= number <= s["last_number"]), None)
