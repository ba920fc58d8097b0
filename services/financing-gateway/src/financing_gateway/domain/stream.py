"""The receivables stream to the provider: which open-item changes to tell, and their sequence numbers.

Per client one sequence, starting at 1 and growing by one per message sent (snapshot parts and changes alike),
never reset, also across onboardings: the provider detects a gap by a number it did not expect.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TypeVar
from uuid import UUID

from ledgerline_contracts.providers.buffer import ReceivableChange

T = TypeVar("T")

SNAPSHOT_PART_SIZE = 500
"""Receivables per snapshot message: at most ~400 bytes each, so a part stays far below the 512 KiB message limit."""


@dataclass(frozen=True, slots=True)
class OpenItem:
    """A customer open item as the ledger last reported it."""

    party: int
    open_item: str
    account: str
    original_ore: int
    balance_ore: int
    due_date: date | None

    @property
    def key(self) -> tuple[int, str]:
        return self.party, self.open_item


def classify(before: OpenItem | None, after: OpenItem) -> ReceivableChange | None:
    """What kind of change the provider hears of, or None when the item changed in nothing it reads."""
    if before is None:
        return ReceivableChange.OPENED if after.balance_ore != 0 else None
    if after.balance_ore == 0:
        return ReceivableChange.SETTLED if before.balance_ore != 0 else None
    if after.balance_ore > before.balance_ore:
        return ReceivableChange.INCREASED
    if after.balance_ore < before.balance_ore:
        return ReceivableChange.REDUCED
    if (after.original_ore, after.due_date) != (before.original_ore, before.due_date):
        return ReceivableChange.AMENDED
    return None


@dataclass(slots=True)
class ReceivableStream:
    """One client's stream: whether it runs, for which onboarding, and the last sequence number used."""

    client_id: str
    onboarding_id: UUID | None = None
    streaming: bool = False
    last_sequence: int = 0
    snapshots_sent: int = 0
    changes_sent: int = 0
    last_sent_at: datetime | None = None

    def start(self, onboarding_id: UUID) -> None:
        self.onboarding_id = onboarding_id
        self.streaming = True

    def stop(self) -> None:
        self.streaming = False

    def take_sequence(self, at: datetime) -> int:
        """The next number, used for exactly one message."""
        self.last_sequence += 1
        self.last_sent_at = at
        return self.last_sequence


def snapshot_parts(items: Sequence[T], part_size: int = SNAPSHOT_PART_SIZE) -> list[Sequence[T]]:
    """The snapshot split into messages; an empty snapshot is still one (empty) part, so the provider hears of it."""
    if part_size < 1:
        raise ValueError("part_size must be at least 1")
    return [items[start : start + part_size] for start in range(0, len(items), part_size)] or [items[:0]]
