"""Buffer's wire format: invoice financing by Sparebanken Vest (JSON, snake_case, amounts in whole øre).

For Buffer's engineers. Two topics, both keyed by `client_id` (one company's books), so everything about one
client is read in the order it was written:

- `financing.buffer.outbound.v1` — we write, Buffer reads: `ConsentGiven`, `ReceivablesSnapshot`,
  `ReceivableChanged`, `ConsentWithdrawn`.
- `financing.buffer.inbound.v1` — Buffer writes, we read: `OnboardingProgressed`, `OnboardingRefused`,
  `CreditLimitChanged`, `ResnapshotRequested`, `DrawdownMade`, `RepaymentMade`.

Onboarding. A user of the client who holds the privilege «invoice financing» agrees that Buffer may access the
client. We send `ConsentGiven` (the company, the user and their roles, the consent wording) with a new
`onboarding_id`, and at once a snapshot of the client's open receivables. Buffer then reports its own steps
with `OnboardingProgressed` (signed in with BankID, signing authority confirmed, analysing, offer made, account
opened) or ends the onboarding with `OnboardingRefused` (e.g. the person may not apply on the company's
behalf). Everything Buffer says about an onboarding carries its `onboarding_id`; a message about an older
onboarding of the same client is ignored. `ConsentWithdrawn` ends access: no receivables follow it.

The receivables stream. `ReceivablesSnapshot` and `ReceivableChanged` carry `sequence`: per client, starting
at 1, growing by exactly one per message and never reused, also across onboardings. A snapshot is the whole
set of open receivables at that position (split into `parts` messages with consecutive sequences when large;
the set is complete with the last part) and replaces whatever Buffer held. Each `ReceivableChanged` after it
is one open item as it is now. A receivable a factoring provider holds (handed to it for an advance or sold to
it, or awaiting its decision) is not the client's to pledge: it is left out of every snapshot, a change of it is
not sent, and one Buffer already holds is withdrawn with `ReceivableChanged` of change `factored` (drop it). When
the provider rejects it, refuses its delivery or returns it by recourse, it comes back as `opened` with what is
open now. If Buffer sees a sequence that is not the one it expects (a gap), it asks with
`ResnapshotRequested` and ignores changes until the next snapshot arrives. A sequence at or below the last one
applied is a repeat and changes nothing.

The credit limit. Buffer answers the snapshot and changes with `CreditLimitChanged`, naming the sequence it is
based on; we keep the figures with the newest basis and their history. `DrawdownMade` and `RepaymentMade`
report money moved on the Buffer account; the client may have us book them.

Delivery is at least once in both directions. `message_id` identifies an event: Buffer sends an event again
with the same `message_id`, and drawdowns and repayments are also recognised by their own ids; a repeat
changes nothing.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Literal
from uuid import UUID

from pydantic import Field, model_validator

from ..financing import FinancingContext
from ..messages import Catalogue, ClientMessage, Part, ProviderDate
from ..money import NonNegativeOre, Ore, PositiveOre

SLUG = "buffer"
DISPLAY_NAME = "Buffer"


class BufferCompany(Part):
    name: str
    organisation_number: str = Field(pattern=r"^[0-9]{9}$")


class BufferUser(Part):
    """The person asking; Buffer checks in the company register whether they may apply on the company's behalf."""

    user_id: str
    name: str
    roles: list[str] = Field(description="The user's roles in the accounting system, e.g. general_manager.")


class BufferConsent(Part):
    text: str
    text_version: str
    given_at: datetime
    context: FinancingContext = Field(description="The report the user started from.")


class Receivable(Part):
    """One open item: what a customer (the debtor) owes the client on one invoice."""

    invoice_reference: str = Field(description="The invoice number (the open item in the client's ledger).")
    debtor_number: int = Field(description="The customer's number in the client's customer sub-ledger.")
    debtor_name: str | None = None
    original_ore: Ore = Field(description="The amount invoiced.")
    balance_ore: Ore = Field(description="What is still owed; 0 once settled, negative for a credit balance.")
    due_date: date | None


class ReceivableChange(StrEnum):
    OPENED = "opened"
    INCREASED = "increased"
    REDUCED = "reduced"
    SETTLED = "settled"
    AMENDED = "amended"  # the same balance, but another due date or invoiced amount
    FACTORED = "factored"  # handed to a factoring provider: no longer the client's to pledge; Buffer drops it


class OnboardingStep(StrEnum):
    """Buffer's onboarding steps, in the order they happen."""

    SIGNED_IN = "signed_in"
    SIGNING_AUTHORITY_CONFIRMED = "signing_authority_confirmed"
    ANALYSING = "analysing"
    OFFER_MADE = "offer_made"
    ACCOUNT_OPENED = "account_opened"


class RefusalCode(StrEnum):
    NO_SIGNING_AUTHORITY = "no_signing_authority"
    BANKID_FAILED = "bankid_failed"
    NOT_ELIGIBLE = "not_eligible"


