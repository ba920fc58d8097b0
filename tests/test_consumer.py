"""The reliable consumer's decisions without a broker: retry what the infrastructure failed, isolate and
dead-letter what a record keeps failing, hand back what outlasts the retry window."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pytest

from ledgerline_contracts import topics
from ledgerline_contracts.ledger import LEDGER_COMMANDS, OpenBooks
from servicekit.consumer import BatchProcessor, Delivery, RetryPolicy, Subscription, _HandBack


class Letters:
    def __init__(self) -> None:
        self.sent: list[tuple[int, str, int]] = []

    async def send(self, group: str, record: Any, kind: str, error: str, attempts: int, first: datetime) -> None:
        self.sent.append((record.offset, kind, attempts))


def deliveries(count: int) -> list[Delivery]:
    return [
        Delivery(m, "t", 0, offset, None, m.to_bytes(), {})
        for offset, m in enumerate(OpenBooks(client_id=f"c{i}", company_name="X") for i in range(count))
    ]


def processor(handler: Any, letters: Letters, **policy: Any) -> BatchProcessor:
    subscription = Subscription(topics.TOPIC_LEDGER_COMMANDS, "g", LEDGER_COMMANDS, handler, "test")
    settings = {"poison_backoff": 0.0, "transient_backoff_max": 0.01, "transient_window": 5.0} | policy
    return BatchProcessor(subscription, letters, "test", RetryPolicy(**settings))  # type: ignore[arg-type]


async def test_an_outage_is_retried_until_the_batch_goes_through() -> None:
    calls: list[int] = []

    async def handler(batch: Sequence[Delivery]) -> None:
        calls.append(len(batch))
        if len(calls) < 3:
            raise ConnectionRefusedError("database away")

    letters = Letters()
    await processor(handler, letters)._handle(deliveries(4))
    assert calls == [4, 4, 4]
    assert letters.sent == []


async def test_a_poison_record_is_isolated_and_dead_lettered_after_its_attempts() -> None:
    handled: list[int] = []

    async def handler(batch: Sequence[Delivery]) -> None:
        if any(d.offset == 2 for d in batch):
            raise ValueError("cannot handle this one")
        handled.extend(d.offset for d in batch)

    letters = Letters()
    await processor(handler, letters, max_attempts=3)._handle(deliveries(4))
    assert handled == [0, 1, 3]
    assert letters.sent == [(2, "handler_error", 3)]


async def test_an_outage_longer_than_the_window_hands_the_records_back() -> None:
    async def handler(batch: Sequence[Delivery]) -> None:
        raise ConnectionRefusedError("database away")

    letters = Letters()
    with pytest.raises(_HandBack):
        await processor(handler, letters, transient_window=0.05)._handle(deliveries(2))
    assert letters.sent == []  # an outage never dead-letters


async def test_cancellation_is_not_retried() -> None:
    async def handler(batch: Sequence[Delivery]) -> None:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await processor(handler, Letters())._handle(deliveries(1))
