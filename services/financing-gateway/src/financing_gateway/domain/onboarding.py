"""The onboarding state machine: consent, the provider's steps, refusal and withdrawal.

Consent starts an onboarding and activates the integration at once (the provider may read the receivables from
then on). The provider's steps only move forward; a refusal or a withdrawal ends the onboarding, and only then
may a new consent start another one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from ledgerline_contracts.financing import (
    CONSENT_TEXTS,
    PROVIDER_NAME,
    FinancingContext,
    GiveFinancingConsent,
    OnboardingState,
)
from ledgerline_contracts.providers.buffer import OnboardingStep

from .errors import Refused

PROGRESS: tuple[OnboardingState, ...] = (
    OnboardingState.CONSENT_GIVEN,
    OnboardingState.SIGNED_IN,
    OnboardingState.SIGNING_AUTHORITY_CONFIRMED,
    OnboardingState.ANALYSING,
    OnboardingState.OFFER_MADE,
    OnboardingState.ACCOUNT_OPENED,
)
"""The states of a live onboarding, in order. In any of them the integration is active."""

STATE_OF_STEP: dict[OnboardingStep, OnboardingState] = {
    OnboardingStep.SIGNED_IN: OnboardingState.SIGNED_IN,
    OnboardingStep.SIGNING_AUTHORITY_CONFIRMED: OnboardingState.SIGNING_AUTHORITY_CONFIRMED,
    OnboardingStep.ANALYSING: OnboardingState.ANALYSING,
    OnboardingStep.OFFER_MADE: OnboardingState.OFFER_MADE,
    OnboardingStep.ACCOUNT_OPENED: OnboardingState.ACCOUNT_OPENED,
}


@dataclass(frozen=True, slots=True)
class Consent:
    user_id: str
    given_at: datetime
    text: str
    text_version: str


@dataclass(slots=True)
class Onboarding:
    onboarding_id: UUID
    client_id: str
    context: FinancingContext
    consent: Consent
    state: OnboardingState = OnboardingState.CONSENT_GIVEN
    refusal_code: str | None = None
    refusal_reason: str | None = None
    withdrawn_by: str | None = None
    withdrawn_at: datetime | None = None
    withdrawal_reason: str | None = None

    @property
    def active(self) -> bool:
        return self.state in PROGRESS

    def progress(self, step: OnboardingStep) -> bool:
        """Moves to the provider's step; False (nothing changes) for a step behind us or an ended onboarding."""
        target = STATE_OF_STEP[step]
        if not self.active or PROGRESS.index(target) <= PROGRESS.index(self.state):
            return False
        self.state = target
        return True

    def refuse(self, code: str, reason: str) -> bool:
        """The provider ends the onboarding; False if it had already ended."""
        if not self.active:
            return False
        self.state = OnboardingState.REFUSED
        self.refusal_code, self.refusal_reason = code, reason
        return True

    def withdraw(self, user_id: str, at: datetime, reason: str | None) -> None:
        if not self.active:
            raise Refused(
                "not_active",
                f"there is no active consent to withdraw: the onboarding with {PROVIDER_NAME} is {self.state.value}",
            )
        self.state = OnboardingState.WITHDRAWN
        self.withdrawn_by, self.withdrawn_at, self.withdrawal_reason = user_id, at, reason


def check_consent(command: GiveFinancingConsent) -> None:
    """An explicit consent to the exact wording of a known version, or `Refused` saying what is missing."""
    if not command.agreed:
        raise Refused(
            "consent_missing",
            f"consent not given: tick «{CONSENT_TEXTS['en-1']}» to let {PROVIDER_NAME} read the client's receivables",
        )
    expected = CONSENT_TEXTS.get(command.consent_text_version)
    if expected is None:
        raise Refused(
            "unknown_consent_version",
            f"consent text version {command.consent_text_version!r} is unknown (known: {', '.join(CONSENT_TEXTS)})",
        )
    if command.consent_text.strip() != expected:
        raise Refused(
            "consent_text_mismatch",
            f"the consent text does not match version {command.consent_text_version}: expected «{expected}»",
        )


def start(command: GiveFinancingConsent, current: Onboarding | None, onboarding_id: UUID) -> Onboarding:
    """A new onboarding for the consent, unless one is still live for the client."""
    check_consent(command)
    if current is not None and current.active:
        raise Refused(
            "already_active",
            f"invoice financing with {PROVIDER_NAME} is already active for this client "
            f"(onboarding {current.state.value}, consent by {current.consent.user_id}); withdraw it first",
        )
    return Onboarding(
        onboarding_id=onboarding_id,
        client_id=command.client_id,
        context=command.context,
        consent=Consent(
            command.acting_user, command.occurred_at, command.consent_text.strip(), command.consent_text_version
        ),
    )
