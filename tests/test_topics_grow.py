"""`ledgerline topics grow` on the real broker: refused while a group has unread records, while anything is written,
or while the provider's reader has no offsets (unless the provider confirmed); then both topics grow, and the
records written after it keep each key's order for the group that had drained.

The provider is a stand-in registered for this test only (its own topics, with the session's prefix), so the real
providers' topics keep the partition counts the other tests expect."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from typer.testing import CliRunner

from ledgerline_cli.kafka_admin import ensure_topics
from ledgerline_cli.kafka_security import client_kwargs
from ledgerline_cli.main import app
from ledgerline_cli.partitions import OVERRIDE, Broker
from ledgerline_cli.stack import Stack
from ledgerline_contracts import access, topics
from ledgerline_contracts.providers import registry

pytestmark = pytest.mark.integration

KEYS = [f"invoice-{n}" for n in range(30)]


async def _produce(infra: Stack, topic: str, seqs: range) -> None:
    """A fresh producer (fresh metadata): each key's records in sequence."""
    producer = AIOKafkaProducer(
        bootstrap_servers=infra.bootstrap, acks="all", **client_kwargs(access.ADMIN, infra.state)
    )
    await producer.start()
    try:
        for seq in seqs:
            for key in KEYS:
                await producer.send_and_wait(topic, f"{key}:{seq}".encode(), key=key.encode())
    finally:
        await producer.stop()


async def _drain(infra: Stack, topic: str, group: str, expected: int) -> list[ConsumerRecord[bytes, bytes]]:
    """Reads `expected` records in `group` (as our consumers do: from the earliest offset where it has none) and
    commits; then checks nothing more is there."""
    consumer = AIOKafkaConsumer(
        topic,
        group_id=group,
        bootstrap_servers=infra.bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **client_kwargs(access.ADMIN, infra.state),
    )
    await consumer.start()
    try:
        found: list[ConsumerRecord[bytes, bytes]] = []
        deadline = asyncio.get_running_loop().time() + 60
        while len(found) < expected:
            assert asyncio.get_running_loop().time() < deadline, f"read {len(found)} of {expected} from {topic}"
            for records in (await consumer.getmany(timeout_ms=500)).values():
                found += records
        await consumer.commit()
        assert not any((await consumer.getmany(timeout_ms=1000)).values())
        return found
    finally:
        await consumer.stop()


async def _counts(infra: Stack, *names: str) -> dict[str, int]:
    async with Broker(infra.bootstrap) as broker:
        return await broker.partition_counts(names)


async def _grow(infra: Stack, slug: str, *args: str, quiet: float = 2.0) -> tuple[int, str]:
    command = ["topics", "grow", slug, *args, "--bootstrap", infra.bootstrap, "--quiet-seconds", str(quiet)]
    result = await asyncio.to_thread(CliRunner().invoke, app, command)
    return result.exit_code, " ".join(result.output.split())


async def test_grow_is_refused_until_drained_and_keeps_each_keys_order(
    infra: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    slug = f"grow-{uuid.uuid4().hex[:8]}"
    installed = registry.factoring_providers()
    stand_in = registry.FactoringProvider(slug, "Grow Test", 2, "unused.contract", "unused.adapter:Adapter")
    monkeypatch.setattr(registry, "factoring_providers", lambda: {**installed, slug: stand_in})
    inbound, outbound = topics.factoring_inbound(slug).name, topics.factoring_outbound(slug).name
    await ensure_topics(infra.bootstrap, [topics.factoring_inbound(slug), topics.factoring_outbound(slug)])
    try:
        await _grow_and_check(infra, slug, inbound, outbound)
    finally:
        async with Broker(infra.bootstrap) as broker:
            await broker.admin.delete_topics([inbound, outbound])


async def _grow_and_check(infra: Stack, slug: str, inbound: str, outbound: str) -> None:
    gateway_group, provider_group = (
        topics.group(topics.group_for_provider(slug)),
        topics.group(access.provider_group(slug)),
    )
    await _produce(infra, inbound, range(3))
    await _produce(infra, outbound, range(1))

    # 1. Unread records, and a producer still writing during the quiet period: refused with the numbers.
    refusal = asyncio.create_task(_grow(infra, slug, "4", quiet=8.0))
    await asyncio.sleep(4.0)  # inside the command's quiet period (it connects first)
    await _produce(infra, inbound, range(3, 4))
    code, output = await refusal
    assert code == 1, output
    assert f"records were written to {inbound}" in output
    assert f"has not read 120 records of {inbound}" in output, output
    assert await _counts(infra, inbound, outbound) == {inbound: 2, outbound: 2}

    # 2. The gateway's group has read everything; the provider's reader has no offset in Kafka: refused, unless the
    # provider confirmed it read all.
    old = await _drain(infra, inbound, gateway_group, 120)
    old_partition = {record.key: record.partition for record in old}
    code, output = await _grow(infra, slug, "4")
    assert code == 1 and OVERRIDE in output and f"no committed offset on {outbound}" in output, output
    assert await _counts(infra, inbound, outbound) == {inbound: 2, outbound: 2}

    # 3. Both drained, nothing written: both topics grow; shrinking is refused.
    await _drain(infra, outbound, provider_group, len(KEYS))
    code, output = await _grow(infra, slug, "4")
    assert code == 0, output
    assert f"grew {inbound}: 2 → 4 partitions" in output and f"grew {outbound}: 2 → 4 partitions" in output
    assert "maxReplicaCount to 4" in output and "restart" in output
    assert await _counts(infra, inbound, outbound) == {inbound: 4, outbound: 4}
    code, output = await _grow(infra, slug, "3")
    assert code == 1 and "Kafka cannot remove partitions" in output, output
    assert await _counts(infra, inbound, outbound) == {inbound: 4, outbound: 4}

    # 4. Records written after the change follow the new mapping; the drained group reads only those, each key's
    # in order, though many keys now live in another partition than before.
    await _produce(infra, inbound, range(4, 8))
    new = await _drain(infra, inbound, gateway_group, 4 * len(KEYS))
    seen: dict[bytes, list[int]] = defaultdict(list)
    partitions: dict[bytes, set[int]] = defaultdict(set)
    for record in new:
        assert record.key is not None and record.value is not None
        seen[record.key].append(int(record.value.decode().rsplit(":", 1)[1]))
        partitions[record.key].add(record.partition)
    assert all(order == [4, 5, 6, 7] for order in seen.values()) and len(seen) == len(KEYS), dict(seen)
    assert all(len(found) == 1 for found in partitions.values())  # one partition per key under the new mapping
    moved = [key for key, found in partitions.items() if found != {old_partition[key]}]
    assert moved, "no key changed partition: the test would prove nothing"
    assert {p for found in partitions.values() for p in found} & {2, 3}, "the new partitions are used"
