"""PostgreSQL for a run: fresh databases per service, pg_stat_database counters, pg_stat_activity sampling."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

import asyncpg

from .harness import BenchAborted, read_secrets, say

PG_HOST, PG_PORT = "127.0.0.1", 5432

SERVICE_DATABASES = {
    "ledger": ("ledgerline_ledger", "LEDGER_DB_NAME"),
    "invoicing": ("ledgerline_invoicing", "INVOICING_DB_NAME"),
    "factoring-gateway": ("ledgerline_factoring_gateway", "FACTORING_DB_NAME"),
    "financing-gateway": ("ledgerline_financing_gateway", "FINANCING_DB_NAME"),
}
"""Per service: its database (and role) as provisioned by infra/postgres/postgres.sh, and the setting naming it."""


async def admin_connection(database: str = "postgres") -> asyncpg.Connection:
    """A connection with the admin role (its password from .state/secrets.env), to `database`."""
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
        admin = await admin_connection()
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
        admin = await admin_connection()
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
        admin = await admin_connection()
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
        admin = await admin_connection()
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
        admin = await admin_connection()
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
        self._db = await admin_connection()
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
