"""End-to-end benchmark: invoices through the whole ABC Factoring lifecycle on the real stack.

    python -m bench.e2e --invoices 50000        (make bench N=50000)

1. Checks that no one else's service is a member of any of our consumer groups (waits, then aborts), and
   creates a fresh database per service for the run (dropped at the end; `--shared-databases`: the usual ones).
2. Starts the four services and the ABC Factoring simulator as their own processes (port base 48100) on the
   shared Kafka broker and PostgreSQL, and sets up `--clients` clients ready for ABC Factoring the way
   tests/support/scenario.py's `factoring_client` does (books, ABC as a supplier party, account mapping,
   `--customers` complete customer cards, activation), each with an explicit simulator script: auto mode,
   100 % accepted, 85 % advance, a fee, paid by the debtor, settled.
3. Full load: N invoices (CreateInvoiceDraft + SendInvoice, built up front) published straight onto
   invoicing.commands.v1 as fast as the producer takes them; timed from the first send until the VoucherPosted
   of every invoice's settlement (source.event_type "invoice.settled") is on ledger.events.v1.
4. Paced: `--paced-invoices` more invoices offered at a fixed `--rate` (1,000 invoices/s), same detection.
5. With the stack stopped, the ceilings: every Kafka record the full-load run produced (counted between two
   offset snapshots of all Ledgerline topics, with their mean key and value size) produced and consumed once
   through a scratch topic; and an asyncpg COPY of exactly the posting lines the run booked.

Time stamps: a send time is taken just before the SendInvoice is handed to the producer; an event's time is
its Kafka record timestamp, i.e. when the ledger's outbox relay published it, after the commit. Latency is
reported two ways (both in the JSON): send → advance VoucherPosted published (the headline, an upper bound of
"committed"), and send → the advance voucher's `posted_at` from the ledger's HTTP vouchers query (PostgreSQL
`now()`, the start of the ledger transaction that booked it: a lower bound).

Ends with one line: `bench: e2e_invoices_per_s=… ledger_lines_per_s=… p99_ms=… ratio_to_ceiling=… cpu_ms_per_invoice=…
records_per_invoice=… auth_us_per_invoice=…` (CPU spent checking tokens, all services, per invoice)
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
import uuid
from datetime import date, datetime, timedelta
from typing import Any

import httpx
import orjson
from aiokafka import ConsumerRecord

from ledgerline_abc_factoring import SLUG as ABC
from ledgerline_abc_factoring import contract as abc
from ledgerline_cli import kafka_security
from ledgerline_cli.bus import Bus
from ledgerline_cli.kafka_admin import ensure_topics
from ledgerline_cli.operator import Operator, Urls
from ledgerline_cli.stack import Stack
from ledgerline_cli.tokens import local_issuer
from ledgerline_contracts import invoicing as inv
from ledgerline_contracts import topics
from ledgerline_contracts.factoring import AccountRef
from ledgerline_contracts.samples import SELLER_ADDRESS

from .ceilings import copy_ceiling, kafka_ceiling, posting_rows
from .figures import Phase, per_second, percentiles, utc_stamp, write_json
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
    end_offsets,
    new_producer,
    our_vouchers_posted,
    publish,
    scan_window,
    topic_prefix,
    user_tokens,
)
from .metrics import batch_profile, metric_sum, scrape
from .postgres import PG_STATS_FLUSH_S, PgActivitySampler, ServiceDatabases, pg_stats_per_unit
from .profiling import Profiler, print_profiles
from .sampling import ProcessSampler, kafka_broker, mb, postgres_server

SERVICES = ("ledger", "invoicing", "factoring-gateway", "financing-gateway")
SIMULATOR = "abc-factoring-simulator"
GROUPS = (*topics.consumer_groups(), f"simulator.{ABC}")
PROFILED = ("ledger", "invoicing", "factoring-gateway")
USER = "admin"

# As tests/support/scenario.py: ABC as a supplier party in the existing series, the standard accounts.
ABC_ACCOUNTS = {
    "intermediate": AccountRef(account="2400", party=20001),
    "fees": AccountRef(account="7770"),
    "interest_income": AccountRef(account="8050"),
    "bank": AccountRef(account="1920"),
    "receivables": AccountRef(account="1500"),
    "deviation": AccountRef(account="2900"),
}
SCRIPT = {
    "mode": "auto",
    "accept_percent": 100,
    "advance_percent": 85,
    "fee_ore": 15_000,
    "late_percent": 0,
    "recourse_percent": 0,
    "duplicate_percent": 0,
    "shuffle": False,
    "settle": True,
}


# --- set-up -------------------------------------------------------------------------------------------------------
def customer(k: int, n: int) -> inv.CustomerData:
    """A complete customer card (everything ABC needs), every other one a person, the rest companies."""
    address = inv.Address(street=f"Storgata {n % 200 + 1}", postcode=f"{(n * 7) % 9000 + 1000}", city="Oslo")
    if n % 2:
        return inv.CustomerData(
            kind=inv.CustomerKind.PERSON,
            first_name=f"Kari{n}",
            last_name="Nordmann",
            address=address,
            phone=f"+479{n:07d}",
            email=f"kunde{n}@example.no",
        )
    return inv.CustomerData(
        kind=inv.CustomerKind.COMPANY,
        company_name=f"Bedrift {k}-{n} AS",
        organisation_number=f"8{k % 100:02d}{n % 1_000_000:06d}",
        address=address,
        phone=f"+475{n:07d}",
        email=f"post{n}@bedrift{k}.no",
    )


async def factoring_clients(op: Operator, clients: list[str], customers: list[int]) -> None:
    """Like tests/support/scenario.factoring_client for every client, with many customers; then the simulator
    script. Steps run for all clients at once; the customer cards go out in bulk and are awaited together."""

    async def books(k: int, client_id: str) -> None:
        await op.create_client(client_id, f"Benchmark {k} AS", f"9{k:08d}", address=SELLER_ADDRESS)
        await op.add_party(client_id, 20001, "ABC Factoring", "supplier")
        await op.map_accounts(client_id, ABC, ABC_ACCOUNTS)

    await asyncio.gather(*(books(k, c) for k, c in enumerate(clients)))
    cards = [
        inv.UpsertCustomerCard(
            client_id=client_id, acting_user=op.user, customer_number=number, customer=customer(k, number)
        )
        for k, client_id in enumerate(clients)
        for number in customers
    ]
    results = await command_all(
        BOOTSTRAP, topics.TOPIC_INVOICING_COMMANDS.name, cards, timeout=600, headers=user_tokens(op.user)
    )
    refused = [r for r in results if not r["accepted"]]
    if refused:
        raise BenchAborted(f"{len(refused)} customer cards refused, e.g. {refused[0]['reason']}")

    async def activate(client_id: str) -> None:
        deadline = time.monotonic() + 120
        while True:  # the gateway learns the ledger's accounts and parties from its events, asynchronously
            result = await op.activate(client_id, ABC, expect_accepted=False)
            if result.accepted:
                break
            if "does not exist in the ledger" not in (result.reason or "") or time.monotonic() > deadline:
                raise BenchAborted(f"ABC Factoring could not be activated for {client_id}: {result.reason}")
            await asyncio.sleep(0.5)
        await op.simulator_script(op.urls.abc_simulator, client_id, **SCRIPT)

    await asyncio.gather(*(activate(c) for c in clients))


def build_invoices(
    clients: list[str], customers: list[int], count: int, seed: int, reply: bool = False
) -> tuple[list[str], list[tuple[bytes, bytes]]]:
    """`count` invoices round-robin over clients and customers: their ids and, per invoice, two records
    (CreateInvoiceDraft, SendInvoice), serialised up front. Lines: 60 % one line at 25 % VAT, 30 % two VAT
    rates, 10 % with a VAT-exempt line (so the sale voucher has 3 or 4 lines)."""
    rng = random.Random(seed)
    today = date.today()
    ids: list[str] = []
    records: list[tuple[bytes, bytes]] = []
    for i in range(count):
        client_id = clients[i % len(clients)]
        number = customers[(i // len(clients)) % len(customers)]
        roll = rng.random()
        lines = [inv.InvoiceLine(description="Consulting", net_ore=rng.randrange(1_000_00, 40_000_00))]
        if roll >= 0.6:
            lines.append(
                inv.InvoiceLine(
                    description="Travel" if roll < 0.9 else "Course fee",
                    net_ore=rng.randrange(200_00, 5_000_00),
                    vat_code=inv.VatCode.MEDIUM if roll < 0.9 else inv.VatCode.EXEMPT,
                )
            )
        invoice_id = uuid.uuid4()
        draft = inv.CreateInvoiceDraft(
            client_id=client_id,
            acting_user=USER,
            invoice_id=invoice_id,
            customer_number=number,
            invoice_date=today,
            due_date=today + timedelta(days=14),
            lines=lines,
            reply=reply,
        )
        send = inv.SendInvoice(client_id=client_id, acting_user=USER, invoice_id=invoice_id, reply=reply)
        key = client_id.encode()
        ids.append(str(invoice_id))
        records += [(key, draft.to_bytes()), (key, send.to_bytes())]
    return ids, records


# --- watching the ledger ------------------------------------------------------------------------------------------
class Lifecycle:
    """Follows our invoices through the VoucherPosted events on ledger.events.v1 (and rejections).

    Bytes are checked for our client-id prefix and the message type before anything is parsed, so that the
    harness costs the services as little CPU as possible.
    """

    def __init__(self, marker: bytes) -> None:
        self.marker = marker
        self.run_of: dict[str, str] = {}  # invoice id → "full" | "paced"
        self.seen: set[str] = set()
        self.vouchers: dict[str, list[tuple[float, int]]] = {"full": [], "paced": []}  # (published, lines)
        self.full_events: list[dict[str, Any]] = []  # the full-load run's VoucherPosted, for the COPY ceiling
        self.advance: dict[str, float] = {}
        self.settled: dict[str, dict[str, float]] = {"full": {}, "paced": {}}
        self.rejected: list[dict[str, Any]] = []
        self.last_progress = time.monotonic()

    def __call__(self, record: ConsumerRecord) -> None:
        for event in our_vouchers_posted(record, self.marker, self.rejected):
            self._posted(event, record.timestamp / 1000)

    def _posted(self, event: dict[str, Any], published: float) -> None:
        if event["voucher_id"] in self.seen:  # the relay publishes at least once
            return
        self.seen.add(event["voucher_id"])
        source = event["source"]
        invoice = source.get("invoice_id")
        run = self.run_of.get(invoice or "")
        if run is None:
            return
        self.vouchers[run].append((published, len(event["lines"])))
        if run == "full":
            self.full_events.append(event)
        kind = source.get("event_type")
        if kind == abc.AbcEventType.ADVANCE_PAID.value:
            self.advance[invoice] = published
        elif kind == abc.AbcEventType.SETTLED.value:
            self.settled[run][invoice] = published
            self.last_progress = time.monotonic()


async def wait_settled(
    life: Lifecycle, run: str, count: int, guard: GroupGuard, stall_timeout: float, label: str
) -> None:
    last_report = time.monotonic()
    while len(life.settled[run]) < count:
        await asyncio.sleep(0.1)
        if life.rejected:
            raise BenchAborted(f"the ledger rejected a booking: {life.rejected[0].get('reason')}")
        if guard.violations:
            raise BenchAborted(f"invalid run: {guard.violations[0]}")
        if time.monotonic() - life.last_progress > stall_timeout:
            raise _Stalled(f"{label}: no settlement for {stall_timeout:.0f} s; {len(life.settled[run])} of {count}")
        if time.monotonic() - last_report > 10:
            say(f"… {label}: {len(life.settled[run])} of {count} settled, {len(life.advance)} advances booked")
            last_report = time.monotonic()


class _Stalled(BenchAborted):
    pass


async def paced_publish(
    producer: Any, records: list[tuple[bytes, bytes]], rate: float, sent_at: dict[int, float]
) -> tuple[float, float]:
    """Offers invoices at `rate` per second (both records of an invoice at its due time); returns first/last send."""
    topic = topics.TOPIC_INVOICING_COMMANDS.name
    tokens = user_tokens(USER)
    count = len(records) // 2
    pending = []
    started = time.perf_counter()
    sent = 0
    first = time.time()
    while sent < count:
        due = min(count, int((time.perf_counter() - started) * rate) + 1)
        while sent < due:
            draft, send = records[2 * sent], records[2 * sent + 1]
            pending.append(await producer.send(topic, draft[1], key=draft[0], headers=tokens(draft[0])))
            sent_at[sent] = time.time()
            pending.append(await producer.send(topic, send[1], key=send[0], headers=tokens(send[0])))
            sent += 1
        if len(pending) > 5000:
            await asyncio.gather(*pending)
            pending.clear()
        await asyncio.sleep(0.002)
    last = time.time()
    await asyncio.gather(*pending)
    return first, last


# --- posted_at from the ledger's HTTP query -----------------------------------------------------------------------
def _as_user(client_id: str) -> dict[str, str]:
    """A bearer token of the benchmark's user of the client (the queries answer only that client's users)."""
    return {"authorization": f"Bearer {local_issuer().user(client_id, USER)}"}


async def advance_posted_at(ledger_url: str, clients: list[str]) -> dict[str, float]:
    """invoice id → posted_at of its advance voucher (GET /clients/{id}/vouchers?series=FACTORING)."""
    found: dict[str, float] = {}
    async with httpx.AsyncClient(base_url=ledger_url, timeout=300) as http:
        for client_id in clients:
            response = await http.get(
                f"/clients/{client_id}/vouchers",
                params={"series": "FACTORING", "limit": 10**8},
                headers=_as_user(client_id),
            )
            response.raise_for_status()
            for voucher in orjson.loads(response.content):
                if (voucher.get("source") or {}).get("event_type") == abc.AbcEventType.ADVANCE_PAID.value:
                    found[str(voucher["invoice_id"])] = datetime.fromisoformat(voucher["posted_at"]).timestamp()
    return found


async def books_check(ledger_url: str, clients: list[str]) -> dict[str, Any]:
    """After settlement every receivable (1500) and the intermediate account with ABC (2400) must be zero."""
    off: dict[str, Any] = {}
    async with httpx.AsyncClient(base_url=ledger_url, timeout=120) as http:
        for client_id in clients:
            trial = (await http.get(f"/clients/{client_id}/trial-balance", headers=_as_user(client_id))).json()
            balances = {a["account"]: a["balance_ore"] for a in trial["accounts"]}
            wrong = {a: balances.get(a, 0) for a in ("1500", "2400") if balances.get(a, 0)}
            if wrong or trial["balance_ore"]:
                off[client_id] = {**wrong, "total": trial["balance_ore"]}
    return {"clients": len(clients), "balanced_and_settled": not off, "differences": off}


# --- the run --------------------------------------------------------------------------------------------------------
class E2ERun:
    """One benchmark run: set-up, full load, paced load, then the ceilings and the figures."""

    def __init__(self, args: argparse.Namespace) -> None:
        check_port_base(args.port_base)
        self.args = args
        self.tag, self.rid, self.stamp = instance_tag(args.port_base), run_id(), utc_stamp()
        self.env = parse_env(args.env)
        self.names = [*SERVICES, SIMULATOR]
        self.databases = ServiceDatabases(SERVICES, self.tag, shared=args.shared_databases, keep=args.keep_databases)
        # SIMULATOR_INSTANCE_ID: the simulator's Kafka client id carries our tag too (Stack sets the services').
        self.stack = Stack(
            port_base=args.port_base,
            bootstrap=BOOTSTRAP,
            extra_env={"SIMULATOR_INSTANCE_ID": self.tag, **self.env},
            instance=self.tag,
        )
        self.prefix = f"bench-e{self.rid}"
        self.clients = [f"{self.prefix}-{k:02d}" for k in range(args.clients)]
        self.customers = list(range(10001, 10001 + args.customers))
        self.paced_count = args.paced_invoices if args.paced_invoices is not None else min(args.invoices, 30_000)
        self.life = Lifecycle(self.prefix.encode())
        self.topic_names = [t.name for t in topics.all_topics()]
        self.profiler = Profiler(self.stamp) if args.profile else None
        self.profiles: dict[str, Any] | None = None
        self.window_start: dict[Any, int] = {}
        self.window_end: dict[Any, int] = {}
        self.full, self.paced = Phase("full"), Phase("paced")
        self.full_sent: dict[int, float] = {}
        self.paced_sent: dict[int, float] = {}
        self.cpu: dict[str, dict[str, Any]] = {}
        self.pg: dict[str, dict[str, dict[str, float]]] = {}
        self.metrics: dict[str, dict[str, float]] = {}
        self.activity = PgActivitySampler(self.databases)
        self.full_ids: list[str] = []
        self.paced_ids: list[str] = []

    async def execute(self) -> dict[str, Any]:
        args = self.args
        say(
            f"e2e benchmark {self.rid}: {args.invoices} invoices at full load, {self.paced_count} at {args.rate:g}/s; "
            f"{args.clients} clients × {args.customers} customers"
        )
        say(await asyncio.to_thread(kafka_security.apply, BOOTSTRAP))  # users and ACLs of our topic prefix first
        async with GroupGuard(BOOTSTRAP, GROUPS, self.tag) as self.guard:
            say("checking our consumer groups for other developers' services")
            await self.guard.wait_until_free(args.wait_for_groups)
            await self.guard.wait_no_backlog(args.wait_for_groups)
            await ensure_topics(BOOTSTRAP)
            await self.databases.create()
            self.databases.apply(self.stack)
            try:
                await self._with_stack()
            finally:
                await self.databases.drop()
        await self._ceilings()
        return self._figures()

    async def _with_stack(self) -> None:
        args = self.args
        say(f"starting {', '.join(self.names)} on port base {args.port_base}")
        try:
            self.ready = await asyncio.to_thread(self.stack.up, self.names, False)
            self.pids = {name: pid for name, pid in self.stack.running().items() if name in self.names}
            observe = {"kafka broker": kafka_broker, "postgresql (all)": postgres_server}
            with ProcessSampler(self.pids, observe) as self.sampler:
                await self.guard.wait_until_free(args.wait_for_groups)
                await self.databases.verify(self.tag)
                self.guard.watch()
                await self._set_up()
                watched = [topics.TOPIC_LEDGER_EVENTS.name, topics.TOPIC_LEDGER_REJECTIONS.name]
                watcher = TopicWatcher(BOOTSTRAP, watched, self.life)
                await watcher.start()
                producer = new_producer(BOOTSTRAP)
                await producer.start()
                try:
                    await self._full_load(producer)
                    await self._paced_load(producer)
                finally:
                    await producer.stop()
                    await watcher.stop()
                    await self.guard.stop_watching()
                    if self.profiler is not None:
                        self.profiles = self.profiler.finish()
            say("reading posted_at of the advance vouchers and checking the books")
            self.posted_at = await advance_posted_at(self.stack.url("ledger"), self.clients)
            self.books = await books_check(self.stack.url("ledger"), self.clients)
        except _Stalled:
            await diagnose(self.window_start, self.topic_names, self.prefix)
            raise
        finally:
            await self.activity.stop()
            if self.profiler is not None:
                self.profiler.kill()
            say("stopping our processes")
            await asyncio.to_thread(self.stack.down, self.names, False)

    async def _set_up(self) -> None:
        say(f"ready after {max(self.ready.values()):.1f} s; setting up {len(self.clients)} clients")
        started = time.monotonic()
        async with Bus(BOOTSTRAP) as bus:
            op = Operator(bus, Urls.for_port_base(self.args.port_base), user=USER, timeout=120)
            await factoring_clients(op, self.clients, self.customers)
        self.setup_s = time.monotonic() - started
        say(f"clients ready for ABC Factoring in {self.setup_s:.1f} s; waiting until every consumer is idle")
        await self.guard.wait_quiet(timeout=300)
        say("building the invoices up front")
        self.full_ids, self.full_records = build_invoices(
            self.clients, self.customers, self.args.invoices, seed=1, reply=self.args.replies
        )
        self.paced_ids, self.paced_records = build_invoices(
            self.clients, self.customers, self.paced_count, seed=2, reply=self.args.replies
        )
        self.life.run_of.update(dict.fromkeys(self.full_ids, "full"))
        self.life.run_of.update(dict.fromkeys(self.paced_ids, "paced"))

    async def _full_load(self, producer: Any) -> None:
        args, full = self.args, self.full
        say(f"waiting {PG_STATS_FLUSH_S:.0f} s for PostgreSQL to flush its statistics")
        await asyncio.sleep(PG_STATS_FLUSH_S)
        pg_before = await self.databases.stats()
        self.window_start = await end_offsets(BOOTSTRAP, self.topic_names)
        await self._observe_backends()
        cpu_before = self.sampler.snapshot()
        say(f"full load: publishing {args.invoices} invoices ({len(self.full_records)} commands)")
        full.started = time.time()
        if self.profiler is not None:
            for name in PROFILED:
                self.profiler.start(name, self.pids[name], args.profile, native=args.profile_native)

        def mark(i: int) -> None:
            if i % 2:  # the SendInvoice of invoice i // 2
                self.full_sent[i // 2] = time.time()

        await self.activity.start()
        await publish(
            producer, topics.TOPIC_INVOICING_COMMANDS.name, self.full_records, on_send=mark, headers=user_tokens(USER)
        )
        full.notes["publish_seconds"] = round(time.time() - full.started, 2)
        say(f"published in {full.notes['publish_seconds']} s; waiting for every settlement")
        await wait_settled(self.life, "full", args.invoices, self.guard, args.stall_timeout, "full load")
        full.ended = max(self.life.settled["full"].values())
        self.pg_activity = await self.activity.stop()
        await self._observe_backends()  # and any the pools opened meanwhile (those that closed are missed)
        self.cpu["full"] = cpu_before.until(self.sampler.snapshot())
        self.metrics = {name: await scrape(self.stack.url(name)) for name in SERVICES}
        say(f"full load done in {full.seconds:.1f} s; waiting until every consumer is idle")
        await self.guard.wait_quiet(timeout=600)
        self.window_end = await end_offsets(BOOTSTRAP, self.topic_names)
        await asyncio.sleep(PG_STATS_FLUSH_S)
        self.pg["full"] = pg_stats_per_unit(pg_before, await self.databases.stats(), args.invoices)

    async def _paced_load(self, producer: Any) -> None:
        args, paced = self.args, self.paced
        await self._observe_backends()
        cpu_before = self.sampler.snapshot()
        if self.paced_count:
            say(f"paced: offering {self.paced_count} invoices at {args.rate:g} invoices/s")
            first, last = await paced_publish(producer, self.paced_records, args.rate, self.paced_sent)
            paced.started = first
            paced.notes["offered_rate"] = round(self.paced_count / max(last - first, 1e-3), 1)
            await wait_settled(self.life, "paced", self.paced_count, self.guard, args.stall_timeout, "paced")
            paced.ended = max(self.life.settled["paced"].values())
        await self._observe_backends()
        self.cpu["paced"] = cpu_before.until(self.sampler.snapshot())

    async def _observe_backends(self) -> None:
        """PostgreSQL's CPU for our databases: the server processes serving them (fresh databases only)."""
        if not self.databases.shared:
            self.sampler.observe_pids("postgresql (ours)", await self.databases.backend_pids())

    async def _ceilings(self) -> None:
        """With our processes stopped: the same traffic through bare Kafka, the same lines through bare COPY."""
        say("counting the Kafka records of the full-load run")
        self.traffic, _ = await scan_window(BOOTSTRAP, self.window_start, self.window_end)
        records = sum(t["records"] for t in self.traffic.values())
        key_bytes = sum(t["key_bytes"] for t in self.traffic.values())
        value_bytes = sum(t["value_bytes"] for t in self.traffic.values())
        say(f"ceiling 1: {records} records of {value_bytes / records:.0f} bytes through one scratch topic")
        self.kafka = await kafka_ceiling(
            BOOTSTRAP, self.tag, records, round(key_bytes / records), round(value_bytes / records)
        )
        rows = posting_rows(self.life.full_events)
        say(f"ceiling 2: COPY of the run's {len(rows)} posting lines into an unindexed table")
        self.copy = await copy_ceiling(rows, self.tag)
        removed = await delete_namespace_topics(BOOTSTRAP)
        if removed:
            say(f"deleted the {len(removed)} topics of our namespace {topic_prefix()!r}")

    def _figures(self) -> dict[str, Any]:
        args, full, paced, life = self.args, self.full, self.paced, self.life
        n, m = args.invoices, self.paced_count
        e2e_ips = n / full.seconds
        full_lines = sum(lines for t, lines in life.vouchers["full"] if t <= full.ended)
        ledger_lps = full_lines / full.seconds
        ceiling_s = max(self.kafka["seconds"], self.copy["seconds"])
        ceiling_ips = n / ceiling_s

        def latencies(ids: list[str], sent: dict[int, float], ends: dict[str, float]) -> list[float]:
            return [1000 * (ends[i] - sent[k]) for k, i in enumerate(ids) if i in ends and k in sent]

        lat = {
            "full": {
                "to_event": latencies(self.full_ids, self.full_sent, life.advance),
                "to_posted_at": latencies(self.full_ids, self.full_sent, self.posted_at),
            },
            "paced": {
                "to_event": latencies(self.paced_ids, self.paced_sent, life.advance),
                "to_posted_at": latencies(self.paced_ids, self.paced_sent, self.posted_at),
            },
        }
        p99_run = "paced" if m else "full"
        p99 = percentiles(lat[p99_run]["to_event"])["p99"] or 0.0

        def cpu_per_invoice(cpu: dict[str, Any], count: int) -> dict[str, float]:
            return {name: round(1000 * v["cpu_s"] / max(count, 1), 2) for name, v in cpu["processes"].items()}

        full_cpu = cpu_per_invoice(self.cpu["full"], n)
        # What the system spends per invoice: services, simulator, broker and our PostgreSQL backends; not the
        # harness, nor other databases' backends ("postgresql (all)" would count the server twice).
        system_cpu = sum(v for name, v in full_cpu.items() if name not in ("bench harness", "postgresql (all)"))
        records = sum(t["records"] for t in self.traffic.values())

        result: dict[str, Any] = {
            "benchmark": "e2e",
            "command": " ".join(["python -m bench.e2e", *sys.argv[1:]]),
            "started_utc": self.stamp,
            "run_id": self.rid,
            "machine": machine(),
            "revision": git_revision(),
            "settings": {
                "invoices": n,
                "paced_invoices": m,
                "rate": args.rate,
                "replies": args.replies,
                "clients": args.clients,
                "customers_per_client": args.customers,
                "simulator_script": SCRIPT,
                "env": self.env,
                "port_base": args.port_base,
                "topic_prefix": topic_prefix(),
                "databases": {
                    s: name + ("" if self.databases.shared else " (created for the run)")
                    for s, name in self.databases.names.items()
                },
                "processes": self.names,
            },
            "setup_seconds": round(self.setup_s, 1),
            "ready_after_s": {k: round(v, 2) for k, v in self.ready.items()},
            "full_load": {
                "invoices": n,
                "seconds": round(full.seconds, 2),
                "publish_seconds": full.notes["publish_seconds"],
                "e2e_invoices_per_s": round(e2e_ips, 1),
                "posting_lines": full_lines,
                "ledger_lines_per_s": round(ledger_lps),
                "latency_ms_to_advance_event": _pcts(lat["full"]["to_event"]),
                "latency_ms_to_advance_posted_at": _pcts(lat["full"]["to_posted_at"]),
                "cpu": self.cpu["full"],
                "cpu_ms_per_invoice": cpu_per_invoice(self.cpu["full"], n),
                "postgres_per_invoice": self.pg["full"],
                "postgres_sessions": self.pg_activity,
                "batches": {name: batch_profile(self.metrics[name], name) for name in SERVICES},
                "settled_per_second": per_second(list(life.settled["full"].values()), None, full.started),
                "lines_per_second": per_second(
                    [t for t, _ in life.vouchers["full"]], [x for _, x in life.vouchers["full"]], full.started
                ),
            },
            "paced": {
                "invoices": m,
                "target_rate": args.rate,
                "offered_rate": paced.notes.get("offered_rate"),
                "seconds": round(paced.seconds, 2) if m else None,
                "invoices_per_s": round(m / paced.seconds, 1) if m else None,
                "ledger_lines_per_s": round(sum(x for _, x in life.vouchers["paced"]) / paced.seconds) if m else None,
                "latency_ms_to_advance_event": _pcts(lat["paced"]["to_event"]),
                "latency_ms_to_advance_posted_at": _pcts(lat["paced"]["to_posted_at"]),
                "cpu": self.cpu["paced"],
                "cpu_ms_per_invoice": cpu_per_invoice(self.cpu["paced"], m),
                "sent_per_second": per_second(list(self.paced_sent.values()), None, paced.started) if m else [],
                "settled_per_second": per_second(list(life.settled["paced"].values()), None, paced.started)
                if m
                else [],
            },
            "latency_samples_ms": {
                run: {kind: [round(x, 1) for x in values] for kind, values in by_kind.items()}
                for run, by_kind in lat.items()
            },
            "peak_rss_mb": {name: mb(v) for name, v in self.sampler.peak_rss.items()},
            "kafka_traffic_full_load": self.traffic,
            "ceiling": {
                "kafka": self.kafka,
                "copy": self.copy,
                "seconds": ceiling_s,
                "invoices_per_s": round(ceiling_ips, 1),
                "kafka_ratio": round(e2e_ips / (n / self.kafka["seconds"]), 3),
                "copy_ratio": round(ledger_lps / self.copy["rows_per_s"], 3),
            },
            "ratio_to_ceiling": round(e2e_ips / ceiling_ips, 3),
            "cpu_ms_per_invoice": round(system_cpu, 2),
            "records_per_invoice": round(records / n, 2),
            "auth_us_per_invoice": round(
                sum(metric_sum(self.metrics[name], "ledgerline_auth_seconds") for name in SERVICES) / n * 1e6, 1
            ),
            "p99_ms": round(p99, 1),
            "p99_from": f"{p99_run} run, send → advance VoucherPosted published",
            "books": self.books,
            "foreign_consumers": self.guard.violations,
        }
        if self.profiles is not None:
            result["profile"] = self.profiles
        return result


