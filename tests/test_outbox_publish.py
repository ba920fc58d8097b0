"""The relay's publishing rules without a broker: which failures are a row's own, how a refused row is pinned down,
and that the later rows of its key never go out ahead of it. (tests/test_outbox.py does the same on real Kafka.)"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from aiokafka.errors import (
    InvalidTopicError,
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    LeaderNotAvailableError,
    MessageSizeTooLargeError,
    NotEnoughReplicasError,
    NotLeaderForPartitionError,
    RecordTooLargeError,
    RequestTimedOutError,
    TopicAuthorizationFailedError,
    UnknownTopicOrPartitionError,
)

from ledgerline_cli.outbox import OutboxAdmin, render
from ledgerline_cli.status import Sample, Scrape, status
from servicekit.broker import TopicNotFound
from servicekit.outbox import Pending, is_row_fault, publish, replay_selection

OUTAGE = [
    KafkaConnectionError("broker down"),
    KafkaTimeoutError(),
    RequestTimedOutError(),
    NotEnoughReplicasError(),
    LeaderNotAvailableError(),
    NotLeaderForPartitionError(),
    UnknownTopicOrPartitionError(),  # aiokafka's own, after waiting: no proof the topic is missing
]
ROW_FAULTS = [
    MessageSizeTooLargeError(),
    RecordTooLargeError(),
    InvalidTopicError("bad name"),
    TopicNotFound("t"),
    TopicAuthorizationFailedError("t"),
]


@pytest.mark.parametrize("error", ROW_FAULTS, ids=lambda e: type(e).__name__)
def test_what_the_broker_refuses_for_the_rows_sake_is_the_rows_fault(error: KafkaError) -> None:
    assert is_row_fault(error)


@pytest.mark.parametrize("error", OUTAGE, ids=lambda e: type(e).__name__)
def test_an_outage_is_never_the_rows_fault(error: KafkaError) -> None:
    assert not is_row_fault(error)


class FakeBroker:
    """Sends the way aiokafka does: `send` only queues (or refuses at once); what is queued together is settled
    together, as one producer batch: a record the broker refuses fails every record of its topic queued with it."""

    def __init__(
        self,
        *,
        at_once: dict[bytes, KafkaError] | None = None,
        by_broker: dict[bytes, KafkaError] | None = None,
        topics: dict[str, KafkaError] | None = None,
    ) -> None:
        self.at_once = at_once or {}
        self.by_broker = by_broker or {}
        self.topics = topics or {}
        self.queued: list[tuple[str, bytes, asyncio.Future[Any]]] = []
        self.events: list[tuple[str, bytes]] = []
        self.renewed = 0

    async def topic_error(self, topic: str) -> KafkaError | None:
        return self.topics.get(topic)

    async def renew(self) -> None:
        self.renewed += 1

    async def send(
        self, topic: str, value: bytes, key: bytes | None, correlation_id: str | None = None
    ) -> asyncio.Future[Any]:
        if value in self.at_once:
            raise self.at_once[value]
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if not self.queued:
            asyncio.get_running_loop().call_soon(self._settle)
        self.queued.append((topic, value, future))
        self.events.append(("send", value))
        return future

    def _settle(self) -> None:
        batch, self.queued = self.queued, []
        refused = {topic: self.by_broker[value] for topic, value, _ in batch if value in self.by_broker}
        for topic, value, future in batch:
            if topic in refused:
                future.set_exception(refused[topic])
            else:
                future.set_result(None)
                self.events.append(("ack", value))

    def acked(self) -> list[bytes]:
        return [value for event, value in self.events if event == "ack"]


def rows(*specs: tuple[str, str | None, str] | tuple[str, str | None, str, int]) -> list[Pending]:
    """(topic, key, payload[, attempts]) in id order."""
    return [
        Pending(i, spec[0], None if spec[1] is None else spec[1].encode(), spec[2].encode(), (*spec, 0)[3])  # type: ignore[arg-type]
        for i, spec in enumerate(specs, start=1)
    ]


async def test_a_batch_without_trouble_goes_out_at_once() -> None:
    broker = FakeBroker()
    outcome = await publish(broker, rows(("t", "a", "1"), ("t", "b", "2"), ("u", None, "3")))
    assert [r.id for r in outcome.published] == [1, 2, 3] and not outcome.refused and outcome.error is None
    assert [e for e, _ in broker.events] == ["send", "send", "send", "ack", "ack", "ack"]  # not one by one
    assert broker.renewed == 0


async def test_a_row_refused_before_sending_holds_back_only_the_later_rows_of_its_key() -> None:
    broker = FakeBroker(at_once={b"huge": MessageSizeTooLargeError()})
    batch = rows(("t", "a", "1"), ("t", "k", "huge"), ("t", "b", "2"), ("t", "k", "after"), ("u", "k", "other-topic"))
    outcome = await publish(broker, batch)
    assert [r.id for r in outcome.published] == [1, 3, 5]  # the same key on another topic is another lane
    assert [(r.id, type(e)) for r, e in outcome.refused] == [(2, MessageSizeTooLargeError)]
    assert b"after" not in [value for _, value in broker.events]  # never sent ahead of the refused row
    assert outcome.error is None


async def test_a_producer_batch_refused_by_the_broker_is_narrowed_down_to_its_culprit() -> None:
    # The broker refuses the whole batch for one record: every record of the topic queued with it fails.
    broker = FakeBroker(by_broker={b"too-big": RecordTooLargeError()})
    batch = rows(("t", "a", "1"), ("t", "k", "too-big"), ("t", "b", "2"), ("t", "k", "after"), ("u", "c", "3"))
    outcome = await publish(broker, batch)
    assert [r.id for r in outcome.published] == [5, 1, 3]  # 5 went out in the first try; 1 and 3 alone after
    assert [(r.id, type(e)) for r, e in outcome.refused] == [(2, RecordTooLargeError)]
    assert broker.renewed == 1  # the failed batch's producer is not trusted with sequence numbers again
    assert broker.acked().count(b"after") == 0


async def test_a_row_that_failed_before_is_tried_alone_before_the_rows_after_it() -> None:
    broker = FakeBroker(by_broker={b"too-big": RecordTooLargeError()})
    batch = rows(("t", "a", "1"), ("t", "k", "too-big", 2), ("t", "k", "after"), ("t", "b", "2"), ("t", "c", "3"))
    outcome = await publish(broker, batch)
    assert [r.id for r in outcome.published] == [1, 4, 5]
    assert [r.id for r, _ in outcome.refused] == [2]
    # one at a time up to the suspect, then the rest at once; its key's later row is never even sent
    assert [value for event, value in broker.events if event == "send"] == [b"1", b"too-big", b"2", b"3"]
    assert broker.events[:3] == [("send", b"1"), ("ack", b"1"), ("send", b"too-big")]
    assert broker.events[3:] == [("send", b"2"), ("send", b"3"), ("ack", b"2"), ("ack", b"3")]
    assert broker.renewed == 0


async def test_a_topic_the_broker_says_does_not_exist_is_refused_without_sending() -> None:
    broker = FakeBroker(topics={"missing": TopicNotFound("missing")})
    outcome = await publish(broker, rows(("missing", "k", "1"), ("t", "k", "2"), ("missing", "k", "3")))
    assert [r.id for r in outcome.published] == [2]
    assert [r.id for r, _ in outcome.refused] == [1]
    assert [value for _, value in broker.events] == [b"2", b"2"]  # sent and acknowledged


async def test_a_row_refused_a_moment_ago_waits_and_so_do_the_later_rows_of_its_key() -> None:
    broker = FakeBroker()
    batch = rows(("t", "k", "1", 1), ("t", "a", "2"), ("t", "k", "3"), ("t", None, "4"))
    outcome = await publish(broker, batch, waiting={1})
    assert [r.id for r in outcome.published] == [2, 4] and not outcome.refused and outcome.error is None
    assert [value for event, value in broker.events if event == "send"] == [b"2", b"4"]


@pytest.mark.parametrize("error", OUTAGE, ids=lambda e: type(e).__name__)
async def test_an_outage_refuses_nothing_and_ends_the_round(error: KafkaError) -> None:
    for broker in (FakeBroker(at_once={b"2": error}), FakeBroker(by_broker={b"2": error})):
        outcome = await publish(broker, rows(("t", "a", "1"), ("t", "b", "2"), ("t", "c", "3"), ("t", "d", "4", 3)))
        assert outcome.error is error
        assert not outcome.refused  # counts nothing towards quarantine
        assert all(r.id != 2 for r in outcome.published)


def test_a_replay_names_its_rows_or_says_all() -> None:
    assert replay_selection({"ids": [3, 5]}) == [3, 5]
    assert replay_selection({"all": True}) is None
    for body in ({}, {"ids": []}, {"ids": ["3"]}, {"all": "yes"}, {"all": True, "ids": [1]}, [], None):
        with pytest.raises(ValueError, match="say which rows"):
            replay_selection(body)


QUARANTINED = {
    "id": 7,
    "topic": "ledger.events.v1",
    "key": "client-1",
    "size": 2_000_000,
    "attempts": 5,
    "last_error": "MessageSizeTooLargeError()",
    "created_at": "2026-11-30T10:00:00+00:00",
    "quarantined_at": "2026-11-30T10:00:03.123+00:00",
    "held": 2,
}


async def test_the_cli_asks_each_service_as_an_operator_and_renders_the_rows() -> None:
    asked: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(request)
        if request.url.path == "/outbox/quarantined/replay":
            return httpx.Response(200, json={"replayed": [7]})
        return httpx.Response(200, json=[QUARANTINED])

    admin = OutboxAdmin({"ledger": "http://ledger"}, "tok", transport=httpx.MockTransport(answer))
    assert await admin.quarantined("ledger") == [QUARANTINED]
    assert await admin.replay("ledger", [7]) == [7]
    assert await admin.replay("ledger", None) == [7]
    assert [r.headers["authorization"] for r in asked] == ["Bearer tok"] * 3
    assert [r.content for r in asked[1:]] == [b'{"ids":[7]}', b'{"all":true}']
    table = render("ledger", [QUARANTINED])
    assert [c.header for c in table.columns][:6] == ["id", "topic", "key", "size", "attempts", "last error"]
    assert list(table.columns[6].cells) == ["2026-11-30 10:00:03"]


def test_status_shows_the_quarantined_rows_of_each_process() -> None:
    sample = Sample("ledgerline_outbox_quarantined", (("service", "ledger"),), 2.0)
    (row,) = status(None, Scrape(0.0, {"ledger": [sample]})).processes
    assert row.outbox_quarantined == 2.0
