"""Test doubles for the service layer: a unit of work that keeps its inbox and outbox in memory.

Handlers run against `FakeUnitOfWork` and a service's in-memory repository exactly as they run against
PostgreSQL and Kafka, so their unit tests take milliseconds. What only the real parts can show (transactions
under concurrency, the relay, redelivery) stays in the integration tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Self, TypeVar

from ledgerline_contracts import auth, catalogues
from ledgerline_contracts.messages import Message
from ledgerline_contracts.topics import Topic

from .consumer import Delivery
from .messagebus import Consumer, Handlers, run_batch
from .unit_of_work import unseen

M = TypeVar("M", bound=Message)
T = TypeVar("T")


@dataclass
class Published:
    topic: str
    message: Message
    key: bytes | None


@dataclass
class FakeInbox:
    """The inbox and the relayed outbox, kept across units of work like the tables they stand for."""

    handled: set[tuple[str, str]] = field(default_factory=set)
    fingerprints: dict[tuple[str, str], bytes] = field(default_factory=dict)
    published: list[Published] = field(default_factory=list)
    commits: int = 0
    rollbacks: int = 0

    def messages(self, topic: Topic | str | None = None, kind: type[M] | None = None) -> list[Any]:
        """What committed units of work published, optionally on one topic and of one type."""
        name = topic.name if isinstance(topic, Topic) else topic
        return [
            p.message
            for p in self.published
            if (name is None or p.topic == name) and (kind is None or isinstance(p.message, kind))
        ]


class FakeUnitOfWork:
    """`servicekit.unit_of_work.UnitOfWork` in memory: claims and published events take effect on commit only."""

    def __init__(self, inbox: FakeInbox | None = None, service: str = "test") -> None:
        self.inbox = inbox or FakeInbox()
        self.service = service
        self._claimed: set[tuple[str, str]] = set()
        self._prints: dict[tuple[str, str], bytes] = {}
        self._released: set[tuple[str, str]] = set()
        self._outbox: list[Published] = []
        self._after_commit: list[Callable[[], None]] = []

    async def __aenter__(self) -> Self:
        self._claimed, self._released, self._outbox, self._after_commit = set(), set(), [], []
        self._prints = {}
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            self.inbox.rollbacks += 1
            return
        self.inbox.handled = (self.inbox.handled | self._claimed) - self._released
        self.inbox.fingerprints.update({k: v for k, v in self._prints.items() if k in self.inbox.handled})
        self.inbox.published += self._outbox
        self.inbox.commits += 1
        for callback in self._after_commit:
            callback()

    def publish(self, topic: Topic | str, message: Message, key: str | bytes | None) -> None:
        name = topic.name if isinstance(topic, Topic) else topic
        self._outbox.append(Published(name, message, key.encode() if isinstance(key, str) else key))

    def publish_encoded(
        self, topic: Topic, kind: str, payload: bytes, key: str | bytes | None, correlation_id: str | None = None
    ) -> None:
        """Decoded as its consumers will decode it, so tests see the message (and a bad encoding fails them, as does
        a `correlation_id` header other than the message's own)."""
        message = catalogues.of(topic).decode(payload)
        assert message.type == kind, f"{kind} encoded as {message.type}"
        assert correlation_id == message.correlation_id, f"header {correlation_id}, message {message.correlation_id}"
        self.publish(topic, message, key)

    def after_commit(self, callback: Callable[[], None]) -> None:
        self._after_commit.append(callback)

    async def claim(self, consumer: str, keys: Iterable[str], fingerprints: Sequence[bytes] | None = None) -> set[str]:
        keys = list(keys)
        prints: Sequence[bytes | None] = fingerprints if fingerprints is not None else [None] * len(keys)
        fresh = set()
        for key, printed in zip(keys, prints, strict=True):
            entry = (consumer, key)
            if (entry in self.inbox.handled and entry not in self._released) or entry in self._claimed:
                continue
            self._claimed.add(entry)
            self._released.discard(entry)
            if printed is not None:
                self._prints[entry] = printed
            fresh.add(key)
        return fresh

    async def fingerprints(self, consumer: str, keys: Iterable[str]) -> dict[str, bytes]:
        found = {}
        for key in keys:
            printed = self._prints.get((consumer, key)) or self.inbox.fingerprints.get((consumer, key))
            if printed is not None:
                found[key] = printed
        return found

    async def release(self, consumer: str, keys: Iterable[str]) -> None:
        for key in keys:
            self._claimed.discard((consumer, key))
            self._released.add((consumer, key))

    async def unseen(
        self,
        consumer: str,
        messages: Sequence[M],
        key: Callable[[M], str] | None = None,
        fingerprint: Callable[[M], bytes] | None = None,
        on_conflict: Callable[[M], None] | None = None,
    ) -> list[M]:
        return await unseen(self, self.service, consumer, messages, key, fingerprint, on_conflict)


# --- tokens: keys made per test run, so handler tests sign and check tokens as the services do -------------------
_KEYS = {name: auth.new_key() for name in (auth.USERS_ISSUER, "invoicing", "factoring-gateway", "financing-gateway")}
AUTOMATIC = auth.AS_FRONT_END
"""`deliver`'s default token: the one `token_for(message)` signs."""
USERS = auth.Issuer(auth.USERS_ISSUER, _KEYS[auth.USERS_ISSUER])
"""Signs user and platform-operator tokens in tests."""
VERIFIER = auth.Verifier({name: key.public_key() for name, key in _KEYS.items()})


def service_issuer(name: str) -> auth.Issuer:
    """Signs one of our services' own tokens in tests."""
    return auth.Issuer(name, _KEYS[name])


def token_for(message: Message) -> str:
    """The token a front end would attach: its user's for a command that names an acting user, else a platform
    operator's with every privilege."""
    return auth.front_end_token(USERS, message, operator="test-operator")


async def deliver(
    consumer: Consumer,
    handlers: Handlers,
    uow: FakeUnitOfWork,
    *messages: Message,
    partition: int = 0,
    token: str | auth.FrontEnd | None = auth.AS_FRONT_END,
) -> None:
    """Runs messages through a consumer as one batch, as the real consumer does after decoding them: only the
    types the routing table sends this consumer, one unit of work, the same claims, handlers and writes. On
    topics marked `authenticated` each record carries `token` (by default `token_for(message)`; None: none)."""
    wanted = [m for m in messages if type(m) in handlers and type(m) in consumer.types().models]

    def headers(message: Message) -> dict[str, str]:
        chosen = token_for(message) if isinstance(token, auth.FrontEnd) else token
        return {auth.HEADER: f"Bearer {chosen}"} if consumer.topic.authenticated and chosen else {}

    deliveries = [
        Delivery(m, consumer.topic.name, partition, offset, None, m.to_bytes(), headers(m))
        for offset, m in enumerate(wanted)
    ]
    await run_batch(consumer, handlers, uow, deliveries, VERIFIER)


def consumer_for(consumers: Iterable[Consumer], topic: Topic) -> Consumer:
    return next(c for c in consumers if c.topic.name == topic.name)


class Coverage:
    """Which routed message types a service's handler tests exercise, so a routing table cannot grow a handler
    without a test: mark each test with `@coverage.covers(...)`, and assert `coverage.untested(HANDLERS) == []`."""

    def __init__(self) -> None:
        self.tested: set[type[Message]] = set()

    def covers(self, *kinds: type[Message]) -> Callable[[T], T]:
        def mark(test: T) -> T:
            self.tested.update(kinds)
            return test

        return mark

    def untested(self, routed: Iterable[type[Message]]) -> list[str]:
        return sorted(kind.type_name() for kind in set(routed) - self.tested)
