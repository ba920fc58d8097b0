"""Reliable batch consumption: each consumer is a FastStream batch subscriber wired the same way.

Per batch of records:
1. Each record is decoded against the topic's catalogue. One that cannot be decoded (not JSON, wrong schema,
   unknown version, too large) goes straight to the consumer's dead-letter topic with the reason and its
   original bytes; the rest carry on.
2. The handler takes the decoded records in one call: one transaction, idempotent through the inbox.
3. If the handler fails because the infrastructure is away (`errors.is_transient`: by SQLSTATE class and
   connection state, so a full disk or a read-only database after a failover counts too), the same batch is
   retried with backoff; after `transient_window` the records are handed back to Kafka (seek) so polling
   continues, and retried again. Nothing is skipped, nothing dead-lettered for an outage.
4. If it fails for any other reason, the batch is bisected in order: each half is tried whole and a failing half
   split again, so k poison records among n cost about k·log2(n) handler calls. A record failing alone is retried
   and dead-lettered after `max_attempts`. Later records of a partition are never handled before earlier ones
   are finished (handled or dead-lettered).
5. Each batch is time-boxed to a share of `max_poll_interval_ms` (`BUDGET_SHARE`), so a batch full of poison
   records never keeps the consumer from polling long enough to be thrown out of its group. When the budget runs
   out, what was finished is committed and the rest rewound: each partition resumes at its first unfinished record
   (the inbox drops whatever comes twice).
6. After a failure the consumer fetches smaller batches (a quarter at each failure, down to `SMALLEST_SHARE`),
   doubling back once `cautious_seconds` pass without one: the next poison record costs less to isolate.
7. Only then are the offsets committed (AckPolicy.MANUAL: never before the effect is durable, and never on
   cancellation at shutdown: the records are simply delivered again and deduplicated).

None of this costs the happy path anything: a batch that goes through is one handler call and one commit.

Logs: one INFO line per handled batch, one DEBUG line per record; every line written while records are handled
carries their client and correlation ids (see `log_context`), so one invoice can be followed across services.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import UUID

import orjson
from aiokafka import TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_delay, wait_exponential

from ledgerline_contracts import auth, topics
from ledgerline_contracts.messages import Catalogue, Command, CommandResult, Message, UndecodableMessage
from ledgerline_contracts.operations import KEEP_VALUE_BYTES, DeadLetter
from ledgerline_contracts.topics import Topic, dead_letters

from . import metrics
from .broker import Publisher
from .errors import is_transient
from .logging import bound_contextvars, get_logger

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Delivery:
    """One decoded message with where it came from (a record, or an item of an envelope record)."""

    message: Message
    topic: str
    partition: int
    offset: int
    key: bytes | None
    raw: bytes | None
    headers: dict[str, str]
    item: Any = None
    """An envelope item as parsed (then `raw` is None)."""
    appended_at: float | None = None
    """When the broker appended the record (seconds since the epoch), on topics with LogAppendTime; else None."""

    @property
    def value(self) -> bytes:
        """The message's own bytes (an envelope item's made only when asked for: dead letters, parking)."""
        return self.raw if self.raw is not None else orjson.dumps(self.item)


class BatchHandler(Protocol):
    async def __call__(self, deliveries: Sequence[Delivery], /) -> None: ...


@dataclass(frozen=True)
class Subscription:
    """A consumer: which topic, which group, which messages it understands and who handles them."""

    topic: Topic
    group: str
    catalogue: Catalogue
    handler: BatchHandler
    description: str
    max_batch: int | None = None
    wants: frozenset[str] | None = None
    """The message types the handler acts on (None: all); others are skipped without being validated."""


@dataclass
class RetryPolicy:
    max_attempts: int = 3
    poison_backoff: float = 0.2
    transient_backoff_max: float = 5.0
    transient_window: float = 60.0
    cautious_seconds: float = 30.0
    """How long batches stay small after a failure before they grow back."""


DEFAULT_MAX_POLL_INTERVAL_MS = 5 * 60 * 1000
BUDGET_SHARE = 0.5
"""The share of the poll interval one batch may take: the rest is margin for the commit, dead letters and a slow
last handler call, so the consumer polls again well before the broker gives its partitions away."""
SHRINK = 4
"""Each failing batch divides the next batches' size by this much..."""
SMALLEST_SHARE = 50
"""...down to this share of the full size: small enough to isolate a poison record cheaply, large enough that a
busy consumer keeps up while it is wary."""


