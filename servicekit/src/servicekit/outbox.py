"""The outbox relay: publishes committed outbox rows to Kafka, then deletes them.

At least once, in order: rows are read in id order under a transaction-scoped advisory lock, so with several
instances only one relays at a time and one key's events never overtake each other. A relay killed between
publishing and deleting publishes those rows again; consumers drop the repeats by message id.

A row the broker refuses for its own sake (too large, a topic that does not exist or may not be written) would
otherwise be retried for ever, and every later row with it. Such a row counts its failed attempts; after
`quarantine_after` of them it is set aside (`quarantined_at`), kept in the table for an operator to see and replay
after a fix. The later rows of its key (same topic and message key) wait behind it, so the order per key holds;
every other key flows on. A broker outage is never a row's fault: it is retried as before and counts nothing.
"""

from __future__ import annotations

import asyncio
import time
import zlib
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from aiokafka.errors import (
    InvalidTopicError,
    KafkaError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
    TopicAuthorizationFailedError,
)
from sqlalchemy.ext.asyncio import AsyncEngine
from tenacity import AsyncRetrying, RetryCallState, wait_exponential

from . import metrics
from .broker import TopicNotFound
from .db import OutboxSignal, PostgresUnitOfWork, query
from .errors import is_transient
from .logging import get_logger

log = get_logger(__name__)

ROW_FAULTS: tuple[type[KafkaError], ...] = (
    MessageSizeTooLargeError,  # larger than the producer's or the broker's limit
    RecordTooLargeError,
    RecordListTooLargeError,
    InvalidTopicError,
    TopicNotFound,  # the broker answered that the topic does not exist (not a metadata hiccup)
    TopicAuthorizationFailedError,  # this service's principal may not write the topic
)


def is_row_fault(error: BaseException) -> bool:
    """True when the broker refuses this row itself: the same bytes to the same topic fail the same way every time.
    Everything else (connections, timeouts, leaders, replicas, sequence numbers) is the broker's trouble."""
    return isinstance(error, ROW_FAULTS)


# --- publishing one batch -------------------------------------------------------------------------------------------
Lane = tuple[str, bytes]
"""A topic and message key: the rows whose order is kept (rows without a key have no order to keep)."""


@dataclass(frozen=True, slots=True)
class Pending:
    id: int
    topic: str
    key: bytes | None
    payload: bytes
    attempts: int
    correlation_id: str | None = None
    """Sent as the record's `correlation_id` header (kept with the row when it was queued)."""

    @property
    def lane(self) -> Lane | None:
        return None if self.key is None else (self.topic, self.key)


@dataclass
class Outcome:
    """What one round did: rows acknowledged by the broker, rows it refused for their own sake, and the broker's
    own failure that ended the round early (the rest is tried again next round, counting nothing)."""

    published: list[Pending] = field(default_factory=list)
    refused: list[tuple[Pending, KafkaError]] = field(default_factory=list)
    error: KafkaError | None = None
    _blocked: set[Lane] = field(default_factory=set, init=False, repr=False)

    def refuse(self, row: Pending, error: KafkaError) -> None:
        self.refused.append((row, error))
        self.hold(row)

    def hold(self, row: Pending) -> None:
        if row.lane is not None:
            self._blocked.add(row.lane)  # nothing later of its key goes out this round

    def blocked(self, row: Pending) -> bool:
        return row.lane is not None and row.lane in self._blocked


class Sender(Protocol):
    """What the relay needs of `broker.Publisher`."""

    async def send(
        self, topic: str, value: bytes, key: bytes | None, correlation_id: str | None = None
    ) -> asyncio.Future[Any]: ...

    async def topic_error(self, topic: str) -> KafkaError | None: ...

    async def renew(self) -> None: ...


