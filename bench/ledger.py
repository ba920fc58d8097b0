"""Ledger benchmark: how fast the ledger posts a backlog of booking commands, against the raw COPY ceiling.

    python -m bench.ledger --commands 50000        (make bench-ledger N=50000)

1. Checks that no one else's ledger is in consumer group `ledger` (waits, then aborts with the reason), and
   creates a fresh database for the run (dropped at the end; `--shared-databases` uses the usual one).
2. Starts our ledger (port base 48100), opens the books of `--clients` clients with `--customers` customers each
   as sub-ledger parties (OpenBooks + UpsertParty, answered on the command-results topic), waits until the
   ledger has consumed everything, and stops it.
3. With the ledger NOT running, publishes N realistic PostVoucher commands (sales with 3–5 lines on customer
   open items, payments with a bank fee that close them, partial credit notes) onto ledger.commands.v1.
4. Starts the ledger again and times it until the VoucherPosted event of every command has appeared on
   ledger.events.v1 (record timestamps = when the ledger's outbox relay published them, after the commit).
5. With the ledger stopped: the raw ceiling, an asyncpg COPY of exactly the posted lines (taken from the
   VoucherPosted events) into an unindexed table of a scratch database, best of 3.

Prints posting lines per second (sustained: from 10 % to 90 % of all lines posted; also overall), the ceiling,
their ratio, and writes bench/results/ledger-<stamp>.json and .png.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from aiokafka import ConsumerRecord

from ledgerline_cli import kafka_security
from ledgerline_cli.kafka_admin import ensure_topics
from ledgerline_cli.stack import Stack
from ledgerline_contracts import ledger as L
from ledgerline_contracts import topics

from .ceilings import copy_ceiling, posting_rows
from .figures import per_second, utc_stamp, write_json
from .groups import GroupGuard
from .harness import (
    BOOTSTRAP,
    PORT_BASE,
    BenchAborted,
    check_port_base,
    git_revision,
    instance_tag,
    machine,
    parse_env,
    run_id,
    say,
)
from .kafka_io import (
    TopicWatcher,
    command_all,
    delete_namespace_topics,
    new_producer,
    our_vouchers_posted,
    publish,
    service_token,
    topic_prefix,
)
from .metrics import batch_profile, metric_sum, scrape
from .postgres import PgActivitySampler, ServiceDatabases, pg_stats_per_unit
from .profiling import Profiler, print_profiles
from .sampling import ProcessSampler, kafka_broker, mb, postgres_server

TODAY = date.today()
MIN_SUSTAINED_WINDOW_S = 2.0
TARGET_LINES_PER_S = 20_000
"""The ledger's target on a 2-core machine (drawn in the plot; never used in a figure)."""
SOURCE = "invoicing"
"""The ledger benchmark stands in for invoicing (its sales and payments), signing as invoicing does."""


# --- the workload -------------------------------------------------------------------------------------------------
@dataclass
class _Book:
    """One client's state while generating: its customers and its open sales (invoice number → party, open)."""

    client_id: str
    customers: list[int]
    next_invoice: int = 1
    open_items: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # number → (party, gross, net)


def _line(account: str, side: str, ore: int, **extra: Any) -> L.VoucherLine:
    return L.VoucherLine(account=account, side=side, amount_ore=ore, **extra)  # type: ignore[arg-type]


def _sale(book: _Book, rng: random.Random) -> tuple[L.VoucherLine, ...]:
    """An invoice: the receivable on the customer (the open item), sales and output VAT: 3 to 5 lines."""
    party = rng.choice(book.customers)
    number = str(book.next_invoice)
    book.next_invoice += 1
    shape = rng.random()
    high = rng.randrange(1_000_00, 40_000_00)  # net at 25 % VAT
    medium = rng.randrange(500_00, 10_000_00) if shape >= 0.5 else 0  # net at 15 % VAT (e.g. food)
    exempt = rng.randrange(200_00, 5_000_00) if shape >= 0.8 else 0  # VAT-exempt sale
    vat_high, vat_medium = high * 25 // 100, medium * 15 // 100
    gross = high + medium + exempt + vat_high + vat_medium
    lines = [
        _line("1500", "debit", gross, party=party, open_item=number, due_date=TODAY + timedelta(days=14)),
        _line("3000", "credit", high + medium),
        _line("2700", "credit", vat_high, vat_code="3"),
    ]
    if medium:
        lines.append(_line("2700", "credit", vat_medium, vat_code="31"))
    if exempt:
        lines.append(_line("3100", "credit", exempt, vat_code="6"))
    book.open_items[number] = (party, gross, high + medium)
    return tuple(lines)


