"""`ledgerline status`: the local stack at a glance, read from every process's /metrics.

Per process: up or down, records consumed, handled and published per second, consumer lag, outbox backlog, the
age of its oldest row and its quarantined rows, dead letters, vouchers posted per second; then lag and rates per
consumer group and per provider topic. Rates come from two scrapes `--interval` seconds apart, the same counters
the Grafana dashboard (infra/grafana/dashboards/ledgerline.json) draws. `--watch` (`make top`) refreshes until Ctrl-C.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sys
import time
from collections.abc import AsyncGenerator, Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Literal

import httpx
import typer
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from .stack import Stack


# --- reading the Prometheus text format ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Sample:
    name: str
    labels: tuple[tuple[str, str], ...]
    value: float

    def label(self, name: str) -> str:
        return dict(self.labels).get(name, "")


def parse_exposition(text: str) -> list[Sample]:
    """The samples of a Prometheus text exposition (prometheus_client's own parser)."""
    return [
        Sample(sample.name, tuple(sorted(sample.labels.items())), sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


# --- what the table shows ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Scrape:
    """Every process's samples at one moment (monotonic seconds); None for a process that did not answer."""

    at: float
    processes: Mapping[str, Sequence[Sample] | None]


@dataclass(frozen=True)
class ProcessRow:
    process: str
    up: bool
    consumed_per_s: float | None
    handled_per_s: float | None
    published_per_s: float | None
    lag: float | None
    outbox_backlog: float | None
    outbox_oldest_s: float | None
    dead_letters: float | None
    vouchers_per_s: float | None
    outbox_quarantined: float | None = None
    """Outbox rows the broker refuses, set aside (`ledgerline outbox list`); later rows of their key wait."""

    @classmethod
    def down(cls, process: str) -> ProcessRow:
        return cls(process, False, None, None, None, None, None, None, None, None)


@dataclass(frozen=True)
class GroupRow:
    """One subscription: a process's consumer group on one topic."""

    process: str
    group: str
    topic: str
    consumed_per_s: float | None
    handled_per_s: float | None
    lag: float | None


@dataclass(frozen=True)
class TopicRow:
    topic: str
    provider: str
    direction: Literal["to provider", "from provider"]
    written_per_s: float | None
    read_per_s: float | None
    lag: float | None


@dataclass(frozen=True)
class Status:
    processes: list[ProcessRow]
    groups: list[GroupRow]
    provider_topics: list[TopicRow]


# Services count their records in ledgerline_messages_*/outbox_*; the simulators in ledgerline_simulator_*.
CONSUMED = {"ledgerline_messages_consumed_total", "ledgerline_simulator_received_total"}
HANDLED = {"ledgerline_messages_handled_total"}
PUBLISHED = {"ledgerline_outbox_published_total", "ledgerline_simulator_sent_total"}
LAG = {"ledgerline_consumer_lag"}
DEAD_LETTERS = {"ledgerline_dead_letters_total"}
VOUCHERS = {"ledgerline_vouchers_posted_total"}
# FastStream's middleware labels every record it delivers (handler) or publishes (destination) with its topic, in
# services and simulators alike: the one place both sides of a provider topic are counted the same way.
RECEIVED = {"faststream_received_messages_total"}
WRITTEN = {"faststream_published_messages_total"}

PROVIDER_TOPIC = re.compile(
    r"(?:^|\.)(?:factoring|financing)\.(?P<provider>[^.]+)\.(?P<direction>inbound|outbound)\.v\d+$"
)
"""factoring.<slug>.{in,out}bound.v1 and financing.buffer.{in,out}bound.v1, also behind a namespace prefix."""

Where = Callable[[Sample], bool]


def _everything(_: Sample) -> bool:
    return True


def _labelled(**wanted: str) -> Where:
    return lambda sample: all(sample.label(label) == value for label, value in wanted.items())


@dataclass(frozen=True)
class _Window:
    """One process's samples at two scrapes `seconds` apart; `before` is None without an earlier scrape."""

    before: Sequence[Sample] | None
    after: Sequence[Sample]
    seconds: float

    def total(self, names: set[str], where: Where = _everything) -> float | None:
        return _sum_known(s.value for s in self.after if s.name in names and where(s))

    def rate(self, names: set[str], where: Where = _everything) -> float | None:
        """Per-second increase of the matching counters, like Prometheus' rate(): a counter that went down restarted
        from zero, one that appeared in between started at zero. None without two scrapes or such counters."""
        now = {(s.name, s.labels): s.value for s in self.after if s.name in names and where(s)}
        if self.before is None or self.seconds <= 0 or not now:
            return None
        then = {(s.name, s.labels): s.value for s in self.before if s.name in names and where(s)}
        increase = sum(
            value - then.get(key, 0.0) if value >= then.get(key, 0.0) else value for key, value in now.items()
        )
        return increase / self.seconds


def _sum_known(values: Iterable[float | None]) -> float | None:
    known = [value for value in values if value is not None]
    return sum(known) if known else None


def status(before: Scrape | None, after: Scrape) -> Status:
    """The rows of `ledgerline status`: gauges as of `after`, rates between the two scrapes."""
    seconds = after.at - before.at if before else 0.0
    windows = {
        process: _Window(before.processes.get(process) if before else None, samples, seconds)
        for process, samples in after.processes.items()
        if samples is not None
    }
    return Status(
        [
            _process_row(process, windows[process]) if process in windows else ProcessRow.down(process)
            for process in after.processes
        ],
        [row for process, window in windows.items() for row in _group_rows(process, window)],
        _provider_topic_rows(windows),
    )


def _process_row(process: str, window: _Window) -> ProcessRow:
    oldest = [s.value for s in window.after if s.name == "ledgerline_outbox_oldest_age_seconds"]
    return ProcessRow(
        process,
        True,
        window.rate(CONSUMED),
        window.rate(HANDLED),
        window.rate(PUBLISHED),
        window.total(LAG),
        window.total({"ledgerline_outbox_backlog"}),
        max(oldest) if oldest else None,
        window.total(DEAD_LETTERS),
        window.rate(VOUCHERS),
        window.total({"ledgerline_outbox_quarantined"}),
    )


def _group_rows(process: str, window: _Window) -> list[GroupRow]:
    # A process consumes each topic in one group; rows are keyed by topic, because the lag monitor names a group as
    # the broker knows it (with a namespace prefix, if any) and the consumer counters as the code declares it.
    observed = [s for s in window.after if s.name in CONSUMED | HANDLED | LAG and s.label("topic")]
    rows = []
    for topic in sorted({s.label("topic") for s in observed}):
        on_topic = _labelled(topic=topic)
        counted = sorted({s.label("consumer") for s in observed if s.name not in LAG and on_topic(s)})
        lagged = sorted({s.label("consumer") for s in observed if s.name in LAG and on_topic(s)})
        rows.append(
            GroupRow(
                process,
                (counted or lagged)[0],
                topic,
                window.rate(CONSUMED, on_topic),
                window.rate(HANDLED, on_topic),
                window.total(LAG, on_topic),
            )
        )
    return rows


def _provider_topic_rows(windows: Mapping[str, _Window]) -> list[TopicRow]:
    named = {s.label(label) for w in windows.values() for s in w.after for label in ("topic", "handler", "destination")}
    rows = []
    for topic in sorted(named):
        if not (match := PROVIDER_TOPIC.search(topic)):
            continue
        rows.append(
            TopicRow(
                topic,
                match["provider"],
                "to provider" if match["direction"] == "outbound" else "from provider",
                _sum_known(w.rate(WRITTEN, _labelled(destination=topic, status="success")) for w in windows.values()),
                _sum_known(w.rate(RECEIVED, _labelled(handler=topic)) for w in windows.values()),
                _sum_known(w.total(LAG, _labelled(topic=topic)) for w in windows.values()),
            )
        )
    return rows


# --- scraping --------------------------------------------------------------------------------------------------------
async def scrape(targets: Mapping[str, str], http: httpx.AsyncClient) -> Scrape:
    """Reads `{url}/metrics` of every process at once; a process that does not answer 200 counts as down."""

    async def one(url: str) -> list[Sample] | None:
        try:
            response = await http.get(f"{url}/metrics")
        except httpx.HTTPError:
            return None
        return parse_exposition(response.text) if response.status_code == 200 else None

    results = await asyncio.gather(*(one(url) for url in targets.values()))
    return Scrape(time.monotonic(), dict(zip(targets, results, strict=True)))


# --- rendering -------------------------------------------------------------------------------------------------------
def _per_s(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}/s"


def _count(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f} s"


def render(current: Status) -> Group:
    processes = Table(
        "process",
        "up",
        "consumed",
        "handled",
        "published",
        "lag",
        "outbox",
        "oldest",
        "quarantined",
        "dead letters",
        "vouchers",
        title="Processes",
    )
    for p in current.processes:
        processes.add_row(
            p.process,
            "[green]up[/green]" if p.up else "[red]down[/red]",
            _per_s(p.consumed_per_s),
            _per_s(p.handled_per_s),
            _per_s(p.published_per_s),
            _count(p.lag),
            _count(p.outbox_backlog),
            _seconds(p.outbox_oldest_s),
            f"[red]{_count(p.outbox_quarantined)}[/red]" if p.outbox_quarantined else _count(p.outbox_quarantined),
            f"[red]{_count(p.dead_letters)}[/red]" if p.dead_letters else _count(p.dead_letters),
            _per_s(p.vouchers_per_s),
        )
    groups = Table("consumer group", "process", "topic", "consumed", "handled", "lag", title="Consumer groups")
    for g in current.groups:
        groups.add_row(g.group, g.process, g.topic, _per_s(g.consumed_per_s), _per_s(g.handled_per_s), _count(g.lag))
    topics = Table("provider topic", "provider", "direction", "written", "read", "lag", title="Provider topics")
    for t in current.provider_topics:
        topics.add_row(t.topic, t.provider, t.direction, _per_s(t.written_per_s), _per_s(t.read_per_s), _count(t.lag))
    return Group(processes, groups, topics)


# --- the command -----------------------------------------------------------------------------------------------------
def _targets(port_base: int) -> dict[str, str]:
    stack = Stack(port_base=port_base)
    return {name: stack.url(name) for name in stack.specs()}


async def _statuses(targets: Mapping[str, str], interval: float) -> AsyncGenerator[Status, None]:
    """A status every `interval` seconds, its rates since the one before."""
    async with httpx.AsyncClient(timeout=min(interval, 2.0)) as http:
        before = await scrape(targets, http)
        while True:
            await asyncio.sleep(interval)
            after = await scrape(targets, http)
            yield status(before, after)
            before = after


async def _show(targets: Mapping[str, str], interval: float, watch: bool, as_json: bool, console: Console) -> None:
    async with contextlib.aclosing(_statuses(targets, interval)) as statuses:
        if not watch:
            current = await anext(statuses)
            if as_json:
                typer.echo(json.dumps(asdict(current), indent=2))
            else:
                console.print(render(current))
        elif as_json:  # one document per line, for piping
            async for current in statuses:
                typer.echo(json.dumps(asdict(current)))
        else:
            with Live(Text(f"scraping every {interval:g} s…"), console=console, auto_refresh=False) as live:
                async for current in statuses:
                    live.update(render(current), refresh=True)


def status_command(
    watch: bool = typer.Option(False, "--watch/--once", help="Refresh until Ctrl-C, or print once."),
    port_base: int = typer.Option(
        8100, "--port-base", envvar="LEDGERLINE_PORT_BASE", help="The local stack's port base (see `stack up`)."
    ),
    interval: float = typer.Option(2.0, "--interval", min=0.1, help="Seconds between the two scrapes of a rate."),
    as_json: bool = typer.Option(False, "--json", help="Rows as JSON (with --watch: one document per line)."),
) -> None:
    """Throughput, lag, outbox and dead letters of every process of the local stack, from their /metrics."""
    with contextlib.suppress(KeyboardInterrupt):  # the way out of --watch
        console = Console(width=None if sys.stdout.isatty() else 160)  # piped: wide enough for topic names
        asyncio.run(_show(_targets(port_base), interval, watch, as_json, console))


def register(app: typer.Typer) -> None:
    """Adds `status` to the `ledgerline` command."""
    app.command("status")(status_command)
