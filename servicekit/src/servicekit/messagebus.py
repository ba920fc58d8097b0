"""One routing table per service: message type → handler, and the batches that run the handlers.

A service declares two things in its service layer:

- `HANDLERS`, a dict from message type to an async handler `handler(batch, message)`; and
- its consumers: which topic, under which consumer group, with which kind of `Batch`.

Everything else is derived: each consumer subscribes to the types of its topic that `HANDLERS` routes (the
others are skipped before validation), the AsyncAPI document lists them, and `routes()` refuses to start a
service whose table and consumers disagree (a routed type no consumer reads, a command topic with an unrouted
command, a consumer with nothing routed). Nothing is skipped silently.

A batch of records is one unit of work: the consumer's `Batch` claims the messages in the inbox, preloads
what its handlers will read, calls each message's handler in order, and writes what they accumulated in
`finish()`. Handlers decide; batches read and write in bulk.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from ledgerline_contracts import catalogues
from ledgerline_contracts.auth import Principal, Verifier
from ledgerline_contracts.messages import Catalogue, Message
from ledgerline_contracts.topics import Topic, dead_letters

from . import metrics
from .auth import Caller, caller_of, callers
from .consumer import BatchHandler, Delivery, Origin, Subscription, dead_letter
from .unit_of_work import UnitOfWork

Handler = Callable[[Any, Any], Awaitable[Any]]
"""`async def handler(batch, message)`: what one message does, inside its batch's unit of work."""

Handlers = Mapping[type[Message], Handler]


class Batch:
    """What the handlers of one batch share: the unit of work, and whatever a consumer's subclass adds
    (repositories, caches, writes accumulated for `finish`)."""

    def __init__(self, uow: UnitOfWork, group: str) -> None:
        self.uow = uow
        self.group = group
        self.callers: dict[Any, Caller] = {}

    def caller(self, message: Message) -> Principal:
        """Who sent the message, by its token (topics marked `authenticated`); raises NotAuthenticated."""
        return caller_of(self.callers, message)

    async def claim(self, deliveries: Sequence[Delivery]) -> list[Message]:
        """The messages not handled before, claimed in this unit of work (deduplicated on the message id). A message
        whose id was claimed before with other content is refused to the dead letters as a conflict."""
        by_message = {id(d.message): d for d in deliveries}
        return await self.uow.unseen(
            self.group,
            [d.message for d in deliveries],
            fingerprint=lambda message: fingerprint(by_message[id(message)]),
            on_conflict=lambda message: self.conflict(by_message[id(message)], str(message.message_id)),
        )

    def conflict(self, delivery: Delivery, key: str) -> None:
        """Refuses a message that reuses a key claimed before for other content: a dead letter with the reason."""
        refuse(
            self.uow,
            self.group,
            delivery,
            f"{delivery.message.type} reuses the key {key} of a message handled before with other content "
            "(a sender's bug or a forgery): refused, nothing done",
            kind="conflict",
        )

    async def prepare(self, messages: Sequence[Message]) -> None:
        """Reads in one go what the handlers of these messages will need."""

    async def dispatch(self, handler: Handler, message: Message) -> None:
        """Runs one message's handler; command batches override this to answer each command."""
        await handler(self, message)

    async def finish(self) -> None:
        """Writes what the handlers accumulated."""

    def close(self) -> None:
        """Runs last, whether the batch went through or failed (e.g. to drop caches it changed in memory)."""


_METADATA = frozenset(
    {"message_id", "messageId", "occurred_at", "occurredAt", "correlation_id", "correlationId", "sent_at", "sentAt"}
)
"""Fields that say when and under which id a message was sent, not what it says: left out of its fingerprint."""


def fingerprint(delivery: Delivery) -> bytes:
    """What a message says, as 16 bytes: its fields but the id and times, keys sorted (a resend that re-serialises
    the same content has the same fingerprint)."""
    data = delivery.item if delivery.item is not None else orjson.loads(delivery.value)
    content = {k: v for k, v in data.items() if k not in _METADATA}
    return hashlib.blake2b(orjson.dumps(content, option=orjson.OPT_SORT_KEYS), digest_size=16).digest()


