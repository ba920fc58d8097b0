"""What both benchmarks share: safe use of a shared broker, lean Kafka I/O, process sampling, ceilings, py-spy.

Everything here measures from the outside. The services run unchanged as their own processes (via the CLI's
`Stack`); the harness only publishes commands, reads topics, queries HTTP and samples the processes.

Shared machine rules built in:

* our processes run on their own port base (48100 by default) and identify themselves with an instance id
  (`bench48100`), which the services put into their Kafka client id (`ledger-bench48100`);
* before measuring, every consumer group the benchmark relies on must have no member but ours (`GroupGuard`):
  other developers' services use the same group names, and a member of theirs would take a share of our
  partitions and falsify the figures. The guard waits, says why, and gives up with a clear message;
* the guard keeps watching during the measurement; a foreign member appearing invalidates the run;
* by default the services get fresh databases of their own for the run (`ServiceDatabases`), dropped after it;
* where the contracts namespace topics (`LEDGERLINE_TOPIC_PREFIX`), a `bench…` namespace is cleaned up after it.

Contents, in order: identity and namespaces; consumer groups (`GroupGuard`); lean Kafka I/O (producer, watcher,
offset windows); process sampling (psutil); service metrics; databases and PostgreSQL's counters; ceilings;
py-spy; small helpers for the figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import psutil
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import GroupCoordinatorNotAvailableError
from aiokafka.protocol.admin import DescribeGroupsRequest_v0, DescribeGroupsRequest_v1, DescribeGroupsRequest_v2
from aiokafka.protocol.api import Request
from prometheus_client.parser import text_string_to_metric_families

from ledgerline_contracts import topics as catalogue

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
STATE = Path(os.environ.get("LEDGERLINE_STATE_DIR", REPO / ".state"))
BOOTSTRAP = os.environ.get("LEDGERLINE_KAFKA", "127.0.0.1:9092")
PG_HOST, PG_PORT = "127.0.0.1", 5432
PORT_BASE = 48100
BENCH_CLIENT_MARK = b'"client_id":"bench-'
"""How records about the benchmarks' own clients (`bench-l…`, `bench-e…`) look on the wire."""
_RESERVED_PORTS = [(8100, 8199), (18100, 18499), (28100, 28199), (38100, 38199)]
"""Ports other developers' stacks and test sessions use on this machine: never ours."""

# The producer settings of the services (servicekit.broker.make_broker), so the harness adds no advantage.
PRODUCER_SETTINGS: dict[str, Any] = {
    "acks": "all",
    "enable_idempotence": True,
    "linger_ms": 5,
    "max_batch_size": 256 * 1024,
}

_started = time.monotonic()


def say(message: str) -> None:
    """Progress on stdout, with seconds since the benchmark started."""
    print(f"[{time.monotonic() - _started:7.1f}s] {message}", flush=True)


class BenchAborted(Exception):
    """The benchmark cannot produce an honest figure (e.g. someone else's consumer is in our group)."""


def check_port_base(port_base: int) -> None:
    """Our processes use port_base + 1 … + 13; refuse bases that touch ports other stacks use."""
    ours = range(port_base, port_base + 20)
    for low, high in _RESERVED_PORTS:
        if any(low <= port <= high for port in ours):
            raise SystemExit(f"port base {port_base} overlaps ports {low}-{high}, which other stacks use here")


def instance_tag(port_base: int) -> str:
    """The instance id our processes run with; the services make it part of their Kafka client id."""
    return f"bench{port_base}"


def group_id(name: str) -> str:
    """A consumer group's id on the cluster.

    When the contracts namespace topics and groups (`LEDGERLINE_TOPIC_PREFIX`, `topics.group`), the benchmark
    follows; without that support the names are used as they are.
    """
    namespaced = getattr(catalogue, "group", None)
    return namespaced(name) if callable(namespaced) else name


def topic_prefix() -> str:
    """The namespace of topics and groups in this process (empty unless LEDGERLINE_TOPIC_PREFIX is supported)."""
    return str(getattr(catalogue, "PREFIX", ""))


async def delete_namespace_topics(bootstrap: str) -> list[str]:
    """Deletes the topics of a benchmark's own namespace (a prefix starting with `bench`), nothing else."""
    prefix = topic_prefix()
    if not prefix.startswith("bench"):
        return []
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        mine = [name for name in await admin.list_topics() if name.startswith(prefix)]
        if mine:
            await admin.delete_topics(mine)
        return mine
    finally:
        await admin.close()


def parse_env(pairs: Sequence[str]) -> dict[str, str]:
    """`--env KEY=VALUE` options, passed to every process we start (e.g. LEDGER_CONSUMER_BATCH_SIZE=2000)."""
    env: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"--env expects KEY=VALUE, got {pair!r}")
        env[key] = value
    return env


