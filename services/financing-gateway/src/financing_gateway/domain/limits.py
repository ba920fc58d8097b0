"""The credit limit the provider reports, and which report the widget shows.

Reports can arrive late or twice. A report computed on an older position of the receivables stream than the
one shown, or computed earlier on the same position, is stale; one with the very same figures adds nothing to
the history. Anything else is a change: it is shown and kept in the history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
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


def supersedes(incoming: CreditFigures, current: CreditFigures | None) -> bool:
    """Whether `incoming` replaces `current` (and so becomes a new row of the history)."""
    if current is None:
        return True
    if (incoming.based_on_sequence, incoming.calculated_at) < (current.based_on_sequence, current.calculated_at):
        return False
    return incoming.figures != current.figures
