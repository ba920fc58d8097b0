"""The onboarding state machine: explicit consent, forward-only provider steps, refusal and withdrawal."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from financing_gateway.domain.errors import Refused
from financing_gateway.domain.onboarding import Onboarding, check_consent, start
from ledgerline_contracts.financing import CONSENT_TEXTS, GiveFinancingConsent, OnboardingState
from ledgerline_contracts.providers.buffer import OnboardingStep

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def consent(**changes: object) -> GiveFinancingConsent:
    fields: dict[str, object] = {
        "client_id": "c1",
        "acting_user": "u1",
        "context": "aged_receivables",
        "agreed": True,
        "consent_text": CONSENT_TEXTS["en-1"],
        "consent_text_version": "en-1",
        "occurred_at": NOW,
    }
    return GiveFinancingConsent.model_validate(fields | changes)


def started() -> Onboarding:
    return start(consent(), None, uuid4())


def test_consent_starts_an_active_onboarding_recording_who_when_what_and_where() -> None:
    onboarding = started()
    assert onboarding.active and onboarding.state is OnboardingState.CONSENT_GIVEN
    assert onboarding.context.value == "aged_receivables"
    assert (onboarding.consent.user_id, onboarding.consent.given_at) == ("u1", NOW)
    assert (onboarding.consent.text, onboarding.consent.text_version) == (CONSENT_TEXTS["en-1"], "en-1")


def test_the_norwegian_wording_is_a_consent_too() -> None:
    check_consent(consent(consent_text=CONSENT_TEXTS["nb-1"], consent_text_version="nb-1"))


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"agreed": False}, "consent_missing"),
        ({"consent_text_version": "en-0"}, "unknown_consent_version"),
        ({"consent_text": "I agree to anything"}, "consent_text_mismatch"),
        ({"consent_text": CONSENT_TEXTS["nb-1"]}, "consent_text_mismatch"),
    ],
)
def test_anything_short_of_an_explicit_consent_to_the_known_wording_is_refused(
    changes: dict[str, object], code: str
) -> None:
    with pytest.raises(Refused) as refused:
        start(consent(**changes), None, uuid4())
    assert refused.value.code == code


def test_a_second_consent_while_one_is_live_is_refused_but_one_after_the_end_starts_anew() -> None:
    live = started()
    with pytest.raises(Refused) as refused:
        start(consent(), live, uuid4())
    assert refused.value.code == "already_active"
    live.withdraw("u2", NOW, None)
    again = start(consent(), live, uuid4())
    assert again.active and again.onboarding_id != live.onboarding_id


def test_provider_steps_only_move_forward() -> None:
    onboarding = started()
    assert onboarding.progress(OnboardingStep.SIGNED_IN)
    assert onboarding.progress(OnboardingStep.ANALYSING)  # a skipped step is fine: Buffer said where it is
    assert not onboarding.progress(OnboardingStep.SIGNING_AUTHORITY_CONFIRMED)  # late, out of order
    assert not onboarding.progress(OnboardingStep.ANALYSING)  # repeated
    assert onboarding.state is OnboardingState.ANALYSING
    assert onboarding.progress(OnboardingStep.ACCOUNT_OPENED)
    assert onboarding.active


def test_a_refusal_ends_the_onboarding_and_nothing_moves_it_afterwards() -> None:
    onboarding = started()
    assert onboarding.refuse("no_signing_authority", "Ada may not sign for the company")
    assert not onboarding.active and onboarding.state is OnboardingState.REFUSED
    assert onboarding.refusal_reason == "Ada may not sign for the company"
    assert not onboarding.progress(OnboardingStep.ACCOUNT_OPENED)
    assert not onboarding.refuse("not_eligible", "again")
    with pytest.raises(Refused, match="no active consent"):
        onboarding.withdraw("u1", NOW, None)


def test_withdrawal_records_who_and_when_and_cannot_happen_twice() -> None:
    onboarding = started()
    onboarding.progress(OnboardingStep.ACCOUNT_OPENED)
    onboarding.withdraw("u2", NOW, "no longer needed")
    assert onboarding.state is OnboardingState.WITHDRAWN
    assert (onboarding.withdrawn_by, onboarding.withdrawn_at, onboarding.withdrawal_reason) == (
        "u2",
        NOW,
        "no longer needed",
    )
    with pytest.raises(Refused) as refused:
        onboarding.withdraw("u2", NOW, None)
    assert refused.value.code == "not_active"
