"""Financing gateway contracts (our side): invoice-financing onboarding, its state, the credit limit, postings.

The provider's own wire format is in `providers.buffer`; these are the commands the accounting system sends to
the gateway (`financing.commands.v1`) and the events the gateway publishes about a client's financing
(`financing.events.v1`). Every command needs the acting user to hold the privilege `invoice_financing`.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal
from uuid import UUID

from pydantic import Field, model_validator

from .factoring import AccountRef
from .invoicing import UserId
from .ledger import AccountNumber
from .messages import Catalogue, ClientMessage, Command
from .money import NonNegativeOre, PositiveOre

PROVIDER = "buffer"
PROVIDER_NAME = "Buffer"

CONSENT_TEXTS: dict[str, str] = {
    "en-1": "I agree that Buffer may access this client",
    "nb-1": "Jeg godtar at Buffer får tilgang til denne klienten",
}
"""Every consent wording the user may have been shown, by version. A consent must quote its version's text."""


class FinancingContext(StrEnum):
    """The report or list the user started onboarding from."""

    OPEN_ITEMS = "open_items"
    AGED_RECEIVABLES = "aged_receivables"
    UNPAID_INVOICES = "unpaid_invoices"


class OnboardingState(StrEnum):
    """Where a client's onboarding with the provider stands, as the widget shows it."""

    NOT_STARTED = "not_started"
    CONSENT_GIVEN = "consent_given"
    SIGNED_IN = "signed_in"
    SIGNING_AUTHORITY_CONFIRMED = "signing_authority_confirmed"
    ANALYSING = "analysing"
    OFFER_MADE = "offer_made"
    ACCOUNT_OPENED = "account_opened"
    REFUSED = "refused"
    WITHDRAWN = "withdrawn"


# --- commands (financing.commands.v1) ------------------------------------------------------------------------------
class GiveFinancingConsent(Command):
    """The user ticked «I agree that Buffer may access this client» and asked to check the company.

    Consent activates the integration at once: the provider is told who asks and receives a snapshot of the
    client's open receivables, then every change to them.
    """

    type: Literal["financing.GiveFinancingConsent"] = "financing.GiveFinancingConsent"
    version: Literal[1] = 1
    acting_user: UserId
    context: FinancingContext
    agreed: bool = Field(description="The tick box; a consent without it is refused.")
    consent_text: str = Field(min_length=1, max_length=500, description="The wording the user agreed to.")
    consent_text_version: str = Field(min_length=1, max_length=20, description="A key of CONSENT_TEXTS.")


class WithdrawFinancingConsent(Command):
    """Ends the provider's access: the receivables stream stops and the provider is told."""

    type: Literal["financing.WithdrawFinancingConsent"] = "financing.WithdrawFinancingConsent"
    version: Literal[1] = 1
    acting_user: UserId
    reason: str | None = Field(default=None, max_length=300)


class SetFinancingPostings(Command):
    """Automatic postings of drawdowns and repayments on the provider account (off by default: manual postings).

    A drawdown is booked as bank (debit) against the financing liability (credit), a repayment the other way.
    """

    type: Literal["financing.SetFinancingPostings"] = "financing.SetFinancingPostings"
    version: Literal[1] = 1
    acting_user: UserId
    enabled: bool
    bank_account: AccountNumber | None = None
    liability_account: AccountRef | None = Field(
        default=None, description="The financing liability, optionally the provider as a supplier sub-ledger party."
    )

    @model_validator(mode="after")
    def _accounts_when_enabled(self) -> SetFinancingPostings:
        if self.enabled and (self.bank_account is None or self.liability_account is None):
            raise ValueError("automatic postings need both bank_account and liability_account")
        return self


# --- events (financing.events.v1) ----------------------------------------------------------------------------------
class OnboardingStateChanged(ClientMessage):
    type: Literal["financing.OnboardingStateChanged"] = "financing.OnboardingStateChanged"
    version: Literal[1] = 1
    provider: str = PROVIDER
    onboarding_id: UUID
    state: OnboardingState
    context: FinancingContext
    acting_user: str | None = Field(default=None, description="Who consented or withdrew; none for the provider.")
    reason: str | None = None


class CreditLimitChanged(ClientMessage):
    """The provider's latest figures for the client's credit line, as the widget shows them."""

    type: Literal["financing.CreditLimitChanged"] = "financing.CreditLimitChanged"
    version: Literal[1] = 1
    provider: str = PROVIDER
    limit_ore: NonNegativeOre
    used_ore: NonNegativeOre
    available_ore: NonNegativeOre
    based_on_sequence: int = Field(ge=0, description="The receivables stream position the provider computed it on.")
    calculated_at: datetime


class FinancingPostingsChanged(ClientMessage):
    type: Literal["financing.FinancingPostingsChanged"] = "financing.FinancingPostingsChanged"
    version: Literal[1] = 1
    acting_user: str
    enabled: bool
    bank_account: AccountNumber | None
    liability_account: AccountRef | None


class FinancingTransactionRecorded(ClientMessage):
    """A drawdown or repayment on the provider account, and whether the gateway booked it or it is left manual."""

    type: Literal["financing.FinancingTransactionRecorded"] = "financing.FinancingTransactionRecorded"
    version: Literal[1] = 1
    provider: str = PROVIDER
    kind: Literal["drawdown", "repayment"]
    provider_transaction_id: str
    amount_ore: PositiveOre
    booked: bool = Field(description="True: a PostVoucher went to the ledger; false: the postings are manual.")
    idempotency_key: str | None = None


FINANCING_COMMANDS = Catalogue(
    "financing.commands", [GiveFinancingConsent, WithdrawFinancingConsent, SetFinancingPostings]
)
FINANCING_EVENTS = Catalogue(
    "financing.events",
    [OnboardingStateChanged, CreditLimitChanged, FinancingPostingsChanged, FinancingTransactionRecorded],
)
