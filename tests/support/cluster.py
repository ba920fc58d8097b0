"""The whole system on a three-broker Kafka cluster (infra/kafka/kafka.sh with BROKERS=3), for tests/test_cluster.py.

Beside the session's usual stack, not instead of it: the cluster has ports of its own (29092-29097), the services
run on their own port base (the session's + 700) with databases of their own (suffix `c`), and the topics and
consumer groups carry the session's prefix (the root conftest.py), so nothing is shared with the single broker.
"""

from __future__ import annotations

import time

from ledgerline_cli.stack import Stack

from .faults import wait_healthy

BROKERS = 3
PORT_OFFSET = 700  # past the chaos tests' second instances (+500) and the scale-out test's (+600)


def cluster_stack(port_base: int) -> Stack:
    return Stack(port_base=port_base + PORT_OFFSET, db_suffix=f"_t{port_base}c", brokers=BROKERS)


def up(stack: Stack) -> None:
    """Brokers, topics (three replicas, two in sync), users and ACLs, databases, then every service and simulator."""
    started = time.monotonic()
    names = [*Stack.SERVICES, *Stack.simulators()]
    stack.infra_up()
    _, settled = wait_healthy(stack)
    infra = time.monotonic() - started
    stack.migrate()
    stack.down(names, infra=False)  # whatever an interrupted session left running, on code that may be older
    stack.up(names, infra=False)
    print(
        f"\n{BROKERS}-broker cluster on {stack.bootstrap}: brokers, topics and ACLs in {infra:.1f} s "
        f"(in sync {settled:.1f} s after), services ready {time.monotonic() - started:.1f} s after the start"
    )


def down(stack: Stack) -> None:
    stack.down([*Stack.SERVICES, *Stack.simulators()], infra=False)
    stack.kafka("stop")
