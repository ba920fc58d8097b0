"""The outbox relay: publishes committed outbox rows to Kafka, then deletes them.

At least once, in order: rows are read in id order under a transaction-scoped advisory lock, so with several
instances only one relays at a time and one key's events never overtake each other. A relay killed between
publishing and deleting publishes those rows again; consumers drop the repeats by message id.
"""

from __future__ import annotations

import asyncio
import time
import zlib
from collections import Counter

from aiokafka.errors import KafkaError
from sqlalchemy.ext.asyncio import AsyncEngine
from tenacity import AsyncRetrying, RetryCallState, wait_exponential

from . import metrics
from .broker import Publisher
from .db import OutboxSignal, PostgresUnitOfWork, query
from .errors import is_transient
from .logging import get_logger

log = get_logger(__name__)


class OutboxRelay:
    def __init__(
        self,
        engine: AsyncEngine,
        publisher: Publisher,
        *,
        service: str,
        signal: OutboxSignal,
        batch_size: int = 1000,
        poll_seconds: float = 0.5,
        linger_seconds: float = 0.0,
    ) -> None:
        self._engine = engine
        self._publisher = publisher
        self._service = service
        self._signal = signal
        self._batch_size = batch_size
        self._poll_seconds = poll_seconds
        self._linger_seconds = linger_seconds
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
            except Exception:
                return  # stopping while the infrastructure was away
            if published < self._batch_size:
                await self._signal.wait(self._poll_seconds)
                if self._linger_seconds:
                    await asyncio.sleep(self._linger_seconds)

    async def _relay_and_measure(self) -> int:
        published = await self.relay_once()
        await self._update_gauges()
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
        """Publishes one batch; returns how many rows went out (0 when another instance holds the lock)."""
        started = time.perf_counter()
        async with PostgresUnitOfWork(self._engine) as uow:
            db = await uow.driver()
            if not await db.fetchval("SELECT pg_try_advisory_xact_lock($1)", self._lock_id):
                return 0
            rows = await db.fetch(
                "SELECT id, topic, message_key, payload FROM outbox ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
                self._batch_size,
            )
            if not rows:
                return 0
            pending = [await self._publisher.send(topic, payload, key) for _, topic, key, payload in rows]
            await asyncio.gather(*pending)
            await db.execute("DELETE FROM outbox WHERE id = ANY($1::bigint[])", [row[0] for row in rows])
        for topic, count in Counter(row[1] for row in rows).items():
            metrics.outbox_published.labels(self._service, topic).inc(count)
        metrics.outbox_publish_seconds.labels(self._service).observe(time.perf_counter() - started)
        return len(rows)

    async def _update_gauges(self) -> None:
        now = time.monotonic()
        if now - self._last_gauge < 2.0:
            return
        self._last_gauge = now
        (row,) = await query(
            self._engine, "SELECT count(*) AS backlog, EXTRACT(EPOCH FROM now() - min(created_at)) AS age FROM outbox"
        )
        metrics.outbox_backlog.labels(self._service).set(row["backlog"])
        metrics.outbox_oldest_age.labels(self._service).set(float(row["age"] or 0.0))
