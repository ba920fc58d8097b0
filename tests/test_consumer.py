"""The reliable consumer's decisions without a broker: retry what the infrastructure failed, isolate and
dead-letter what a record keeps failing, hand back what outlasts the retry window."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from ledgerline_contracts import topics
from ledgerline_contracts.ledger import LEDGER_COMMANDS, OpenBooks
from ledgerline_contracts.messages import CommandResult
from servicekit.consumer import BatchProcessor, DeadLetterPublisher, Delivery, RetryPolicy, Subscription, _HandBack


class Letters:
    def __init__(self) -> None:
        self.sent: list[tuple[int, str, int]] = []
        self.refused: list[tuple[Any, str]] = []

    async def send(self, group: str, record: Any, kind: str, error: str, attempts: int, first: datetime) -> None:
        self.sent.append((record.offset, kind, attempts))

    async def refuse_command(self, data: Any, reason: str) -> None:
        self.refused.append((data, reason))


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


class Raw:
    """A FastStream batch message as the processor sees it: the records, and an ack."""

    def __init__(self, *values: bytes) -> None:
        self.raw_message = [
            SimpleNamespace(
                topic="t", partition=0, offset=i, key=b"c1", value=v, headers=[], timestamp=0, timestamp_type=0
            )
            for i, v in enumerate(values)
        ]

    async def ack(self) -> None:
        pass


async def test_a_command_with_a_misspelt_field_is_answered_with_the_field_and_dead_lettered() -> None:
    handled: list[Delivery] = []

    async def handler(batch: Sequence[Delivery]) -> None:
        handled.extend(batch)

    letters = Letters()
    good = OpenBooks(client_id="c1", company_name="X")
    misspelt = good.model_dump(mode="json") | {"message_id": str(uuid.uuid4()), "company": "Typo AS"}
    await processor(handler, letters).process(Raw(orjson.dumps(misspelt), good.to_bytes()))  # type: ignore[arg-type]
    assert [d.message for d in handled] == [good]
    assert letters.sent == [(0, "undecodable", 1)]
    ((data, reason),) = letters.refused
    assert data == misspelt and "company: Extra inputs are not permitted" in reason


class Sent:
    def __init__(self) -> None:
        self.records: list[tuple[str, bytes, bytes | None]] = []

    async def send(self, topic: str, value: bytes, key: bytes | None) -> Any:
        self.records.append((topic, value, key))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


@pytest.mark.parametrize(
    ("data", "answered"),
    [
        ({"type": "ledger.OpenBooks", "message_id": str(uuid.UUID(int=1)), "client_id": "c1"}, True),
        ({"type": "ledger.OpenBooks", "message_id": str(uuid.UUID(int=1)), "client_id": "c1", "reply": False}, False),
        ({"type": "ledger.OpenBooks", "message_id": "not an id", "client_id": "c1"}, False),
        ({"type": "ledger.OpenBooks", "message_id": str(uuid.UUID(int=1))}, False),
        (None, False),
    ],
)
async def test_an_undecodable_command_is_answered_when_it_says_who_to_answer(data: Any, answered: bool) -> None:
    sent = Sent()
    await DeadLetterPublisher(sent, "ledger").refuse_command(data, "company: Extra inputs are not permitted")  # type: ignore[arg-type]
    if not answered:
        assert sent.records == []
        return
    ((topic, value, key),) = sent.records
    result = CommandResult.model_validate_json(value)
    assert topic == topics.TOPIC_COMMAND_RESULTS.name and key == str(uuid.UUID(int=1)).encode()
    assert (result.accepted, result.command_type, result.client_id, result.service) == (
        False,
        "ledger.OpenBooks",
        "c1",
        "ledger",
    )
    assert result.reason == "invalid command: company: Extra inputs are not permitted"
