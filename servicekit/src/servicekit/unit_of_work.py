"""The unit of work as handlers see it: one transaction, its inbox claims and the events it causes.

Handlers depend on this protocol only. `servicekit.db.PostgresUnitOfWork` is the real one (an asyncpg
transaction with a transactional outbox); `servicekit.testing.FakeUnitOfWork` keeps everything in memory, so a
handler's unit tests need neither Kafka nor PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol, Self, TypeVar

from ledgerline_contracts.messages import Message
from ledgerline_contracts.topics import Topic

from . import metrics

M = TypeVar("M", bound=Message)


class UnitOfWork(Protocol):
    service: str
    """The service whose transaction this is (for metrics)."""

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None: ...

    def publish(self, topic: Topic | str, message: Message, key: str | bytes | None) -> None:
        """Queue an event to be relayed to Kafka if, and only if, this transaction commits."""

    def publish_encoded(
        self, topic: Topic, kind: str, payload: bytes, key: str | bytes | None, correlation_id: str | None = None
    ) -> None:
        """Like `publish`, for a message already encoded (`ledgerline_contracts.encoders`) of type `kind`; pass its
        `correlation_id` (the record's header: the outbox parses nothing)."""

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Runs `callback` only if the transaction commits (e.g. counting what was really done)."""

    async def claim(self, consumer: str, keys: Iterable[str], fingerprints: Sequence[bytes] | None = None) -> set[str]:
        """Marks message keys as handled by `consumer`; returns those not handled before. `fingerprints`, one per
        key, are kept with the claims."""

    async def fingerprints(self, consumer: str, keys: Iterable[str]) -> dict[str, bytes]:
        """The fingerprints kept with these claims."""

    async def release(self, consumer: str, keys: Iterable[str]) -> None:
        """Forgets that `consumer` handled these keys, so a refused message can be replayed after a fix."""

    async def unseen(
        self,
        consumer: str,
        messages: Sequence[M],
        key: Callable[[M], str] | None = None,
        fingerprint: Callable[[M], bytes] | None = None,
        on_conflict: Callable[[M], None] | None = None,
    ) -> list[M]:
        """The messages not handled before by `consumer`, in their order; claims them in this transaction. With
        `fingerprint`, a repeat with other content is a conflict, handed to `on_conflict` (see `unseen` below)."""


def by_message_id(message: Message) -> str:
    return str(message.message_id)


async def unseen(
    uow: UnitOfWork,
    service: str,
    consumer: str,
    messages: Sequence[M],
    key: Callable[[M], str] | None,
    fingerprint: Callable[[M], bytes] | None,
    on_conflict: Callable[[M], None] | None,
) -> list[M]:
    """`UnitOfWork.unseen`, the same for every unit of work: claim, then sort the rest into repeats and conflicts.

    A repeat is the same content under a key claimed before (or earlier in the batch): dropped, counted as a
    duplicate. A conflict is other content under such a key: counted in `ledgerline_inbox_conflicts_total` and
    handed to `on_conflict`; it is never handled, and the key stays with what was claimed first. The stored
    fingerprints are read only when there are repeats, so a batch of new messages costs no extra query.
    """
    key = key or by_message_id
    keys = [key(m) for m in messages]
    prints = [fingerprint(m) for m in messages] if fingerprint is not None else None
    fresh = await uow.claim(consumer, keys, prints)
    known: dict[str, bytes] = {}
    if prints is not None and len(fresh) < len(keys):
        known = await uow.fingerprints(consumer, [k for k in keys if k not in fresh])
    result: list[M] = []
    for index, message in enumerate(messages):
        k = keys[index]
        if k in fresh:
            fresh.discard(k)  # a second copy in this batch is a repeat (or a conflict) of this one
            result.append(message)
            if prints is not None:
                known[k] = prints[index]
        elif prints is not None and k in known and known[k] != prints[index]:
            uow.after_commit(metrics.inbox_conflicts.labels(service, consumer).inc)
            if on_conflict is not None:
                on_conflict(message)
        else:
            uow.after_commit(metrics.inbox_duplicates.labels(service, consumer).inc)
    return result
