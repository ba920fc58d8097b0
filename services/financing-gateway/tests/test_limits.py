"""Which credit-limit report the widget shows and the history keeps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from financing_gateway.domain.limits import CreditFigures, Verdict, judge

ONBOARDING = uuid4()
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def report(limit: int, used: int, sequence: int, minutes: int) -> CreditFigures:
    return CreditFigures(ONBOARDING, limit, used, max(limit - used, 0), sequence, T0 + timedelta(minutes=minutes))


def test_the_first_report_is_shown() -> None:
    assert judge(report(1_000_000, 0, 3, 0), None) is Verdict.CHANGE


def test_a_report_on_newer_receivables_replaces_the_shown_one() -> None:
    assert judge(report(1_200_000, 0, 4, 1), report(1_000_000, 0, 3, 0)) is Verdict.CHANGE


def test_a_drawdown_on_the_same_receivables_is_a_change_too() -> None:
    assert judge(report(1_000_000, 400_000, 3, 5), report(1_000_000, 0, 3, 0)) is Verdict.CHANGE


def test_a_late_report_on_older_receivables_is_stale_even_if_computed_later() -> None:
    assert judge(report(900_000, 0, 2, 10), report(1_000_000, 0, 3, 0)) is Verdict.STALE


def test_an_older_calculation_on_the_same_receivables_is_stale() -> None:
    assert judge(report(1_000_000, 0, 3, 0), report(1_000_000, 400_000, 3, 5)) is Verdict.STALE


def test_the_same_report_twice_is_stale() -> None:
    assert judge(report(1_000_000, 0, 3, 0), report(1_000_000, 0, 3, 0)) is Verdict.STALE


def test_the_same_figures_on_newer_receivables_confirm_the_shown_ones_without_a_history_row() -> None:
    assert judge(report(1_000_000, 0, 4, 9), report(1_000_000, 0, 3, 0)) is Verdict.CONFIRMS


def test_a_late_report_from_between_a_confirmation_and_the_shown_figures_is_stale() -> None:
    shown = report(1_000_000, 400_000, 10, 0)
    assert judge(report(1_000_000, 400_000, 12, 2), shown) is Verdict.CONFIRMS
    confirmed = report(1_000_000, 400_000, 12, 2)  # what confirm_credit leaves as the shown row
    assert judge(report(900_000, 500_000, 11, 1), confirmed) is Verdict.STALE