# --- we write (financing.buffer.outbound.v1) -----------------------------------------------------------------------
class ConsentGiven(ClientMessage):
    """Start of an onboarding: who the client is, who asks, and what they agreed to."""

    type: Literal["buffer.ConsentGiven"] = "buffer.ConsentGiven"
    version: Literal[1] = 1
    onboarding_id: UUID
    company: BufferCompany
    user: BufferUser
    consent: BufferConsent


class ReceivablesSnapshot(ClientMessage):
    """All open receivables of the client at `as_of`, or one part of them (`part` of `parts`)."""

    type: Literal["buffer.ReceivablesSnapshot"] = "buffer.ReceivablesSnapshot"
    version: Literal[1] = 1
    onboarding_id: UUID
    sequence: int = Field(ge=1)
    snapshot_id: UUID = Field(description="The same on every part of one snapshot.")
    part: int = Field(ge=1)
    parts: int = Field(ge=1)
    as_of: datetime
    receivables: list[Receivable]
    total_count: int = Field(ge=0, description="Open receivables in the whole snapshot, over all parts.")
    total_ore: Ore = Field(description="Their balances summed, over all parts.")

    @model_validator(mode="after")
    def _part_within_parts(self) -> ReceivablesSnapshot:
        if self.part > self.parts:
            raise ValueError(f"part {self.part} of {self.parts}")
        return self


class ReceivableChanged(ClientMessage):
    """One open item after a change: a new invoice, a payment, a credit note, a write-off, a factoring settlement;
    or (`factored`) the receivable as it was when a factoring provider took it over, for Buffer to drop."""

    type: Literal["buffer.ReceivableChanged"] = "buffer.ReceivableChanged"
    version: Literal[1] = 1
    onboarding_id: UUID
    sequence: int = Field(ge=1)
    change: ReceivableChange
    receivable: Receivable
    previous_balance_ore: Ore | None = Field(description="The balance before; none for a new receivable.")
    cause: str = Field(description="What moved it, in the ledger's words (the voucher text or source event).")


class ConsentWithdrawn(ClientMessage):
    """Buffer's access ends: no receivables follow `last_sequence`."""

    type: Literal["buffer.ConsentWithdrawn"] = "buffer.ConsentWithdrawn"
    version: Literal[1] = 1
    onboarding_id: UUID
    withdrawn_by: str
    withdrawn_at: datetime
    last_sequence: int = Field(ge=0)
    reason: str | None = None


# --- Buffer writes (financing.buffer.inbound.v1) -------------------------------------------------------------------
class OnboardingProgressed(ClientMessage):
    type: Literal["buffer.OnboardingProgressed"] = "buffer.OnboardingProgressed"
    version: Literal[1] = 1
    onboarding_id: UUID
    step: OnboardingStep
    description: str | None = Field(default=None, max_length=300)


class OnboardingRefused(ClientMessage):
    """Buffer ends the onboarding; it reads no more of the client's receivables."""

    type: Literal["buffer.OnboardingRefused"] = "buffer.OnboardingRefused"
    version: Literal[1] = 1
    onboarding_id: UUID
    code: RefusalCode
    reason: str = Field(max_length=300)


class CreditLimitChanged(ClientMessage):
    type: Literal["buffer.CreditLimitChanged"] = "buffer.CreditLimitChanged"
    version: Literal[1] = 1
    onboarding_id: UUID
    limit_ore: NonNegativeOre
    used_ore: NonNegativeOre
    available_ore: NonNegativeOre
    based_on_sequence: int = Field(ge=0, description="The last receivables sequence Buffer had applied.")
    calculated_at: datetime


class ResnapshotRequested(ClientMessage):
    """Buffer missed part of the stream (or lost its copy) and asks for a fresh snapshot."""

    type: Literal["buffer.ResnapshotRequested"] = "buffer.ResnapshotRequested"
    version: Literal[1] = 1
    onboarding_id: UUID
    expected_sequence: int = Field(ge=1)
    received_sequence: int = Field(ge=1)


class DrawdownMade(ClientMessage):
    """Money paid out from the Buffer account to the client's bank account."""

    type: Literal["buffer.DrawdownMade"] = "buffer.DrawdownMade"
    version: Literal[1] = 1
    drawdown_id: str = Field(min_length=1, max_length=100)
    amount_ore: PositiveOre
    paid_out_on: ProviderDate


class RepaymentMade(ClientMessage):
    """Money paid back from the client to the Buffer account."""

    type: Literal["buffer.RepaymentMade"] = "buffer.RepaymentMade"
    version: Literal[1] = 1
    repayment_id: str = Field(min_length=1, max_length=100)
    amount_ore: PositiveOre
    repaid_on: ProviderDate


OUTBOUND = Catalogue("buffer outbound", [ConsentGiven, ReceivablesSnapshot, ReceivableChanged, ConsentWithdrawn])
INBOUND = Catalogue(
    "buffer inbound",
    [OnboardingProgressed, OnboardingRefused, CreditLimitChanged, ResnapshotRequested, DrawdownMade, RepaymentMade],
)
