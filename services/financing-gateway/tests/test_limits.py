"""Which credit-limit report the widget shows and the history keeps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from financing_gateway.domain.limits import CreditFigures, supersedes

ONBOARDING = uuid4()
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def report(limit: int, used: int, sequence: int, minutes: int) -> CreditFigures:
    return CreditFigures(ONBOARDING, limit, used, max(limit - used, 0), sequence, T0 + timedelta(minutes=minutes))


def test_the_first_report_is_shown() -> None:
    assert supersedes(report(1_000_000, 0, 3, 0), None)


def test_a_report_on_newer_receivables_replaces_the_shown_one() -> None:
    assert supersedes(report(1_200_000, 0, 4, 1), report(1_000_000, 0, 3, 0))


def test_a_drawdown_on_the_same_receivables_is_a_change_too() -> None:
    assert supersedes(report(1_000_000, 400_000, 3, 5), report(1_000_000, 0, 3, 0))


def test_a_late_report_on_older_receivables_is_stale_even_if_computed_later() -> None:
    assert not supersedes(report(900_000, 0, 2, 10), report(1_000_000, 0, 3, 0))


def test_an_older_calculation_on_the_same_receivables_is_stale() -> None:
    assert not supersedes(report(1_000_000, 0, 3, 0), report(1_000_000, 400_000, 3, 5))


def test_the_same_figures_again_add_nothing_to_the_history() -> None:
    assert not supersedes(report(1_000_000, 0, 4, 9), report(1_000_000, 0, 3, 0))
