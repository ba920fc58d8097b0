"""Lean Kafka I/O for the harness: the services' producer settings, publishing, offsets, reading topics."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from ledgerline_cli import tokens
from ledgerline_cli.kafka_security import client_kwargs
from ledgerline_cli.tokens import local_issuer
from ledgerline_contracts import auth, topics
from ledgerline_contracts.access import ADMIN, OPERATOR
from ledgerline_contracts.messages import ENVELOPE_TYPE

from .harness import BenchAborted

# The producer settings of the services (servicekit.broker.make_broker), so the harness adds no advantage.
PRODUCER_SETTINGS: dict[str, Any] = {
    "acks": "all",
    "enable_idempotence": True,
    "linger_ms": 5,
    "max_batch_size": 256 * 1024,
}


def topic_prefix() -> str:
    """The namespace of topics and groups in this process (LEDGERLINE_TOPIC_PREFIX; empty by default)."""
    return topics.PREFIX


async def delete_namespace_topics(bootstrap: str) -> list[str]:
    """Deletes the topics of a benchmark's own namespace (a prefix starting with `bench`), nothing else."""
    prefix = topic_prefix()
    if not prefix.startswith("bench"):
        return []
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **client_kwargs(ADMIN))
    await admin.start()
    try:
        mine = [name for name in await admin.list_topics() if name.startswith(prefix)]
        if mine:
            await admin.delete_topics(mine)
        return mine
    finally:
        await admin.close()


async def topic_partitions(bootstrap: str, topic_names: Iterable[str]) -> list[TopicPartition]:
    """Every partition of those of the named topics that exist, from the cluster's metadata (admin client).

    A consumer that has just started knows no topic yet (`partitions_for_topic` answers None until its metadata
    has been refreshed, which aiokafka only offers through its private client); the admin client asks the broker.
    All topics are described, never named ones, so that no request can create a topic.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **client_kwargs(OPERATOR))
    await admin.start()
    try:
        described = {topic["topic"]: topic["partitions"] for topic in await admin.describe_topics()}
    finally:
        await admin.close()
    return [
        TopicPartition(name, partition)
        for name in topic_names
        for partition in sorted(p["partition"] for p in described.get(name, ()))
    ]


def new_producer(bootstrap: str, principal: str = OPERATOR) -> AIOKafkaProducer:
    """A producer configured like the services' and the CLI Bus's (idempotent, acks=all), authenticated as
    `principal` (the operator: it may write the command topics the harness loads, and SASL costs the same)."""
    return AIOKafkaProducer(bootstrap_servers=bootstrap, **PRODUCER_SETTINGS, **client_kwargs(principal))


Headers = Callable[[bytes], list[tuple[str, bytes]]]
"""The headers of a record by its key (the client): the token the front end attaches."""


def user_tokens(user: str, seconds: int = 3600) -> Headers:
    """A token of `user` per client (the key), signed once per client by the local issuer, as a front end would."""
    issuer = local_issuer()
    cache: dict[bytes, list[tuple[str, bytes]]] = {}

    def headers(key: bytes) -> list[tuple[str, bytes]]:
        if key not in cache:
            cache[key] = [auth.bearer(issuer.user(key.decode(), user, seconds=seconds))]
        return cache[key]

    return headers


def service_token(service: str, seconds: int = 3600) -> Headers:
    """One of our services' own token (the benchmark stands in for that service), the same on every record."""
    header = [auth.bearer(tokens.service_issuer(service).service(seconds=seconds))]
    return lambda _key: header


async def publish(
    producer: AIOKafkaProducer,
    topic: str,
    records: Sequence[tuple[bytes, bytes]],
    on_send: Callable[[int], None] | None = None,
    chunk: int = 2000,
    headers: Headers | None = None,
) -> None:
    """Publishes pre-serialised (key, value) records in order, waiting for the broker to have them all.

    `on_send(i)` is called just before record i is handed to the producer (that instant is its send time);
    `headers` gives each record's headers by its key (e.g. the token of a command topic).
    """
    for start in range(0, len(records), chunk):
        pending = []
        for i in range(start, min(start + chunk, len(records))):
            key, value = records[i]
            if on_send is not None:
                on_send(i)
            extra = headers(key) if headers is not None else None
            pending.append(await producer.send(topic, value, key=key, headers=extra))
        await asyncio.gather(*pending)


async def end_offsets(bootstrap: str, topic_names: Iterable[str]) -> dict[TopicPartition, int]:
    partitions = await topic_partitions(bootstrap, topic_names)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, **client_kwargs(OPERATOR))
    await consumer.start()
    try:
        return dict(await consumer.end_offsets(partitions))
    finally:
        await consumer.stop()


