"""Nothing lost, nothing twice on a real cluster: three Kafka brokers, one of them killed, or PostgreSQL broken.

The services run against a three-broker KRaft cluster (the `cluster` fixture: infra/kafka/kafka.sh with
BROKERS=3, every topic with three replicas and min.insync.replicas=2, producers acks=all and idempotent). Each test
streams invoices through the whole factoring lifecycle, breaks something while they are handled, and then checks
every invoice: exactly one voucher per lifecycle step, status settled, every client's books to the øre.
"""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from ledgerline_cli.operator import Operator
from ledgerline_cli.stack import Stack
from tests.support.faults import (
    ClusterInfo,
    cluster_info,
    crash_postgres,
    kill_node,
    start_node,
    terminate_backends,
    wait_fenced,
    wait_healthy,
)
from tests.support.stream import Stream, prepare, run_and_check, settled_share

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CLUSTER_INVOICES = int(os.environ.get("LEDGERLINE_CLUSTER_INVOICES", "5000"))
DOWN_FOR = 15.0  # seconds a killed node stays away at least: it is fenced (9 s session timeout) before it returns


async def mid_stream(op: Operator, stream: Stream) -> None:
    """The fault must hit work in progress, or the test proves nothing."""
    share = await settled_share(op, stream)
    print(f"{share:.1%} of the money settled when the fault struck")
    assert share < 0.9, "the stream was (nearly) done before the fault: raise LEDGERLINE_CLUSTER_INVOICES"


async def kill_and_rejoin(cluster: Stack, op: Operator, stream: Stream, pick: str) -> None:
    """kill -9 the node `pick` names (`busiest` or `controller`), keep it away, start it, wait until it caught up."""
    await asyncio.sleep(2.0)
    before = await asyncio.to_thread(cluster_info, cluster)
    victim: int = getattr(before, pick)
    await mid_stream(op, stream)
    await asyncio.to_thread(kill_node, cluster, victim)
    killed = time.monotonic()
    print(f"kill -9 node {victim} ({pick}; controller {before.controller}, partition leaders {before.leaders})")
    during: ClusterInfo = await asyncio.to_thread(wait_fenced, cluster, victim)
    print(
        f"fenced after {time.monotonic() - killed:.1f} s: controller {during.controller}, brokers {during.brokers}, "
        f"leaders {during.leaders}"
    )
    assert not during.offline, "a partition without a leader: one node down must not take any offline"
    await asyncio.sleep(max(0.0, DOWN_FOR - (time.monotonic() - killed)))
    if pick == "controller":
        assert during.controller != victim, "no new quorum leader"
    await asyncio.to_thread(start_node, cluster, victim)
    print(f"node {victim} serves again {time.monotonic() - killed:.1f} s after the kill")
    after, caught_up = await asyncio.to_thread(wait_healthy, cluster)
    print(f"every partition back in sync {caught_up:.1f} s later (controller {after.controller})")


async def test_kill_9_of_the_broker_leading_most_partitions(cluster: Stack, cluster_operator: Operator) -> None:
    stream = await prepare(cluster_operator, clients=4)
    await run_and_check(
        cluster_operator,
        stream,
        CLUSTER_INVOICES,
        lambda: kill_and_rejoin(cluster, cluster_operator, stream, "busiest"),
        timeout=600,
    )


async def test_kill_9_of_the_active_controller(cluster: Stack, cluster_operator: Operator) -> None:
    stream = await prepare(cluster_operator, clients=4)
    await run_and_check(
        cluster_operator,
        stream,
        CLUSTER_INVOICES,
        lambda: kill_and_rejoin(cluster, cluster_operator, stream, "controller"),
        timeout=600,
    )


async def test_postgres_crashes_mid_stream(cluster: Stack, cluster_operator: Operator) -> None:
    stream = await prepare(cluster_operator, clients=4)

    async def crash() -> None:
        await asyncio.sleep(3.0)
        await mid_stream(cluster_operator, stream)
        away = await asyncio.to_thread(crash_postgres)
        print(f"PostgreSQL stopped -m immediate and recovered from its WAL, answering again after {away:.1f} s")

    await run_and_check(cluster_operator, stream, CLUSTER_INVOICES, crash, timeout=600)


async def test_the_services_database_connections_are_cut_mid_transaction(
    cluster: Stack, cluster_operator: Operator
) -> None:
    stream = await prepare(cluster_operator, clients=4)
    busy = ("ledger", "invoicing", "factoring-gateway")  # the financing gateway has no part in this stream

    async def cut() -> None:
        await asyncio.sleep(3.0)
        await mid_stream(cluster_operator, stream)
        cuts = await asyncio.gather(*(terminate_backends(cluster, name, seconds=6.0) for name in Stack.SERVICES))
        for name, done in zip(Stack.SERVICES, cuts, strict=True):
            print(
                f"pg_terminate_backend on {name}: {done.terminated} connections in {done.rounds} rounds, "
                f"{done.in_transaction} of them running a statement or inside a transaction"
            )
        cut_off = dict(zip(Stack.SERVICES, cuts, strict=True))
        assert all(cut_off[name].terminated for name in busy), "a busy service had no connection to cut"
        assert sum(cut_off[name].in_transaction for name in busy), "no service was caught inside a transaction"

    await run_and_check(cluster_operator, stream, CLUSTER_INVOICES, cut, timeout=600)
