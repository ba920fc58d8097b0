"""The plain data a SAF-T Financial file is built from, as the ledger's read side hands it over (amounts in øre,
signed: debit positive, credit negative)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date


@dataclass(frozen=True, slots=True)
class Company:
    name: str
    organisation_number: str | None = None
    """Not kept by the ledger (invoicing owns the client's master data): given by the caller."""
    contact_name: str | None = None
    contact_phone: str | None = None


@dataclass(frozen=True, slots=True)
class AccountBalance:
    number: str
    name: str
    opening_ore: int
    """Balance before the first day of the selection."""
    closing_ore: int
    """Balance at the end of its last day."""


@dataclass(frozen=True, slots=True)
class PartyBalance:
    account: str
    opening_ore: int
    closing_ore: int


@dataclass(frozen=True, slots=True)
class Party:
    number: int
    name: str
    kind: str
    """"customer" or "supplier"."""
    control_account: str | None
    balances: tuple[PartyBalance, ...] = ()
    """Per account the party's lines were posted to; empty if it has none."""


@dataclass(frozen=True, slots=True)
class Line:
    line_number: int
    account: str
    amount_ore: int
    party: int | None = None
    vat_code: str | None = None
    description: str | None = None
    due_date: date | None = None


@dataclass(frozen=True, slots=True)
class Voucher:
    series: str
    number: int
    voucher_date: date
    text: str
    entered_on: date
    """The day it was booked (Oslo time): SystemEntryDate and GLPostingDate."""
    lines: tuple[Line, ...]


@dataclass(frozen=True, slots=True)
class Ledger:
    client_id: str
    company: Company
    start: date
    end: date
    accounts: tuple[AccountBalance, ...]
    parties: tuple[Party, ...]
    vouchers: tuple[Voucher, ...] = field(default=())
    """The vouchers dated within the selection."""