def _payment(book: _Book, number: str) -> tuple[L.VoucherLine, ...]:
    """The customer pays an invoice in full; the bank charges a fee: 3 lines, the open item is closed."""
    party, gross, _ = book.open_items.pop(number)
    fee = 35_00
    return (
        _line("1920", "debit", gross - fee),
        _line("7770", "debit", fee),
        _line("1500", "credit", gross, party=party, open_item=number),
    )


def _credit(book: _Book, number: str) -> tuple[L.VoucherLine, ...]:
    """A partial credit note (10 % of the net amount, with its VAT) on an open invoice: 3 lines."""
    party, gross, net = book.open_items[number]
    credit_net = max(net // 10, 1)
    credit_vat = credit_net * 25 // 100
    book.open_items[number] = (party, gross - credit_net - credit_vat, net - credit_net)
    return (
        _line("3000", "debit", credit_net),
        _line("2700", "debit", credit_vat, vat_code="3"),
        _line("1500", "credit", credit_net + credit_vat, party=party, open_item=number),
    )


def build_commands(books: list[_Book], count: int, rid: str, seed: int = 7) -> list[L.PostVoucher]:
    """`count` booking commands spread round-robin over the clients: ~55 % sales, ~30 % payments, ~15 % credits."""
    rng = random.Random(seed)
    commands = []
    for i in range(count):
        book = books[i % len(books)]
        roll = rng.random()
        if roll < 0.55 or len(book.open_items) < 3:
            lines, kind, series = _sale(book, rng), "sale", "SALES"
            text = f"Invoice {book.next_invoice - 1}"
        else:
            number = rng.choice(list(book.open_items))
            if roll < 0.85:
                lines, kind, series, text = _payment(book, number), "payment", "BANK", f"Payment of invoice {number}"
            else:
                lines, kind, series, text = _credit(book, number), "credit", "SALES", f"Credit note on invoice {number}"
        commands.append(
            L.PostVoucher(
                reply=False,  # as the services send them: they follow VoucherPosted, not command results
                client_id=book.client_id,
                idempotency_key=f"bench:{rid}:{i}",
                series=series,
                voucher_date=TODAY,
                text=text,
                lines=list(lines),
                source=L.BookingSource(service=SOURCE, event_type=kind),
            )
        )
    return commands


# --- setting up the books -----------------------------------------------------------------------------------------
async def open_books(books: list[_Book], timeout: float) -> None:
    """OpenBooks and one UpsertParty per customer for every client; waits until the ledger accepted them all."""
    commands: list[L.OpenBooks | L.UpsertParty] = []
    for k, book in enumerate(books):
        commands.append(L.OpenBooks(client_id=book.client_id, company_name=f"Benchmark {k} AS"))
        commands += [
            L.UpsertParty(client_id=book.client_id, number=n, name=f"Kunde {n}", kind=L.PartyKind.CUSTOMER)
            for n in book.customers
        ]
    results = await command_all(BOOTSTRAP, topics.TOPIC_LEDGER_COMMANDS.name, commands, timeout, service_token(SOURCE))
    refused = [r for r in results if not r["accepted"]]
    if refused:
        raise BenchAborted(f"the ledger refused {len(refused)} set-up commands, e.g. {refused[0]['reason']}")


# --- watching the result --------------------------------------------------------------------------------------------
class Posted:
    """Collects the VoucherPosted events of our clients (deduplicated by idempotency key) and any rejection."""

    def __init__(self, marker: bytes, expected: set[str]) -> None:
        self.marker = marker
        self.expected = expected
        self.by_key: dict[str, tuple[float, float, dict[str, Any]]] = {}  # key → (published, seen, event)
        self.rejected: list[dict[str, Any]] = []
        self.last_progress = time.monotonic()

    def __call__(self, record: ConsumerRecord) -> None:
        for event in our_vouchers_posted(record, self.marker, self.rejected):
            key = event["idempotency_key"]
            if key in self.expected and key not in self.by_key:
                self.by_key[key] = (record.timestamp / 1000, time.time(), event)
                self.last_progress = time.monotonic()


# --- the run --------------------------------------------------------------------------------------------------------
@dataclass
class _Run:
    """What the timed part produced."""

    posted: Posted
    started: float
    ready_after: float
    cpu_from: float  # wall time CPU counting began; a ledger ready earlier may have posted a little before it
    sampler: ProcessSampler
    cpu: dict[str, Any]
    metrics: dict[str, float]
    pg: dict[str, float]
    sessions: dict[str, float]
    profiles: dict[str, Any] | None


async def run(args: argparse.Namespace) -> dict[str, Any]:
    check_port_base(args.port_base)
    tag, rid, stamp = instance_tag(args.port_base), run_id(), utc_stamp()
    env = parse_env(args.env)
    stack = Stack(port_base=args.port_base, bootstrap=BOOTSTRAP, extra_env=env, instance=tag)
    databases = ServiceDatabases(["ledger"], tag, shared=args.shared_databases, keep=args.keep_databases)
    prefix = f"bench-l{rid}"
    books = [_Book(f"{prefix}-{k:02d}", list(range(10001, 10001 + args.customers))) for k in range(args.clients)]
    say(
        f"ledger benchmark {rid}: {args.commands} booking commands, {args.clients} clients × {args.customers} customers"
    )
    result: dict[str, Any] = {
        "benchmark": "ledger",
        "command": " ".join(["python -m bench.ledger", *sys.argv[1:]]),
        "started_utc": stamp,
        "run_id": rid,
        "machine": machine(),
        "revision": git_revision(),
        "settings": {
            "commands": args.commands,
            "ledgers": args.ledgers,
            "clients": args.clients,
            "customers_per_client": args.customers,
            "env": env,
            "port_base": args.port_base,
            "topic_prefix": topic_prefix(),
            "database": databases.names["ledger"] + ("" if databases.shared else " (created for the run)"),
        },
    }
    say(await asyncio.to_thread(kafka_security.apply, BOOTSTRAP))  # users and ACLs of our topic prefix first
    async with GroupGuard(BOOTSTRAP, [topics.GROUP_LEDGER], tag) as guard:
        say(f"checking consumer group '{topics.GROUP_LEDGER}' for other developers' ledgers")
        await guard.wait_until_free(args.wait_for_groups)
        await guard.wait_no_backlog(args.wait_for_groups)
        await ensure_topics(BOOTSTRAP)
        await databases.create()
        databases.apply(stack)
        try:
            await _open_the_books(stack, guard, databases, books, args)
            commands, preload_s = await _preload(guard, books, args, rid)
            measured = await _post_the_backlog(stack, guard, databases, commands, prefix, stamp, args)
        finally:
            await databases.drop()

    lines_by_key = {c.idempotency_key: len(c.lines) for c in commands}
    total_lines = sum(lines_by_key.values())
    # Whose work was it? Our ledger must have posted every line we sent.
    counted_lines = metric_sum(measured.metrics, "ledgerline_posting_lines_total")
    if counted_lines < total_lines:
        raise BenchAborted(
            f"our ledger posted {counted_lines:.0f} lines but the benchmark sent {total_lines}: another ledger "
            "took part of the backlog; the figures would be wrong"
        )

    # Figures: event times are the record timestamps of the VoucherPosted events (relay publish, after commit).
    order = sorted(measured.posted.by_key.values(), key=lambda item: item[0])
    first, last = order[0][0], order[-1][0]
    cumulative, progress = 0, []
    for t, _, event in order:
        cumulative += len(event["lines"])
        progress.append((t, cumulative))
    t10 = next(t for t, c in progress if c >= 0.1 * total_lines)
    t90 = next(t for t, c in progress if c >= 0.9 * total_lines)
    sustained = 0.8 * total_lines / max(t90 - t10, 1e-3)
    # Events come out in relay batches (hundreds at once): over less than a few seconds the rate means nothing.
    reliable = t90 - t10 >= MIN_SUSTAINED_WINDOW_S
    if not reliable:
        say(
            f"WARNING: 10 % → 90 % of the lines took only {t90 - t10:.2f} s: too short for a sustained rate "
            "(use more --commands)"
        )

    # CPU time counts from the moment every ledger was ready: divide it by the vouchers posted since then.
    in_cpu_window = sum(1 for t, _, _ in order if t >= measured.cpu_from) or 1
    say("measuring the ceiling: COPY of the same lines into an unindexed table")
    ceiling = await copy_ceiling(posting_rows([event for _, _, event in order]), tag)
    removed = await delete_namespace_topics(BOOTSTRAP)
    if removed:
        say(f"deleted the {len(removed)} topics of our namespace {topic_prefix()!r}")

    result.update(
        {
            "posting_lines": total_lines,
            "vouchers": len(commands),
            "mean_lines_per_voucher": round(total_lines / len(commands), 2),
            "preload_seconds": round(preload_s, 2),
            "ledger_ready_after_s": round(measured.ready_after, 2),
            "lines_per_s_sustained": round(sustained),
            "sustained_window_reliable": reliable,
            "lines_per_s_first_to_last": round(total_lines / max(last - first, 1e-3)),
            "lines_per_s_including_startup": round(total_lines / max(last - measured.started, 1e-3)),
            "vouchers_per_s_sustained": round(sustained * len(commands) / total_lines),
            "seconds": {
                "process_start_to_last_posted": round(last - measured.started, 2),
                "first_to_last_posted": round(last - first, 2),
                "p10_to_p90_lines": round(t90 - t10, 2),
            },
            "ceiling_copy": ceiling,
            "ratio_to_ceiling": round(sustained / ceiling["rows_per_s"], 3),
            "peak_rss_mb": {name: mb(v) for name, v in measured.sampler.peak_rss.items()},
            "cpu": measured.cpu,
            "cpu_ms_per_voucher": {
                name: round(1000 * v["cpu_s"] / in_cpu_window, 3) for name, v in measured.cpu["processes"].items()
            },
            "vouchers_in_cpu_window": in_cpu_window,
            "ledger_batches": batch_profile(measured.metrics, "ledger"),
            "postgres_per_voucher": measured.pg,
            "postgres_sessions": measured.sessions,
            "lines_per_second_series": per_second(
                [t for t, _, _ in order], [len(e["lines"]) for _, _, e in order], measured.started
            ),
            "foreign_consumers": guard.violations,
        }
    )
    if measured.profiles is not None:
        result["profile"] = measured.profiles
    return result


async def _open_the_books(
    stack: Stack, guard: GroupGuard, databases: ServiceDatabases, books: list[_Book], args: argparse.Namespace
) -> None:
    """Our ledger running: every client's books and customers in place, everything consumed; then stopped."""
    say("starting our ledger to open the books")
    await asyncio.to_thread(stack.up, ["ledger"], False)
    try:
        await guard.wait_until_free(args.wait_for_groups)
        await databases.verify(stack.instance)
        started = time.monotonic()
        await open_books(books, timeout=300)
        elapsed = time.monotonic() - started
        say(f"books open: {len(books)} clients, {len(books) * args.customers} parties in {elapsed:.1f} s")
        await guard.wait_quiet(timeout=300)
    finally:
        await asyncio.to_thread(stack.stop, "ledger")


async def _preload(
    guard: GroupGuard, books: list[_Book], args: argparse.Namespace, rid: str
) -> tuple[list[L.PostVoucher], float]:
    """The backlog, published while no ledger runs."""
    await guard.wait_until_free(args.wait_for_groups)
    await guard.wait_no_backlog(args.wait_for_groups)
    say("building the commands")
    commands = build_commands(books, args.commands, rid)
    records = [(c.client_id.encode(), c.to_bytes()) for c in commands]
    producer = new_producer(BOOTSTRAP)
    await producer.start()
    try:
        started = time.monotonic()
        await publish(producer, topics.TOPIC_LEDGER_COMMANDS.name, records, headers=service_token(SOURCE))
        preload_s = time.monotonic() - started
    finally:
        await producer.stop()
    say(
        f"pre-loaded {len(records)} PostVoucher commands ({sum(len(c.lines) for c in commands)} lines, "
        f"{sum(len(v) for _, v in records) / len(records):.0f} bytes each) in {preload_s:.1f} s"
    )
    return commands, preload_s


async def _post_the_backlog(
    stack: Stack,
    guard: GroupGuard,
    databases: ServiceDatabases,
    commands: list[L.PostVoucher],
    prefix: str,
    stamp: str,
    args: argparse.Namespace,
) -> _Run:
    """Starts the ledger against the backlog and waits for the VoucherPosted of every command."""
    expected = {c.idempotency_key for c in commands}
    pg_before = await databases.stats()  # the set-up ledger has stopped: its statistics are flushed
    posted = Posted(prefix.encode(), expected)
    watcher = TopicWatcher(BOOTSTRAP, [topics.TOPIC_LEDGER_EVENTS.name, topics.TOPIC_LEDGER_REJECTIONS.name], posted)
    await watcher.start()
    profiler = Profiler(stamp) if args.profile else None
    profiles = None
    activity = PgActivitySampler(databases)
    try:
        guard.watch()
        started = time.time()
        # More ledgers share the backlog's partitions (one consumer group), as a scaled-out deployment would.
        ledgers = {"ledger": stack} | {
            f"ledger-{k + 1}": stack.sibling(100 * k, stack.instance) for k in range(1, args.ledgers)
        }
        pids = {name: ledger.start("ledger") for name, ledger in ledgers.items()}
        observe = {"kafka broker": kafka_broker, "postgresql (all)": postgres_server}
        with ProcessSampler(pids, observe) as sampler:
            readiness = await asyncio.gather(
                *(asyncio.to_thread(ledger.wait_ready, ["ledger"], 60) for ledger in ledgers.values())
            )
            ready_after = max(ready["ledger"] for ready in readiness)
            if not databases.shared:  # PostgreSQL's CPU for our database: the backends serving it
                sampler.observe_pids("postgresql (ours)", await databases.backend_pids())
            cpu_before = sampler.snapshot()  # from readiness: the process's start-up (imports) is not counted
            cpu_from = time.time()
            if profiler is not None:
                profiler.start("ledger", pids["ledger"], args.profile, native=args.profile_native)
            await activity.start()
            say(f"{len(ledgers)} ledger process(es) started (ready after {ready_after:.1f} s); posting …")
            last_report = time.monotonic()
            while len(posted.by_key) < len(expected):
                await asyncio.sleep(0.1)
                if posted.rejected:
                    raise BenchAborted(f"the ledger rejected a benchmark command: {posted.rejected[0]['reason']}")
                if guard.violations:
                    raise BenchAborted(f"invalid run: {guard.violations[0]}")
                if time.monotonic() - posted.last_progress > args.stall_timeout:
                    raise BenchAborted(
                        f"no progress for {args.stall_timeout:.0f} s: {len(posted.by_key)} of {len(expected)} "
                        f"posted (see {stack.logfile('ledger')})"
                    )
                if time.monotonic() - last_report > 5:
                    say(f"… {len(posted.by_key)} of {len(expected)} vouchers posted")
                    last_report = time.monotonic()
            sessions = await activity.stop()
            if not databases.shared:
                sampler.observe_pids("postgresql (ours)", await databases.backend_pids())
            cpu = cpu_before.until(sampler.snapshot())
        metrics: dict[str, float] = {}
        for ledger in ledgers.values():  # counters and histogram sums of the instances add up
            for key, value in (await scrape(ledger.url("ledger"))).items():
                metrics[key] = metrics.get(key, 0.0) + value
    finally:
        await activity.stop()
        await guard.stop_watching()
        await watcher.stop()
        if profiler is not None:
            profiles = profiler.finish()
        for ledger in ledgers.values():
            await asyncio.to_thread(ledger.stop, "ledger")
    pg_after = await databases.stats()  # the ledger's sessions ended: their statistics are flushed
    pg = pg_stats_per_unit(pg_before, pg_after, len(commands)).get("ledger", {})
    return _Run(posted, started, ready_after, cpu_from, sampler, cpu, metrics, pg, sessions.get("ledger", {}), profiles)


def report(result: dict[str, Any]) -> None:
    ceiling = result["ceiling_copy"]
    cpu = result["cpu"]
    print()
    print(f"ledger benchmark, {result['vouchers']} vouchers / {result['posting_lines']} posting lines")
    print(f"  ledger ready after          {result['ledger_ready_after_s']:>10.1f} s")
    print(f"  posting lines/s sustained   {result['lines_per_s_sustained']:>10,}   (10 % → 90 % of the lines)")
    print(f"  posting lines/s first→last  {result['lines_per_s_first_to_last']:>10,}")
    print(f"  posting lines/s incl. start {result['lines_per_s_including_startup']:>10,}   (from process start)")
    print(f"  vouchers/s sustained        {result['vouchers_per_s_sustained']:>10,}")
    print(f"  ceiling: COPY lines/s       {ceiling['rows_per_s']:>10,}   (best of {len(ceiling['all_seconds'])})")
    print(f"  ratio pipeline/ceiling      {result['ratio_to_ceiling']:>10.3f}")
    ledgers = [name for name in cpu["processes"] if name.startswith("ledger")]
    rss = max(result["peak_rss_mb"][name] for name in ledgers)
    print(
        f"  ledger peak RSS             {rss:>10.1f} MB"
        + (f"  (the largest of {len(ledgers)})" if len(ledgers) > 1 else "")
    )
    for name in ledgers:
        ledger_cpu = cpu["processes"][name]
        print(
            f"  {name + ' CPU':<28}{ledger_cpu['cpu_s']:>10.1f} s  ({ledger_cpu['cores']:.2f} cores; "
            f"machine {cpu['machine_busy_percent']} % busy)"
        )
    print("  CPU per voucher (ms):       " + ", ".join(f"{k} {v}" for k, v in result["cpu_ms_per_voucher"].items()))
    for group, batches in result["ledger_batches"].items():
        print(
            f"  batches ({group})         {batches['batches']:>10}   mean {batches['mean_records']} records, "
            f"{batches['mean_seconds'] * 1000:.0f} ms"
        )
    pg = result["postgres_per_voucher"]
    if pg:
        print(
            f"  PostgreSQL per voucher       {pg['xact_commit']:.3f} transactions, "
            f"{pg['tup_inserted'] + pg['tup_updated'] + pg['tup_deleted']:.1f} rows written, "
            f"{pg['active_time']:.3f} ms active, {pg['idle_in_transaction_time']:.3f} ms idle in transaction"
        )
    sessions = ", ".join(f"{state} {n}" for state, n in result["postgres_sessions"].items() if n >= 0.01)
    print(f"  PostgreSQL sessions (mean)   {sessions}")
    print_profiles(result.get("profile", {}))


def plot(result: dict[str, Any], path: Any) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = result["lines_per_second_series"]
    fig, ax = plt.subplots(figsize=(9, 4))
    ax.bar(range(len(series)), [v or float("nan") for v in series], width=1.0, color="#4477aa", label="posted")
    ax.axhline(result["ceiling_copy"]["rows_per_s"], color="#cc3311", linestyle="--", label="COPY ceiling")
    ax.axhline(TARGET_LINES_PER_S, color="#999933", linestyle=":", label="target (2 cores)")
    ax.set_yscale("log")
    ax.set_xlabel("seconds since the ledger process started")
    ax.set_ylabel("posting lines per second (log)")
    ax.set_title(f"ledger: {result['vouchers']} vouchers, sustained {result['lines_per_s_sustained']:,} lines/s")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commands", type=int, default=50_000, help="booking commands to pre-load (default 50000)")
    parser.add_argument("--clients", type=int, default=20, help="clients the commands are spread over (default 20)")
    parser.add_argument("--customers", type=int, default=200, help="customers (sub-ledger parties) per client")
    parser.add_argument("--port-base", type=int, default=PORT_BASE, help="our processes' port base (default 48100)")
    parser.add_argument("--wait-for-groups", type=float, default=300, help="seconds to wait for other consumers")
    parser.add_argument("--stall-timeout", type=float, default=120, help="abort after this long without progress")
    parser.add_argument("--profile", type=int, default=0, metavar="SECONDS", help="py-spy the ledger for SECONDS")
    parser.add_argument(
        "--profile-native", action="store_true", help="with --profile: include C frames (GC, syscalls, extensions)"
    )
    parser.add_argument(
        "--ledgers", type=int, default=1, help="ledger processes sharing the backlog (default 1; scale-out)"
    )
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the ledger process (repeatable)")
    parser.add_argument(
        "--shared-databases", action="store_true", help="use the ledger's usual database instead of a fresh one"
    )
    parser.add_argument("--keep-databases", action="store_true", help="do not drop the run's database at the end")
    args = parser.parse_args()
    if args.commands < 10:
        parser.error("--commands must be at least 10")
    try:
        result = asyncio.run(run(args))
    except BenchAborted as error:
        say(f"ABORTED: {error}")
        raise SystemExit(2) from None
    report(result)
    json_path = write_json("ledger", result["started_utc"], result)
    png_path = json_path.with_suffix(".png")
    plot(result, png_path)
    print(f"  results: {json_path.relative_to(json_path.parents[2])}, {png_path.name}")
    print(
        f"bench: ledger_lines_per_s={result['lines_per_s_sustained']} "
        f"ceiling_lines_per_s={result['ceiling_copy']['rows_per_s']} ratio_to_ceiling={result['ratio_to_ceiling']:.3f}"
        + ("" if result["sustained_window_reliable"] else " warning=window_too_short")
    )


if __name__ == "__main__":
    main()
