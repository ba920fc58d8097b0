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

M = TypeVar("M", bound=Message)


class UnitOfWork(Protocol):
    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None: ...

    def publish(self, topic: Topic | str, message: Message, key: str | bytes | None) -> None:
        """Queue an event to be relayed to Kafka if, and only if, this transaction commits."""

    def publish_encoded(self, topic: Topic, kind: str, payload: bytes, key: str | bytes | None) -> None:
        """Like `publish`, for a message already encoded (`ledgerline_contracts.encoders`) of type `kind`."""

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Runs `callback` only if the transaction commits (e.g. counting what was really done)."""

    async def claim(self, consumer: str, keys: Iterable[str]) -> set[str]:
        """Marks message keys as handled by `consumer`; returns those not handled before."""

    async def release(self, consumer: str, keys: Iterable[str]) -> None:
        """Forgets that `consumer` handled these keys, so a refused message can be replayed after a fix."""

    async def unseen(self, consumer: str, messages: Sequence[M], key: Callable[[M], str] | None = None) -> list[M]:
        """The messages not handled before by `consumer`, in their order; claims them in this transaction."""


def by_message_id(message: Message) -> str:
    return str(message.message_id)
