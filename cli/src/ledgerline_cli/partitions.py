"""`ledgerline topics grow <provider> <partitions>`: more partitions for one factoring provider, without breaking
per-invoice order.

A provider's records are keyed by invoice (or client), and the key picks the partition: `hash(key) % partitions`.
Growing the topic changes that mapping, so an invoice's next record may land in another partition than its earlier
ones, and a consumer of the new partition could handle it before the old partition's records of the same invoice.
That can only happen while records written before the change are still unread. Hence drain first:

1. stop the producers of both topics: the provider pauses sending on its inbound topic, and every factoring-gateway
   instance stops (it publishes the outbound topic from its outbox; on Kubernetes pause the provider's ScaledObject
   with `autoscaling.keda.sh/paused-replicas: "0"` and scale the core `factoring-gateway` to 0 once the inbound
   lag is zero);
2. let the readers catch up: the gateway's group `factoring-gateway.<provider>` on the inbound topic, the provider's
   group on the outbound topic (`ledgerline_contracts.access.provider_group`);
3. `ledgerline topics grow`: it checks that both groups' lag is zero and that nothing was written to either topic for
   a quiet period, refuses (with the numbers) otherwise, grows both topics, and says what to do next;
4. restart the producers (fresh metadata: every record from then on follows the new mapping) and raise the provider
   deployment's maximum replicas to the new count.

The checks never let known lag or a live producer through. The one override, `--i-have-drained`, covers only what
Kafka cannot know: a provider that keeps its outbound offsets outside Kafka (no committed offset in its group while
the topic holds records). Growing is the only direction: Kafka cannot remove partitions.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import typer
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewPartitions
from rich.console import Console

from ledgerline_contracts import access, topics
from ledgerline_contracts.access import ADMIN
from ledgerline_contracts.providers import registry

from .kafka_security import client_kwargs

OVERRIDE = "--i-have-drained"


@dataclass(frozen=True)
class PartitionOffsets:
    partition: int
    beginning: int
    end: int
    committed: int | None
    """The group's committed offset in Kafka; None when it has none for this partition."""

    @property
    def lag(self) -> int:
        """Records the group has not read (from the beginning, when it has no offset: our consumers start there)."""
        return self.end - (self.beginning if self.committed is None else max(self.committed, self.beginning))


@dataclass(frozen=True)
class Side:
    """One of a provider's two topics and the consumer group that reads it."""

    direction: str
    topic: str
    group: str
    reader: str
    partitions: tuple[PartitionOffsets, ...]
    offsets_may_live_elsewhere: bool = False
    """True for the provider's own reader of the outbound topic: it may track its position outside Kafka."""

    @property
    def count(self) -> int:
        return len(self.partitions)

    @property
    def lag(self) -> int:
        return sum(p.lag for p in self.partitions)

    @property
    def never_committed(self) -> bool:
        return all(p.committed is None for p in self.partitions)

    @property
    def ends(self) -> dict[int, int]:
        return {p.partition: p.end for p in self.partitions}

    def lag_table(self) -> str:
        return ", ".join(f"p{p.partition}={p.lag}" for p in self.partitions if p.lag)


@dataclass(frozen=True)
class Plan:
    grow: dict[str, tuple[int, int]]
    """topic → (partitions now, partitions wanted), for the topics below the wanted count."""
    refusals: list[str]
    """Why not (empty: go ahead)."""


def plan(sides: Iterable[Side], wanted: int, written: Mapping[str, int], i_have_drained: bool = False) -> Plan:
    """Decides a growth from what was observed. `written` is the records written to each topic during the quiet
    period (any at all means a producer is still running)."""
    sides = list(sides)
    refusals: list[str] = []
    largest = max(side.count for side in sides)
    if wanted < largest:
        refusals.append(
            f"{wanted} partitions is fewer than the {largest} the topics have: Kafka cannot remove partitions, and "
            "fewer would move every key anyway"
        )
    for topic, records in written.items():
        if records:
            refusals.append(
                f"{records} records were written to {topic} during the quiet period: a producer is still running "
                "(stop the factoring gateway's instances and ask the provider to pause sending)"
            )
    for side in sides:
        if side.lag == 0:
            continue
        if side.never_committed and side.offsets_may_live_elsewhere:
            if not i_have_drained:
                refusals.append(
                    f"{side.reader}'s group {side.group} has no committed offset on {side.topic}, which holds "
                    f"{side.lag} records: Kafka cannot tell whether it read them. Confirm with the provider that it "
                    f"read everything, then run again with {OVERRIDE}"
                )
            continue
        refusals.append(
            f"{side.reader}'s group {side.group} has not read {side.lag} records of {side.topic} "
            f"({side.lag_table()}): let it catch up first"
        )
    grow = {side.topic: (side.count, wanted) for side in sides if side.count < wanted}
    return Plan(grow if not refusals else {}, refusals)


