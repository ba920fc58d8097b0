"""Ledger contracts: the only way anything gets booked.

Amounts are whole øre. A voucher line is a debit or a credit of a positive amount; a voucher balances when
its debits equal its credits. Account numbers are the client's own (configuration, never hard-coded).
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field, StringConstraints, model_validator

from .messages import Catalogue, ClientMessage, Command, Part
from .money import Ore, PositiveOre

AccountNumber = Annotated[str, StringConstraints(pattern=r"^[0-9]{4,6}$")]
"""An account in the client's chart, e.g. "1500"."""

SeriesCode = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9_]{0,15}$")]
IdempotencyKey = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class AccountType(StrEnum):
    ASSET = "asset"
    LIABILITY = "liability"
    EQUITY = "equity"
    INCOME = "income"
    EXPENSE = "expense"


class ControlRole(StrEnum):
    """An account that carries a sub-ledger (reskontro)."""

    ACCOUNTS_RECEIVABLE = "accounts_receivable"
    ACCOUNTS_PAYABLE = "accounts_payable"


class PartyKind(StrEnum):
    CUSTOMER = "customer"
    SUPPLIER = "supplier"


class Side(StrEnum):
    DEBIT = "debit"
    CREDIT = "credit"


class BookingSource(Part):
    """What caused a voucher: which service, and for provider events which provider and event."""

    service: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    provider: str | None = None
    event_type: str | None = Field(default=None, max_length=80)
    provider_event_id: str | None = Field(default=None, max_length=200)
    invoice_id: UUID | None = None


class VoucherLine(Part):
    account: AccountNumber
    side: Side
    amount_ore: PositiveOre
    party: int | None = Field(default=None, ge=1, description="Sub-ledger party number (customer or supplier).")
    open_item: str | None = Field(
        default=None, max_length=40, description="The invoice number this line settles or opens (open item)."
    )
    due_date: date | None = Field(default=None, description="Set on the line that opens a receivable.")
    vat_code: str | None = Field(default=None, max_length=8)
    description: str | None = Field(default=None, max_length=200)

    @property
    def signed_ore(self) -> int:
        return self.amount_ore if self.side is Side.DEBIT else -self.amount_ore


# --- commands -----------------------------------------------------------------------------------------------------
class OpenBooks(Command):
    """Start a client's books: the default chart (an NS 4102 subset), customer and supplier series."""

    type: Literal["ledger.OpenBooks"] = "ledger.OpenBooks"
    version: Literal[1] = 1
    company_name: str = Field(min_length=1, max_length=200)
    seed_default_chart: bool = True


class UpsertAccount(Command):
    type: Literal["ledger.UpsertAccount"] = "ledger.UpsertAccount"
    version: Literal[1] = 1
    number: AccountNumber
    name: str = Field(min_length=1, max_length=120)
    account_type: AccountType
    control_role: ControlRole | None = None


class CreateSubledgerSeries(Command):
    """A numbered range of parties under a control account, e.g. a dedicated series for a factoring provider."""

    type: Literal["ledger.CreateSubledgerSeries"] = "ledger.CreateSubledgerSeries"
    version: Literal[1] = 1
    code: SeriesCode
    name: str = Field(min_length=1, max_length=120)
    kind: PartyKind
    control_account: AccountNumber
    first_number: int = Field(ge=1)
    last_number: int = Field(ge=1)

    @model_validator(mode="after")
    def _range(self) -> CreateSubledgerSeries:
        if self.last_number < self.first_number:
            raise ValueError("last_number is below first_number")
        return self


class UpsertParty(Command):
    """A customer or supplier in the sub-ledger; the series is the one whose range holds the number."""

    type: Literal["ledger.UpsertParty"] = "ledger.UpsertParty"
    version: Literal[1] = 1
    number: int = Field(ge=1)
    name: str = Field(min_length=1, max_length=200)
    kind: PartyKind


class ClosePeriod(Command):
    """No voucher dated on or before `through` is accepted afterwards."""

    type: Literal["ledger.ClosePeriod"] = "ledger.ClosePeriod"
    version: Literal[1] = 1
    through: date


class ReopenPeriod(Command):
    """Re-opens the closed period from `reopen_from` on (a correction after closing): vouchers dated from that day
    are accepted again. Only a platform operator with the `ledger.periods` privilege; the reason is kept with who
    did it in the ledger's record of operator actions."""

    type: Literal["ledger.ReopenPeriod"] = "ledger.ReopenPeriod"
    version: Literal[1] = 1
    reopen_from: date
    reason: str = Field(min_length=1, max_length=500)


MAX_VOUCHER_LINES = 500
"""The most lines one voucher may have; a producer with more splits them over several balanced vouchers."""