async def scan_window(
    bootstrap: str,
    start: Mapping[TopicPartition, int],
    end: Mapping[TopicPartition, int],
    keep: Callable[[str, bytes], bool] | None = None,
    keep_at_most: int = 20,
) -> tuple[dict[str, dict[str, int]], list[tuple[str, bytes]]]:
    """Reads every record between two offset snapshots.

    Returns per topic: records, key bytes and value bytes; and up to `keep_at_most` (topic, value) pairs for
    which `keep(topic, value)` is true (for diagnostics).
    """
    wanted = {tp: (start.get(tp, 0), end[tp]) for tp in end if end[tp] > start.get(tp, 0)}
    per_topic: dict[str, dict[str, int]] = defaultdict(lambda: {"records": 0, "key_bytes": 0, "value_bytes": 0})
    kept: list[tuple[str, bytes]] = []
    if not wanted:
        return {}, kept
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        max_partition_fetch_bytes=4 * 1024 * 1024,
        **client_kwargs(OPERATOR),
    )
    await consumer.start()
    try:
        consumer.assign(list(wanted))
        for tp, (first, _) in wanted.items():
            consumer.seek(tp, first)
        remaining = set(wanted)
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=1000, max_records=10_000)
            for tp, records in batches.items():
                last = wanted[tp][1]
                stats = per_topic[tp.topic]
                for record in records:
                    if record.offset >= last:
                        continue
                    value = record.value or b""
                    stats["records"] += 1
                    stats["key_bytes"] += len(record.key or b"")
                    stats["value_bytes"] += len(value)
                    if keep is not None and len(kept) < keep_at_most and keep(tp.topic, value):
                        kept.append((tp.topic, value))
            for tp in list(remaining):
                if await consumer.position(tp) >= wanted[tp][1]:
                    remaining.discard(tp)
    finally:
        await consumer.stop()
    return dict(per_topic), kept


def our_vouchers_posted(record: ConsumerRecord, marker: bytes, rejected: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The VoucherPosted events in `record` (one message, or an envelope's items) about the benchmark's clients
    (`marker` in their bytes). Rejections about them are appended to `rejected`. The bytes are checked before
    anything is parsed, so that the harness takes as little CPU from the services as it can."""
    value = record.value or b""
    if marker not in value:
        return []
    is_rejection = record.topic == topics.TOPIC_LEDGER_REJECTIONS.name
    if not is_rejection and b'"ledger.VoucherPosted"' not in value:
        return []
    parsed: dict[str, Any] = orjson.loads(value)
    items = parsed["items"] if parsed.get("type") == ENVELOPE_TYPE else [parsed]
    if is_rejection:
        rejected += [item for item in items if marker.decode() in item.get("client_id", "")]
        return []
    return [
        item for item in items if item.get("type") == "ledger.VoucherPosted" and marker.decode() in item["client_id"]
    ]


class TopicWatcher:
    """Reads topics from their current end, without a consumer group, and hands each raw record to a callback.

    Deliberately cheaper than the CLI's Bus (which decodes every record with pydantic): the callback filters on
    bytes first and parses only what it needs, so the harness takes as little CPU from the services as possible.
    """

    def __init__(self, bootstrap: str, topic_names: Sequence[str], on_record: Callable[[ConsumerRecord], None]):
        self._bootstrap = bootstrap
        self._topics = list(topic_names)
        self._on_record = on_record
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self.records = 0

    async def start(self) -> None:
        partitions = await topic_partitions(self._bootstrap, self._topics)
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            enable_auto_commit=False,
            max_partition_fetch_bytes=4 * 1024 * 1024,
            **client_kwargs(OPERATOR),
        )
        await self._consumer.start()
        self._consumer.assign(partitions)
        await self._consumer.seek_to_end(*partitions)
        for partition in partitions:  # resolve the end positions now, before anything is published
            await self._consumer.position(partition)
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self._consumer is not None
        while True:
            batches = await self._consumer.getmany(timeout_ms=100, max_records=5000)
            for records in batches.values():
                for record in records:
                    self._on_record(record)
                self.records += len(records)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()


async def command_all(
    bootstrap: str, topic: str, commands: Sequence[Any], timeout: float, headers: Headers | None = None
) -> list[dict[str, Any]]:
    """Publishes many commands (keyed by client) and waits for every CommandResult; returns them (parsed JSON).

    For bulk set-up: one watcher collects the answers by command id, instead of one waiter per command.
    """
    wanted = {str(c.message_id) for c in commands}
    answers: dict[str, dict[str, Any]] = {}

    def collect(record: ConsumerRecord) -> None:
        result = orjson.loads(record.value or b"{}")
        if result.get("command_id") in wanted:
            answers.setdefault(result["command_id"], result)

    watcher = TopicWatcher(bootstrap, [topics.TOPIC_COMMAND_RESULTS.name], collect)
    await watcher.start()
    producer = new_producer(bootstrap)
    await producer.start()
    try:
        await publish(producer, topic, [(c.client_id.encode(), c.to_bytes()) for c in commands], headers=headers)
        deadline = time.monotonic() + timeout
        while len(answers) < len(wanted):
            if time.monotonic() > deadline:
                raise BenchAborted(f"{len(answers)} of {len(wanted)} set-up commands answered within {timeout:.0f} s")
            await asyncio.sleep(0.1)
    finally:
        await producer.stop()
        await watcher.stop()
    return list(answers.values())
