"""The Kafka broker every service uses: idempotent producer, acks from all replicas, Prometheus middleware."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import ssl
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    InvalidTopicError,
    KafkaError,
    TopicAuthorizationFailedError,
    UnknownTopicOrPartitionError,
    for_code,
)
from aiokafka.partitioner import murmur2
from aiokafka.protocol.metadata import MetadataRequest
from faststream.kafka import KafkaBroker
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

from ledgerline_contracts import auth, topics

from . import metrics
from .logging import get_logger
from .settings import ServiceSettings

log = get_logger(__name__)


def _security(settings: ServiceSettings) -> BaseSecurity | None:
    protocol = settings.kafka_security_protocol.upper()
    if protocol == "PLAINTEXT":
        return None
    context = ssl.create_default_context() if protocol.endswith("SSL") else None
    if settings.kafka_sasl_mechanism is None:
        return BaseSecurity(ssl_context=context)
    password = settings.kafka_sasl_password.get_secret_value() if settings.kafka_sasl_password else ""
    sasl = {"PLAIN": SASLPlaintext, "SCRAM-SHA-256": SASLScram256, "SCRAM-SHA-512": SASLScram512}[
        settings.kafka_sasl_mechanism.upper()
    ]
    return sasl(username=settings.kafka_sasl_username or "", password=password, ssl_context=context)


@functools.lru_cache(maxsize=65_536)
def _murmur2_index(key: bytes) -> int:
    return int(murmur2(key)) & 0x7FFFFFFF


def partition_for(key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
    """Kafka's default partitioning (murmur2, as the Java client), with the hash remembered per key: aiokafka's
    murmur2 is pure Python and keys repeat (a client's id, an invoice's id) across many messages."""
    if key is None:
        return random.choice(available or all_partitions)
    return all_partitions[_murmur2_index(key) % len(all_partitions)]


def make_producer(settings: ServiceSettings) -> AIOKafkaProducer:
    """The outbox relay's own producer: idempotent, acks from all replicas, batching, without FastStream's
    per-message middleware (the relay counts what it publishes itself)."""
    protocol = settings.kafka_security_protocol.upper()
    password = settings.kafka_sasl_password.get_secret_value() if settings.kafka_sasl_password else None
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id=f"{settings.service_name}-{settings.instance_id}-outbox",
        acks="all",
        enable_idempotence=True,
        linger_ms=settings.kafka_linger_ms,
        compression_type=settings.kafka_compression,
        max_batch_size=256 * 1024,
        partitioner=partition_for,
        security_protocol=protocol,
        sasl_mechanism=(settings.kafka_sasl_mechanism or "PLAIN").upper(),
        sasl_plain_username=settings.kafka_sasl_username,
        sasl_plain_password=password,
        ssl_context=ssl.create_default_context() if protocol.endswith("SSL") else None,
    )


class Publisher:
    """A producer that can be replaced by a fresh one.

    An idempotent producer's sequence state does not survive every broker failure (after a broker restart it
    may answer OutOfOrderSequenceNumber for good); whoever sees a send fail calls `renew()`, and whatever was
    not acknowledged is sent again by its owner (the outbox keeps its rows until they are acknowledged).
    """

    def __init__(self, settings: ServiceSettings, token: auth.ServiceToken | None = None) -> None:
        self._settings = settings
        self._producer: AIOKafkaProducer | None = None
        self._token = token
        self._signed = frozenset(t.name for t in topics.all_topics() if t.authenticated)
        self._stale = False
        """A renewal is owed: the broker could not be reached when it was asked for."""
        self._replacing = asyncio.Lock()
        """One replacement at a time: two at once (the relay's and a consumer's) would leave a producer running."""

    async def start(self) -> None:
        await self._replace()

    async def _replace(self, *, only_if_stale: bool = False) -> None:
        async with self._replacing:
            if only_if_stale and not self._stale:
                return  # another send made the renewal while this one waited
            old = self._producer
            self._producer = await self._started_producer()
            self._stale = False
        if old is not None:
            with contextlib.suppress(Exception):
                await old.stop()

    async def _started_producer(self) -> AIOKafkaProducer:
        producer = make_producer(self._settings)
        try:
            await producer.start()
        except BaseException:
            with contextlib.suppress(Exception):
                await producer.stop()  # a half-started producer keeps its connections and tasks otherwise
            raise
        return producer

    async def send(
        self, topic: str, value: bytes, key: bytes | None, correlation_id: str | None = None
    ) -> asyncio.Future[Any]:
        """Sends one record with `content-type` and, when given, `correlation_id` headers (what the AsyncAPI
        documents promise), and a signed token on a topic several services write."""
        assert self._producer is not None, "start() the publisher first"
        if self._stale:
            await self._replace(only_if_stale=True)  # while the broker is away this fails as a send: the caller retries
        headers = JSON_HEADERS
        if correlation_id is not None:
            headers = [*JSON_HEADERS, (CORRELATION_HEADER, correlation_id.encode())]
        if self._token is not None and topic in self._signed:
            headers = [*headers, self._token.header()]  # who sends it, for a topic several services write
        future: asyncio.Future[Any] = await self._producer.send(topic, value, key=key, headers=headers)
        return future

    async def topic_error(self, topic: str) -> KafkaError | None:
        """Why `topic` cannot be written, as the broker says when asked: it does not exist (topics are never created
        automatically), is not a valid name, or this principal may not see it. None when it can be written, or when
        the broker did not answer (that is an outage, not the topic's fault: sending waits for the broker).

        Asked only for topics the producer knows nothing about yet; aiokafka itself would wait its whole request
        timeout (40 s) for a topic that does not exist and then say only "unknown topic or partition"."""
        assert self._producer is not None, "start() the publisher first"
        client = self._producer.client
        if client.cluster.partitions_for_topic(topic) is not None:
            return None
        node = client.get_random_node()
        if node is None:
            return None
        try:
            response = await client.send(node, MetadataRequest([topic], allow_auto_topic_creation=False))
        except (KafkaError, TimeoutError):
            return None
        for error_code, name, *_ in response.topics:
            error = for_code(error_code)
            if name == topic and error in (UnknownTopicOrPartitionError, InvalidTopicError):
                return TopicNotFound(topic) if error is UnknownTopicOrPartitionError else InvalidTopicError(topic)
            if name == topic and error is TopicAuthorizationFailedError:
                return TopicAuthorizationFailedError(topic)
        return None

    async def renew(self) -> None:
        """Replaces the producer by a fresh one; the new one takes over before the old one is stopped, so a
        concurrent send never finds none. Never raises: callers renew while handling a failure, often while the
        broker is still away, and a renewal that raised there would end their retry loop (the outbox relay's did,
        for good). Until a fresh producer starts, the old one stays and the next `send` tries again."""
        try:
            await self._replace()
        except Exception as error:
            self._stale = True
            log.warning("producer not renewed yet: the broker cannot be reached", error=repr(error))

    async def stop(self) -> None:
        if self._producer is not None:
            with contextlib.suppress(Exception):
                await self._producer.stop()
            self._producer = None


JSON_HEADERS = [("content-type", b"application/json")]
CORRELATION_HEADER = "correlation_id"
"""The header FastStream's AsyncAPI documents name as every message's correlation id location."""


class TopicNotFound(UnknownTopicOrPartitionError):  # type: ignore[misc]
    """The broker answered that the topic does not exist: unlike a partition that is briefly unknown (which aiokafka
    retries), sending the same record again will not help until someone creates the topic."""

    retriable = False


def make_broker(settings: ServiceSettings, **extra: Any) -> KafkaBroker:
    return KafkaBroker(
        # FastStream takes a string as one host; a list is what a multi-broker bootstrap needs.
        [server.strip() for server in settings.kafka_bootstrap_servers.split(",") if server.strip()],
        client_id=f"{settings.service_name}-{settings.instance_id}",
        acks="all",
        enable_idempotence=True,
        linger_ms=settings.kafka_linger_ms,
        compression_type=settings.kafka_compression,  # type: ignore[arg-type]
        max_batch_size=256 * 1024,
        allow_auto_create_topics=False,
        security=_security(settings),
        graceful_timeout=20.0,
        middlewares=[KafkaPrometheusMiddleware(registry=metrics.registry, app_name=settings.service_name)],
        logger=logging.getLogger(f"{settings.service_name}.broker"),
        log_level=logging.DEBUG,  # FastStream's per-message lines; ours say the same per batch, with ids
        **extra,
    )
