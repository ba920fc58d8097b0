"""Session fixtures: a real Kafka broker and PostgreSQL, started by the project's own scripts.

Nothing here is skipped when they are missing: if the broker or the database cannot start, the tests that
need them fail, loudly. Services run as real processes on their own ports (base 18100), so a stack started
with `make up` (base 8100) does not get in the way.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from ledgerline_cli.bus import Bus
from ledgerline_cli.operator import Operator, Urls
from ledgerline_cli.stack import Stack
from tests.support import cluster as three_brokers
from tests.support.watch import WATCHED

TEST_PORT_BASE = int(os.environ.get("LEDGERLINE_TEST_PORT_BASE", "18100"))
BOOTSTRAP = os.environ.get("LEDGERLINE_KAFKA", "127.0.0.1:9092")


@pytest.fixture(scope="session")
def infra() -> Stack:
    """Kafka and PostgreSQL running, topics created, every service's database migrated."""
    # Databases of the session's own (and, by the root conftest.py, topics and consumer groups): nothing is shared
    # with a stack started by `make up` or by another session.
    stack = Stack(port_base=TEST_PORT_BASE, bootstrap=BOOTSTRAP, db_suffix=f"_t{TEST_PORT_BASE}")
    stack.infra_up()
    stack.migrate()
    return stack


@pytest.fixture(scope="session")
def services(infra: Stack) -> Iterator[Stack]:
    """The four services and the provider simulators as real processes, each answering /readyz."""
    only = os.environ.get("LEDGERLINE_TEST_PROCESSES")  # e.g. while one service is being built: start the others
    names = only.split(",") if only else [*Stack.SERVICES, *Stack.simulators()]
    infra.down(names, infra=False)  # whatever an interrupted session left running, on code that may be older
    infra.up(names, infra=False)
    yield infra
    infra.down(names, infra=False)


@pytest.fixture
def client_id() -> str:
    """A fresh client (tenant) per test, so tests never see each other's data."""
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def bus(infra: Stack) -> AsyncIterator[Bus]:
    # The tests play every party: each record goes out as a principal the ACLs let write its topic.
    async with Bus(BOOTSTRAP, WATCHED, write_as_owner=True) as bus:
        yield bus


@pytest.fixture
def operator(services: Stack, bus: Bus) -> Operator:
    """Drives the system the way the CLI does: Kafka commands and HTTP queries."""
    return Operator(bus, Urls.for_port_base(services.port_base))


@pytest.fixture(scope="module")
def cluster() -> Iterator[Stack]:
    """The services on a three-broker Kafka cluster of the session's own (tests/support/cluster.py); the cluster
    and its services stop when the module's tests are done, so they take no CPU from the tests after them."""
    stack = three_brokers.cluster_stack(TEST_PORT_BASE)
    try:
        three_brokers.up(stack)
        yield stack
    finally:
        three_brokers.down(stack)


@pytest.fixture
async def cluster_operator(cluster: Stack) -> AsyncIterator[Operator]:
    async with Bus(cluster.bootstrap, WATCHED, write_as_owner=True) as bus:
        yield Operator(bus, Urls.for_port_base(cluster.port_base))
