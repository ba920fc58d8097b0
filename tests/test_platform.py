"""The platform foundation: a real broker, a real database, four services that start, answer and stop."""

from __future__ import annotations

import asyncio
import importlib
import secrets
import uuid

import asyncpg
import httpx
import psutil
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from ledger.settings import LedgerSettings
from ledgerline_cli.kafka_security import client_kwargs
from ledgerline_cli.stack import Stack, _secrets
from ledgerline_contracts.topics import dead_letters
from servicekit.migrations import upgrade

pytestmark = pytest.mark.integration


async def test_a_message_goes_through_the_real_broker(infra: Stack) -> None:
    topic = dead_letters("ledger").name  # a real project topic with one partition, written by the ledger
    payload = f"platform-check-{uuid.uuid4()}".encode()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=infra.bootstrap, enable_auto_commit=False, **client_kwargs("operator", infra.state)
    )
    await consumer.start()
    partition = TopicPartition(topic, 0)
    consumer.assign([partition])
    await consumer.seek_to_end(partition)
    start = await consumer.position(partition)
    producer = AIOKafkaProducer(
        bootstrap_servers=infra.bootstrap, enable_idempotence=True, acks="all", **client_kwargs("ledger", infra.state)
    )
    await producer.start()
    try:
        metadata = await producer.send_and_wait(topic, payload, key=b"platform")
        assert metadata.offset >= start
        found = None
        async with asyncio.timeout(15):
            while found is None:
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    found = next((r for r in records if r.value == payload), found)
        assert found.offset == metadata.offset
    finally:
        await producer.stop()
        await consumer.stop()


async def test_topics_exist_with_their_partition_counts(infra: Stack) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    from ledgerline_contracts.topics import all_topics

    admin = AIOKafkaAdminClient(bootstrap_servers=infra.bootstrap, **client_kwargs("admin", infra.state))
    await admin.start()
    try:
        described = await admin.describe_topics([t.name for t in all_topics()])
    finally:
        await admin.close()
    partitions = {d["topic"]: len(d["partitions"]) for d in described if d["error_code"] == 0}
    assert partitions == {t.name: t.partitions for t in all_topics()}


async def test_migrations_build_a_fresh_database_that_refuses_changed_postings(infra: Stack) -> None:
    """Migrate a scratch database from nothing, write a voucher, and see postings refuse UPDATE and DELETE."""
    secrets_env = _secrets(infra.state)
    admin_password = secrets_env["LEDGERLINE_PG_ADMIN_PASSWORD"]
    ledger_password = secrets_env["LEDGERLINE_PG_LEDGER_PASSWORD"]
    scratch = f"ledgerline_scratch_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(
        host="127.0.0.1", user="ledgerline_admin", password=admin_password, database="postgres"
    )
    await admin.execute(f"CREATE DATABASE {scratch} OWNER ledgerline_ledger")
    try:
        settings = LedgerSettings(db_name=scratch, db_password=ledger_password)
        await asyncio.to_thread(upgrade, "ledger:migrations", settings)
        db = await asyncpg.connect(
            host="127.0.0.1", user="ledgerline_ledger", password=ledger_password, database=scratch
        )
        try:
            voucher = uuid.uuid4()
            await db.execute(
                "INSERT INTO vouchers (id, client_id, series, number, voucher_date, text, idempotency_key, "
                "command_id, source) VALUES ($1, 'c', 'GENERAL', 1, current_date, 't', 'k', $1, '{}')",
                voucher,
            )
            await db.execute(
                "INSERT INTO voucher_lines (voucher_id, line_number, client_id, voucher_date, account, amount_ore) "
                "VALUES ($1, 1, 'c', current_date, '1920', 100), ($1, 2, 'c', current_date, '3000', -100)",
                voucher,
            )
            assert await db.fetchval("SELECT sum(amount_ore) FROM voucher_lines") == 0
            with pytest.raises(asyncpg.RaiseError, match="append-only"):
                await db.execute("UPDATE voucher_lines SET amount_ore = 0")
            with pytest.raises(asyncpg.RaiseError, match="append-only"):
                await db.execute("DELETE FROM vouchers")
            tables = {r[0] for r in await db.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
            assert {"outbox", "inbox", "vouchers", "voucher_lines", "accounts", "alembic_version"} <= tables
        finally:
            await db.close()
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {scratch} WITH (FORCE)")
        await admin.close()


@pytest.mark.parametrize("service", ["ledger", "invoicing", "factoring_gateway", "financing_gateway"])
async def test_each_services_migrations_build_exactly_the_schema_its_code_declares(infra: Stack, service: str) -> None:
    """Migrations are written (or generated and edited) by hand: a table, column or index the code declares but no
    migration creates would only show up as a failure in production."""
    package = importlib.import_module(service)
    settings_type = {
        "ledger": "LedgerSettings",
        "invoicing": "InvoicingSettings",
        "factoring_gateway": "FactoringGatewaySettings",
        "financing_gateway": "FinancingGatewaySettings",
    }[service]
    settings_class = getattr(importlib.import_module(f"{service}.settings"), settings_type)
    metadata = importlib.import_module(f"{service}.adapters.tables").metadata
    secrets_env = _secrets(infra.state)
    password = secrets_env[f"LEDGERLINE_PG_{service.upper()}_PASSWORD"]
    scratch = f"ledgerline_scratch_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(
        host="127.0.0.1",
        user="ledgerline_admin",
        password=secrets_env["LEDGERLINE_PG_ADMIN_PASSWORD"],
        database="postgres",
    )
    await admin.execute(f"CREATE DATABASE {scratch} OWNER ledgerline_{service}")
    try:
        settings = settings_class(db_name=scratch, db_password=password)
        await asyncio.to_thread(upgrade, f"{package.__name__}:migrations", settings)
        engine = create_async_engine(settings.database_url)
        try:
            async with engine.connect() as connection:
                differences = await connection.run_sync(
                    lambda sync: compare_metadata(MigrationContext.configure(sync), metadata)
                )
        finally:
            await engine.dispose()
        assert differences == []
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {scratch} WITH (FORCE)")
        await admin.close()


async def test_a_service_cannot_open_another_services_database(infra: Stack) -> None:
    password = _secrets(infra.state)["LEDGERLINE_PG_LEDGER_PASSWORD"]
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await asyncpg.connect(
            host="127.0.0.1", user="ledgerline_ledger", password=password, database="ledgerline_invoicing"
        )


def test_every_service_is_ready_then_nothing_is_left_running(infra: Stack) -> None:
    """Start all four, each answers /readyz (broker and database reachable), /metrics and AsyncAPI; stop."""
    stack = infra.sibling(100, "1")
    names = list(Stack.SERVICES)
    try:
        ready = stack.up(names, infra=False)
        assert set(ready) == set(names)
        with httpx.Client(timeout=5) as http:
            for name in names:
                readyz = http.get(f"{stack.url(name)}/readyz").json()
                assert readyz == {
                    "ready": True,
                    "database": "ok",
                    "kafka": "ok",
                    "consumers": "running",
                    "background tasks": "running",
                }
                assert "ledgerline_outbox_backlog" in http.get(f"{stack.url(name)}/metrics").text
                assert http.get(f"{stack.url(name)}/asyncapi.json").json()["asyncapi"].startswith("3.")
        pids = list(stack.running().values())
        assert len(pids) == len(names)
    finally:
        stack.down(names, infra=False)
    assert stack.running() == {}
    for pid in pids:
        assert not psutil.pid_exists(pid)
