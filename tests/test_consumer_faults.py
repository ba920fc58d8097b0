"""The reliable consumer against the real broker and database, broken on purpose (issue 18).

- A database that turns read-only (as a primary demoted by a failover does) while records are consumed is the
  infrastructure's fault: nothing is dead-lettered, and every record is handled once it is writable again.
- A batch full of poison records, with a poll interval far shorter than isolating them all takes: the consumer
  stays in its group (its commits go through, nothing handled is delivered again), every poison record is
  dead-lettered once and every good record handled once, in each partition's order.

Each test runs one consumer in this process (servicekit's `attach`, as every service does) on a topic and group of
its own, as the cluster's admin; dead letters are recorded rather than published (what is checked is which records
the consumer gives up on, not the dead-letter topic).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from faststream.kafka import KafkaBroker
from faststream.security import SASLScram512
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool
from structlog.testing import capture_logs

from ledgerline_cli.kafka_security import client_kwargs
from ledgerline_cli.stack import Stack, _secrets
from ledgerline_contracts import access
from ledgerline_contracts.ledger import LEDGER_COMMANDS, OpenBooks
from ledgerline_contracts.topics import Topic
from servicekit import metrics
from servicekit.consumer import Delivery, RetryPolicy, Subscription, attach
from servicekit.db import PostgresUnitOfWork

pytestmark = pytest.mark.integration


class Letters:
    """Records what the consumer dead-letters, in the order it gives up."""

    def __init__(self, finished: list[tuple[int, int]]) -> None:
        self.sent: list[tuple[int, int]] = []
        self.finished = finished

    async def send(self, group: str, record: Any, kind: str, error: str, attempts: int, first: datetime) -> None:
        self.sent.append((record.partition, record.offset))
        self.finished.append((record.partition, record.offset))

    async def refuse_command(self, data: Any, reason: str) -> None:
        pass


async def _topic(infra: Stack, partitions: int) -> Topic:
    topic = Topic(f"consumer-faults.{uuid.uuid4().hex[:8]}", partitions, "client_id", "test")
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.bootstrap, **client_kwargs(access.ADMIN, infra.state))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic.name, partitions, 1)])
    finally:
        await admin.close()
    return topic


async def _publish(infra: Stack, topic: Topic, count: int) -> list[str]:
    """`count` OpenBooks commands, each client's on its own key; returns the clients in order."""
    producer = AIOKafkaProducer(
        bootstrap_servers=infra.bootstrap, acks="all", **client_kwargs(access.ADMIN, infra.state)
    )
    await producer.start()
    clients = [f"c{i:04d}" for i in range(count)]
    try:
        for client in clients:
            await producer.send(
                topic.name, OpenBooks(client_id=client, company_name="X").to_bytes(), key=client.encode()
            )
        await producer.flush()
    finally:
        await producer.stop()
    return clients


def _broker(infra: Stack) -> KafkaBroker:
    admin = client_kwargs(access.ADMIN, infra.state)
    return KafkaBroker(
        infra.bootstrap,
        security=SASLScram512(username=admin["sasl_plain_username"], password=admin["sasl_plain_password"]),
        logger=None,
    )


async def _consume(
    infra: Stack,
    topic: Topic,
    handler: Callable[[Sequence[Delivery]], Awaitable[None]],
    letters: Letters,
    policy: RetryPolicy,
    until: Callable[[], bool],
    timeout: float,
    max_poll_interval_ms: int = 5 * 60 * 1000,
    batch_size: int = 500,
) -> tuple[str, float]:
    """Runs one consumer until `until()` holds; returns its group and how long it took."""
    group = f"consumer-faults-{uuid.uuid4().hex[:8]}"
    broker = _broker(infra)
    subscription = Subscription(topic, group, LEDGER_COMMANDS, handler, "test")
    attach(
        broker,
        subscription,
        service="test",
        dead_letter=letters,  # type: ignore[arg-type]
        policy=policy,
        batch_size=batch_size,
        batch_timeout_ms=50,
        max_poll_interval_ms=max_poll_interval_ms,
    )
    started = time.monotonic()
    await broker.start()
    try:
        while not until():
            assert time.monotonic() - started < timeout, "the consumer did not get through in time"
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # anything delivered twice would show up now
    finally:
        await broker.stop()
    return group, time.monotonic() - started


def _commit_failures(group: str) -> float:
    return metrics.offset_commit_failures.labels("test", group)._value.get()


# --- a read-only database -----------------------------------------------------------------------------------------
@pytest.fixture
async def scratch_database(infra: Stack) -> AsyncIterator[str]:
    """A database of this test's own with an inbox table; yields its URL."""
    password = _secrets(infra.state)["LEDGERLINE_PG_ADMIN_PASSWORD"]
    name = f"ledgerline_consumer_faults_{uuid.uuid4().hex[:8]}"
    url = f"postgresql+asyncpg://ledgerline_admin:{password}@127.0.0.1/{name}"
    await _as_admin(password, f'CREATE DATABASE "{name}"')
    db = await asyncpg.connect(host="127.0.0.1", user="ledgerline_admin", database=name, password=password)
    await db.execute("CREATE TABLE inbox (consumer text, message_key text, PRIMARY KEY (consumer, message_key))")
    await db.close()
    try:
        yield url
    finally:
        await _as_admin(password, f'DROP DATABASE "{name}" WITH (FORCE)')