def _pcts(values: list[float]) -> dict[str, Any]:
    found = percentiles(values, (50, 95, 99, 100))
    return {"samples": len(values), **{k: round(v, 1) if v is not None else None for k, v in found.items()}}


async def diagnose(start: dict[Any, int], topic_names: list[str], prefix: str) -> None:
    """After a stall: the first refusals and dead letters that mention our clients."""
    if not start:
        return
    end = await end_offsets(BOOTSTRAP, topic_names)
    marker = prefix.encode()

    def interesting(topic: str, value: bytes) -> bool:
        return marker in value and (b'"accepted":false' in value or topic.startswith("deadletter."))

    _, found = await scan_window(BOOTSTRAP, start, end, keep=interesting, keep_at_most=5)
    for topic, value in found:
        say(f"  {topic}: {value[:400].decode(errors='replace')}")
    if not found:
        say("  no refusal or dead letter for our clients; see the service logs in .state/logs/*-48100.log")


# --- output -----------------------------------------------------------------------------------------------------------
def report(result: dict[str, Any]) -> None:
    full, paced, ceiling = result["full_load"], result["paced"], result["ceiling"]
    print()
    print(f"end-to-end benchmark, {full['invoices']} invoices (full load) + {paced['invoices']} (paced)")
    print(f"  full load: {full['seconds']:.1f} s from first send to last settlement voucher")
    print(f"    e2e invoices/s              {full['e2e_invoices_per_s']:>10,.1f}")
    print(f"    ledger posting lines/s      {full['ledger_lines_per_s']:>10,}")
    _print_latency("    sent → advance (event)   ", full["latency_ms_to_advance_event"])
    _print_latency("    sent → advance (posted_at)", full["latency_ms_to_advance_posted_at"])
    if paced["invoices"]:
        print(
            f"  paced: {paced['offered_rate']:,.0f} invoices/s offered (target {paced['target_rate']:,.0f}), "
            f"{paced['invoices_per_s']:,.1f}/s completed"
        )
        _print_latency("    sent → advance (event)   ", paced["latency_ms_to_advance_event"])
        _print_latency("    sent → advance (posted_at)", paced["latency_ms_to_advance_posted_at"])
    print("  peak RSS (MB):   " + ", ".join(f"{k} {v}" for k, v in result["peak_rss_mb"].items()))
    print(f"  CPU per invoice at full load (ms), machine {full['cpu']['machine_busy_percent']} % busy:")
    print("    " + ", ".join(f"{k} {v}" for k, v in full["cpu_ms_per_invoice"].items()))
    print("  PostgreSQL per invoice at full load (transactions, rows written, ms active, ms idle in transaction):")
    for service, stats in full["postgres_per_invoice"].items():
        written = stats["tup_inserted"] + stats["tup_updated"] + stats["tup_deleted"]
        print(
            f"    {service:18} {stats['xact_commit']:6.2f} tx, {written:6.1f} rows, "
            f"{stats['active_time']:6.2f} ms active, {stats['idle_in_transaction_time']:6.2f} ms idle in tx"
        )
    print("  consumers and relays at full load (the busiest one on the invoice's path sets the pace):")
    for service, groups in full["batches"].items():
        for group, b in groups.items():
            per_record = 1000 * b["mean_seconds"] / max(b["mean_records"], 1)
            busy = 100 * b["busy_seconds"] / full["seconds"]
            print(
                f"    {service:18} {group:36} {b['batches']:5} batches of {b['mean_records']:6.1f}, "
                f"{per_record:5.2f} ms/record, busy {busy:3.0f} % of the run"
            )
    print("  PostgreSQL sessions at full load (mean number per state):")
    for service, states in full["postgres_sessions"].items():
        print(f"    {service:18} " + ", ".join(f"{state} {n}" for state, n in states.items() if n >= 0.01))
    kafka, copy = ceiling["kafka"], ceiling["copy"]
    print(
        f"  ceiling Kafka: {kafka['records']:,} records × {kafka['value_bytes']} B in {kafka['seconds']:.2f} s "
        f"({kafka['records_per_s']:,}/s)"
    )
    print(f"  ceiling COPY:  {copy['rows']:,} posting lines in {copy['seconds']:.2f} s ({copy['rows_per_s']:,}/s)")
    print(
        f"  ceiling: {ceiling['invoices_per_s']:,.0f} invoices/s; ratio pipeline/ceiling {result['ratio_to_ceiling']}"
        f" (Kafka alone {ceiling['kafka_ratio']}, COPY alone {ceiling['copy_ratio']})"
    )
    books = result["books"]
    print(f"  books: {'every receivable and ABC balance zero' if books['balanced_and_settled'] else books}")
    print_profiles(result.get("profile", {}))


