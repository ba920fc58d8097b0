"""Consumer lag as the broker sees it, for Prometheus: `python -m ledgerline_cli.lag_exporter --port N`.

Each service reports the lag of the partitions it is assigned (`ledgerline_consumer_lag`), so a consumer that is
down, stuck before its first poll or thrown out of its group reports nothing at all: exactly when lag matters most.
This process asks the broker instead, as the admin, for every consumer group of ours and every provider's group
(committed offsets against each partition's end, the way KEDA's Kafka scaler does) and serves
`ledgerline_kafka_group_lag{group, topic, partition}` on `/metrics`. The stack starts it next to Prometheus
(`ledgerline_cli.monitoring`); the rules in `infra/prometheus/rules/` prefer it to the consumers' own figure.

A group is measured on the topics it has committed offsets on (any partition of them); a partition of such a
topic without an offset counts from the partition's beginning, where our consumers start. A group that never
committed anything has no series (its service is down or new: the service-down alert covers it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from collections.abc import Iterable, Iterator, Mapping

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client import REGISTRY, Counter, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ledgerline_contracts import access, topics
from ledgerline_contracts.access import ADMIN
from ledgerline_simulators.main import simulators

from .kafka_security import client_kwargs
from .partitions import PartitionOffsets

LAG_METRIC = "ledgerline_kafka_group_lag"

Lag = dict[tuple[str, str, int], int]
"""(group without the topic prefix, topic, partition) → records the group has not read."""


def watched_groups() -> tuple[str, ...]:
    """Every consumer group of our services, and each provider's group on its outbound topic (as on the cluster)."""
    ours = topics.consumer_groups()
    providers = tuple(access.provider_group(name) for name in simulators())
    return tuple(topics.group(name) for name in (*ours, *providers))


def group_lag(
    group: str,
    committed: Mapping[TopicPartition, int],
    partitions: Mapping[str, int],
    beginnings: Mapping[TopicPartition, int],
    ends: Mapping[TopicPartition, int],
) -> Lag:
    """The lag of one group on every partition of the topics it has committed offsets on (`committed`: offsets
    of -1 mean none); `partitions`: each topic's partition count."""
    found: Lag = {}
    name = group.removeprefix(topics.PREFIX)
    for topic in sorted({tp.topic for tp, offset in committed.items() if offset >= 0}):
        for partition in range(partitions.get(topic, 0)):
            tp = TopicPartition(topic, partition)
            if tp not in ends or tp not in beginnings:
                continue
            offset = committed.get(tp, -1)
            found[(name, topic, partition)] = PartitionOffsets(
                partition, beginnings[tp], ends[tp], offset if offset >= 0 else None
            ).lag
    return found


class LagCollector(Collector):
    """Serves the last measurement; a failed round keeps the one before (and counts the failure)."""

    def __init__(self) -> None:
        self.lag: Lag = {}

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            LAG_METRIC,
            "Records a consumer group has not read, per partition, from its offsets committed in Kafka (measured "
            "on the broker: also while the group's consumers are down).",
            labels=["group", "topic", "partition"],
        )
        for (group, topic, partition), lag in sorted(self.lag.items()):
            family.add_metric([group, topic, str(partition)], lag)
        yield family


ROUND_FAILURES = Counter(
    "ledgerline_lag_exporter_failures_total", "Measurement rounds that failed (the broker did not answer)."
)


class Measurer:
    def __init__(self, bootstrap: str, groups: Iterable[str], timeout: float = 10.0) -> None:
        kwargs = client_kwargs(ADMIN)
        self.groups = list(groups)
        self.admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000), **kwargs)
        self.consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, **kwargs)

    async def start(self) -> None:
        await self.admin.start()
        await self.consumer.start()

    async def stop(self) -> None:
        await self.consumer.stop()
        await self.admin.close()

    async def measure(self) -> Lag:
        committed = {
            group: {tp: meta.offset for tp, meta in (await self.admin.list_consumer_group_offsets(group)).items()}
            for group in self.groups
        }
        names = sorted({tp.topic for offsets in committed.values() for tp, offset in offsets.items() if offset >= 0})
        if not names:
            return {}
        counts = {
            d["topic"]: len(d["partitions"]) for d in await self.admin.describe_topics(names) if not d["error_code"]
        }
        parts = [TopicPartition(name, p) for name, count in counts.items() for p in range(count)]
        beginnings = await self.consumer.beginning_offsets(parts)
        ends = await self.consumer.end_offsets(parts)
        found: Lag = {}
        for group, offsets in committed.items():
            found |= group_lag(group, offsets, counts, beginnings, ends)
        return found


async def run(bootstrap: str, interval: float, collector: LagCollector) -> None:
    measurer = Measurer(bootstrap, watched_groups())
    while True:  # the broker may not answer yet: keep trying
        try:
            await measurer.start()
            break
        except Exception as error:
            print(f"lag exporter: broker not reachable yet: {error!r}", file=sys.stderr)
            with contextlib.suppress(Exception):
                await measurer.stop()
            measurer = Measurer(bootstrap, watched_groups())
            await asyncio.sleep(interval)
    try:
        while True:
            started = time.monotonic()
            try:
                collector.lag = await measurer.measure()
            except Exception as error:
                ROUND_FAILURES.inc()
                print(f"lag exporter: measuring failed: {error!r}", file=sys.stderr)
            await asyncio.sleep(max(interval - (time.monotonic() - started), 0.1))
    finally:
        await measurer.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between measurements")
    args = parser.parse_args(argv)
    collector = LagCollector()
    REGISTRY.register(collector)
    start_http_server(args.port, addr=args.host)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(args.bootstrap, args.interval, collector))


if __name__ == "__main__":
    main()
