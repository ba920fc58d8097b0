"""The raw ceilings the figures are compared with: COPY of the posted lines, Kafka through a scratch topic."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from ledgerline_cli.kafka_security import client_kwargs
from ledgerline_contracts.access import ADMIN

from .kafka_io import new_producer, publish
from .postgres import admin_connection, drop_database

POSTING_COLUMNS = [
    "voucher_id",
    "line_number",
    "client_id",
    "voucher_date",
    "account",
    "amount_ore",
    "party",
    "open_item",
    "due_date",
    "vat_code",
    "description",
]
_POSTING_TABLE = (
    "CREATE TABLE posting_lines (voucher_id uuid NOT NULL, line_number int NOT NULL, client_id text NOT NULL, "
    "voucher_date date NOT NULL, account text NOT NULL, amount_ore bigint NOT NULL, party int, open_item text, "
    "due_date date, vat_code text, description text)"
)


def posting_rows(events: Iterable[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    """The posting lines of VoucherPosted events (parsed JSON) as the ledger's voucher_lines rows (signed amounts)."""
    return [
        (
            uuid.UUID(event["voucher_id"]),
            line["line_number"],
            event["client_id"],
            date.fromisoformat(event["voucher_date"]),
            line["account"],
            line["amount_ore"] if line["side"] == "debit" else -line["amount_ore"],
            line.get("party"),
            line.get("open_item"),
            date.fromisoformat(line["due_date"]) if line.get("due_date") else None,
            line.get("vat_code"),
            line.get("description"),
        )
        for event in events
        for line in event["lines"]
    ]


async def copy_ceiling(rows: Sequence[tuple[Any, ...]], tag: str, repeats: int = 3) -> dict[str, Any]:
    """The raw database ceiling: asyncpg COPY of `rows` into an unindexed table of the same columns.

    A scratch database is created with the admin role (password from .state/secrets.env) and dropped
    afterwards. Each repeat is one transaction (COPY + commit) into an emptied table; the best repeat is the
    ceiling.
    """
    name = f"ledgerline_bench_{tag}_{secrets.token_hex(3)}"
    admin = await admin_connection()
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            db = await admin_connection(name)
            try:
                await db.execute(_POSTING_TABLE)
                timings = []
                for _ in range(repeats):
                    await db.execute("TRUNCATE posting_lines")
                    started = time.perf_counter()
                    async with db.transaction():
                        await db.copy_records_to_table("posting_lines", records=rows, columns=POSTING_COLUMNS)
                    timings.append(time.perf_counter() - started)
            finally:
                await db.close()
        finally:
            await drop_database(admin, name)
    finally:
        await admin.close()
    best = min(timings)
    return {
        "rows": len(rows),
        "seconds": round(best, 3),
        "all_seconds": [round(t, 3) for t in timings],
        "rows_per_s": round(len(rows) / best),
        "database": f"{name} (created and dropped)",
    }


async def kafka_ceiling(
    bootstrap: str, tag: str, count: int, key_bytes: int, value_bytes: int, partitions: int = 8
) -> dict[str, Any]:
    """The raw Kafka ceiling: `count` records of the given sizes produced and consumed through one scratch topic.

    One producer (the services' settings) and one consumer in this process, running concurrently; the time is
    from the first send to the last record consumed. The topic is created for it and deleted afterwards. All
    three clients are the admin (no ACL names a scratch topic), over SASL/SCRAM like every other client.
    """
    name = f"bench.ceiling.{tag}.{secrets.token_hex(3)}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **client_kwargs(ADMIN))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
        for _ in range(100):
            if name in await admin.list_topics():
                break
            await asyncio.sleep(0.1)
        value = (b"x" * max(value_bytes, 1))[: max(value_bytes, 1)]
        keys = [f"{i:0{max(key_bytes, 1)}d}"[-max(key_bytes, 1) :].encode() for i in range(min(count, 10_000))]
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            enable_auto_commit=False,
            max_partition_fetch_bytes=4 * 1024 * 1024,
            **client_kwargs(ADMIN),
        )
        producer = new_producer(bootstrap, ADMIN)
        await consumer.start()
        await producer.start()
        try:
            tps = [TopicPartition(name, p) for p in range(partitions)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            for tp in tps:
                await consumer.position(tp)
            done = asyncio.Event()
            seen = 0
            last = 0.0

            async def consume() -> None:
                nonlocal seen, last
                while seen < count:
                    batches = await consumer.getmany(timeout_ms=200, max_records=10_000)
                    for records in batches.values():
                        seen += len(records)
                    if batches:
                        last = time.perf_counter()
                done.set()

            reader = asyncio.create_task(consume())
            started = time.perf_counter()
            records = [(keys[i % len(keys)], value) for i in range(count)]
            await publish(producer, name, records, chunk=5000)
            produced = time.perf_counter()
            await asyncio.wait_for(done.wait(), timeout=600)
            await reader
        finally:
            await producer.stop()
            await consumer.stop()
    finally:
        with contextlib.suppress(Exception):
            await admin.delete_topics([name])
        await admin.close()
    seconds = last - started
    return {
        "records": count,
        "key_bytes": key_bytes,
        "value_bytes": value_bytes,
        "partitions": partitions,
        "produce_seconds": round(produced - started, 3),
        "seconds": round(seconds, 3),
        "records_per_s": round(count / seconds),
        "topic": f"{name} (created and deleted)",
    }
