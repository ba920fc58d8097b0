"""Database plumbing: the engine, the plumbing tables every service has, and the unit of work.

A unit of work is one transaction. Everything a handler changes, the inbox rows that mark its messages as
handled, and the outbox rows of the events it causes commit together or not at all.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Self, TypeVar

import asyncpg
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from ledgerline_contracts.messages import ENVELOPE_MAX_ITEMS, MAX_MESSAGE_BYTES, Message, envelope
from ledgerline_contracts.topics import Topic

from .settings import ServiceSettings
from .unit_of_work import unseen


def create_engine(settings: ServiceSettings, *, for_queries: bool = False) -> AsyncEngine:
    """The service's engine; `for_queries`: a small pool of its own for HTTP queries, which checks a connection
    before lending it (a query has no retry loop behind it, so it must not meet a connection the database dropped
    in a failover, a restart or a `pg_terminate_backend`)."""
    size = 2 if for_queries else settings.db_pool_size
    return create_async_engine(
        settings.database_url,
        pool_size=size,
        max_overflow=size * 2 if for_queries else size,
        # Consumers don't ping: a dead connection fails its unit of work, which is retried and drops it.
        pool_pre_ping=for_queries,
        pool_recycle=1800,
        connect_args={
            "server_settings": {"application_name": f"{settings.service_name}-{settings.instance_id}"},
            "ssl": settings.db_ssl,
        },
    )


def plumbing_tables(metadata: MetaData) -> tuple[Table, Table]:
    """The outbox and inbox tables, added to a service's own metadata (and so to its own migrations)."""
    outbox = Table(
        "outbox",
        metadata,
        Column("id", BigInteger, Identity(always=False), primary_key=True),
        Column("topic", Text, nullable=False),
        Column("message_key", LargeBinary, nullable=True),
        Column("payload", LargeBinary, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("attempts", Integer, nullable=False, server_default=text("0")),
        Column("last_error", Text, nullable=True),
        Column("quarantined_at", DateTime(timezone=True), nullable=True),
        # The record's `correlation_id` header, taken from the message when it is queued (the relay parses nothing).
        Column("correlation_id", Text, nullable=True),
    )
    # Few rows are ever quarantined: a small index finds them (and the rows held behind them) cheaply.
    Index(
        "outbox_quarantined",
        outbox.c.topic,
        outbox.c.message_key,
        outbox.c.id,
        postgresql_where=outbox.c.quarantined_at.isnot(None),
    )
    inbox = Table(
        "inbox",
        metadata,
        Column("consumer", Text, primary_key=True),
        Column("message_key", Text, primary_key=True),
        Column("handled_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("fingerprint", LargeBinary, nullable=True),
    )
    Index("inbox_handled_at", inbox.c.handled_at)
    return outbox, inbox


M = TypeVar("M", bound=Message)

Published = tuple[str, bytes | None, bytes, str | None, str | None]
"""A message a unit of work publishes: topic, key, bytes, its type if the topic takes envelopes, and its
correlation id (the record's `correlation_id` header)."""
OutboxRow = tuple[str, bytes | None, bytes, str | None]


class OutboxSignal:
    """Wakes the relay as soon as a unit of work committed outbox rows, instead of waiting for its next poll."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()

    async def wait(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), timeout)
        self._event.clear()


def _key_bytes(key: str | bytes | None) -> bytes | None:
    if key is None or isinstance(key, bytes):
        return key
    return key.encode()


class PostgresUnitOfWork:
    """One transaction: `async with PostgresUnitOfWork(engine) as uow:` commits on success, rolls back on error.

    The transaction is asyncpg's own, begun explicitly on entry. (SQLAlchemy's asyncpg adapter begins lazily, on
    the first statement *it* executes; statements sent straight to the driver before that would each commit on
    their own, and a crash mid-batch would leave half a batch behind.) Inside a unit of work everything goes
    through `driver()`.
    """

    def __init__(self, engine: AsyncEngine, signal: OutboxSignal | None = None, service: str = "service") -> None:
        self._engine = engine
        self._signal = signal
        self.service = service
        self._outbox: list[Published] = []
        self._after_commit: list[Callable[[], None]] = []
        self._connection: AsyncConnection
        self._db: asyncpg.Connection
        self._transaction: Any = None

    async def __aenter__(self) -> Self:
        self._connection = await self._engine.connect()
        raw = await self._connection.get_raw_connection()
        self._db = raw.driver_connection  # type: ignore[assignment]
        self._transaction = self._db.transaction()
        await self._transaction.start()
        self._outbox = []
        self._after_commit = []
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            if exc_type is None:
                await self._flush_outbox()
                await self._transaction.commit()
                if self._outbox and self._signal is not None:
                    self._signal.notify()
                for callback in self._after_commit:
                    callback()
            else:
                await self._transaction.rollback()
        except BaseException:
            # The connection's state is unknown (it may be the reason we failed): never hand it back to the pool.
            await self._connection.invalidate()
            raise
        finally:
            await self._connection.close()

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Runs `callback` only if the transaction commits (e.g. counting what was really done)."""
        self._after_commit.append(callback)

    def publish(self, topic: Topic | str, message: Message, key: str | bytes | None) -> None:
        """Queue an event to be relayed to Kafka if, and only if, this transaction commits."""
        if isinstance(topic, Topic):
            kind = message.type if topic.envelopes else None
            self._outbox.append((topic.name, _key_bytes(key), message.to_bytes(), kind, message.correlation_id))
        else:
            self._outbox.append((topic, _key_bytes(key), message.to_bytes(), None, message.correlation_id))

    def publish_encoded(
        self, topic: Topic, kind: str, payload: bytes, key: str | bytes | None, correlation_id: str | None = None
    ) -> None:
        self._outbox.append((topic.name, _key_bytes(key), payload, kind if topic.envelopes else None, correlation_id))

    async def driver(self) -> asyncpg.Connection:
        """The asyncpg connection inside this transaction."""
        return self._db

    async def claim(self, consumer: str, keys: Iterable[str], fingerprints: Sequence[bytes] | None = None) -> set[str]:
        """Marks message keys as handled by `consumer`; returns those not handled before. `fingerprints` (one per
        key) are kept with the claims, for `unseen` to tell a repeat from a conflict.

        Concurrent claims of the same key (two instances during a rebalance) serialise on the primary key:
        the second waits for the first transaction and then sees the key as taken.
        """
        keys = list(keys)
        if not keys:
            return set()
        connection = await self.driver()
        if fingerprints is None:
            rows = await connection.fetch(
                "INSERT INTO inbox (consumer, message_key) SELECT $1, unnest($2::text[]) "
                "ON CONFLICT DO NOTHING RETURNING message_key",
                consumer,
                list(dict.fromkeys(keys)),
            )
        else:
            first = dict(reversed(list(zip(keys, fingerprints, strict=True))))  # a key's first fingerprint wins
            rows = await connection.fetch(
                "INSERT INTO inbox (consumer, message_key, fingerprint) SELECT $1, k, f "
                "FROM unnest($2::text[], $3::bytea[]) AS t(k, f) ON CONFLICT DO NOTHING RETURNING message_key",
                consumer,
                list(first),
                list(first.values()),
            )
        return {row[0] for row in rows}

    async def fingerprints(self, consumer: str, keys: Iterable[str]) -> dict[str, bytes]:
        """The fingerprints kept with these claims (claims made before fingerprints were kept have none)."""
        connection = await self.driver()
        rows = await connection.fetch(
            "SELECT message_key, fingerprint FROM inbox WHERE consumer = $1 AND message_key = ANY($2::text[]) "
            "AND fingerprint IS NOT NULL",
            consumer,
            list(keys),
        )
        return {row[0]: bytes(row[1]) for row in rows}

    async def release(self, consumer: str, keys: Iterable[str]) -> None:
        """Forgets that `consumer` handled these keys, so the same message can be replayed after a fix.

        For messages refused for good in this transaction: the refusal went to a dead letter, and a replay
        of that dead letter must be handled rather than dropped as a duplicate.
        """
        keys = list(keys)
        if keys:
            connection = await self.driver()
            await connection.execute(
                "DELETE FROM inbox WHERE consumer = $1 AND message_key = ANY($2::text[])", consumer, keys
            )

    async def unseen(
        self,
        consumer: str,
        messages: Sequence[M],
        key: Callable[[M], str] | None = None,
        fingerprint: Callable[[M], bytes] | None = None,
        on_conflict: Callable[[M], None] | None = None,
    ) -> list[M]:
        """The messages not handled before by `consumer`, in their order; claims them in this transaction.

        A message whose key was handled before, or that repeats within the same batch, is left out and counted.
        With `fingerprint`, a repeat whose content differs from what was claimed under its key is a conflict
        (a reused id: a sender's bug or a forgery), counted apart and handed to `on_conflict`, never handled.
        """
        return await unseen(self, self.service, consumer, messages, key, fingerprint, on_conflict)

    async def _flush_outbox(self) -> None:
        if not self._outbox:
            return
        connection = await self.driver()
        await connection.copy_records_to_table(
            "outbox",
            records=outbox_rows(self._outbox),
            columns=["topic", "message_key", "payload", "correlation_id"],
        )


def outbox_rows(published: Sequence[Published]) -> list[OutboxRow]:
    """The outbox rows of a unit of work's messages.

    On a topic with envelopes, a key's messages become one row (an envelope, or the message alone if it is the
    only one), as many as size allows, in their order; other messages are a row each. Rows keep the order in
    which their first message was published, so one key's messages on one topic never overtake each other.
    A row keeps its message's correlation id; an envelope the one its items share (none if they differ).
    """
    rows: list[tuple[str, bytes | None, bytes | list[tuple[str, bytes, str | None]], str | None]] = []
    groups: dict[tuple[str, bytes | None], list[tuple[str, bytes, str | None]]] = {}
    for topic, key, payload, kind, correlation in published:
        if kind is None:
            rows.append((topic, key, payload, correlation))
        elif (topic, key) in groups:
            groups[(topic, key)].append((kind, payload, correlation))
        else:  # the key's row takes the place of its first message; later ones join it
            groups[(topic, key)] = items = [(kind, payload, correlation)]
            rows.append((topic, key, items, None))
    return [
        row
        for topic, key, value, correlation in rows
        for row in (_envelopes(topic, key, value) if isinstance(value, list) else [(topic, key, value, correlation)])
    ]


def _envelopes(topic: str, key: bytes | None, items: list[tuple[str, bytes, str | None]]) -> list[OutboxRow]:
    """Items in envelopes of at most ENVELOPE_MAX_ITEMS items and MAX_MESSAGE_BYTES bytes; one alone as itself."""
    chunks: list[list[tuple[str, bytes, str | None]]] = [[]]
    size = 0
    room = MAX_MESSAGE_BYTES - 1024  # the envelope's own head
    for item in items:
        if chunks[-1] and (len(chunks[-1]) >= ENVELOPE_MAX_ITEMS or size + len(item[1]) + 1 > room):
            chunks.append([])
            size = 0
        chunks[-1].append(item)
        size += len(item[1]) + 1
    return [
        (topic, key, chunk[0][1], chunk[0][2])
        if len(chunk) == 1
        else (topic, key, envelope([(kind, payload) for kind, payload, _ in chunk]), _shared(chunk))
        for chunk in chunks
    ]


def _shared(items: list[tuple[str, bytes, str | None]]) -> str | None:
    """The correlation id every item of an envelope has, or None."""
    first = items[0][2]
    return first if all(correlation == first for _, _, correlation in items) else None


async def prune_inbox(engine: AsyncEngine, retention_days: int, chunk: int = 10_000) -> int:
    """Forgets inbox keys older than the retention, a chunk per transaction (short locks, no long vacuum debt);
    returns how many went. Safe: no record can come again after the longest topic retention, which the
    retention exceeds (`ServiceSettings.inbox_retention_days`)."""
    pruned = 0
    while True:
        async with engine.connect() as connection:
            raw = await connection.get_raw_connection()
            driver: asyncpg.Connection = raw.driver_connection  # type: ignore[assignment]
            status = await driver.execute(
                "DELETE FROM inbox WHERE ctid = ANY(ARRAY(SELECT ctid FROM inbox "
                "WHERE handled_at < now() - make_interval(days => $1) LIMIT $2))",
                retention_days,
                chunk,
            )
        deleted = int(status.split()[-1])
        pruned += deleted
        if deleted < chunk:
            return pruned


async def query(engine: AsyncEngine, sql: str, *args: Any) -> list[dict[str, Any]]:
    """Rows of a read-only query on a pooled connection, as dicts. Plain SQL with asyncpg's `$1` parameters, the
    same way the repositories write (the tables in each service's `tables.py` exist for its migrations)."""
    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        driver: asyncpg.Connection = raw.driver_connection  # type: ignore[assignment]
        return [dict(row) for row in await driver.fetch(sql, *args)]


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))