@dataclass(frozen=True, slots=True)
class _Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, str]
    appended_at: float | None = None


_LOG_APPEND_TIME = 1


def _records(message: KafkaMessage) -> list[_Record]:
    raw = message.raw_message
    records = raw if isinstance(raw, (tuple, list)) else (raw,)
    return [
        _Record(
            r.topic,
            r.partition,
            r.offset,
            r.key,
            r.value,
            {k: v.decode(errors="replace") for k, v in (r.headers or ())},
            r.timestamp / 1000 if r.timestamp_type == _LOG_APPEND_TIME else None,
        )
        for r in records
    ]


MAX_LOGGED_IDS = 20
"""Distinct ids one log line names at most: enough to follow a flow at everyday volume, while a full batch at peak
throughput stays one short line (the per-record DEBUG lines name every record's ids)."""


def log_context(deliveries: Sequence[Delivery]) -> dict[str, Any]:
    """The ids a log line about these records carries: `client_id` and `correlation_id` when the records share
    one, else `client_ids` / `correlation_ids` listing the distinct values."""
    context: dict[str, Any] = {}
    for field in ("client_id", "correlation_id"):
        values = list(dict.fromkeys(v for d in deliveries if (v := getattr(d.message, field, None)) is not None))
        if len(values) == 1:
            context[field] = values[0]
        elif values:
            context[f"{field}s"] = values[:MAX_LOGGED_IDS]
            if len(values) > MAX_LOGGED_IDS:
                context[f"{field}s_omitted"] = len(values) - MAX_LOGGED_IDS
    return context


def _record_of(delivery: Delivery) -> _Record:
    return _Record(delivery.topic, delivery.partition, delivery.offset, delivery.key, delivery.value, delivery.headers)


def kept_value(value: bytes | None) -> dict[str, Any]:
    """The original bytes as a dead letter keeps them: whole, or their first part when they are too large."""
    if value is None:
        return {}
    kept = value[:KEEP_VALUE_BYTES]
    return {
        "value_b64": base64.b64encode(kept).decode(),
        "value_size": len(value),
        "value_sha256": hashlib.sha256(value).hexdigest(),
        "value_truncated": len(kept) < len(value),
    }