async def publish(sender: Sender, rows: Sequence[Pending], waiting: Collection[int] = ()) -> Outcome:
    """Publishes rows in id order: all at once, the fast way, except where a row has failed before. Rows whose id is
    `waiting` (refused a moment ago) are not tried this round, nor the later rows of their key.

    Rows that failed before (and the rows ahead of them) go one at a time, so a refused row is pinned down and the
    later rows of its key are never sent ahead of it. When a batch sent at once fails for a row's sake, the broker
    may have refused a whole producer batch for one record: what was not acknowledged is sent again one at a time,
    on a fresh producer, to find the culprit.
    """
    outcome = Outcome()
    if waiting:
        for row in rows:
            if row.id in waiting:
                outcome.hold(row)
        rows = [row for row in rows if row.id not in waiting]
    unknown = await _topic_errors(sender, {row.topic for row in rows})
    if isinstance(unknown, KafkaError):
        outcome.error = unknown
        return outcome
    careful = 1 + max((i for i, row in enumerate(rows) if row.attempts), default=-1)
    await _one_at_a_time(sender, rows[:careful], unknown, outcome)
    if outcome.error is None:
        leftover = await _all_at_once(sender, rows[careful:], unknown, outcome)
        if leftover:
            await sender.renew()  # the failed batch left the idempotent producer's sequence numbers behind
            await _one_at_a_time(sender, leftover, unknown, outcome)
    return outcome


async def _topic_errors(sender: Sender, topics: set[str]) -> dict[str, KafkaError] | KafkaError:
    errors: dict[str, KafkaError] = {}
    for topic in topics:
        try:
            error = await sender.topic_error(topic)
        except KafkaError as failure:
            return failure
        if error is not None:
            errors[topic] = error
    return errors


async def _send(sender: Sender, row: Pending, unknown: dict[str, KafkaError]) -> asyncio.Future[Any]:
    """Hands one row to the producer; a topic the broker already said cannot be written fails it at once."""
    if row.topic in unknown:
        raise unknown[row.topic]
    return await sender.send(row.topic, row.payload, row.key, row.correlation_id)


async def _one_at_a_time(
    sender: Sender, rows: Sequence[Pending], unknown: dict[str, KafkaError], outcome: Outcome
) -> None:
    for row in rows:
        if outcome.blocked(row):
            continue
        try:
            await (await _send(sender, row, unknown))
        except KafkaError as error:
            if not is_row_fault(error):
                outcome.error = error
                return
            outcome.refuse(row, error)
            continue
        outcome.published.append(row)


async def _all_at_once(
    sender: Sender, rows: Sequence[Pending], unknown: dict[str, KafkaError], outcome: Outcome
) -> list[Pending]:
    """Sends every row, then waits for all; returns the rows to send again one at a time (none if all went out)."""
    sent: list[tuple[Pending, asyncio.Future[Any]]] = []
    for row in rows:
        if outcome.blocked(row):
            continue
        try:
            sent.append((row, await _send(sender, row, unknown)))
        except KafkaError as error:  # refused before it was sent: this row, for certain
            if not is_row_fault(error):
                outcome.error = error
                break
            outcome.refuse(row, error)
    results = await asyncio.gather(*(future for _, future in sent), return_exceptions=True)
    failed: set[Lane | None] = set()
    leftover: list[Pending] = []
    for (row, _), result in zip(sent, results, strict=True):
        if isinstance(result, BaseException):
            if not isinstance(result, KafkaError):
                raise result
            if not is_row_fault(result):
                outcome.error = outcome.error or result
            failed.add(row.lane)
            leftover.append(row)
        elif row.lane is not None and row.lane in failed:
            leftover.append(row)  # it went out after a row of its key that did not: keep it, to go again after
        else:
            outcome.published.append(row)
    if outcome.error is not None:
        return []  # the broker's trouble: everything not acknowledged waits for the next round
    return leftover


# --- the relay -------------------------------------------------------------------------------------------------------
RELAY_BATCH = """
SELECT id, topic, message_key, payload, attempts, correlation_id FROM outbox o
WHERE quarantined_at IS NULL
  AND NOT EXISTS (
    SELECT FROM outbox q
    WHERE q.quarantined_at IS NOT NULL AND q.topic = o.topic AND q.message_key = o.message_key AND q.id < o.id)
ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED
"""
"""The next rows to publish: not quarantined, and not behind a quarantined row of their key. With nothing
quarantined, the NOT EXISTS is one probe per row into the empty partial index `outbox_quarantined`."""

COUNT_FAILURE = """
UPDATE outbox o SET attempts = o.attempts + 1, last_error = f.error,
  quarantined_at = CASE WHEN o.attempts + 1 >= $3 THEN now() END
FROM unnest($1::bigint[], $2::text[]) AS f(id, error)
WHERE o.id = f.id
RETURNING o.id, o.topic, o.attempts, o.quarantined_at IS NOT NULL AS quarantined
"""


