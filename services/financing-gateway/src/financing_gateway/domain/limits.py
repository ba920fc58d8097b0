"""The credit limit the provider reports, and which report the widget shows.

Reports can arrive late or twice. A report computed on an older position of the receivables stream than the
newest one seen, or computed earlier on the same position, is stale. A newer one with the very same figures adds
nothing to the history but confirms the shown figures up to its position, so that a report arriving late with
figures from in between is recognised as stale. Anything else is a change: it is shown and kept in the history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from uuid import UUID


@dataclass(frozen=True, slots=True)
class CreditFigures:
    onboarding_id: UUID
    limit_ore: int
    used_ore: int
    available_ore: int
    based_on_sequence: int
    calculated_at: datetime

    @property
    def figures(self) -> tuple[int, int, int]:
        return self.limit_ore, self.used_ore, self.available_ore


class Verdict(Enum):
    STALE = "stale"
    CONFIRMS = "confirms"
    CHANGE = "change"


def judge(incoming: CreditFigures, current: CreditFigures | None) -> Verdict:
    """What `incoming` does to `current`, the shown report (whose basis is the newest seen)."""
    if current is None:
        return Verdict.CHANGE
    if (incoming.based_on_sequence, incoming.calculated_at) <= (current.based_on_sequence, current.calculated_at):
        return Verdict.STALE
    return Verdict.CONFIRMS if incoming.figures == current.figures else Verdict.CHANGE