class Origin(Protocol):
    """Where a message came from: a record, a delivery, or a message kept aside and taken up again."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...


def dead_letter(
    group: str, origin: Origin, *, kind: str, error: str, attempts: int = 1, first_failed_at: datetime | None = None
) -> DeadLetter:
    """The dead letter of a message: where it came from, why it failed, and its original bytes for a replay."""
    headers: dict[str, str] = getattr(origin, "headers", None) or {}
    now = datetime.now(UTC)
    return DeadLetter(
        consumer_group=group,
        topic=origin.topic,
        partition=origin.partition,
        offset=origin.offset,
        key_b64=base64.b64encode(origin.key).decode() if origin.key is not None else None,
        **kept_value(origin.value),
        headers={k: v for k, v in headers.items() if k != auth.HEADER},  # a token is no one else's to keep
        error_kind=kind,  # type: ignore[arg-type]
        error=error[:4000],
        attempts=attempts,
        first_failed_at=first_failed_at or now,
        last_failed_at=now,
    )


class DeadLetterPublisher:
    def __init__(self, publisher: Publisher, service: str) -> None:
        self._publisher = publisher
        self._service = service

    async def refuse_command(self, data: Any, reason: str) -> None:
        """Answers a command that could not be decoded (refused, with the reason naming the field), when it says
        enough to be answered: its type, id and client, and no `"reply": false`."""
        if not isinstance(data, dict) or data.get("reply") is False:
            return
        kind, client_id = data.get("type"), data.get("client_id")
        try:
            command_id = UUID(str(data.get("message_id")))
        except ValueError:
            return
        if not isinstance(kind, str) or not isinstance(client_id, str):
            return
        result = CommandResult(
            command_id=command_id,
            command_type=kind[:200],
            client_id=client_id[:64],
            service=self._service,
            accepted=False,
            reason=f"invalid command: {reason}"[:4000],
        )
        key = str(command_id).encode()
        try:
            await (await self._publisher.send(topics.TOPIC_COMMAND_RESULTS.name, result.to_bytes(), key))
        except KafkaError:
            await self._publisher.renew()
            raise
        metrics.command_results.labels(self._service, kind[:200], "refused").inc()

    async def send(self, group: str, record: _Record, kind: str, error: str, attempts: int, first: datetime) -> None:
        letter = dead_letter(group, record, kind=kind, error=error, attempts=attempts, first_failed_at=first)
        # Awaited: the offset is committed only once the dead letter is safely in Kafka.
        try:
            await (await self._publisher.send(dead_letters(group).name, letter.to_bytes(), record.key))
        except KafkaError:
            await self._publisher.renew()  # the batch is rewound and tried again with a fresh producer
            raise
        metrics.dead_letters.labels(self._service, group, record.topic, kind).inc()
        log.warning(
            "dead-lettered a record",
            consumer=group,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            kind=kind,
            error=error[:500],
            attempts=attempts,
        )


def _parsed(value: bytes | None) -> Any:
    try:
        return orjson.loads(value) if value is not None else None
    except orjson.JSONDecodeError:
        return None


class BatchProcessor:
    """Runs one subscription's batches through decode, handler, retries and dead letters."""

    def __init__(
        self,
        subscription: Subscription,
        dead_letter: DeadLetterPublisher,
        service: str,
        policy: RetryPolicy,
        *,
        budget: float = DEFAULT_MAX_POLL_INTERVAL_MS / 1000 * BUDGET_SHARE,
        batch_size: int = 500,
    ) -> None:
        self.subscription = subscription
        self._dead_letter = dead_letter
        self._service = service
        self._policy = policy
        self._budget = budget
        self._full_size = batch_size
        self.batch_limit = batch_size
        """How many records the next fetch may bring: smaller for a while after a failure."""
        self._last_failure = 0.0
        self._answers = any(issubclass(m, Command) for m in subscription.catalogue.models)
        """Commands are answered even when they cannot be decoded: the sender learns which field was wrong."""

    async def _undecodable(self, record: _Record, reason: str, data: Any = None) -> None:
        await self._dead_letter.send(self.subscription.group, record, "undecodable", reason, 1, datetime.now(UTC))
        if self._answers:
            await self._dead_letter.refuse_command(data if data is not None else _parsed(record.value), reason)

    async def process(self, message: KafkaMessage) -> None:
        records = _records(message)
        group = self.subscription.group
        started = time.perf_counter()
        deliveries: list[Delivery] = []
        messages = 0
        for record in records:
            try:
                decoded = self.subscription.catalogue.decode_record(record.value, self.subscription.wants)
            except UndecodableMessage as error:
                messages += 1
                await self._undecodable(record, error.reason)
                continue
            messages += len(decoded)
            for item in decoded:
                if item.error is not None:
                    refused = replace(record, value=item.original())  # the item alone, replayable as it is
                    await self._undecodable(refused, item.error, item.item)
                elif item.message is not None:  # None: a type this consumer does not act on
                    deliveries.append(
                        Delivery(
                            item.message,
                            record.topic,
                            record.partition,
                            record.offset,
                            record.key,
                            item.raw,
                            record.headers,
                            item.item,
                            record.appended_at,
                        )
                    )
        metrics.messages_consumed.labels(self._service, group, self.subscription.topic.name).inc(messages)
        if self.batch_limit < self._full_size:
            self._grow_back()
        done = await self._handle(deliveries, time.monotonic() + self._budget) if deliveries else 0
        elapsed = time.perf_counter() - started
        metrics.batch_seconds.labels(self._service, group).observe(elapsed)
        metrics.batch_size.labels(self._service, group).observe(len(records))
        if done < len(deliveries):
            await self._commit_finished(message, deliveries, done)
            return
        metrics.messages_handled.labels(self._service, group, self.subscription.topic.name).inc(messages)
        self._log_handled(records, deliveries, elapsed)
        await self._commit(message)

    def _log_handled(self, records: list[_Record], deliveries: list[Delivery], elapsed: float) -> None:
        log.info(
            "batch handled",
            consumer=self.subscription.group,
            topic=self.subscription.topic.name,
            size=len(records),
            duration_ms=round(elapsed * 1000, 1),
            **log_context(deliveries),
        )
        if log.is_enabled_for(logging.DEBUG):
            for delivery in deliveries:
                log.debug(
                    "record handled",
                    consumer=self.subscription.group,
                    topic=delivery.topic,
                    partition=delivery.partition,
                    offset=delivery.offset,
                    type=delivery.message.type,
                    **log_context([delivery]),
                )

    async def _handle(self, deliveries: list[Delivery], deadline: float) -> int:
        """Handles the deliveries in order; returns how many of them, from the first, are finished (handled or
        dead-lettered): all, unless the budget ran out or the infrastructure went away while isolating failures."""
        try:
            await self._with_transient_retry(deliveries, deadline)
            return len(deliveries)
        except _Suspect as suspect:
            error = suspect.error
        self._shrink()
        if len(deliveries) == 1:
            await self._give_up_or_retry_alone(deliveries[0], error)  # the batch's first: it must finish
            return 1
        log.warning(
            "batch failed, bisecting it to isolate the failing records",
            consumer=self.subscription.group,
            size=len(deliveries),
            error=repr(error),
            **log_context(deliveries),
        )
        return await self._isolate(deliveries, deadline)

    async def _isolate(self, deliveries: list[Delivery], deadline: float) -> int:
        """Bisects a batch that failed whole. Ranges are taken in order (a stack, the earliest on top), so the
        finished records are always a prefix of the batch and no partition's later record goes first."""
        done = 0
        middle = len(deliveries) // 2
        pending = [(middle, len(deliveries)), (0, middle)]
        while pending:
            if done and time.monotonic() >= deadline:
                return done
            start, end = pending.pop()
            try:
                try:
                    await self._with_transient_retry(deliveries[start:end], deadline)
                except _Suspect as suspect:
                    if end - start > 1:
                        middle = (start + end) // 2
                        pending += [(middle, end), (start, middle)]
                        continue
                    # The batch's first unfinished record always gets all its attempts, so every batch makes
                    # progress; a later one only while the budget lasts.
                    if not await self._give_up_or_retry_alone(
                        deliveries[start], suspect.error, deadline if done else None
                    ):
                        return done
            except _HandBack:
                if done == 0:
                    raise
                return done  # the finished part is committed; the rest comes again and waits for the outage
            done = end
        return done

    def _shrink(self) -> None:
        self._last_failure = time.monotonic()
        self.batch_limit = max(self._full_size // SMALLEST_SHARE, 1, self.batch_limit // SHRINK)

    def _grow_back(self) -> None:
        if time.monotonic() - self._last_failure >= self._policy.cautious_seconds:
            self.batch_limit = min(self._full_size, self.batch_limit * 2)

    async def _commit_finished(self, message: KafkaMessage, deliveries: list[Delivery], done: int) -> None:
        """Commits what is finished and rewinds the rest: each partition resumes at its first unfinished record."""
        resume: dict[TopicPartition, int] = {}
        for delivery in deliveries[done:]:
            resume.setdefault(TopicPartition(delivery.topic, delivery.partition), delivery.offset)
        for partition, offset in resume.items():
            message.consumer.seek(partition, offset)
        metrics.batches_cut_short.labels(self._service, self.subscription.group).inc()
        log.warning(
            "batch cut short: committing the finished records, the rest comes again",
            consumer=self.subscription.group,
            finished=done,
            unfinished=len(deliveries) - done,
            resume_at={f"{p.topic}/{p.partition}": offset for p, offset in resume.items()},
        )
        await self._commit(message)

    async def _give_up_or_retry_alone(
        self, delivery: Delivery, error: BaseException, deadline: float | None = None
    ) -> bool:
        """Retries a record that failed alone, then dead-letters it; False if the batch's deadline came first (the
        record is left unfinished, to start the next batch with a whole budget and all its attempts)."""
        with bound_contextvars(**log_context([delivery])):
            first_failed = datetime.now(UTC)
            attempts = 1
            while attempts < self._policy.max_attempts:
                backoff = self._policy.poison_backoff * attempts
                if deadline is not None and time.monotonic() + backoff >= deadline:
                    return False
                metrics.retries.labels(self._service, self.subscription.group, "poison").inc()
                await asyncio.sleep(backoff)
                attempts += 1
                try:
                    await self._with_transient_retry([delivery], deadline)
                    return True
                except _Suspect as again:
                    error = again.error
            await self._dead_letter.send(
                self.subscription.group,
                _record_of(delivery),
                "handler_error",
                f"{type(error).__name__}: {error}",
                attempts,
                first_failed,
            )
            return True

    async def _with_transient_retry(self, deliveries: Sequence[Delivery], deadline: float | None = None) -> None:
        """Calls the handler; retries while the infrastructure is failing (for `transient_window`, or until the
        batch's deadline if that comes first), then raises _HandBack; raises _Suspect for any other failure."""
        window = self._policy.transient_window
        if deadline is not None:
            window = min(window, max(deadline - time.monotonic(), 0.0))
        # Bound around the retries too, so the handler's own lines and the failure warnings name the records.
        with bound_contextvars(**log_context(deliveries)):
            retrying = AsyncRetrying(
                retry=retry_if_exception(is_transient),
                wait=wait_exponential(multiplier=0.1, max=self._policy.transient_backoff_max),
                stop=stop_after_delay(window),
                before_sleep=self._on_transient,
                reraise=True,
            )
            try:
                await retrying(self._call_handler, deliveries)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                if not is_transient(error):
                    # The traceback once a record is alone: bisecting a batch fails the same way many times over.
                    log.warning(
                        "handler failed",
                        consumer=self.subscription.group,
                        size=len(deliveries),
                        error=repr(error),
                        exc_info=error if len(deliveries) == 1 else None,
                    )
                    raise _Suspect(error) from error
                raise _HandBack(error) from error  # away for the whole window: give the records back to Kafka

    async def _call_handler(self, deliveries: Sequence[Delivery]) -> None:
        try:
            await self.subscription.handler(deliveries)
        except Exception as error:
            metrics.handler_errors.labels(self._service, self.subscription.group, type(error).__name__).inc()
            raise

    def _on_transient(self, attempt: RetryCallState) -> None:
        metrics.retries.labels(self._service, self.subscription.group, "transient").inc()
        log.warning(
            "infrastructure unavailable, retrying",
            consumer=self.subscription.group,
            error=repr(attempt.outcome.exception() if attempt.outcome else None),
            backoff_s=attempt.upcoming_sleep,
        )

    async def _commit(self, message: KafkaMessage) -> None:
        try:
            await message.ack()
        except (CommitFailedError, KafkaError) as error:
            # The partitions moved to another instance (rebalance) or the broker is away: the records come again
            # and the inbox drops them. Losing a commit costs a duplicate, never a message.
            metrics.offset_commit_failures.labels(self._service, self.subscription.group).inc()
            log.warning(
                "offset commit failed; records will be redelivered", consumer=self.subscription.group, error=repr(error)
            )


class _Suspect(Exception):
    def __init__(self, error: BaseException) -> None:
        super().__init__(repr(error))
        self.error = error


class _HandBack(Exception):
    """The infrastructure stayed away for the whole retry window: give the records back to Kafka."""


def attach(
    broker: KafkaBroker,
    subscription: Subscription,
    *,
    service: str,
    dead_letter: DeadLetterPublisher,
    policy: RetryPolicy,
    batch_size: int,
    batch_timeout_ms: int,
    fetch_min_bytes: int = 1,
    fetch_max_wait_ms: int = 500,
    max_poll_interval_ms: int = DEFAULT_MAX_POLL_INTERVAL_MS,
) -> BatchProcessor:
    """Registers the subscription on the broker as a manual-ack batch subscriber, each batch time-boxed to
    `BUDGET_SHARE` of `max_poll_interval_ms`."""
    max_records = subscription.max_batch or batch_size
    budget = max_poll_interval_ms / 1000 * BUDGET_SHARE
    processor = BatchProcessor(subscription, dead_letter, service, policy, budget=budget, batch_size=max_records)

    async def keep_raw(message: KafkaMessage) -> None:
        return None  # bodies are decoded per record by the catalogue, so one bad record cannot fail the batch

    async def consume(message: KafkaMessage) -> None:
        try:
            await processor.process(message)
        except asyncio.CancelledError:
            raise  # shutdown: nothing committed, the records come again
        except Exception as error:
            # Whatever escaped (a long outage, a dead letter that could not be written): rewind, so the
            # consumer's position never passes records whose effect is not durable.
            log.error("batch not done; rewinding to redeliver it", consumer=subscription.group, error=repr(error))
            await message.nack()
            await asyncio.sleep(1.0)
        finally:
            subscriber.max_records = processor.batch_limit  # the next fetch: smaller for a while after a failure

    consume.__name__ = f"consume_{subscription.topic.name.replace('.', '_').replace('-', '_')}"
    subscriber = broker.subscriber(
        subscription.topic.name,
        group_id=topics.group(subscription.group),
        batch=True,
        max_records=max_records,
        batch_timeout_ms=batch_timeout_ms,
        fetch_min_bytes=fetch_min_bytes,
        fetch_max_wait_ms=fetch_max_wait_ms,
        ack_policy=AckPolicy.MANUAL,
        auto_offset_reset="earliest",
        decoder=keep_raw,
        include_in_schema=False,
        max_poll_interval_ms=max_poll_interval_ms,
    )
    subscriber(consume)
    return processor