class OutboxRelay:
    def __init__(
        self,
        engine: AsyncEngine,
        publisher: Sender,
        *,
        service: str,
        signal: OutboxSignal,
        batch_size: int = 1000,
        poll_seconds: float = 0.5,
        linger_seconds: float = 0.0,
        quarantine_after: int = 5,
        refusal_backoff_seconds: float = 0.5,
    ) -> None:
        self._engine = engine
        self._publisher = publisher
        self._service = service
        self._signal = signal
        self._batch_size = batch_size
        self._poll_seconds = poll_seconds
        self._linger_seconds = linger_seconds
        self._quarantine_after = quarantine_after
        # A refused row is tried again after 0.5, 1, 2, 4 s (not at the pace of commits: a busy service relays many
        # rounds a second), so a topic being created or an ACL being granted has a moment before the quarantine.
        self._refusal_backoff = refusal_backoff_seconds
        self._retry_at: dict[int, float] = {}
        self._lock_id = zlib.crc32(f"outbox:{service}".encode())
        self._stopping = asyncio.Event()
        self._last_gauge = 0.0

    async def run(self) -> None:
        # The relay must outlive any outage: every failure is retried, backing off up to 5 s.
        retrying = AsyncRetrying(
            wait=wait_exponential(multiplier=0.1, max=5.0),
            stop=lambda _: self._stopping.is_set(),
            before_sleep=self._on_failure,
            reraise=True,
        )
        while not self._stopping.is_set():
            try:
                published: int = await retrying(self._relay_and_measure)
            except Exception as error:
                if self._stopping.is_set():
                    return  # stopping while the infrastructure was away
                # Nothing may end the relay but stop(): a relay that returned would leave every later event of
                # its service unpublished while the service looked healthy.
                log.error("outbox relay round failed outside its retries; carrying on", error=repr(error))
                await asyncio.sleep(1.0)
                continue
            if published < self._batch_size:
                await self._signal.wait(self._poll_seconds)
                if self._linger_seconds:
                    await asyncio.sleep(self._linger_seconds)

    async def _relay_and_measure(self) -> int:
        published = await self.relay_once()
        await self.update_gauges()
        return published

    async def _on_failure(self, attempt: RetryCallState) -> None:
        error = attempt.outcome.exception() if attempt.outcome else None
        backoff = attempt.upcoming_sleep
        if error is not None and is_transient(error):
            log.warning("outbox relay failed, will retry", error=repr(error), backoff_s=backoff)
        else:
            log.error("outbox relay failed, will retry", error=repr(error), backoff_s=backoff)
        if isinstance(error, KafkaError):
            await self._publisher.renew()  # a fresh idempotent producer, with fresh sequence numbers

    def stop(self) -> None:
        self._stopping.set()
        self._signal.notify()

    async def relay_once(self) -> int:
        """Publishes one batch; returns how many rows went out (0 when another instance holds the lock).

        Rows the broker acknowledged are deleted and rows it refused for their own sake counted, in the same
        transaction, even when the broker's own failure ended the round early (raised once that is committed)."""
        started = time.perf_counter()
        async with PostgresUnitOfWork(self._engine) as uow:
            db = await uow.driver()
            if not await db.fetchval("SELECT pg_try_advisory_xact_lock($1)", self._lock_id):
                return 0
            rows = [Pending(*row) for row in await db.fetch(RELAY_BATCH, self._batch_size)]
            if not rows:
                return 0
            now = time.monotonic()
            self._retry_at = {i: at for i, at in self._retry_at.items() if at > now}
            outcome = await publish(self._publisher, rows, self._retry_at.keys())
            if outcome.published:
                published = [row.id for row in outcome.published]
                await db.execute("DELETE FROM outbox WHERE id = ANY($1::bigint[])", published)
            counted = []
            if outcome.refused:
                counted = await db.fetch(
                    COUNT_FAILURE,
                    [row.id for row, _ in outcome.refused],
                    [repr(error)[:2000] for _, error in outcome.refused],
                    self._quarantine_after,
                )
        for topic, count in Counter(row.topic for row in outcome.published).items():
            metrics.outbox_published.labels(self._service, topic).inc(count)
        for row in outcome.published:
            self._retry_at.pop(row.id, None)
        for row in counted:
            self._report_refused(row["id"], row["topic"], row["attempts"], row["quarantined"], outcome)
            if row["quarantined"]:
                self._retry_at.pop(row["id"], None)
            else:
                self._retry_at[row["id"]] = time.monotonic() + self._refusal_backoff * 2 ** (row["attempts"] - 1)
        metrics.outbox_publish_seconds.labels(self._service).observe(time.perf_counter() - started)
        if outcome.error is not None:
            raise outcome.error
        return len(outcome.published)

    def _report_refused(self, row_id: int, topic: str, attempts: int, quarantined: bool, outcome: Outcome) -> None:
        error = next(repr(e) for row, e in outcome.refused if row.id == row_id)
        if quarantined:
            metrics.outbox_quarantines.labels(self._service, topic).inc()
            log.error("outbox row quarantined", outbox_id=row_id, topic=topic, attempts=attempts, error=error)
        else:
            log.warning("outbox row refused, will retry", outbox_id=row_id, topic=topic, attempts=attempts, error=error)

    async def update_gauges(self) -> None:
        """The backlog, quarantine and oldest-row gauges, at most every 2 s (a count over the whole table)."""
        now = time.monotonic()
        if now - self._last_gauge < 2.0:
            return
        self._last_gauge = now
        (row,) = await query(
            self._engine,
            "SELECT count(*) AS backlog, count(*) FILTER (WHERE quarantined_at IS NOT NULL) AS quarantined, "
            "EXTRACT(EPOCH FROM now() - min(created_at)) AS age FROM outbox",
        )
        metrics.outbox_backlog.labels(self._service).set(row["backlog"])
        metrics.outbox_quarantined.labels(self._service).set(row["quarantined"])
        metrics.outbox_oldest_age.labels(self._service).set(float(row["age"] or 0.0))