class PostVoucher(Command):
    """Book one voucher. `idempotency_key` makes it exactly once: a repeat yields the original result."""

    type: Literal["ledger.PostVoucher"] = "ledger.PostVoucher"
    version: Literal[1] = 1
    idempotency_key: IdempotencyKey
    series: SeriesCode = "GENERAL"
    voucher_date: date
    text: str = Field(min_length=1, max_length=200)
    lines: list[VoucherLine] = Field(min_length=2, max_length=MAX_VOUCHER_LINES)
    source: BookingSource
    reverses_voucher_id: UUID | None = None


class ReverseVoucher(Command):
    """Correct a voucher by booking its mirror image, linked to the original. Postings are never changed."""

    type: Literal["ledger.ReverseVoucher"] = "ledger.ReverseVoucher"
    version: Literal[1] = 1
    idempotency_key: IdempotencyKey
    voucher_id: UUID
    voucher_date: date
    reason: str = Field(min_length=1, max_length=200)
    source: BookingSource


# --- events -------------------------------------------------------------------------------------------------------
class BooksOpened(ClientMessage):
    type: Literal["ledger.BooksOpened"] = "ledger.BooksOpened"
    version: Literal[1] = 1
    company_name: str


class PeriodClosed(ClientMessage):
    """No voucher dated on or before `closed_through` is accepted any more (so invoicing can refuse such dates
    before the ledger would have to refuse the booking)."""

    type: Literal["ledger.PeriodClosed"] = "ledger.PeriodClosed"
    version: Literal[1] = 1
    closed_through: date


class PeriodReopened(ClientMessage):
    """A closed period was re-opened: vouchers dated after `closed_through` (none: every date) are accepted again."""

    type: Literal["ledger.PeriodReopened"] = "ledger.PeriodReopened"
    version: Literal[1] = 1
    closed_through: date | None
    reopened_from: date
    reason: str
    operator: str = Field(description="The platform operator who re-opened it.")


class AccountUpserted(ClientMessage):
    type: Literal["ledger.AccountUpserted"] = "ledger.AccountUpserted"
    version: Literal[1] = 1
    number: AccountNumber
    name: str
    account_type: AccountType
    control_role: ControlRole | None = None


class SubledgerSeriesCreated(ClientMessage):
    type: Literal["ledger.SubledgerSeriesCreated"] = "ledger.SubledgerSeriesCreated"
    version: Literal[1] = 1
    code: SeriesCode
    name: str
    kind: PartyKind
    control_account: AccountNumber
    first_number: int
    last_number: int


class PartyUpserted(ClientMessage):
    type: Literal["ledger.PartyUpserted"] = "ledger.PartyUpserted"
    version: Literal[1] = 1
    number: int
    name: str
    kind: PartyKind
    series: SeriesCode
    control_account: AccountNumber


class PostedLine(VoucherLine):
    line_number: int


class VoucherPosted(ClientMessage):
    type: Literal["ledger.VoucherPosted"] = "ledger.VoucherPosted"
    version: Literal[1] = 1
    voucher_id: UUID
    series: SeriesCode
    number: int
    voucher_date: date
    text: str
    lines: list[PostedLine]
    source: BookingSource
    idempotency_key: str
    reverses_voucher_id: UUID | None = None


class OpenItemChanged(ClientMessage):
    """A customer open item (an invoice's receivable) after a voucher touched it; balance 0 means settled."""

    type: Literal["ledger.OpenItemChanged"] = "ledger.OpenItemChanged"
    version: Literal[1] = 1
    party: int
    open_item: str
    account: AccountNumber
    original_ore: Ore
    balance_ore: Ore
    due_date: date | None
    voucher_id: UUID
    cause: str = Field(description="The source event or voucher text that moved it.")
    source_service: str | None = Field(
        default=None, description="The service whose booking moved it (the voucher's `source.service`)."
    )


class BookingRejected(ClientMessage):
    """A booking command refused as a whole, with the reason. Nothing of it was booked."""

    type: Literal["ledger.BookingRejected"] = "ledger.BookingRejected"
    version: Literal[1] = 1
    command_id: UUID
    idempotency_key: str
    code: str
    reason: str
    source: BookingSource | None = None


LEDGER_COMMANDS = Catalogue(
    "ledger.commands",
    [
        OpenBooks,
        UpsertAccount,
        CreateSubledgerSeries,
        UpsertParty,
        ClosePeriod,
        ReopenPeriod,
        PostVoucher,
        ReverseVoucher,
    ],
)
LEDGER_EVENTS = Catalogue(
    "ledger.events",
    [
        BooksOpened,
        AccountUpserted,
        SubledgerSeriesCreated,
        PartyUpserted,
        VoucherPosted,
        OpenItemChanged,
        PeriodClosed,
        PeriodReopened,
    ],
)
LEDGER_REJECTIONS = Catalogue("ledger.booking-rejections", [BookingRejected])