def provider_sides(slug: str) -> list[tuple[str, str, str, str, bool]]:
    """(direction, topic, group, reader, offsets may live elsewhere) of a provider's two topics, names as on the
    cluster (with the topic prefix)."""
    return [
        (
            "inbound",
            topics.factoring_inbound(slug).name,
            topics.group(topics.group_for_provider(slug)),
            "the factoring gateway",
            False,
        ),
        ("outbound", topics.factoring_outbound(slug).name, topics.group(access.provider_group(slug)), slug, True),
    ]


class Broker:
    """The admin's view of the topics: partition counts, offsets, committed offsets; and the growth itself."""

    def __init__(self, bootstrap: str, timeout: float = 30.0) -> None:
        kwargs = client_kwargs(ADMIN)
        self.admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000), **kwargs)
        self.consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, **kwargs)

    async def __aenter__(self) -> Broker:
        await self.admin.start()
        await self.consumer.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.consumer.stop()
        await self.admin.close()

    async def partition_counts(self, names: Iterable[str]) -> dict[str, int]:
        found = {}
        for described in await self.admin.describe_topics(list(names)):
            if described["error_code"]:
                raise LookupError(f"topic {described['topic']} cannot be described (error {described['error_code']})")
            found[described["topic"]] = len(described["partitions"])
        return found

    async def end_offsets(self, counts: Mapping[str, int]) -> dict[str, dict[int, int]]:
        parts = [TopicPartition(name, p) for name, count in counts.items() for p in range(count)]
        ends = await self.consumer.end_offsets(parts)
        return {name: {p: ends[TopicPartition(name, p)] for p in range(count)} for name, count in counts.items()}

    async def side(
        self, direction: str, topic: str, group: str, reader: str, elsewhere: bool, count: int, ends: dict[int, int]
    ) -> Side:
        parts = [TopicPartition(topic, p) for p in range(count)]
        beginnings = await self.consumer.beginning_offsets(parts)
        committed = await self.admin.list_consumer_group_offsets(group, partitions=parts)
        offsets = tuple(
            PartitionOffsets(
                tp.partition,
                beginnings[tp],
                ends[tp.partition],
                committed[tp].offset if tp in committed and committed[tp].offset >= 0 else None,
            )
            for tp in parts
        )
        return Side(direction, topic, group, reader, offsets, elsewhere)

    async def grow(self, growth: Mapping[str, tuple[int, int]], timeout: float = 30.0) -> None:
        await self.admin.create_partitions({name: NewPartitions(wanted) for name, (_, wanted) in growth.items()})
        deadline = asyncio.get_running_loop().time() + timeout
        while any(count < growth[name][1] for name, count in (await self.partition_counts(growth)).items()):
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"the broker did not show the new partitions of {sorted(growth)} in {timeout} s")
            await asyncio.sleep(0.2)


@dataclass(frozen=True)
class Outcome:
    plan: Plan
    sides: list[Side]
    late_writes: dict[str, int]
    """Records that reached the old partitions between the last check and the growth (should be none)."""


async def grow_provider(
    bootstrap: str, slug: str, wanted: int, quiet_seconds: float, i_have_drained: bool = False
) -> Outcome:
    described = provider_sides(slug)
    names = [topic for _, topic, _, _, _ in described]
    async with Broker(bootstrap) as broker:
        counts = await broker.partition_counts(names)
        before = await broker.end_offsets(counts)
        await asyncio.sleep(quiet_seconds)
        after = await broker.end_offsets(counts)
        written = {name: sum(after[name].values()) - sum(before[name].values()) for name in names}
        sides = [
            await broker.side(direction, topic, group, reader, elsewhere, counts[topic], after[topic])
            for direction, topic, group, reader, elsewhere in described
        ]
        decided = plan(sides, wanted, written, i_have_drained)
        late: dict[str, int] = {}
        if decided.grow:
            await broker.grow(decided.grow)
            now = await broker.end_offsets(counts)  # the old partitions only
            late = {name: sum(now[name].values()) - sum(after[name].values()) for name in names}
            late = {name: records for name, records in late.items() if records}
        return Outcome(decided, sides, late)