# --- what an operator sees and does ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Quarantined:
    id: int
    topic: str
    key: str | None
    size: int
    attempts: int
    last_error: str | None
    created_at: datetime
    quarantined_at: datetime
    held: int
    """Later rows of its key waiting behind it."""


async def quarantined(engine: AsyncEngine, limit: int = 1000) -> list[Quarantined]:
    """The quarantined rows, oldest first, without their payloads (events carry clients' data)."""
    rows = await query(
        engine,
        """
        SELECT q.id, q.topic, q.message_key, octet_length(q.payload) AS size, q.attempts, q.last_error,
               q.created_at, q.quarantined_at,
               (SELECT count(*) FROM outbox h WHERE h.quarantined_at IS NULL AND h.topic = q.topic
                  AND h.message_key = q.message_key AND h.id > q.id) AS held
        FROM outbox q WHERE q.quarantined_at IS NOT NULL ORDER BY q.id LIMIT $1
        """,
        limit,
    )
    return [
        Quarantined(
            row["id"],
            row["topic"],
            None if row["message_key"] is None else row["message_key"].decode(errors="backslashreplace"),
            row["size"],
            row["attempts"],
            row["last_error"],
            row["created_at"],
            row["quarantined_at"],
            row["held"],
        )
        for row in rows
    ]


async def replay(engine: AsyncEngine, ids: Sequence[int] | None) -> list[int]:
    """Puts quarantined rows (these, or all with None) back for publishing, with their attempts counted afresh;
    returns their ids. The relay takes them, and then the rows held behind them, in id order."""
    async with PostgresUnitOfWork(engine) as uow:
        db = await uow.driver()
        rows = await db.fetch(
            "UPDATE outbox SET quarantined_at = NULL, attempts = 0 "
            "WHERE quarantined_at IS NOT NULL AND ($1::bigint[] IS NULL OR id = ANY($1::bigint[])) RETURNING id",
            None if ids is None else list(ids),
        )
    return sorted(row["id"] for row in rows)


def replay_selection(body: Any) -> list[int] | None:
    """The rows a replay request names: `{"ids": [1, 2]}`, or None for `{"all": true}` (said so, never by default)."""
    if isinstance(body, dict) and set(body) == {"all"} and body["all"] is True:
        return None
    ids = body.get("ids") if isinstance(body, dict) and set(body) == {"ids"} else None
    if not isinstance(ids, list) or not ids or not all(type(i) is int for i in ids):
        raise ValueError('say which rows: {"ids": [1, 2]} or {"all": true}')
    return ids
