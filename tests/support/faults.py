"""Breaking the infrastructure on purpose: Kafka nodes killed, PostgreSQL crashed, connections cut.

The Kafka side goes through infra/kafka/kafka.sh (`kill ID`, `start ID`, `info`), so the tests break and heal the
cluster the way an operator would.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
from dataclasses import dataclass

import asyncpg

from ledgerline_cli.stack import Stack, _secrets

POSTGRES_PORT = 5432


# --- Kafka ----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ClusterInfo:
    """What `kafka.sh info` reports: who leads the metadata quorum and the partitions, and what is not in sync."""

    controller: int
    brokers: tuple[int, ...]
    leaders: dict[int, int]
    busiest: int
    under_replicated: int
    offline: int

    @classmethod
    def parse(cls, text: str) -> ClusterInfo:
        values = dict(line.split("=", 1) for line in text.strip().splitlines())
        pairs = (entry.split(":") for entry in values["leaders"].split(",") if entry)
        return cls(
            controller=int(values["controller"]),
            brokers=tuple(int(b) for b in values["brokers"].split(",") if b),
            leaders={int(broker): int(count) for broker, count in pairs},
            busiest=int(values["busiest"]),
            under_replicated=int(values["under_replicated"]),
            offline=int(values["offline"]),
        )


def cluster_info(stack: Stack) -> ClusterInfo:
    return ClusterInfo.parse(stack.kafka("info"))


def wait_healthy(stack: Stack, timeout: float = 180.0) -> tuple[ClusterInfo, float]:
    """Until every broker serves and every partition has all its replicas in sync again (a node that came back has
    caught up); returns the cluster then and the seconds it took."""
    started = time.monotonic()
    info = ClusterInfo.parse(stack.kafka("in-sync", str(round(timeout))))
    return info, time.monotonic() - started


def kill_node(stack: Stack, node: int) -> None:
    stack.kafka("kill", str(node))


def wait_fenced(stack: Stack, node: int, timeout: float = 60.0) -> ClusterInfo:
    """Until the cluster no longer serves from `node`: the controller fences a broker whose heartbeats stop after
    its session timeout (9 s), counted from a new controller's election when the controller itself died."""
    started = time.monotonic()
    while True:
        with contextlib.suppress(subprocess.CalledProcessError):  # no quorum leader for a moment: an election
            info = cluster_info(stack)
            if node not in info.brokers:
                return info
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"node {node} still serving {timeout:.0f} s after it was killed")
        time.sleep(1.0)


def start_node(stack: Stack, node: int) -> None:
    """Starts the node again; returns once it is registered and serves (catching up is `wait_healthy`)."""
    stack.kafka("start", str(node))


# --- PostgreSQL -----------------------------------------------------------------------------------------------------
def postgres_cluster() -> tuple[str, str]:
    """The Debian cluster (version, name) serving port 5432, as infra/postgres/postgres.sh finds it."""
    listed = subprocess.run(["pg_lsclusters", "--no-header"], capture_output=True, text=True, check=True)
    for line in listed.stdout.splitlines():
        version, name, port = line.split()[:3]
        if int(port) == POSTGRES_PORT:
            return version, name
    raise RuntimeError(f"no PostgreSQL cluster on port {POSTGRES_PORT}: {listed.stdout!r}")


def crash_postgres() -> float:
    """Stops PostgreSQL as a crash would (`-m immediate`: no checkpoint, every backend killed), starts it again
    (crash recovery replays the WAL) and waits until it answers; returns the seconds it was away."""
    version, name = postgres_cluster()
    started = time.monotonic()
    subprocess.run(["pg_ctlcluster", version, name, "stop", "-m", "immediate"], check=True)
    subprocess.run(["pg_ctlcluster", version, name, "start"], check=True)
    while subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1", "-p", str(POSTGRES_PORT)], check=False).returncode:
        if time.monotonic() - started > 60:
            raise TimeoutError("PostgreSQL did not answer 60 s after its restart")
        time.sleep(0.2)
    return time.monotonic() - started


@dataclass
class Terminations:
    rounds: int = 0
    terminated: int = 0
    in_transaction: int = 0  # of those terminated, the ones running a statement or inside a transaction


async def terminate_backends(stack: Stack, service: str, seconds: float, every: float = 0.25) -> Terminations:
    """`pg_terminate_backend` on every connection of `service` (its application_name, in this stack's database)
    over and over for `seconds`: the service loses connections mid-transaction and must reconnect and redo."""
    admin = await asyncpg.connect(
        host="127.0.0.1",
        port=POSTGRES_PORT,
        user="ledgerline_admin",
        database="postgres",
        password=_secrets(stack.state)["LEDGERLINE_PG_ADMIN_PASSWORD"],
    )
    done = Terminations()
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            rows = await admin.fetch(
                """
                SELECT state, pg_terminate_backend(pid) AS terminated
                FROM pg_stat_activity
                WHERE datname = $1 AND application_name LIKE $2 AND pid <> pg_backend_pid()
                """,
                stack.db_name(service),
                f"{service}-%",
            )
            done.rounds += 1
            done.terminated += sum(1 for r in rows if r["terminated"])
            done.in_transaction += sum(
                1 for r in rows if r["terminated"] and r["state"] in ("active", "idle in transaction")
            )
            await asyncio.sleep(every)
    finally:
        await admin.close()
    return done
