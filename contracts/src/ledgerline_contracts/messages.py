"""The envelope every message shares, and the catalogue that decodes a topic's messages."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Self, overload
from uuid import UUID, uuid4

import orjson
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

ClientId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
"""A client (tenant, one company's books). Every message and row carries it."""

Slug = Annotated[str, StringConstraints(min_length=2, max_length=40, pattern=r"^[a-z0-9][a-z0-9-]*[a-z0-9]$")]
"""A provider's machine name, e.g. `abc-factoring`; it is part of the provider's topic names."""

MAX_MESSAGE_BYTES = 512 * 1024
"""Larger messages are refused before parsing; nothing legitimate here comes near it."""


def utc_now() -> datetime:
    return datetime.now(UTC)


class Message(BaseModel):
    """Base of every message on the wire.

    Each concrete message pins `type` (e.g. `ledger.PostVoucher`) and `version` as literals, so the JSON always
    says what it is and the schema shows it. `message_id` is unique per message and is what consumers
    deduplicate on, unless the contract names a business key instead.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    type: str
    version: int
    message_id: UUID = Field(default_factory=uuid4)
    occurred_at: datetime = Field(default_factory=utc_now)
    correlation_id: str | None = Field(
        default=None, max_length=200, description="Follows one business flow (e.g. an invoice) across services."
    )

    @classmethod
    def type_name(cls) -> str:
        return str(cls.model_fields["type"].default)

    @classmethod
    def type_version(cls) -> int:
        return int(cls.model_fields["version"].default)

    @classmethod
    def trusted(cls, **values: Any) -> Self:
        """A message from values that were validated already (e.g. taken from a validated command): no second
        validation. Only for hot paths that build messages from their own, checked data."""
        values.setdefault("message_id", uuid4())
        values.setdefault("occurred_at", utc_now())
        return cls.model_construct(**values)  # type: ignore[return-value]  # pydantic types it as the base

    def to_bytes(self) -> bytes:
        return self.__pydantic_serializer__.to_json(self, by_alias=True)


class ClientMessage(Message):
    client_id: ClientId


class Command(ClientMessage):
    """A request to change state. The handling service answers with a `CommandResult` keyed by `message_id`."""

    reply: bool = Field(
        default=True,
        description="Publish a CommandResult for it. Operators want one; services booking through the ledger do not "
        "(they follow VoucherPosted and BookingRejected).",
    )


class CommandResult(Message):
    """The answer to a command: accepted (with details) or refused (with the reason, in words)."""

    type: Literal["ledgerline.CommandResult"] = "ledgerline.CommandResult"
    version: Literal[1] = 1
    command_id: UUID
    command_type: str
    client_id: str
    service: str
    accepted: bool
    reason: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class UndecodableMessage(ValueError):
    """The bytes are not a message this consumer understands; `reason` says why in words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Catalogue:
    """The message types one topic carries, by `type` and `version`: decodes bytes or says exactly why not."""

    def __init__(
        self, name: str, models: Iterable[type[Message]], type_field: str = "type", version_field: str = "version"
    ) -> None:
        self.name = name
        self._type_field = type_field
        self._version_field = version_field
        self._models: dict[str, dict[int, type[Message]]] = {}
        for model in models:
            self._models.setdefault(model.type_name(), {})[model.type_version()] = model

    @property
    def models(self) -> list[type[Message]]:
        return [m for versions in self._models.values() for m in versions.values()]

    @overload
    def decode(self, raw: bytes | None) -> Message: ...

    @overload
    def decode(self, raw: bytes | None, only: frozenset[str] | None) -> Message | None: ...

    def decode(self, raw: bytes | None, only: frozenset[str] | None = None) -> Message | None:
        """The message in `raw`, or why not. With `only`, a well-formed message of another type is returned as
        None without being validated: a consumer that wants two types of a busy topic pays for those two."""
        if raw is None:
            raise UndecodableMessage("empty message (tombstone)")
        if len(raw) > MAX_MESSAGE_BYTES:
            raise UndecodableMessage(f"message of {len(raw)} bytes exceeds the {MAX_MESSAGE_BYTES} byte limit")
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as error:
            raise UndecodableMessage(f"not JSON: {error}") from None
        if not isinstance(data, dict):
            raise UndecodableMessage(f"not a JSON object but {type(data).__name__}")
        kind, version = data.get(self._type_field), data.get(self._version_field)
        versions = self._models.get(kind) if isinstance(kind, str) else None
        if versions is None:
            raise UndecodableMessage(f"unknown message type {kind!r} on {self.name}")
        model = versions.get(version) if isinstance(version, int) and not isinstance(version, bool) else None
        if model is None:
            known = ", ".join(str(v) for v in sorted(versions))
            raise UndecodableMessage(f"unknown contract version {version!r} of {kind} (understood: {known})")
        if only is not None and kind not in only:
            return None
        try:
            return model.model_validate(data)
        except ValidationError as error:
            raise UndecodableMessage(f"invalid {kind} v{version}: {_summarise(error)}") from None


def _summarise(error: ValidationError) -> str:
    parts = []
    for item in error.errors()[:5]:
        where = ".".join(str(p) for p in item["loc"]) or "message"
        parts.append(f"{where}: {item['msg']}")
    more = error.error_count() - 5
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")