def refuse(uow: UnitOfWork, group: str, origin: Origin, reason: str, kind: str = "refused") -> None:
    """A message refused for good, to the consumer's dead letters with the reason and its bytes (for a replay), in
    the same transaction as everything else the batch does."""
    uow.publish(dead_letters(group), dead_letter(group, origin, kind=kind, error=reason), key=origin.key)
    uow.after_commit(metrics.dead_letters.labels(uow.service, group, origin.topic, kind).inc)


BatchFactory = Callable[[UnitOfWork, str], Batch]


@dataclass(frozen=True)
class Consumer:
    """One subscription of a service: a topic read under a consumer group, a batch at a time."""

    topic: Topic
    group: str
    batch: BatchFactory
    description: str
    routes_every_type: bool = False
    """Every message type the topic carries must have a handler (command topics: nothing may go unanswered)."""
    catalogue: Catalogue | None = None
    """The topic's message types; by default the contracts' catalogue for the topic."""

    def types(self) -> Catalogue:
        return self.catalogue or catalogues.of(self.topic)


class RoutingError(RuntimeError):
    """The routing table and the consumers disagree: the service must not start."""


def routes(
    consumers: Iterable[Consumer],
    handlers: Handlers,
    uow: Callable[[], UnitOfWork],
    verifier: Verifier | None = None,
) -> list[Subscription]:
    """The subscriptions that run `handlers`, one per consumer, checked against each other. `verifier` checks the
    tokens on topics marked `authenticated` (a service refuses to start without one)."""
    consumers = list(consumers)
    problems: list[str] = []
    unread = set(handlers)
    subscriptions: list[Subscription] = []
    for consumer in consumers:
        carried = consumer.types().models
        routed = [model for model in carried if model in handlers]
        unread -= set(routed)
        if not routed:
            problems.append(f"{consumer.group} reads {consumer.topic.name} but no handler is routed for its types")
        if consumer.routes_every_type and (unrouted := [m.type_name() for m in carried if m not in handlers]):
            problems.append(f"{consumer.group}: no handler for {', '.join(unrouted)} on {consumer.topic.name}")
        subscriptions.append(
            Subscription(
                consumer.topic,
                consumer.group,
                consumer.types(),
                _batch_handler(consumer, {m: handlers[m] for m in routed}, uow, verifier),
                consumer.description,
                wants=frozenset(m.type_name() for m in routed),
            )
        )
    if unread:
        names = ", ".join(sorted(m.type_name() for m in unread))
        problems.append(f"handlers routed for types no consumer reads: {names}")
    if problems:
        raise RoutingError("; ".join(problems))
    return subscriptions


def _batch_handler(
    consumer: Consumer,
    handlers: Mapping[type[Message], Handler],
    uow: Callable[[], UnitOfWork],
    verifier: Verifier | None,
) -> BatchHandler:
    async def handle(deliveries: Sequence[Delivery]) -> None:
        await run_batch(consumer, handlers, uow(), deliveries, verifier)

    return handle


async def run_batch(
    consumer: Consumer,
    handlers: Mapping[type[Message], Handler],
    uow: UnitOfWork,
    deliveries: Sequence[Delivery],
    verifier: Verifier | None = None,
) -> None:
    """One batch, one unit of work: claim, prepare, a handler per message in order, finish, commit."""
    async with uow:
        batch = consumer.batch(uow, consumer.group)
        if consumer.topic.authenticated:
            batch.callers = callers(verifier, deliveries)
        try:
            messages = await batch.claim(deliveries)
            await batch.prepare(messages)
            for message in messages:
                await batch.dispatch(handlers[type(message)], message)
            await batch.finish()
        finally:
            batch.close()
