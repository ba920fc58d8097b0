"""A client's chart of accounts and sub-ledgers, and the default chart a new client starts with."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from ledgerline_contracts.ledger import AccountType, ControlRole, PartyKind


@dataclass(frozen=True, slots=True)
class Account:
    number: str
    name: str
    account_type: AccountType
    control_role: ControlRole | None = None


@dataclass(frozen=True, slots=True)
class Series:
    """A numbered range of sub-ledger parties under one control account (reskontroserie)."""

    code: str
    name: str
    kind: PartyKind
    control_account: str
    first_number: int
    last_number: int

    def holds(self, number: int) -> bool:
        return self.first_number <= number <= self.last_number

    def overlaps(self, other: Series) -> bool:
        return self.first_number <= other.last_number and other.first_number <= self.last_number


@dataclass(frozen=True, slots=True)
class Party:
    number: int
    name: str
    kind: PartyKind
    series: str
    control_account: str


@dataclass
class Chart:
    client_id: str
    version: int = 0
    accounts: dict[str, Account] = field(default_factory=dict)
    series: dict[str, Series] = field(default_factory=dict)
    parties: dict[int, Party] = field(default_factory=dict)
    closed_through: date | None = None

    def series_for(self, number: int) -> Series | None:
        return next((s for s in self.series.values() if s.holds(number)), None)


A, L, E, I, X = AccountType.ASSET, AccountType.LIABILITY, AccountType.EQUITY, AccountType.INCOME, AccountType.EXPENSE

DEFAULT_ACCOUNTS: tuple[Account, ...] = (
    Account("1500", "Kundefordringer", A, ControlRole.ACCOUNTS_RECEIVABLE),
    Account("1580", "Avsetning tap på fordringer", A),
    Account("1920", "Bankinnskudd", A),
    Account("2000", "Aksjekapital", E),
    Account("2050", "Annen egenkapital", E),
    Account("2400", "Leverandørgjeld", L, ControlRole.ACCOUNTS_PAYABLE),
    Account("2700", "Utgående merverdiavgift", L),
    Account("2710", "Inngående merverdiavgift", A),
    Account("2740", "Oppgjørskonto merverdiavgift", L),
    Account("2900", "Annen kortsiktig gjeld", L),
    Account("3000", "Salgsinntekt, avgiftspliktig", I),
    Account("3100", "Salgsinntekt, avgiftsfri", I),
    Account("6800", "Kontorrekvisita", X),
    Account("7770", "Bank- og kortgebyrer", X),
    Account("7830", "Tap på fordringer", X),
    Account("8050", "Annen renteinntekt", I),
    Account("8150", "Annen rentekostnad", X),
)
"""A subset of the Norwegian standard chart (NS 4102); a client may change or add to it."""

DEFAULT_SERIES: tuple[Series, ...] = (
    Series("CUSTOMERS", "Kunder", PartyKind.CUSTOMER, "1500", 10000, 19999),
    Series("SUPPLIERS", "Leverandører", PartyKind.SUPPLIER, "2400", 20000, 29999),
)
