"""The ledger's rules, without I/O: what makes a voucher acceptable, and what a chart change may do.

Each rule that fails raises `Refused` with a code (for counting) and a reason an accountant can act on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from uuid import UUID

from ledgerline_contracts.ledger import (
    ControlRole,
    CreateSubledgerSeries,
    PartyKind,
    PostVoucher,
    Side,
    UpsertAccount,
    UpsertParty,
    VoucherLine,
)
from ledgerline_contracts.money import format_nok

from .chart import Account, Chart, Party, Series


class Refused(Exception):
    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Line:
    """A validated posting line; `amount_ore` is signed: debit positive, credit negative."""

    line_number: int
    account: str
    amount_ore: int
    party: int | None
    open_item: str | None
    due_date: date | None
    vat_code: str | None
    description: str | None


_KIND_FOR_ROLE = {ControlRole.ACCOUNTS_RECEIVABLE: PartyKind.CUSTOMER, ControlRole.ACCOUNTS_PAYABLE: PartyKind.SUPPLIER}


def check_voucher(command: PostVoucher, chart: Chart) -> list[Line]:
    """The lines of an acceptable voucher, or `Refused` naming the first thing wrong with it."""
    if chart.version == 0:
        raise Refused("unknown_client", f"client {command.client_id} has no books: open them first")
    if chart.closed_through is not None and command.voucher_date <= chart.closed_through:
        raise Refused(
            "closed_period",
            f"voucher date {command.voucher_date} is in a closed period (closed through {chart.closed_through})",
        )
    debit = sum(line.amount_ore for line in command.lines if line.side is Side.DEBIT)
    credit = sum(line.amount_ore for line in command.lines if line.side is Side.CREDIT)
    if debit != credit:
        raise Refused(
            "unbalanced",
            f"voucher does not balance: debit {format_nok(debit)} ≠ credit {format_nok(credit)} "
            f"(difference {format_nok(debit - credit)})",
        )
    return [_check_line(n, line, chart) for n, line in enumerate(command.lines, start=1)]


def _check_line(number: int, line: VoucherLine, chart: Chart) -> Line:
    account = chart.accounts.get(line.account)
    if account is None:
        raise Refused("unknown_account", f"line {number}: account {line.account} is not in the chart")
    if line.party is not None:
        party = chart.parties.get(line.party)
        if party is None:
            raise Refused("unknown_party", f"line {number}: sub-ledger party {line.party} does not exist")
        if party.control_account != account.number:
            raise Refused(
                "wrong_control_account",
                f"line {number}: party {party.number} ({party.name}) belongs under account "
                f"{party.control_account}, not {account.number}",
            )
    elif account.control_role is not None:
        raise Refused(
            "party_required",
            f"line {number}: account {account.number} carries a sub-ledger; name the customer or supplier",
        )
    return Line(
        line_number=number,
        account=account.number,
        amount_ore=line.signed_ore,
        party=line.party,
        open_item=line.open_item,
        due_date=line.due_date,
        vat_code=line.vat_code,
        description=line.description,
    )


def reversal_lines(original: list[Line]) -> list[Line]:
    """The mirror image of a voucher: every amount with the opposite sign, the same accounts and items."""
    return [
        Line(
            line_number=line.line_number,
            account=line.account,
            amount_ore=-line.amount_ore,
            party=line.party,
            open_item=line.open_item,
            due_date=None,
            vat_code=line.vat_code,
            description=line.description,
        )
        for line in original
    ]


def check_reversal(original_id: UUID, already_reversed: bool, voucher_date: date, chart: Chart) -> None:
    if already_reversed:
        raise Refused("already_reversed", f"voucher {original_id} has already been reversed")
    if chart.closed_through is not None and voucher_date <= chart.closed_through:
        raise Refused("closed_period", f"reversal date {voucher_date} is in a closed period")


def check_account_change(command: UpsertAccount, chart: Chart) -> Account:
    existing = chart.accounts.get(command.number)
    carries_series = existing is not None and any(s.control_account == existing.number for s in chart.series.values())
    if existing is not None and existing.control_role != command.control_role and carries_series:
        raise Refused(
            "account_in_use",
            f"account {existing.number} carries a sub-ledger series; its control role cannot change",
        )
    return Account(command.number, command.name, command.account_type, command.control_role)


def check_new_series(command: CreateSubledgerSeries, chart: Chart) -> Series:
    if command.code in chart.series:
        raise Refused("series_exists", f"sub-ledger series {command.code} already exists")
    control = chart.accounts.get(command.control_account)
    if control is None:
        raise Refused("unknown_account", f"control account {command.control_account} is not in the chart")
    if control.control_role is None or _KIND_FOR_ROLE[control.control_role] is not command.kind:
        raise Refused(
            "not_a_control_account",
            f"account {control.number} is not a {command.kind.value} control account "
            f"(it needs control role {_role_for(command.kind).value})",
        )
    series = Series(
        command.code, command.name, command.kind, command.control_account, command.first_number, command.last_number
    )
    for other in chart.series.values():
        if other.overlaps(series):
            raise Refused(
                "overlapping_series",
                f"numbers {series.first_number}–{series.last_number} overlap series {other.code} "
                f"({other.first_number}–{other.last_number})",
            )
    return series


def check_party(command: UpsertParty, chart: Chart) -> Party:
    series = chart.series_for(command.number)
    if series is None:
        raise Refused("no_series", f"party number {command.number} is in no sub-ledger series")
    if series.kind is not command.kind:
        raise Refused(
            "wrong_series_kind",
            f"party {command.number} is a {command.kind.value}, but series {series.code} holds {series.kind.value}s",
        )
    return Party(command.number, command.name, command.kind, series.code, series.control_account)


def _role_for(kind: PartyKind) -> ControlRole:
    return next(role for role, k in _KIND_FOR_ROLE.items() if k is kind)
