"""Outbox rows the broker refuses, on the real broker and database: set aside after a few attempts, the rest flowing
on, their key's later rows held, visible to an operator, published in order after a fix and a replay.

Each test relays its own outbox table (a schema of its own in the ledger's database) to topics of its own.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaConnectionError
from sqlalchemy import MetaData, NullPool, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from typer.testing import CliRunner

import ledgerline_cli.outbox as outbox_cli
from ledger.settings import LedgerSettings
from ledgerline_cli.kafka_security import client_kwargs, client_security
from ledgerline_cli.main import app as cli_app
from ledgerline_cli.stack import Stack, _secrets
from ledgerline_cli.tokens import keys_dir, local_issuer
from ledgerline_contracts import auth, topics
from ledgerline_contracts.access import ADMIN
from servicekit import metrics
from servicekit.broker import Publisher
from servicekit.db import OutboxSignal, plumbing_tables
from servicekit.outbox import OutboxRelay
from servicekit.service import Service
from servicekit.settings import ServiceSettings
from tests.conftest import BOOTSTRAP
from tests.test_outbox_publish import OUTAGE, FakeBroker

pytestmark = pytest.mark.integration

ATTEMPTS = 3
"""Quarantine after this many refusals (the setting's default is 5)."""


@dataclass
class Outbox:
    """A schema of the test's own with the plumbing tables: what a service's outbox is, and nothing else in it."""

    infra: Stack
    schema: str

    def engine(self, **options: object) -> AsyncEngine:
        settings = LedgerSettings(
            db_name=self.infra.db_name("ledger"),
            db_password=_secrets(self.infra.state)["LEDGERLINE_PG_LEDGER_PASSWORD"],
        )
        return create_async_engine(
            settings.database_url,
            connect_args={"server_settings": {"search_path": self.schema}, "ssl": "disable"},
            **options,
        )


@pytest.fixture
async def outbox(infra: Stack) -> AsyncIterator[Outbox]:
    found = Outbox(infra, f"outbox_test_{uuid.uuid4().hex[:10]}")
    engine = found.engine(poolclass=NullPool)
    async with engine.begin() as connection:
        await connection.execute(text(f'CREATE SCHEMA "{found.schema}"'))
        metadata = MetaData()
        plumbing_tables(metadata)
        await connection.run_sync(metadata.create_all)
    yield found
    async with engine.begin() as connection:
        await connection.execute(text(f'DROP SCHEMA "{found.schema}" CASCADE'))
    await engine.dispose()


@pytest.fixture
async def engine(outbox: Outbox) -> AsyncIterator[AsyncEngine]:
    engine = outbox.engine(pool_size=2)
    yield engine
    await engine.dispose()


@pytest.fixture
async def kafka_admin(infra: Stack) -> AsyncIterator[AIOKafkaAdminClient]:
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP, **client_kwargs(ADMIN, infra.state))
    await admin.start()
    yield admin
    await admin.close()


def settings_as(principal: str, infra: Stack, service: str) -> ServiceSettings:
    security = client_security(principal, infra.state)
    return ServiceSettings(
        service_name=service,
        kafka_bootstrap_servers=BOOTSTRAP,
        kafka_security_protocol=security.protocol,
        kafka_sasl_mechanism=security.mechanism,
        kafka_sasl_username=security.username,
        kafka_sasl_password=security.password,
        auth_public_keys_dir=keys_dir(infra.state) / "public",
    )


async def add(engine: AsyncEngine, topic: str, key: str | None, payload: bytes) -> int:
    async with engine.begin() as connection:
        result = await connection.execute(
            text("INSERT INTO outbox (topic, message_key, payload) VALUES (:t, :k, :p) RETURNING id"),
            {"t": topic, "k": key.encode() if key else None, "p": payload},
        )
        return int(result.scalar_one())


async def table(engine: AsyncEngine) -> dict[int, tuple[int, bool, str | None]]:
    """id → (attempts, quarantined, last error) of every row still in the outbox."""
    async with engine.connect() as connection:
        rows = await connection.execute(text("SELECT id, attempts, quarantined_at, last_error FROM outbox"))
        return {row.id: (row.attempts, row.quarantined_at is not None, row.last_error) for row in rows}