def _print_latency(label: str, values: dict[str, Any]) -> None:
    print(
        f"{label} p50 {values['p50']} ms, p95 {values['p95']} ms, p99 {values['p99']} ms, "
        f"max {values['p100']} ms ({values['samples']} invoices)"
    )


def plot(result: dict[str, Any], path: Any) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    full, paced = result["full_load"], result["paced"]
    fig, axes = plt.subplots(2, 2, figsize=(13, 8))
    ax = axes[0][0]
    ax.plot(_cumulative(full["settled_per_second"]), color="#4477aa", label="invoices settled (cumulative)")
    ax.set_title(f"full load: {full['invoices']} invoices, {full['e2e_invoices_per_s']:,.1f}/s end to end")
    ax.set_xlabel("seconds since the first send")
    ax.set_ylabel("invoices settled")
    twin = ax.twinx()
    twin.plot(_moving_mean(full["lines_per_second"], 5), color="#cc6677", label="posting lines/s (5 s mean)")
    twin.set_ylabel("posting lines per second (5 s mean)", color="#cc6677")
    ax.legend(loc="upper left")
    ax = axes[0][1]
    if paced["invoices"]:
        ax.plot(_cumulative(paced["sent_per_second"]), label="sent", color="#999933")
        ax.plot(_cumulative(paced["settled_per_second"]), label="settled", color="#4477aa")
        ax.legend()
    ax.set_title(f"paced: {paced['target_rate']:,.0f} invoices/s offered (cumulative)")
    ax.set_xlabel("seconds since the first send")
    ax.set_ylabel("invoices")
    for ax, run in ((axes[1][1], "paced"), (axes[1][0], "full")):
        samples = result["latency_samples_ms"][run]
        if samples["to_event"]:
            ax.hist(samples["to_event"], bins=60, alpha=0.7, label="to VoucherPosted (event)", color="#4477aa")
        if samples["to_posted_at"]:
            ax.hist(samples["to_posted_at"], bins=60, alpha=0.5, label="to posted_at", color="#ee7733")
        ax.set_title(f"{run}: invoice sent → advance voucher")
        ax.set_xlabel("milliseconds")
        ax.set_ylabel("invoices")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _cumulative(values: list[float]) -> list[float]:
    total, out = 0.0, []
    for value in values:
        total += value
        out.append(total)
    return out


