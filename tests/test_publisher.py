"""A producer renewed while the broker is away: the publisher keeps what it has, and its owner's retries carry on.

Found on the real stack (the broker away for 20–65 s): the outbox relay renewed its producer after a failed send,
the fresh producer could not connect, `renew()` raised inside the relay's retry hook, and the relay task ended for
good. The service stayed up and consumed, but published nothing again. These tests pin the publisher's side without
a broker; tests/test_outbox.py pins the relay's on PostgreSQL.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError

import servicekit.broker as broker_module
from servicekit.broker import Publisher
from servicekit.settings import ServiceSettings


class Broker:
    up = True


class FakeProducer:
    """Starts only while the broker is up; remembers what it sent and whether it was stopped."""

    def __init__(self, broker: Broker, name: str) -> None:
        self.broker, self.name = broker, name
        self.started = self.stopped = False
        self.sent: list[bytes] = []

    async def start(self) -> None:
        await asyncio.sleep(0)  # connecting takes a moment: other sends run meanwhile
        if not self.broker.up:
            raise KafkaConnectionError("Unable to bootstrap from [('127.0.0.1', 9092)]")
        self.started = True

    async def stop(self) -> None:
        self.stopped = True

    async def send(self, topic: str, value: bytes, key: bytes | None, headers: Any) -> asyncio.Future[Any]:
        self.sent.append(value)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future


@pytest.fixture
def producers(monkeypatch: pytest.MonkeyPatch) -> tuple[Broker, list[FakeProducer]]:
    broker, made = Broker(), []

    def make(_: ServiceSettings) -> FakeProducer:
        made.append(FakeProducer(broker, f"producer {len(made) + 1}"))
        return made[-1]

    monkeypatch.setattr(broker_module, "make_producer", make)
    return broker, made


async def renewed_while_away(broker: Broker) -> Publisher:
    publisher = Publisher(ServiceSettings(service_name="test"))
    await publisher.start()
    broker.up = False
    await publisher.renew()  # raised KafkaConnectionError before, ending whatever retry loop called it
    return publisher


async def test_a_renewal_while_the_broker_is_away_keeps_the_old_producer_and_does_not_raise(
    producers: tuple[Broker, list[FakeProducer]],
) -> None:
    broker, made = producers
    await renewed_while_away(broker)

    first, failed = made
    assert not first.stopped, "the only started producer was stopped for one that never started"
    assert failed.stopped, "the producer that failed to start was left with its connections open"


async def test_the_renewal_owed_is_made_by_the_next_send_which_fails_like_a_send_until_the_broker_is_back(
    producers: tuple[Broker, list[FakeProducer]],
) -> None:
    broker, made = producers
    publisher = await renewed_while_away(broker)

    with pytest.raises(KafkaConnectionError):
        await publisher.send("t", b"while away", None)
    broker.up = True
    await (await publisher.send("t", b"back", None))

    first, *_, fresh = made
    assert first.sent == [] and first.stopped, "the old producer (with stale sequence numbers) sent after a renewal"
    assert fresh.started and fresh.sent == [b"back"]
    await (await publisher.send("t", b"next", None))
    assert len(made) == 4 and fresh.sent == [b"back", b"next"], "a renewal once made is not made again"


async def test_sends_at_once_make_the_owed_renewal_once_and_leave_no_producer_running(
    producers: tuple[Broker, list[FakeProducer]],
) -> None:
    broker, made = producers
    publisher = await renewed_while_away(broker)
    broker.up = True

    await asyncio.gather(*(publisher.send("t", f"{n}".encode(), None) for n in range(5)))

    first, failed, fresh = made
    assert first.stopped and failed.stopped and not fresh.stopped, "a producer was left running, or none is"
    assert len(fresh.sent) == 5