async def read(infra: Stack, topic: str) -> list[tuple[str, bytes]]:
    """Every record of a one-partition topic, in order: (key, value)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=BOOTSTRAP, enable_auto_commit=False, **client_kwargs(ADMIN, infra.state)
    )
    await consumer.start()
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        await consumer.seek_to_beginning(partition)
        end = (await consumer.end_offsets([partition]))[partition]
        found: list[tuple[str, bytes]] = []
        while await consumer.position(partition) < end:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                found += [(r.key.decode() if r.key else "", r.value or b"") for r in records]
        return found
    finally:
        await consumer.stop()


async def rounds(relay: OutboxRelay, count: int) -> list[int]:
    return [await relay.relay_once() for _ in range(count)]


def quarantines(service: str, topic: str) -> float:
    return (
        metrics.registry.get_sample_value("ledgerline_outbox_quarantines_total", {"service": service, "topic": topic})
        or 0.0
    )


async def cli(*args: str) -> str:
    """`ledgerline outbox ...` (in a thread: the command runs its own event loop)."""
    result = await asyncio.to_thread(CliRunner().invoke, cli_app, ["outbox", *args])
    assert result.exit_code == 0, result.output
    return result.output


async def test_refused_rows_are_set_aside_their_keys_wait_and_a_replay_after_the_fix_publishes_in_order(
    infra: Stack, outbox: Outbox, engine: AsyncEngine, kafka_admin: AIOKafkaAdminClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = uuid.uuid4().hex[:8]
    service = f"outbox-test-{run}"
    good, small, missing = (f"{topics.PREFIX}outbox-test.{run}.{name}" for name in ("good", "small", "missing"))
    await kafka_admin.create_topics(
        [
            NewTopic(good, num_partitions=1, replication_factor=1),
            NewTopic(small, num_partitions=1, replication_factor=1, topic_configs={"max.message.bytes": "65536"}),
        ]
    )
    huge = b"x" * (1024 * 1024 + 100)  # over the producer's (and the broker's) 1 MiB
    big = b"y" * 100_000  # within the producer's limit, over the `small` topic's: the broker refuses it
    ids = {}
    for name, topic, key, payload in [
        ("a1", good, "a", b"a1"),
        ("missing1", missing, "m", b"missing1"),  # (a) a topic that does not exist
        ("b1", good, "b", b"b1"),
        ("huge", good, "h", huge),  # (b) larger than the producer and the broker take
        ("a2", good, "a", b"a2"),
        ("missing2", missing, "m", b"missing2"),
        ("h2", good, "h", b"h2"),
        ("big", small, "s", big),  # (b) larger than the topic's limit: refused by the broker, not the client
        ("s2", small, "s", b"s2"),
        ("b2", good, "b", b"b2"),
        ("nokey", good, None, b"nokey"),
    ]:
        ids[name] = await add(engine, topic, key, payload)
    publisher = Publisher(settings_as(ADMIN, infra, service))
    await publisher.start()
    relay = OutboxRelay(
        engine, publisher, service=service, signal=OutboxSignal(), quarantine_after=ATTEMPTS, refusal_backoff_seconds=0
    )
    try:
        # The first round publishes every other key's rows; the refused rows count an attempt each.
        assert await relay.relay_once() == 5
        assert [value for _, value in await read(infra, good)] == [b"a1", b"b1", b"a2", b"b2", b"nokey"]
        left = await table(engine)
        assert {name: left[ids[name]][:2] for name in ("missing1", "huge", "big")} == {
            "missing1": (1, False),
            "huge": (1, False),
            "big": (1, False),
        }
        assert {name: left[ids[name]][:2] for name in ("missing2", "h2", "s2")} == {
            "missing2": (0, False),  # held: never tried ahead of the row before it
            "h2": (0, False),
            "s2": (0, False),
        }
        assert "TopicNotFound" in str(left[ids["missing1"]][2])
        assert "MessageSizeTooLarge" in str(left[ids["huge"]][2])
        assert "TooLarge" in str(left[ids["big"]][2])

        # After ATTEMPTS refusals they are quarantined; the rows of their keys stay held, round after round.
        assert await rounds(relay, ATTEMPTS + 2) == [0] * (ATTEMPTS + 2)
        left = await table(engine)
        assert {i: (attempts, quarantined) for i, (attempts, quarantined, _) in left.items()} == {
            ids["missing1"]: (ATTEMPTS, True),
            ids["huge"]: (ATTEMPTS, True),
            ids["big"]: (ATTEMPTS, True),
            ids["missing2"]: (0, False),
            ids["h2"]: (0, False),
            ids["s2"]: (0, False),
        }
        assert [value for _, value in await read(infra, good)] == [b"a1", b"b1", b"a2", b"b2", b"nokey"]
        assert await read(infra, small) == []

        # ... while new rows of other keys still flow, and new rows of a quarantined key wait too.
        ids["a3"] = await add(engine, good, "a", b"a3")
        ids["h3"] = await add(engine, good, "h", b"h3")
        assert await relay.relay_once() == 1
        assert ids["h3"] in await table(engine)

        # Metrics: a gauge of the rows set aside now, a counter of quarantines by topic.
        await relay.update_gauges()
        assert metrics.registry.get_sample_value("ledgerline_outbox_quarantined", {"service": service}) == 3
        assert metrics.registry.get_sample_value("ledgerline_outbox_backlog", {"service": service}) == 7
        assert (quarantines(service, good), quarantines(service, small), quarantines(service, missing)) == (1, 1, 1)

        # The operator's view: each service's endpoint, for an operator with the privilege only, and the CLI.
        http_engine = outbox.engine(poolclass=NullPool)  # the CLI runs its own event loop
        api = Service(settings_as(ADMIN, infra, service), title="outbox test", description="")
        api.engine = http_engine
        transport = httpx.ASGITransport(app=api.asgi_app())
        issuer = local_issuer(infra.state)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as http:
            assert (await http.get("/outbox/quarantined")).status_code == 401
            not_allowed = issuer.operator("ops", [auth.LEDGER_CHART])
            answer = await http.get("/outbox/quarantined", headers={"authorization": f"Bearer {not_allowed}"})
            assert answer.status_code == 403 and "outbox.quarantine" in answer.json()["error"]
            user = issuer.user("some-client", "someone")
            answer = await http.post(
                "/outbox/quarantined/replay", json={"all": True}, headers={"authorization": f"Bearer {user}"}
            )
            assert answer.status_code == 403
        admin = outbox_cli.OutboxAdmin(
            {"ledger": "http://service"}, issuer.operator("ops", [auth.OUTBOX_QUARANTINE]), transport=transport
        )
        monkeypatch.setattr(outbox_cli, "_admin", lambda: admin)
        listed = json.loads(await cli("list", "ledger", "--json"))
        assert [(r["id"], r["topic"], r["key"], r["size"], r["attempts"], r["held"]) for r in listed] == [
            (ids["missing1"], missing, "m", len(b"missing1"), ATTEMPTS, 1),
            (ids["huge"], good, "h", len(huge), ATTEMPTS, 2),
            (ids["big"], small, "s", len(big), ATTEMPTS, 1),
        ]
        assert all(r["last_error"] and r["quarantined_at"] for r in listed)
        assert "quarantined outbox row" in await cli("list", "ledger")

        # A replay before the fix: refused again, quarantined again after ATTEMPTS, the key still held.
        assert f"[{ids['missing1']}]" in await cli("replay", "ledger", "--id", str(ids["missing1"]))
        await rounds(relay, ATTEMPTS)
        assert (await table(engine))[ids["missing1"]][:2] == (ATTEMPTS, True)
        assert (await table(engine))[ids["missing2"]][:2] == (0, False)

        # The fixes: the topic created, the huge payload cut down (by an admin's update), the small topic's limit
        # raised. Then the replay: each refused row goes out, then the rows held behind it, in order.
        await kafka_admin.create_topics([NewTopic(missing, num_partitions=1, replication_factor=1)])
        async with engine.begin() as connection:
            await connection.execute(text("UPDATE outbox SET payload = 'h1-fixed' WHERE id = :id"), {"id": ids["huge"]})
        await kafka_admin.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, small, configs={"max.message.bytes": "1048588"})]
        )
        assert "3 row(s) back for publishing" in await cli("replay", "ledger", "--all")
        for _ in range(40):  # a topic just created, a config just changed: the broker may need a moment
            await relay.relay_once()
            if not await table(engine):
                break
            await asyncio.sleep(0.25)
        assert await table(engine) == {}
        assert [value for _, value in await read(infra, missing)] == [b"missing1", b"missing2"]
        assert [value for _, value in await read(infra, small)] == [big, b"s2"]
        per_key: dict[str, list[bytes]] = {}
        for key, value in await read(infra, good):
            per_key.setdefault(key, []).append(value)
        assert per_key == {
            "a": [b"a1", b"a2", b"a3"],
            "b": [b"b1", b"b2"],
            "": [b"nokey"],
            "h": [b"h1-fixed", b"h2", b"h3"],
        }
        await relay.update_gauges()
        assert json.loads(await cli("list", "ledger", "--json")) == []
        await http_engine.dispose()
    finally:
        await publisher.stop()
        existing = set(await kafka_admin.list_topics())
        await kafka_admin.delete_topics([name for name in (good, small, missing) if name in existing])


async def test_a_topic_the_service_may_not_write_is_quarantined(infra: Stack, engine: AsyncEngine) -> None:
    """As the ledger's own principal: its command topic it may read but not write (the broker refuses the records),
    and a topic it may not even see (refused when the producer asks for the topic's metadata)."""
    run = uuid.uuid4().hex[:8]
    service = f"outbox-test-{run}"
    commands = topics.TOPIC_LEDGER_COMMANDS.name
    unseen = f"{topics.PREFIX}outbox-test.{run}.not-granted"
    first = [await add(engine, commands, "k1", b"c1"), await add(engine, unseen, "k2", b"u1")]
    held = [await add(engine, commands, "k1", b"c2"), await add(engine, unseen, "k2", b"u2")]
    publisher = Publisher(settings_as("ledger", infra, service))
    await publisher.start()
    relay = OutboxRelay(engine, publisher, service=service, signal=OutboxSignal(), quarantine_after=ATTEMPTS)
    try:
        assert await rounds(relay, 3) == [0, 0, 0]
        # Refused rows are tried again after 0.5 s, then 1 s, ...: not in every round, at the pace of commits.
        after_three_rounds = await table(engine)
        assert {i: after_three_rounds[i][:2] for i in first} == {i: (1, False) for i in first}
        for _ in range(20):  # 5 s: time for the attempts after 0.5 s and 1.5 s
            await asyncio.sleep(0.25)
            assert await relay.relay_once() == 0
        left = await table(engine)
    finally:
        await publisher.stop()
    assert {i: left[i][:2] for i in first} == {i: (ATTEMPTS, True) for i in first}
    assert {i: left[i][:2] for i in held} == {i: (0, False) for i in held}
    assert all("TopicAuthorizationFailed" in str(left[i][2]) for i in first)
    assert quarantines(service, commands) == 1 and quarantines(service, unseen) == 1


@pytest.mark.parametrize("error", OUTAGE, ids=lambda e: type(e).__name__)
async def test_a_broker_outage_quarantines_nothing(engine: AsyncEngine, error: Exception) -> None:
    """Whatever an unreachable or struggling broker answers, for however many rounds: no row counts an attempt."""
    run = uuid.uuid4().hex[:8]
    ids: Sequence[int] = [await add(engine, f"outbox-test.{run}", key, key.encode()) for key in ("a", "b", "c")]
    for broker in (FakeBroker(at_once={b"b": error}), FakeBroker(by_broker={b"a": error, b"c": error})):
        relay = OutboxRelay(
            engine,
            broker,
            service=f"outbox-test-{run}",
            signal=OutboxSignal(),
            quarantine_after=1,
            refusal_backoff_seconds=0,
        )
        for _ in range(3):
            with pytest.raises(type(error)):
                await relay.relay_once()
    left = await table(engine)
    assert set(ids) - set(left) <= {ids[0]}  # at most "a" went out (before "b" failed to)
    assert all(attempts == 0 and not quarantined and error is None for attempts, quarantined, error in left.values())


class AwayThenBack(FakeBroker):
    """A broker that is away until `back` is set, with a producer whose renewal raises meanwhile, as aiokafka's
    start() does while it cannot bootstrap (so a relay is tested against any Sender, not only our Publisher)."""

    def __init__(self) -> None:
        super().__init__()
        self.back = False
        self.failed_renewals = 0

    async def renew(self) -> None:
        if not self.back:
            self.failed_renewals += 1
            raise KafkaConnectionError("Unable to bootstrap from [('127.0.0.1', 9092)]")
        await super().renew()

    async def send(
        self, topic: str, value: bytes, key: bytes | None, correlation_id: str | None = None
    ) -> asyncio.Future[Any]:
        if not self.back:
            raise KafkaConnectionError("Connection at 127.0.0.1:9092 closed")
        return await super().send(topic, value, key, correlation_id)


async def test_the_relay_outlives_a_failed_renewal_and_publishes_once_the_broker_is_back(engine: AsyncEngine) -> None:
    """The relay task ended for good when renewing its producer failed during an outage (seen with the broker away
    for 20 s): the service kept consuming and published nothing again. Nothing but stop() may end it."""
    run = uuid.uuid4().hex[:8]
    ids = [await add(engine, f"outbox-test.{run}", key, key.encode()) for key in ("a", "b")]
    broker = AwayThenBack()
    relay = OutboxRelay(engine, broker, service=f"outbox-test-{run}", signal=OutboxSignal(), poll_seconds=0.05)
    task = asyncio.create_task(relay.run())
    try:
        for _ in range(100):
            if broker.failed_renewals >= 2 or task.done():
                break
            await asyncio.sleep(0.1)
        assert not task.done(), f"the relay ended during the outage, after {broker.failed_renewals} failed renewal"
        assert broker.failed_renewals >= 2, "the relay did not renew its producer after failed sends"
        broker.back = True
        for _ in range(100):
            if not set(ids) & set(await table(engine)):
                break
            await asyncio.sleep(0.1)
        assert not set(ids) & set(await table(engine)), "the relay published nothing once the broker was back"
        assert broker.acked() == [b"a", b"b"]
    finally:
        relay.stop()
        await asyncio.wait_for(task, 10)


async def test_a_background_task_that_ends_fails_the_health_check(infra: Stack, outbox: Outbox) -> None:
    """Each background task (the relay above all) must run as long as the process. One that ends is named by
    /readyz and fails /healthz, the liveness probe, so the process is restarted instead of stalling quietly."""
    service = Service(settings_as(ADMIN, infra, f"health-{uuid.uuid4().hex[:8]}"), title="health", description="")
    service.engine = outbox.engine(poolclass=NullPool)

    async def broken_task() -> None:
        raise RuntimeError("a bug")

    service.run_in_background(broken_task)
    await service.start()
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=service.asgi_app()), base_url="http://s"
        ) as http:
            for _ in range(50):
                if service.ended_tasks():
                    break
                await asyncio.sleep(0.05)
            health = await http.get("/healthz")
            assert (health.status_code, health.json()["ended"]) == (503, ["broken_task"])
            ready = await http.get("/readyz")
            assert (ready.status_code, ready.json()["background tasks"]) == (503, "ended: broken_task")
            assert ready.json()["database"] == "ok" and ready.json()["kafka"] == "ok"
    finally:
        await service.stop()
    assert service.ended_tasks() == [], "a stopped service reports nothing"