def _moving_mean(values: list[float], window: int) -> list[float]:
    return [sum(values[max(0, i - window + 1) : i + 1]) / min(window, i + 1) for i in range(len(values))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--invoices", type=int, default=50_000, help="invoices at full load (default 50000)")
    parser.add_argument(
        "--paced-invoices", type=int, default=None, help="invoices in the paced run (default min(N, 30000); 0: skip)"
    )
    parser.add_argument("--rate", type=float, default=1000.0, help="offered load of the paced run (invoices/s)")
    parser.add_argument(
        "--replies",
        action="store_true",
        help="ask a CommandResult for every invoice command (default: bulk commands, reply=false, followed by "
        "their vouchers as an accounting system sending many invoices would; 2 records per invoice less)",
    )
    parser.add_argument("--clients", type=int, default=20, help="clients (default 20)")
    parser.add_argument("--customers", type=int, default=100, help="customers per client (default 100)")
    parser.add_argument("--port-base", type=int, default=PORT_BASE, help="our processes' port base (default 48100)")
    parser.add_argument("--wait-for-groups", type=float, default=300, help="seconds to wait for other consumers")
    parser.add_argument("--stall-timeout", type=float, default=180, help="abort after this long without progress")
    parser.add_argument(
        "--profile", type=int, default=0, metavar="SECONDS", help="py-spy ledger, invoicing, gateway at full load"
    )
    parser.add_argument(
        "--profile-native", action="store_true", help="with --profile: include C frames (GC, syscalls, extensions)"
    )
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for every process (repeatable)")
    parser.add_argument(
        "--shared-databases", action="store_true", help="use the services' usual databases instead of fresh ones"
    )
    parser.add_argument("--keep-databases", action="store_true", help="do not drop the run's databases at the end")
    args = parser.parse_args()
    if args.invoices < 1 or args.customers > 9999:
        parser.error("--invoices must be positive and --customers at most 9999")
    try:
        result = asyncio.run(E2ERun(args).execute())
    except BenchAborted as error:
        say(f"ABORTED: {error}")
        raise SystemExit(2) from None
    report(result)
    json_path = write_json("e2e", result["started_utc"], result)
    png_path = json_path.with_suffix(".png")
    plot(result, png_path)
    print(f"  results: bench/results/{json_path.name}, {png_path.name}")
    print(
        f"bench: e2e_invoices_per_s={result['full_load']['e2e_invoices_per_s']:.1f} "
        f"ledger_lines_per_s={result['full_load']['ledger_lines_per_s']} p99_ms={result['p99_ms']:.0f} "
        f"ratio_to_ceiling={result['ratio_to_ceiling']:.3f} cpu_ms_per_invoice={result['cpu_ms_per_invoice']:.2f} "
        f"records_per_invoice={result['records_per_invoice']:.1f} "
        f"auth_us_per_invoice={result['auth_us_per_invoice']:.1f}"
    )


if __name__ == "__main__":
    main()
