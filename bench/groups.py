"""Consumer groups on a shared broker: no member but ours, no one else's records waiting, lag (GroupGuard)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import GroupCoordinatorNotAvailableError

from ledgerline_cli.kafka_security import client_kwargs
from ledgerline_contracts import topics
from ledgerline_contracts.access import OPERATOR

from .harness import BenchAborted, say
from .kafka_io import scan_window

BENCH_CLIENT_MARK = b'"client_id":"bench-'
"""How records about the benchmarks' own clients (`bench-l…`, `bench-e…`) look on the wire."""


@dataclass(frozen=True)
class Member:
    group: str
    client_id: str
    host: str


class GroupGuard:
    """Checks the consumer groups the benchmark relies on: only our own processes may be members.

    Our processes are recognised by the instance tag in their Kafka client id (`<service>-<tag>`); every other
    member is foreign. The guard also measures consumer lag, to start measuring only once everything is idle.
    Groups are given by name (`topics.GROUP_…`) and checked under their id on the cluster (`topics.group`, which
    adds the LEDGERLINE_TOPIC_PREFIX namespace).
    """

    def __init__(self, bootstrap: str, groups: Iterable[str], tag: str) -> None:
        self.bootstrap = bootstrap
        self.groups = sorted({topics.group(g) for g in groups})
        self.tag = tag
        # As the operator: Describe on every consumer group (members, committed offsets), Read on every topic.
        self._admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **client_kwargs(OPERATOR))
        self._offsets = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, enable_auto_commit=False, **client_kwargs(OPERATOR)
        )
        self.violations: list[str] = []
        self._watch: asyncio.Task[None] | None = None

    async def __aenter__(self) -> GroupGuard:
        await self._admin.start()
        await self._offsets.start()
        return self

    async def __aexit__(self, *_: Any) -> None:
        await self.stop_watching()
        await self._admin.close()
        await self._offsets.stop()

    async def members(self) -> list[Member]:
        # One group per DescribeGroups request, on purpose. aiokafka 0.14.0 negotiates DescribeGroups v3 but decodes
        # the answer with the v2 schema (`DescribeGroupsRequest_v3.RESPONSE_TYPE = DescribeGroupsResponse_v2` in
        # aiokafka/protocol/admin.py). v3 adds a field at the end of each group, so against Kafka 3.9 an answer
        # about two or more groups fails with "Buffer underrun"; with one group only that last field is left
        # unread, and the public `describe_consumer_groups` is correct. (No upstream issue found for this yet.)
        found: list[Member] = []
        for group in self.groups:
            node = await self._coordinator(group)
            for response in await self._admin.describe_consumer_groups([group], group_coordinator_id=node):
                for _error, name, _state, _ptype, _protocol, members in response.groups:
                    found += [Member(name, member[1], member[2]) for member in members]
        return found

    async def _coordinator(self, group: str, timeout: float = 60.0) -> int:
        # A broker that has just been formatted creates __consumer_offsets on the first FindCoordinator and
        # answers "not available" until it has: wait for it rather than abort a first run on a fresh machine.
        deadline = time.monotonic() + timeout
        while True:
            try:
                return int(await self._admin.find_coordinator(group))
            except GroupCoordinatorNotAvailableError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)

    def is_ours(self, member: Member) -> bool:
        return member.client_id.endswith(f"-{self.tag}")

    async def foreign(self) -> list[Member]:
        return [m for m in await self.members() if not self.is_ours(m)]

    async def wait_until_free(self, timeout: float) -> None:
        """Waits until no foreign member is in any of our groups; aborts after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            foreign = await self.foreign()
            if not foreign:
                return
            groups = sorted({m.group for m in foreign})
            clients = sorted({m.client_id for m in foreign})
            if time.monotonic() > deadline:
                raise BenchAborted(
                    f"consumer groups {', '.join(groups)} still have members that are not this benchmark's "
                    f"({', '.join(clients)}) after {timeout:.0f} s. They would take a share of the partitions and "
                    "falsify the figures; run the benchmark when no other Ledgerline services are running."
                )
            say(
                f"waiting: {len(foreign)} foreign consumer(s) ({', '.join(clients)}) in group(s) {', '.join(groups)}; "
                f"{deadline - time.monotonic():.0f} s left"
            )
            await asyncio.sleep(5)

    def watch(self, interval: float = 1.0) -> None:
        """From now on, records any foreign member that appears (checked every `interval` seconds)."""

        async def loop() -> None:
            while True:
                with contextlib.suppress(Exception):
                    for member in await self.foreign():
                        note = f"{member.client_id} ({member.host}) joined group {member.group}"
                        if note not in self.violations:
                            self.violations.append(note)
                            say(f"WARNING: foreign consumer {note}: this run's figures are invalid")
                await asyncio.sleep(interval)

        self._watch = asyncio.create_task(loop())

    async def stop_watching(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
            self._watch = None

    async def wait_no_backlog(self, timeout: float) -> None:
        """Waits until nothing someone else published is pending in our groups: our processes would take it (and,
        with fresh databases, refuse it there). Records made by earlier benchmark runs (their clients' ids start
        with `bench-`) may stay: no one else needs them, and our processes consume them during the set-up.
        Aborts after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            windows = await self._pending()
            if not windows:
                return
            waiting = sum(end - start for start, end in windows.values())
            _, foreign = await scan_window(
                self.bootstrap,
                {tp: start for tp, (start, _) in windows.items()},
                {tp: end for tp, (_, end) in windows.items()},
                keep=lambda _topic, value: BENCH_CLIENT_MARK not in value,
                keep_at_most=1,
            )
            if not foreign:
                say(f"{waiting} records left by earlier benchmark runs wait in our groups; our processes take them")
                return
            if time.monotonic() > deadline:
                raise BenchAborted(
                    f"records someone else published wait unconsumed on {sorted({tp.topic for tp in windows})}; "
                    "our processes would take them. Start the services they are meant for (or `make up`) to "
                    "drain them, or run the benchmark in its own namespace (LEDGERLINE_TOPIC_PREFIX)."
                )
            say(f"waiting: {waiting} unconsumed records, some of others, in our groups")
            await asyncio.sleep(5)

    async def _committed(self) -> dict[str, dict[TopicPartition, int]]:
        committed: dict[str, dict[TopicPartition, int]] = {}
        for group in self.groups:
            offsets = await self._admin.list_consumer_group_offsets(group)
            committed[group] = {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}
        return committed

    async def _pending(self) -> dict[TopicPartition, tuple[int, int]]:
        """Per partition with records some group of ours has not consumed: (lowest committed offset, end)."""
        committed = await self._committed()
        partitions = {tp for offsets in committed.values() for tp in offsets}
        ends = await self._offsets.end_offsets(list(partitions)) if partitions else {}
        windows: dict[TopicPartition, tuple[int, int]] = {}
        for offsets in committed.values():
            for tp, offset in offsets.items():
                if ends[tp] > offset:
                    windows[tp] = (min(offset, windows.get(tp, (offset, 0))[0]), ends[tp])
        return windows

    async def lag(self) -> dict[str, int]:
        """Per group: records on its topics not yet committed (end offset − committed offset)."""
        committed = await self._committed()
        partitions = {tp for offsets in committed.values() for tp in offsets}
        ends = await self._offsets.end_offsets(list(partitions)) if partitions else {}
        return {
            group: sum(max(ends[tp] - offset, 0) for tp, offset in offsets.items())
            for group, offsets in committed.items()
        }

    async def wait_quiet(self, timeout: float, settle: float = 1.0) -> dict[str, int]:
        """Waits until every group has consumed everything (twice in a row, `settle` s apart)."""
        deadline = time.monotonic() + timeout
        quiet_since: float | None = None
        last_report = 0.0
        while True:
            lag = await self.lag()
            busy = {g: n for g, n in lag.items() if n}
            now = time.monotonic()
            if not busy:
                quiet_since = quiet_since or now
                if now - quiet_since >= settle:
                    return lag
            else:
                quiet_since = None
                if now - last_report > 10:
                    say(f"waiting for consumers to catch up: {busy}")
                    last_report = now
            if now > deadline:
                raise BenchAborted(f"consumers still behind after {timeout:.0f} s: {busy}")
            await asyncio.sleep(0.5)