def next_steps(slug: str, wanted: int) -> list[str]:
    deployment = f"factoring-gateway-{slug}"
    return [
        f"Raise the ScaledObject {deployment}'s maxReplicaCount to {wanted} (deploy/kubernetes: a patch in your "
        f"overlay), unpause it (`kubectl annotate scaledobject {deployment} autoscaling.keda.sh/paused-replicas-`) "
        "and scale the core factoring-gateway back up: new pods see the new partition count (elsewhere: start the "
        "gateways again).",
        f"Ask {slug} to restart its producer before it sends again: one that kept running may write with the old "
        "count for minutes.",
        f"Raise `partitions` to {wanted} in {slug}'s FactoringProvider, so new environments get it and "
        "tests/test_kubernetes.py keeps the maximum replicas equal to it.",
    ]


GROW_HELP = (
    "Give one provider's two topics more partitions, drain-first so that each invoice's records stay in order.\n\n"
    "Before: stop the producers (the provider pauses sending; every factoring-gateway instance stops once its group "
    "has read the inbound topic) and let the provider read the outbound topic to its end.\n\n"
    "The command refuses, with the numbers, while either group has unread records or anything is written to either "
    "topic during the quiet period; it never shrinks a topic. After: restart the producers and raise the maximum "
    "replicas (it prints how)."
)


def register(topics_app: typer.Typer, console: Console, err: Console) -> None:
    @topics_app.command("grow", help=GROW_HELP)
    def grow(
        provider: str = typer.Argument(..., help="The provider's slug, e.g. abc-factoring."),
        partitions: int = typer.Argument(..., min=1, help="The partition count both of its topics should have."),
        bootstrap: str = typer.Option("127.0.0.1:9092", envvar="LEDGERLINE_KAFKA"),
        quiet_seconds: float = typer.Option(
            10.0, min=0.0, help="How long nothing may be written to either topic before growing (producers stopped)."
        ),
        i_have_drained: bool = typer.Option(
            False,
            OVERRIDE,
            help="The provider confirmed it read all of its outbound topic, though its group has no committed "
            "offset in Kafka. Overrides nothing else: known lag and records written meanwhile always refuse.",
        ),
    ) -> None:
        try:
            registry.provider(provider)
        except KeyError as unknown:
            err.print(f"[red]refused[/red]: {unknown.args[0]}")
            raise typer.Exit(2) from None
        console.print(f"checking {provider}'s topics: nothing may be written for {quiet_seconds:g} s ...")
        outcome = asyncio.run(grow_provider(bootstrap, provider, partitions, quiet_seconds, i_have_drained))
        for side in outcome.sides:
            console.print(
                f"  {side.direction}: {side.topic}, {side.count} partitions, group {side.group} lag {side.lag}"
                + (" (no committed offset)" if side.never_committed and side.lag else "")
            )
        if outcome.plan.refusals:
            for reason in outcome.plan.refusals:
                err.print(f"[red]refused[/red]: {reason}")
            raise typer.Exit(1)
        if not outcome.plan.grow:
            console.print(f"both topics already have {partitions} partitions: nothing to do")
            return
        for topic, (was, now) in outcome.plan.grow.items():
            console.print(f"[green]grew[/green] {topic}: {was} → {now} partitions")
        if outcome.late_writes:
            err.print(
                "[red]records were written while the partitions were added[/red] "
                f"({', '.join(f'{t}: {n}' for t, n in outcome.late_writes.items())}): a producer was still running, "
                "so those records' invoices may be handled out of order. Check them before restarting anything."
            )
            raise typer.Exit(3)
        console.print("next:")
        for number, step in enumerate(next_steps(provider, partitions), start=1):
            console.print(f"  {number}. {step}")