async def _as_admin(password: str, sql: str) -> None:
    admin = await asyncpg.connect(host="127.0.0.1", user="ledgerline_admin", database="postgres", password=password)
    try:
        await admin.execute(sql)
    finally:
        await admin.close()


async def _set_read_only(url: str, on: bool) -> None:
    name = url.rsplit("/", 1)[1]
    password = url.split(":")[2].split("@", maxsplit=1)[0]
    await _as_admin(password, f'ALTER DATABASE "{name}" SET default_transaction_read_only = {"on" if on else "off"}')


async def test_a_database_gone_read_only_pauses_the_consumer_and_dead_letters_nothing(
    infra: Stack, scratch_database: str
) -> None:
    topic = await _topic(infra, partitions=2)
    # New connections only see the setting: every unit of work opens its own (no pool), as after a failover.
    engine = create_async_engine(scratch_database, poolclass=NullPool)
    await _set_read_only(scratch_database, True)
    clients = await _publish(infra, topic, 200)
    handled: list[str] = []
    failures: list[str] = []
    refused_enough = asyncio.Event()

    async def handler(batch: Sequence[Delivery]) -> None:
        try:
            async with PostgresUnitOfWork(engine) as uow:
                claimed = await uow.claim("test", [str(d.message.message_id) for d in batch])
        except Exception as error:
            failures.append(type(error).__name__)
            if len(failures) >= 12:
                refused_enough.set()
            raise
        handled.extend(d.message.client_id for d in batch if str(d.message.message_id) in claimed)  # type: ignore[attr-defined]

    async def writable_later() -> None:
        # Many attempts (more than a record's max_attempts), and hand-backs to Kafka, meet the read-only database.
        await refused_enough.wait()
        await asyncio.sleep(2.0)
        await _set_read_only(scratch_database, False)

    letters = Letters([])
    policy = RetryPolicy(transient_backoff_max=0.2, transient_window=1.0)
    fixer = asyncio.create_task(writable_later())
    try:
        with capture_logs() as lines:  # kept, not rendered: rendering a traceback per failure takes seconds
            await _consume(
                infra,
                topic,
                handler,
                letters,
                policy,
                lambda: len(handled) >= len(clients) or bool(letters.sent),
                timeout=90,
            )
    finally:
        fixer.cancel()
        await engine.dispose()
    assert "ReadOnlySQLTransactionError" in failures
    assert letters.sent == []
    assert any(line["event"] == "infrastructure unavailable, retrying" for line in lines)
    assert sorted(handled) == clients  # every record once


# --- a batch of poison records ------------------------------------------------------------------------------------
async def test_a_batch_of_poison_records_outlasting_the_poll_interval_keeps_the_consumer_in_its_group(
    infra: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    # A consumer alone in its group that outlasts the poll interval leaves the group, and its commits still go
    # through (Kafka takes a commit to an empty group): its leaving is what shows.
    caplog.set_level(logging.INFO, logger="aiokafka.consumer.group_coordinator")
    topic = await _topic(infra, partitions=2)
    clients = await _publish(infra, topic, 400)
    poison = set(clients[::8])  # 50 records, each ≥ 0.3 s of attempts: 15 s, against a 6 s poll interval
    finished: list[tuple[int, int]] = []
    handled: list[str] = []
    letters = Letters(finished)
    by_offset: dict[tuple[int, int], str] = {}

    async def handler(batch: Sequence[Delivery]) -> None:
        await asyncio.sleep(0.005)
        for d in batch:
            by_offset[(d.partition, d.offset)] = d.message.client_id  # type: ignore[attr-defined]
        if any(d.message.client_id in poison for d in batch):  # type: ignore[attr-defined]
            raise ValueError("poison")
        handled.extend(d.message.client_id for d in batch)  # type: ignore[attr-defined]
        finished.extend((d.partition, d.offset) for d in batch)

    policy = RetryPolicy(max_attempts=3, poison_backoff=0.1)
    left_while_working: list[int] = []

    def done() -> bool:
        if len(handled) + len(letters.sent) < len(clients):
            return False
        left_while_working.append(sum("LeaveGroup" in r.getMessage() for r in caplog.records))
        return True

    with capture_logs() as lines:  # kept, not rendered: a rendered traceback per failure would cost seconds here
        group, took = await _consume(
            infra,
            topic,
            handler,
            letters,
            policy,
            done,
            timeout=120,
            max_poll_interval_ms=6000,
        )
    cut_short = sum(line["event"].startswith("batch cut short") for line in lines)
    print(
        f"\n{len(poison)} poison records among {len(clients)} isolated in {took:.1f} s, {cut_short} batches cut short"
    )
    assert _commit_failures(group) == 0
    assert left_while_working == [0]  # it left its group only when it was stopped
    assert sorted(handled) == sorted(set(clients) - poison)  # each good record once: nothing redelivered
    assert sorted(by_offset[p] for p in letters.sent) == sorted(poison)  # each poison record dead-lettered once
    for partition in (0, 1):
        offsets = [o for p, o in finished if p == partition]
        assert offsets == sorted(offsets), "a later record went before an earlier one"
    assert cut_short > 0  # the budget ran out at least once: the case at hand
