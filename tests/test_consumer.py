"""The reliable consumer's decisions without a broker: retry what the infrastructure failed, isolate (by bisection)
and dead-letter what a record keeps failing, hand back what outlasts the retry window, commit what was finished
when a batch's time budget runs out."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from structlog.testing import capture_logs

from ledgerline_contracts import topics
from ledgerline_contracts.ledger import LEDGER_COMMANDS, OpenBooks
from ledgerline_contracts.messages import CommandResult
from servicekit.consumer import BatchProcessor, DeadLetterPublisher, Delivery, RetryPolicy, Subscription, _HandBack


class Letters:
    def __init__(self, finished: list[tuple[int, int]] | None = None) -> None:
        self.sent: list[tuple[int, str, int]] = []
        self.refused: list[tuple[Any, str]] = []
        self.finished = finished if finished is not None else []
        """(partition, offset) of every record handled or dead-lettered, in the order it happened."""

    async def send(self, group: str, record: Any, kind: str, error: str, attempts: int, first: datetime) -> None:
        self.sent.append((record.offset, kind, attempts))
        self.finished.append((record.partition, record.offset))

    async def refuse_command(self, data: Any, reason: str) -> None:
        self.refused.append((data, reason))


def deliveries(count: int) -> list[Delivery]:
    return [
        Delivery(m, "t", 0, offset, None, m.to_bytes(), {})
        for offset, m in enumerate(OpenBooks(client_id=f"c{i}", company_name="X") for i in range(count))
    ]


def processor(
    handler: Any, letters: Letters, budget: float = 60.0, batch_size: int = 500, **policy: Any
) -> BatchProcessor:
    subscription = Subscription(topics.TOPIC_LEDGER_COMMANDS, "g", LEDGER_COMMANDS, handler, "test")
    settings = {"poison_backoff": 0.0, "transient_backoff_max": 0.01, "transient_window": 5.0} | policy
    return BatchProcessor(
        subscription,
        letters,  # type: ignore[arg-type]
        "test",
        RetryPolicy(**settings),
        budget=budget,
        batch_size=batch_size,
    )


async def handle(processor: BatchProcessor, batch: list[Delivery], budget: float = 60.0) -> int:
    return await processor._handle(batch, time.monotonic() + budget)


@pytest.fixture
def kept_logs() -> Iterator[list[dict[str, Any]]]:
    """The lines logged, kept rather than rendered: a rendered traceback costs more than the budgets timed here."""
    with capture_logs() as lines:
        yield lines


async def test_an_outage_is_retried_until_the_batch_goes_through() -> None:
    calls: list[int] = []

    async def handler(batch: Sequence[Delivery]) -> None:
        calls.append(len(batch))
        if len(calls) < 3:
            raise ConnectionRefusedError("database away")

    letters = Letters()
    assert await handle(processor(handler, letters), deliveries(4)) == 4
    assert calls == [4, 4, 4]
    assert letters.sent == []


async def test_a_poison_record_is_isolated_and_dead_lettered_after_its_attempts(
    kept_logs: list[dict[str, Any]],
) -> None:
    handled: list[int] = []

    async def handler(batch: Sequence[Delivery]) -> None:
        if any(d.offset == 2 for d in batch):
            raise ValueError("cannot handle this one")
        handled.extend(d.offset for d in batch)

    letters = Letters()
    assert await handle(processor(handler, letters, max_attempts=3), deliveries(4)) == 4
    assert handled == [0, 1, 3]
    assert letters.sent == [(2, "handler_error", 3)]


async def test_an_outage_longer_than_the_window_hands_the_records_back() -> None:
    async def handler(batch: Sequence[Delivery]) -> None:
        raise ConnectionRefusedError("database away")

    letters = Letters()
    with pytest.raises(_HandBack):
        await handle(processor(handler, letters, transient_window=0.05), deliveries(2))
    assert letters.sent == []  # an outage never dead-letters


async def test_cancellation_is_not_retried() -> None:
    async def handler(batch: Sequence[Delivery]) -> None:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await handle(processor(handler, Letters()), deliveries(1))


class Raw:
    """A FastStream batch message as the processor sees it: the records, an ack, and the consumer (for seeks)."""

    def __init__(self, *values: bytes, first_offset: int = 0) -> None:
        self.raw_message = [
            SimpleNamespace(
                topic="t", partition=0, offset=i, key=b"c1", value=v, headers=[], timestamp=0, timestamp_type=0
            )
            for i, v in enumerate(values, start=first_offset)
        ]
        self.consumer = SimpleNamespace(seeks=[], seek=lambda partition, offset: self.consumer.seeks.append(offset))
        self.acked = False

    async def ack(self) -> None:
        self.acked = True


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


async def test_poison_records_are_bisected_out_in_order_with_few_handler_calls(
    kept_logs: list[dict[str, Any]],
) -> None:
    poison = {5, 37, 38, 90}
    letters = Letters()
    calls = 0

    async def handler(batch: Sequence[Delivery]) -> None:
        nonlocal calls
        calls += 1
        if any(d.offset in poison for d in batch):
            raise ValueError("cannot handle this one")
        letters.finished.extend((d.partition, d.offset) for d in batch)

    assert await handle(processor(handler, letters, max_attempts=2), deliveries(128)) == 128
    # Every record finished once, in order: the good ones handled, the poison ones dead-lettered.
    assert letters.finished == [(0, offset) for offset in range(128)]
    assert sorted(offset for offset, _, _ in letters.sent) == sorted(poison)
    # One by one would be 1 + 128 + 4 calls; bisection about 1 + 2·k·log2(n) + k·(attempts - 1).
    assert calls <= 1 + 2 * len(poison) * 7 + len(poison)


async def test_no_partitions_later_record_goes_before_an_earlier_one_is_finished(
    kept_logs: list[dict[str, Any]],
) -> None:
    batch = [
        Delivery(m, "t", partition, offset, None, m.to_bytes(), {})
        for partition in (0, 1)
        for offset, m in enumerate(OpenBooks(client_id=f"c{partition}-{i}", company_name="X") for i in range(20))
    ]
    poison = {(0, 3), (0, 4), (1, 0), (1, 19)}
    letters = Letters()

    async def handler(deliveries: Sequence[Delivery]) -> None:
        if any((d.partition, d.offset) in poison for d in deliveries):
            raise ValueError("poison")
        letters.finished.extend((d.partition, d.offset) for d in deliveries)

    assert await handle(processor(handler, letters), batch) == 40
    for partition in (0, 1):
        assert [o for p, o in letters.finished if p == partition] == list(range(20))


async def test_when_the_budget_runs_out_the_finished_part_is_committed_and_the_rest_comes_again(
    kept_logs: list[dict[str, Any]],
) -> None:
    # Every other record is poison and each attempt costs time: 60 records cannot be isolated within one budget.
    letters = Letters()
    handled: list[int] = []

    async def handler(batch: Sequence[Delivery]) -> None:
        await asyncio.sleep(0.005)
        if any(d.offset % 2 for d in batch):
            raise ValueError("poison")
        handled.extend(d.offset for d in batch)

    budget = 0.3
    consumer = processor(handler, letters, budget=budget, max_attempts=2, poison_backoff=0.02)
    values = [OpenBooks(client_id=f"c{i}", company_name="X").to_bytes() for i in range(60)]
    resume, rounds = 0, 0
    while resume < len(values):
        rounds += 1
        raw = Raw(*values[resume:], first_offset=resume)
        started = time.monotonic()
        await consumer.process(raw)  # type: ignore[arg-type]
        # Bounded: the budget, plus at most one record's attempts begun before it ran out.
        assert time.monotonic() - started < budget + 0.3
        assert raw.acked
        if raw.consumer.seeks:
            (resume,) = raw.consumer.seeks
            assert letters.finished[-1][1] == resume - 1 or handled[-1] == resume - 1
        else:
            resume = len(values)
        assert rounds < 20
    assert rounds > 1
    assert sum(line["event"].startswith("batch cut short") for line in kept_logs) == rounds - 1
    assert handled == list(range(0, 60, 2))
    assert [offset for offset, _, _ in letters.sent] == list(range(1, 60, 2))


async def test_batches_stay_small_for_a_while_after_a_failure(kept_logs: list[dict[str, Any]]) -> None:
    async def handler(batch: Sequence[Delivery]) -> None:
        if any(d.offset == 3 for d in batch):
            raise ValueError("poison")

    consumer = processor(handler, Letters(), batch_size=400, cautious_seconds=1.0)
    good = Raw(OpenBooks(client_id="c1", company_name="X").to_bytes())
    await handle(consumer, deliveries(8))
    assert consumer.batch_limit == 100
    await handle(consumer, deliveries(8))
    assert consumer.batch_limit == 25
    await consumer.process(good)  # type: ignore[arg-type]
    assert consumer.batch_limit == 25  # still wary
    await asyncio.sleep(1.0)
    limits = []
    for _ in range(5):
        await consumer.process(good)  # type: ignore[arg-type]
        limits.append(consumer.batch_limit)
    assert limits == [50, 100, 200, 400, 400]


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