def run_id() -> str:
    return datetime.now().strftime("%m%d%H%M%S") + secrets.token_hex(2)


def read_secrets(state: Path = STATE) -> dict[str, str]:
    values: dict[str, str] = {}
    path = state / "secrets.env"
    if path.exists():
        for line in path.read_text().splitlines():
            if line and not line.startswith("#") and "=" in line:
                key, value = line.split("=", 1)
                values[key] = value
    return values


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    load1, load5, _ = os.getloadavg()
    return {
        "cpus": psutil.cpu_count(logical=True),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": sys.version.split()[0],
        "load_avg_1m_at_start": round(load1, 2),
        "load_avg_5m_at_start": round(load5, 2),
    }


def git_revision() -> str:
    try:
        head = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "services", "servicekit", "contracts"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return head + ("+uncommitted changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


# --- consumer groups: who else is in them -------------------------------------------------------------------------
class _DescribeGroups(Request[DescribeGroupsRequest_v0 | DescribeGroupsRequest_v1 | DescribeGroupsRequest_v2]):
    """DescribeGroups pinned to v0–v2.

    aiokafka 0.14.0's `describe_consumer_groups` negotiates v3 but decodes the answer with the v2 schema
    (`DescribeGroupsRequest_v3.RESPONSE_TYPE = DescribeGroupsResponse_v2`), which fails with "Buffer underrun"
    against Kafka 3.9. v2 carries everything needed here (members and their client ids).
    """

    API_KEY = 15

    def __init__(self, groups: list[str]) -> None:
        self._groups = groups

    def build(self, request_struct_class: Any) -> Any:
        return request_struct_class(self._groups)


@dataclass(frozen=True)
class Member:
    group: str
    client_id: str
    host: str


class GroupGuard:
    """Checks the consumer groups the benchmark relies on: only our own processes may be members.

    Our processes are recognised by the instance tag in their Kafka client id (`<service>-<tag>`); every other
    member is foreign. The guard also measures consumer lag, to start measuring only once everything is idle.
    """

    def __init__(self, bootstrap: str, groups: Iterable[str], tag: str) -> None:
        self.bootstrap = bootstrap
        self.groups = sorted({group_id(g) for g in groups})
        self.tag = tag
        self._admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        self._offsets = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
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
        by_node: dict[int, list[str]] = defaultdict(list)
        for group in self.groups:
            by_node[await self._coordinator(group)].append(group)
        found: list[Member] = []
        for node, groups in by_node.items():
            response = await self._admin._send_request(_DescribeGroups(groups), node)
            for _error, group, _state, _ptype, _protocol, members in response.groups:
                found += [Member(group, member[1], member[2]) for member in members]
        return found

    async def _coordinator(self, group: str, timeout: float = 60.0) -> int:
        # A broker that has just been formatted creates __consumer_offsets on the first FindCoordinator and
        # answers "not available" until it has: wait for it rather than abort a first run on a fresh machine.
        deadline = time.monotonic() + timeout
        while True:
            try:
                return await self._admin.find_coordinator(group)
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


# --- Kafka: lean producer, offsets, a cheap watcher --------------------------------------------------------------
def new_producer(bootstrap: str) -> AIOKafkaProducer:
    """A producer configured like the services' and the CLI Bus's (idempotent, acks=all)."""
    return AIOKafkaProducer(bootstrap_servers=bootstrap, **PRODUCER_SETTINGS)


async def publish(
    producer: AIOKafkaProducer,
    topic: str,
    records: Sequence[tuple[bytes, bytes]],
    on_send: Callable[[int], None] | None = None,
    chunk: int = 2000,
) -> None:
    """Publishes pre-serialised (key, value) records in order, waiting for the broker to have them all.

    `on_send(i)` is called just before record i is handed to the producer (that instant is its send time).
    """
    for start in range(0, len(records), chunk):
        pending = []
        for i in range(start, min(start + chunk, len(records))):
            key, value = records[i]
            if on_send is not None:
                on_send(i)
            pending.append(await producer.send(topic, value, key=key))
        await asyncio.gather(*pending)


async def end_offsets(bootstrap: str, topic_names: Iterable[str]) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [
            TopicPartition(name, p) for name in topic_names for p in (consumer.partitions_for_topic(name) or ())
        ]
        missing = [name for name in topic_names if not consumer.partitions_for_topic(name)]
        if missing:
            await consumer._client.force_metadata_update()
            partitions += [
                TopicPartition(name, p) for name in missing for p in (consumer.partitions_for_topic(name) or ())
            ]
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
        bootstrap_servers=bootstrap, enable_auto_commit=False, max_partition_fetch_bytes=4 * 1024 * 1024
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


def our_voucher_posted(record: ConsumerRecord, marker: bytes, rejected: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The VoucherPosted event in `record` if it is about the benchmark's clients (`marker` in its bytes).

    A rejection about them is appended to `rejected`. The bytes are checked before anything is parsed, so that
    the harness takes as little CPU from the services as it can.
    """
    value = record.value or b""
    if marker not in value:
        return None
    if record.topic == catalogue.LEDGER_REJECTIONS.name:
        rejected.append(orjson.loads(value))
        return None
    if b'"ledger.VoucherPosted"' not in value:
        return None
    event: dict[str, Any] = orjson.loads(value)
    return event


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
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap, enable_auto_commit=False, max_partition_fetch_bytes=4 * 1024 * 1024
        )
        await self._consumer.start()
        await self._consumer._client.force_metadata_update()
        partitions = [
            TopicPartition(name, p) for name in self._topics for p in (self._consumer.partitions_for_topic(name) or ())
        ]
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


async def command_all(bootstrap: str, topic: str, commands: Sequence[Any], timeout: float) -> list[dict[str, Any]]:
    """Publishes many commands (keyed by client) and waits for every CommandResult; returns them (parsed JSON).

    For bulk set-up: one watcher collects the answers by command id, instead of one waiter per command.
    """
    wanted = {str(c.message_id) for c in commands}
    answers: dict[str, dict[str, Any]] = {}

    def collect(record: ConsumerRecord) -> None:
        result = orjson.loads(record.value or b"{}")
        if result.get("command_id") in wanted:
            answers.setdefault(result["command_id"], result)

    watcher = TopicWatcher(bootstrap, [catalogue.COMMAND_RESULTS.name], collect)
    await watcher.start()
    producer = new_producer(bootstrap)
    await producer.start()
    try:
        await publish(producer, topic, [(c.client_id.encode(), c.to_bytes()) for c in commands])
        deadline = time.monotonic() + timeout
        while len(answers) < len(wanted):
            if time.monotonic() > deadline:
                raise BenchAborted(f"{len(answers)} of {len(wanted)} set-up commands answered within {timeout:.0f} s")
            await asyncio.sleep(0.1)
    finally:
        await producer.stop()
        await watcher.stop()
    return list(answers.values())


# --- the processes we started: memory and CPU --------------------------------------------------------------------
class ProcessSampler:
    """Samples our processes in a background thread (psutil, every `interval` s): peak RSS and CPU time.

    `observe` adds processes we did not start, for CPU time only (read from /proc, never touched): the Kafka
    broker and the PostgreSQL server processes, which share the machine's cores with the services.
    """

    def __init__(
        self,
        pids: Mapping[str, int],
        observe: Mapping[str, Callable[[], list[psutil.Process]]] | None = None,
        interval: float = 0.25,
    ) -> None:
        self._procs = {name: psutil.Process(pid) for name, pid in pids.items()}
        self._procs["bench harness"] = psutil.Process()
        self._observe = dict(observe or {})
        self._interval = interval
        self.peak_rss: dict[str, int] = dict.fromkeys(self._procs, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ProcessSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self._interval)

    def sample(self) -> None:
        for name, proc in self._procs.items():
            with contextlib.suppress(psutil.Error):
                rss = proc.memory_info().rss
                self.peak_rss[name] = max(self.peak_rss[name], rss)

    def observe_pids(self, name: str, pids: Iterable[int]) -> None:
        """Observes (CPU only) a changing set of processes we did not start, e.g. PostgreSQL backends."""
        processes = []
        for pid in pids:
            with contextlib.suppress(psutil.Error):
                processes.append(psutil.Process(pid))
        self._observe[name] = lambda: processes

    def snapshot(self) -> CpuSnapshot:
        """CPU seconds so far per process (per pid), and the machine's CPU times."""
        per: dict[str, dict[int, float]] = {}
        groups = {name: (lambda proc=proc: [proc]) for name, proc in self._procs.items()} | self._observe
        for name, processes in groups.items():
            per[name] = {}
            with contextlib.suppress(psutil.Error):
                for proc in processes():
                    with contextlib.suppress(psutil.Error):
                        times = proc.cpu_times()
                        per[name][proc.pid] = times.user + times.system
        return CpuSnapshot(time.monotonic(), per, psutil.cpu_times())


@dataclass
class CpuSnapshot:
    at: float
    per_process: dict[str, dict[int, float]]
    machine: Any

    def until(self, later: CpuSnapshot) -> dict[str, Any]:
        """CPU use between two snapshots: seconds and cores used per process; machine busy %."""
        wall = max(later.at - self.at, 1e-9)
        total = sum(later.machine) - sum(self.machine)
        idle = (later.machine.idle + later.machine.iowait) - (self.machine.idle + self.machine.iowait)
        processes = {}
        for name, pids in later.per_process.items():
            earlier = self.per_process.get(name, {})
            used = sum(cpu - earlier.get(pid, 0.0) for pid, cpu in pids.items())
            processes[name] = {"cpu_s": round(used, 2), "cores": round(used / wall, 2)}
        return {
            "wall_s": round(wall, 3),
            "machine_busy_percent": round(100 * (1 - idle / total), 1) if total > 0 else None,
            "processes": processes,
        }


def kafka_broker() -> list[psutil.Process]:
    """The local broker (pid from .state/kafka/kafka.pid), observed for CPU only."""
    path = STATE / "kafka" / "kafka.pid"
    with contextlib.suppress(OSError, ValueError, psutil.Error):
        return [psutil.Process(int(path.read_text().strip()))]
    return []


def postgres_server() -> list[psutil.Process]:
    """Every PostgreSQL server process (postmaster, backends of all clients), observed for CPU only."""
    return [p for p in psutil.process_iter(["name"]) if p.info["name"] == "postgres"]


def mb(value: int) -> float:
    return round(value / 2**20, 1)


# --- service metrics (Prometheus text) ---------------------------------------------------------------------------
async def scrape(url: str) -> dict[str, float]:
    """A service's /metrics as {"name{label=value,…}": value}."""
    async with httpx.AsyncClient(timeout=10) as http:
        text = (await http.get(f"{url}/metrics")).text
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            values[f"{sample.name}{{{labels}}}"] = sample.value
    return values


def metric_sum(values: Mapping[str, float], name: str, **labels: str) -> float:
    """Sum of a metric's samples whose labels include `labels`."""
    total = 0.0
    for key, value in values.items():
        metric = key.partition("{")[0]
        if metric != name:
            continue
        have = _labels(key)
        if all(have.get(k) == v for k, v in labels.items()):
            total += value
    return total


def batch_profile(values: Mapping[str, float], service: str) -> dict[str, dict[str, float]]:
    """Per consumer group of a service: batches, mean records and seconds per batch, seconds spent in total;
    and the same for its outbox relay (rows published per relay batch)."""
    groups = {_labels(key).get("consumer", "") for key in values if key.startswith("ledgerline_batch_size_count{")}
    result = {}
    for group in sorted(g for g in groups if g):
        count = metric_sum(values, "ledgerline_batch_size_count", service=service, consumer=group)
        if not count:
            continue
        size = metric_sum(values, "ledgerline_batch_size_sum", service=service, consumer=group)
        seconds = metric_sum(values, "ledgerline_batch_handling_seconds_sum", service=service, consumer=group)
        result[group] = {
            "batches": int(count),
            "mean_records": round(size / count, 1),
            "mean_seconds": round(seconds / count, 4),
            "busy_seconds": round(seconds, 2),
        }
    relays = metric_sum(values, "ledgerline_outbox_publish_seconds_count", service=service)
    if relays:
        rows = metric_sum(values, "ledgerline_outbox_published_total", service=service)
        seconds = metric_sum(values, "ledgerline_outbox_publish_seconds_sum", service=service)
        result["outbox relay"] = {
            "batches": int(relays),
            "mean_records": round(rows / relays, 1),
            "mean_seconds": round(seconds / relays, 4),
            "busy_seconds": round(seconds, 2),
        }
    return result


def _labels(key: str) -> dict[str, str]:
    return dict(item.split("=", 1) for item in key.partition("{")[2].rstrip("}").split(",") if item)


# --- the services' databases: fresh ones per run, and PostgreSQL's own counters -------------------------------------
SERVICE_DATABASES = {
    "ledger": ("ledgerline_ledger", "LEDGER_DB_NAME"),
    "invoicing": ("ledgerline_invoicing", "INVOICING_DB_NAME"),
    "factoring-gateway": ("ledgerline_factoring_gateway", "FACTORING_DB_NAME"),
    "financing-gateway": ("ledgerline_financing_gateway", "FINANCING_DB_NAME"),
}
"""Per service: its database (and role) as provisioned by infra/postgres/postgres.sh, and the setting naming it."""


async def _admin(database: str = "postgres") -> asyncpg.Connection:
    password = read_secrets().get("LEDGERLINE_PG_ADMIN_PASSWORD")
    if not password:
        raise BenchAborted("LEDGERLINE_PG_ADMIN_PASSWORD is missing from .state/secrets.env (run `make postgres`)")
    return await asyncpg.connect(
        user="ledgerline_admin", password=password, host=PG_HOST, port=PG_PORT, database=database
    )


class ServiceDatabases:
    """Where our services keep their data during a run.

    Default: one empty database per service, created for this run with the admin role, owned by the service's
    own role (so the service connects exactly as it always does), brought to the newest schema by the service's
    own migrations, and dropped at the end. Every run starts from the same empty state, leaves nothing behind in
    the shared databases, and PostgreSQL's per-database counters count our work only.
    With `shared=True` the services use their usual databases (other stacks' data and traffic included).
    """

    def __init__(self, services: Iterable[str], tag: str, shared: bool = False, keep: bool = False) -> None:
        self.services = [s for s in services if s in SERVICE_DATABASES]
        self.shared = shared
        self.keep = keep
        self.suffix = "" if shared else f"_{tag}_{secrets.token_hex(2)}"
        self.names = {s: SERVICE_DATABASES[s][0] + self.suffix for s in self.services}

    def apply(self, stack: Any) -> None:
        """Points the stack's services at these databases: through the stack's own database suffix where the
        CLI's Stack has one, and through each service's DB_NAME setting otherwise (same names either way)."""
        if self.shared:
            return
        if hasattr(stack, "db_suffix"):
            stack.db_suffix = self.suffix
        stack.extra_env.update({SERVICE_DATABASES[s][1]: self.names[s] for s in self.services})

    async def verify(self, tag: str) -> None:
        """Checks, from pg_stat_activity, that each of our services is connected to the database meant for it."""
        admin = await _admin()
        try:
            rows = await admin.fetch(
                "SELECT DISTINCT application_name, datname FROM pg_stat_activity WHERE application_name LIKE $1",
                f"%-{tag}",
            )
        finally:
            await admin.close()
        wrong = [
            f"{r['application_name']} uses {r['datname']}"
            for r in rows
            if (service := r["application_name"].removesuffix(f"-{tag}")) in self.names
            and r["datname"] != self.names[service]
        ]
        if wrong:
            raise BenchAborted(f"our services are not on the run's databases: {'; '.join(wrong)}")

    async def create(self) -> None:
        if self.shared:
            return
        admin = await _admin()
        try:
            for service, name in self.names.items():
                role = SERVICE_DATABASES[service][0]
                await admin.execute(f'CREATE DATABASE "{name}" OWNER "{role}"')
                await admin.execute(f'REVOKE CONNECT ON DATABASE "{name}" FROM PUBLIC')
        finally:
            await admin.close()

    async def drop(self) -> None:
        if self.shared or self.keep:
            return
        admin = await _admin()
        try:
            for name in self.names.values():
                try:
                    await drop_database(admin, name)
                except asyncpg.PostgresError as error:
                    say(f"WARNING: could not drop database {name} ({error}); drop it by hand")
        finally:
            await admin.close()

    async def backend_pids(self) -> list[int]:
        """The PostgreSQL server processes currently serving our databases (for their CPU time)."""
        admin = await _admin()
        try:
            rows = await admin.fetch(
                "SELECT pid FROM pg_stat_activity WHERE datname = ANY($1::text[])", list(self.names.values())
            )
        finally:
            await admin.close()
        return [r["pid"] for r in rows]

    async def stats(self) -> dict[str, dict[str, float]]:
        """pg_stat_database counters of our services' databases (read with the admin role).

        Cumulative for every session on a database: exact for our scratch databases, other stacks' work
        included with shared ones. active_time (ms executing statements) and idle_in_transaction_time (ms a
        transaction waited for its client between statements) need PostgreSQL 14+.
        """
        admin = await _admin()
        try:
            rows = await admin.fetch(
                f"SELECT datname, {', '.join(_PG_COUNTERS)} FROM pg_stat_database WHERE datname = ANY($1::text[])",
                list(self.names.values()),
            )
        finally:
            await admin.close()
        by_name = {r["datname"]: r for r in rows}
        return {
            service: {c: float(by_name[name][c] or 0) for c in _PG_COUNTERS}
            for service, name in self.names.items()
            if name in by_name
        }


class PgActivitySampler:
    """Samples pg_stat_activity for our databases (every `interval` s): what their sessions are doing.

    Per service, the share of samples in which a session was running a statement ("active"), waiting for a
    lock ("active, waiting Lock:…"), waiting for the service between statements of an open transaction
    ("idle in transaction"), and so on; plus the mean number of sessions in each state.
    """

    def __init__(self, databases: ServiceDatabases, interval: float = 0.25) -> None:
        self._services = {name: service for service, name in databases.names.items()}
        self._interval = interval
        self._counts: dict[str, Counter[str]] = defaultdict(Counter)
        self._samples = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._db = await _admin()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            rows = await self._db.fetch(
                "SELECT datname, state, wait_event_type, wait_event FROM pg_stat_activity "
                "WHERE datname = ANY($1::text[]) AND pid <> pg_backend_pid()",
                list(self._services),
            )
            self._samples += 1
            for row in rows:
                state = row["state"] or "?"
                if state == "active" and row["wait_event_type"]:
                    state = f"active, waiting {row['wait_event_type']}:{row['wait_event']}"
                self._counts[self._services[row["datname"]]][state] += 1
            await asyncio.sleep(self._interval)

    async def stop(self) -> dict[str, dict[str, float]]:
        """Per service and state: mean number of sessions in that state."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, asyncpg.PostgresError, OSError):
                await self._task
            self._task = None
            await self._db.close()
        samples = max(self._samples, 1)
        return {
            service: {state: round(n / samples, 2) for state, n in counts.most_common()}
            for service, counts in sorted(self._counts.items())
        }


async def drop_database(admin: asyncpg.Connection, name: str, timeout: float = 30.0) -> None:
    """DROP DATABASE once the sessions of our stopped processes are gone (a plain DROP also stops autovacuum
    there); retried while PostgreSQL still reports other sessions, forced only as a last resort."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
            return
        except asyncpg.ObjectInUseError:
            if time.monotonic() > deadline:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                return
            await asyncio.sleep(0.5)


_PG_COUNTERS = (
    "xact_commit",
    "xact_rollback",
    "tup_returned",
    "tup_fetched",
    "tup_inserted",
    "tup_updated",
    "tup_deleted",
    "active_time",
    "idle_in_transaction_time",
)
PG_STATS_FLUSH_S = 11.0
"""PostgreSQL 15 backends flush their statistics at most once a second, and when idle within 10 s."""


def pg_stats_per_unit(
    before: Mapping[str, Mapping[str, float]], after: Mapping[str, Mapping[str, float]], units: int
) -> dict[str, dict[str, float]]:
    """The counters' growth between two snapshots, per unit of work (per invoice, per voucher)."""
    return {
        service: {c: round((after[service][c] - before[service].get(c, 0.0)) / units, 2) for c in _PG_COUNTERS}
        for service in after
        if service in before
    }


# --- ceilings -----------------------------------------------------------------------------------------------------
POSTING_COLUMNS = [
    "voucher_id",
    "line_number",
    "client_id",
    "voucher_date",
    "account",
    "amount_ore",
    "party",
    "open_item",
    "due_date",
    "vat_code",
    "description",
]
_POSTING_TABLE = (
    "CREATE TABLE posting_lines (voucher_id uuid NOT NULL, line_number int NOT NULL, client_id text NOT NULL, "
    "voucher_date date NOT NULL, account text NOT NULL, amount_ore bigint NOT NULL, party int, open_item text, "
    "due_date date, vat_code text, description text)"
)


def posting_rows(events: Iterable[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    """The posting lines of VoucherPosted events (parsed JSON) as the ledger's voucher_lines rows (signed amounts)."""
    return [
        (
            uuid.UUID(event["voucher_id"]),
            line["line_number"],
            event["client_id"],
            date.fromisoformat(event["voucher_date"]),
            line["account"],
            line["amount_ore"] if line["side"] == "debit" else -line["amount_ore"],
            line.get("party"),
            line.get("open_item"),
            date.fromisoformat(line["due_date"]) if line.get("due_date") else None,
            line.get("vat_code"),
            line.get("description"),
        )
        for event in events
        for line in event["lines"]
    ]


async def copy_ceiling(rows: Sequence[tuple[Any, ...]], tag: str, repeats: int = 3) -> dict[str, Any]:
    """The raw database ceiling: asyncpg COPY of `rows` into an unindexed table of the same columns.

    A scratch database is created with the admin role (password from .state/secrets.env) and dropped
    afterwards. Each repeat is one transaction (COPY + commit) into an emptied table; the best repeat is the
    ceiling.
    """
    name = f"ledgerline_bench_{tag}_{secrets.token_hex(3)}"
    admin = await _admin()
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            db = await _admin(name)
            try:
                await db.execute(_POSTING_TABLE)
                timings = []
                for _ in range(repeats):
                    await db.execute("TRUNCATE posting_lines")
                    started = time.perf_counter()
                    async with db.transaction():
                        await db.copy_records_to_table("posting_lines", records=rows, columns=POSTING_COLUMNS)
                    timings.append(time.perf_counter() - started)
            finally:
                await db.close()
        finally:
            await drop_database(admin, name)
    finally:
        await admin.close()
    best = min(timings)
    return {
        "rows": len(rows),
        "seconds": round(best, 3),
        "all_seconds": [round(t, 3) for t in timings],
        "rows_per_s": round(len(rows) / best),
        "database": f"{name} (created and dropped)",
    }


async def kafka_ceiling(
    bootstrap: str, tag: str, count: int, key_bytes: int, value_bytes: int, partitions: int = 8
) -> dict[str, Any]:
    """The raw Kafka ceiling: `count` records of the given sizes produced and consumed through one scratch topic.

    One producer (the services' settings) and one consumer in this process, running concurrently; the time is
    from the first send to the last record consumed. The topic is created for it and deleted afterwards.
    """
    name = f"bench.ceiling.{tag}.{secrets.token_hex(3)}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
        for _ in range(100):
            if name in await admin.list_topics():
                break
            await asyncio.sleep(0.1)
        value = (b"x" * max(value_bytes, 1))[: max(value_bytes, 1)]
        keys = [f"{i:0{max(key_bytes, 1)}d}"[-max(key_bytes, 1) :].encode() for i in range(min(count, 10_000))]
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, enable_auto_commit=False, max_partition_fetch_bytes=4 * 1024 * 1024
        )
        producer = new_producer(bootstrap)
        await consumer.start()
        await producer.start()
        try:
            await consumer._client.force_metadata_update()
            tps = [TopicPartition(name, p) for p in range(partitions)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            for tp in tps:
                await consumer.position(tp)
            done = asyncio.Event()
            seen = 0
            last = 0.0

            async def consume() -> None:
                nonlocal seen, last
                while seen < count:
                    batches = await consumer.getmany(timeout_ms=200, max_records=10_000)
                    for records in batches.values():
                        seen += len(records)
                    if batches:
                        last = time.perf_counter()
                done.set()

            reader = asyncio.create_task(consume())
            started = time.perf_counter()
            records = [(keys[i % len(keys)], value) for i in range(count)]
            await publish(producer, name, records, chunk=5000)
            produced = time.perf_counter()
            await asyncio.wait_for(done.wait(), timeout=600)
            await reader
        finally:
            await producer.stop()
            await consumer.stop()
    finally:
        with contextlib.suppress(Exception):
            await admin.delete_topics([name])
        await admin.close()
    seconds = last - started
    return {
        "records": count,
        "key_bytes": key_bytes,
        "value_bytes": value_bytes,
        "partitions": partitions,
        "produce_seconds": round(produced - started, 3),
        "seconds": round(seconds, 3),
        "records_per_s": round(count / seconds),
        "topic": f"{name} (created and deleted)",
    }


# --- py-spy ------------------------------------------------------------------------------------------------------
class Profiler:
    """py-spy `record` on our processes, in speedscope format (JSON, open at https://www.speedscope.app)."""

    def __init__(self, stamp: str) -> None:
        self._stamp = stamp
        self._runs: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}
        self._exe = str(Path(sys.executable).parent / "py-spy")

    def start(self, name: str, pid: int, seconds: int, rate: int = 100, native: bool = False) -> None:
        """Samples `pid` for `seconds`; `native` adds C frames (the garbage collector, syscalls, C extensions)."""
        out = RESULTS / f"profile-{name}{'-native' if native else ''}-{self._stamp}.json"
        command = [
            self._exe,
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(seconds),
            "--rate",
            str(rate),
            "--format",
            "speedscope",
            "--full-filenames",
            "--output",
            str(out),
            *(["--native"] if native else []),
        ]
        self._runs[name] = (
            subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL),
            out,
        )

    def finish(self, timeout: float = 120) -> dict[str, Any]:
        summaries: dict[str, Any] = {}
        for name, (process, out) in self._runs.items():
            try:
                _, err = process.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.terminate()
                _, err = process.communicate(timeout=10)
            if process.returncode != 0 or not out.exists():
                summaries[name] = {"error": (err or b"").decode(errors="replace")[-500:]}
                continue
            summaries[name] = {"file": str(out.relative_to(REPO)), **summarise_speedscope(out)}
        self._runs.clear()
        return summaries

    def kill(self) -> None:
        for process, _ in self._runs.values():
            if process.poll() is None:
                process.terminate()


_SITE = re.compile(r".*/site-packages/")
_SRC = re.compile(r".*/(?:src)/")


def _short(file: str) -> str:
    if "site-packages/" in file:
        return _SITE.sub("", file)
    if "/src/" in file:
        return _SRC.sub("", file)
    if "/lib/python3" in file:
        return "stdlib/" + file.rsplit("/lib/python3", 1)[1].split("/", 1)[-1]
    return file


def _package(file: str) -> str:
    """Which library a frame belongs to: first path component under site-packages or src, stdlib, or native."""
    if ".so" in Path(file).name and "site-packages/" not in file:
        return "native:" + Path(file).name.split(".so", 1)[0]
    short = _short(file)
    if short.startswith("stdlib/"):
        rest = short.removeprefix("stdlib/")
        return "stdlib:" + (rest.split("/", 1)[0].removesuffix(".py") if "/" in rest else rest.removesuffix(".py"))
    first = short.split("/", 1)[0]
    return first.removesuffix(".py") or "?"


PROJECT_PACKAGES = {
    "servicekit",
    "ledger",
    "invoicing",
    "factoring_gateway",
    "financing_gateway",
    "ledgerline_contracts",
    "ledgerline_simulators",
}
PROJECT_ENTRY_FRAMES = ("Service.run", "service_main.<locals>.main", "attach.<locals>.consume")
"""Frames every sample passes through (process entry, consumer wrapper): left out of the project table."""

IDLE_LEAVES = {("wait", "threading.py"), ("get", "queue.py"), ("select", "selectors.py")}
"""Leaf frames of threads that are blocked waiting (e.g. Starlette's idle worker threads), which py-spy may still
count as active on a busy machine; left out of the percentages."""


def summarise_speedscope(path: Path, top: int = 15) -> dict[str, Any]:
    """Top functions by self and by inclusive share of the active samples of the service's main thread (where
    the event loop runs all its work), and the self share per library."""
    data = json.loads(path.read_text())
    frames = data["shared"]["frames"]

    def label(index: int) -> str:  # per function, whatever line of it was running
        frame = frames[index]
        return f"{frame['name']} ({_short(frame.get('file') or '?')})"

    labels = [label(i) for i in range(len(frames))]
    self_counts: Counter[str] = Counter()
    incl_counts: Counter[str] = Counter()
    by_package: Counter[str] = Counter()
    total = other_threads = 0.0
    samples = 0
    for profile in data["profiles"]:
        main = "MainThread" in profile.get("name", "")
        for stack, weight in zip(profile["samples"], profile["weights"], strict=True):
            if not stack:
                continue
            leaf = frames[stack[-1]]
            if (leaf["name"].rsplit(".", 1)[-1], Path(leaf.get("file") or "").name) in IDLE_LEAVES:
                continue
            if not main:
                other_threads += weight
                continue
            samples += 1
            total += weight
            self_counts[labels[stack[-1]]] += weight
            by_package[_package(frames[stack[-1]].get("file") or "?")] += weight
            for name in {labels[i] for i in stack}:
                incl_counts[name] += weight

    def table(counts: Counter[str]) -> list[dict[str, Any]]:
        return [{"function": f, "percent": round(100 * n / total, 1)} for f, n in counts.most_common(top) if total]

    project = Counter(
        {f: n for f, n in incl_counts.items() if f.split(" (", 1)[1].split("/", 1)[0] in PROJECT_PACKAGES}
    )
    for entry in PROJECT_ENTRY_FRAMES:
        for f in [f for f in project if f.startswith(entry + " (")]:
            del project[f]
    return {
        "samples": samples,
        "active_seconds": round(total, 2),
        "other_threads_active_seconds": round(other_threads, 2),
        "self": table(self_counts),
        "inclusive": table(incl_counts),
        "inclusive_project": table(project),
        "self_by_library": [
            {"library": name, "percent": round(100 * n / total, 1)} for name, n in by_package.most_common(top) if total
        ],
    }


def print_profiles(profiles: Mapping[str, Any], rows: int = 8) -> None:
    for name, profile in profiles.items():
        if "error" in profile:
            print(f"  profile {name}: py-spy failed: {profile['error']}")
            continue
        print(
            f"  profile {name}: {profile['file']} ({profile['samples']} samples, "
            f"{profile['active_seconds']} s active on the main thread)"
        )
        print("    self time:")
        for row in profile["self"][:rows]:
            print(f"      {row['percent']:5.1f} %  {row['function']}")
        print("    inclusive, project code:")
        for row in profile["inclusive_project"][:rows]:
            print(f"      {row['percent']:5.1f} %  {row['function']}")
        libraries = ", ".join(f"{r['library']} {r['percent']} %" for r in profile["self_by_library"][:8])
        print(f"    self time by library: {libraries}")


# --- figures ------------------------------------------------------------------------------------------------------
def percentiles(values: Sequence[float], points: Sequence[float] = (50, 95, 99)) -> dict[str, float | None]:
    if not values:
        return {f"p{p:g}": None for p in points}
    ordered = sorted(values)
    result: dict[str, float | None] = {}
    for p in points:
        # nearest-rank percentile: the smallest value with at least p % of the values at or below it
        rank = max(1, min(len(ordered), -(-len(ordered) * p // 100)))
        result[f"p{p:g}"] = ordered[int(rank) - 1]
    return result


def per_second(times: Sequence[float], weights: Sequence[float] | None, origin: float) -> list[float]:
    """Counts (or summed weights) per whole second since `origin`."""
    if not times:
        return []
    buckets = [0.0] * (int(max(times) - origin) + 1)
    for i, t in enumerate(times):
        buckets[max(int(t - origin), 0)] += weights[i] if weights is not None else 1
    return buckets


def write_json(name: str, stamp: str, payload: Mapping[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}-{stamp}.json"
    path.write_text(json.dumps(payload, indent=2, default=str))
    return path


def utc_stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


@dataclass
class Phase:
    """Start and end of a measured interval, in wall-clock seconds (time.time())."""

    name: str
    started: float = 0.0
    ended: float = 0.0
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return self.ended - self.started
