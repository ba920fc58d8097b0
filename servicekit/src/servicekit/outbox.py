"""The outbox relay: publishes committed outbox rows to Kafka, then deletes them.

At least once, in order: rows are read in id order under a transaction-scoped advisory lock, so with several
instances only one relays at a time and one key's events never overtake each other. A relay killed between
publishing and deleting publishes those rows again; consumers drop the repeats by message id.
"""

from __future__ import annotations

import asyncio
import time
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from . import metrics
from .db import OutboxSignal
from .errors import is_transient
from .logging import get_logger

log = get_logger(__name__)

Publish = Callable[[str, bytes | None, bytes], Awaitable["asyncio.Future[Any]"]]
"""Sends one record without waiting for the broker; the returned future resolves when the broker has it."""


class OutboxRelay:
    def __init__(
        self,
        engine: AsyncEngine,
        publish: Publish,
        *,
        service: str,
        signal: OutboxSignal,
        batch_size: int = 1000,
        poll_seconds: float = 0.5,
    ) -> None:
        self._engine = engine
        self._publish = publish
        self._service = service
        self._signal = signal
        self._batch_size = batch_size
        self._poll_seconds = poll_seconds
        self._lock_id = zlib.crc32(f"outbox:{service}".encode())
        self._stopping = asyncio.Event()
        self._last_gauge = 0.0

    async def run(self) -> None:
        backoff = 0.1
        while not self._stopping.is_set():
            try:
                published = await self.relay_once()
                await self._update_gauges()
                backoff = 0.1
            except Exception as error:  # the relay must outlive any outage
                level = "warning" if is_transient(error) else "error"
                getattr(log, level)("outbox relay failed, will retry", error=repr(error), backoff_s=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            if published < self._batch_size:
                await self._signal.wait(self._poll_seconds)

    def stop(self) -> None:
        self._stopping.set()
        self._signal.notify()

    async def relay_once(self) -> int:
        """Publishes one batch; returns how many rows went out (0 when another instance holds the lock)."""
        started = time.perf_counter()
        async with self._engine.begin() as connection:
            locked = await connection.scalar(text("SELECT pg_try_advisory_xact_lock(:id)"), {"id": self._lock_id})
            if not locked:
                return 0
            rows = (
                await connection.execute(
                    text(
                        "SELECT id, topic, message_key, payload FROM outbox ORDER BY id LIMIT :n FOR UPDATE SKIP LOCKED"
                    ),
                    {"n": self._batch_size},
                )
            ).all()
            if not rows:
                return 0
            pending = [await self._publish(row.topic, row.message_key, row.payload) for row in rows]
            await asyncio.gather(*pending)
            await connection.execute(text("DELETE FROM outbox WHERE id = ANY(:ids)"), {"ids": [r.id for r in rows]})
        for row in rows:
            metrics.outbox_published.labels(self._service, row.topic).inc()
        metrics.outbox_publish_seconds.labels(self._service).observe(time.perf_counter() - started)
        return len(rows)

    async def _update_gauges(self) -> None:
        now = time.monotonic()
        if now - self._last_gauge < 2.0:
            return
        self._last_gauge = now
        async with self._engine.connect() as connection:
            row = (
                await connection.execute(
                    text("SELECT count(*), EXTRACT(EPOCH FROM now() - min(created_at)) FROM outbox")
                )
            ).one()
        metrics.outbox_backlog.labels(self._service).set(row[0])
        metrics.outbox_oldest_age.labels(self._service).set(float(row[1] or 0.0))
