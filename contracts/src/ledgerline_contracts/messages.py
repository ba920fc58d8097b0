"""The envelope every message shares, and the catalogue that decodes a topic's messages."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, ClassVar, Literal, Self, overload
from uuid import UUID, uuid4, uuid5

import orjson
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, ValidationError

ClientId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
"""A client (tenant, one company's books). Every message and row carries it."""

Slug = Annotated[str, StringConstraints(min_length=2, max_length=40, pattern=r"^[a-z0-9][a-z0-9-]*[a-z0-9]$")]
"""A provider's machine name, e.g. `abc-factoring`; it is part of the provider's topic names."""

MAX_MESSAGE_BYTES = 512 * 1024
"""Larger messages are refused before parsing; nothing legitimate here comes near it."""

MAX_TEXT_LENGTH = 4000
"""The longest text any field takes unless its contract says otherwise (a name, a reason, a description): longer
is refused with the field named, not stored. Published in every schema as `maxLength`."""

WIRE = ConfigDict(extra="ignore", frozen=True, str_max_length=MAX_TEXT_LENGTH)


class Part(BaseModel):
    """A part of a message (an address, a line, an account reference): the same rules as the message's own fields."""

    model_config = WIRE


def _iso_date(value: Any) -> Any:
    if isinstance(value, str) and not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        raise ValueError("a date must be written YYYY-MM-DD")
    if not isinstance(value, (str, date)) or isinstance(value, datetime):
        raise ValueError("a date must be written YYYY-MM-DD")
    return value


PROVIDER_DATE_PAST = timedelta(days=10 * 366)
PROVIDER_DATE_FUTURE = timedelta(days=31)


def _sane(value: date) -> date:
    today = datetime.now(UTC).date()
    if not today - PROVIDER_DATE_PAST <= value <= today + PROVIDER_DATE_FUTURE:
        raise ValueError(
            f"{value.isoformat()} is not within {PROVIDER_DATE_PAST.days} days before and "
            f"{PROVIDER_DATE_FUTURE.days} days after today"
        )
    return value


ProviderDate = Annotated[date, BeforeValidator(_iso_date), AfterValidator(_sane)]
"""A date a provider says something happened on: ISO `YYYY-MM-DD` only (no timestamps, no epoch numbers), and
within ten years before and a month after today (a typo such as 0226 or 2062 is refused, not booked)."""


def utc_now() -> datetime:
    return datetime.now(UTC)


def _type_and_version_required(schema: dict[str, Any], model: type[BaseModel]) -> None:
    """Lists a message's type and version fields (by their wire names) as `required` in its published schema.

    In Python they have defaults (each concrete message pins them), so pydantic would leave them out; on the wire
    they are what a consumer decodes by, and a message without them is refused as an unknown type. A message
    naming its partition key (`kafka_key`) publishes it as `x-kafka-key`, a JSON Pointer into the payload."""
    names = [field.alias or name for name, field in model.model_fields.items() if name in ("type", "version")]
    if names:
        required = schema.setdefault("required", [])
        required[:0] = [name for name in names if name not in required]
    key = getattr(model, "kafka_key", None)
    if isinstance(key, str):
        schema["x-kafka-key"] = key


class Message(BaseModel):
    """Base of every message on the wire.

    Each concrete message pins `type` (e.g. `ledger.PostVoucher`) and `version` as literals, so the JSON always
    says what it is and the schema shows it. `message_id` is unique per message and is what consumers
    deduplicate on, unless the contract names a business key instead. A message that arrives without one gets
    an id derived from its content (see `derived_id`), so the same bytes delivered twice are one message.
    """

    model_config = ConfigDict(**WIRE, json_schema_extra=_type_and_version_required)

    kafka_key: ClassVar[str | None] = None
    """Where a provider topic's record key comes from: a JSON Pointer into the payload (e.g. `/submission_id`),
    published in the message's schema as `x-kafka-key`. None: the topic's documented key."""

    type: str
    version: int
    message_id: UUID = Field(
        default_factory=uuid4,
        description="Unique per message; a repeat with the same id changes nothing. When absent, the consumer "
        "derives it from the message's content (UUID v5 of its canonical JSON), so a resent copy is still a repeat.",
    )
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
    """A request to change state. The handling service answers with a `CommandResult` keyed by `message_id`.

    Unknown fields are refused, not ignored: a misspelt field (`"amount"` for `"amount_ore"`) would otherwise
    silently take its default and change what the command means. (Events ignore unknown fields, so that a newer
    producer's additions do not break an older consumer.)"""

    model_config = ConfigDict(extra="forbid")

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
        self._id_fields: set[str] = {"message_id"}
        for model in models:
            self._models.setdefault(model.type_name(), {})[model.type_version()] = model
            self._id_fields.add(model.model_fields["message_id"].alias or "message_id")

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
        return self._decode_data(_json_object(raw), only)

    def decode_record(self, raw: bytes | None, only: frozenset[str] | None = None) -> list[Decoded]:
        """Every message of a record: the one it holds, or each item of an envelope, decoded (or refused) one by
        one, so that one bad item does not take the others with it. An envelope with none of the types in
        `only` is skipped without being parsed. Raises UndecodableMessage for a record that is not even that."""
        if raw is not None and raw.startswith(_ENVELOPE_PREFIX):
            if only is not None and only.isdisjoint(envelope_types(raw)):
                return []
            items = _json_object(raw).get("items")
            if not isinstance(items, list):
                raise UndecodableMessage("an envelope without its list of items")
            return [self._decode_item(item, only) for item in items]
        try:
            data = _json_object(raw)  # parsed once: the object is kept for whoever needs it again (fingerprints)
            return [Decoded(self._decode_data(data, only), None, raw, data)]
        except UndecodableMessage as refusal:
            if raw is None or len(raw) > MAX_MESSAGE_BYTES:
                raise
            return [Decoded(None, refusal.reason, raw)]

    def _decode_item(self, item: Any, only: frozenset[str] | None) -> Decoded:
        try:
            if not isinstance(item, dict):
                raise UndecodableMessage(f"an envelope item that is not a JSON object but {type(item).__name__}")
            return Decoded(self._decode_data(item, only), None, None, item)
        except UndecodableMessage as refusal:
            return Decoded(None, refusal.reason, None, item)

    def _decode_data(self, data: dict[str, Any], only: frozenset[str] | None) -> Message | None:
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
        if self._id_fields.isdisjoint(data):
            data = {**data, "message_id": derived_id(data)}
        try:
            return model.model_validate(data)
        except ValidationError as error:
            raise UndecodableMessage(f"invalid {kind} v{version}: {_summarise(error)}") from None


@dataclass(frozen=True, slots=True)
class Decoded:
    """One message of a record: decoded (None: a type the consumer does not want), or refused with the reason."""

    message: Message | None
    error: str | None
    raw: bytes | None
    item: Any = None
    """The message as parsed: an envelope's item (then `raw` is None: its bytes are made only when asked for), or
    the record's whole JSON object."""

    def original(self) -> bytes:
        """The message's own bytes: the record's, or its envelope item's."""
        return self.raw if self.raw is not None else orjson.dumps(self.item)


# --- envelopes: several messages for one key in one record ------------------------------------------------------
ENVELOPE_TYPE = "ledgerline.Envelope"


class Envelope(BaseModel):
    """Several messages for one key in one record, on the topics between our services that take envelopes.

    `items` are messages of the topic, in the order they were published, each with its own `message_id`;
    `types` lists the item types, first, so that a consumer with nothing to do skips the record unparsed. A
    record on such a topic is either a single message or an envelope: consumers read both."""

    model_config = ConfigDict(frozen=True, json_schema_extra=_type_and_version_required)

    type: Literal["ledgerline.Envelope"] = "ledgerline.Envelope"
    version: Literal[1] = 1
    types: list[str]
    items: list[dict[str, Any]]


_ENVELOPE_PREFIX = b'{"type":"ledgerline.Envelope"'
_ITEMS = b',"items":['
ENVELOPE_MAX_ITEMS = 500


def envelope(items: Sequence[tuple[str, bytes]]) -> bytes:
    """One record for several messages (their type and bytes) of one key, in their order.

    Between our own services, a unit of work's events for one key travel as one record (topics marked
    `envelopes`): one record, one outbox row and one broker write instead of one each. The items keep their own
    ids, so consumers deduplicate them one by one. The distinct item types come first, so a consumer skips an
    envelope with nothing for it without parsing the items. The items' bytes are spliced in as they are.
    """
    types = orjson.dumps(sorted({kind for kind, _ in items}))
    head = b'{"type":"' + ENVELOPE_TYPE.encode() + b'","version":1,"types":' + types
    return head + _ITEMS + b",".join(payload for _, payload in items) + b"]}"


def envelope_types(raw: bytes) -> frozenset[str]:
    """The item types an envelope announces, read from its head only."""
    end = raw.find(_ITEMS)
    if end < 0:
        raise UndecodableMessage("an envelope without its list of items")
    try:
        head = orjson.loads(raw[:end] + b"}")
    except orjson.JSONDecodeError as error:
        raise UndecodableMessage(f"not JSON: {error}") from None
    types = head.get("types")
    if not isinstance(types, list):
        raise UndecodableMessage("an envelope without its list of item types")
    return frozenset(t for t in types if isinstance(t, str))


_DERIVED_IDS = UUID("5b1e7d0c-61a4-4c59-9e0f-4b2f3c8d9a17")


def derived_id(data: dict[str, Any]) -> UUID:
    """The id of a message sent without one: a UUID v5 of its canonical JSON (keys sorted), so every copy of the
    same message gets the same id, whichever consumer decodes it and however often."""
    return uuid5(_DERIVED_IDS, orjson.dumps(data, option=orjson.OPT_SORT_KEYS).decode())


def _json_object(raw: bytes | None) -> dict[str, Any]:
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
    if _NUL in raw and (where := _nul_at(data)) is not None:  # one scan of the bytes; the walk only when it hits
        raise UndecodableMessage(f"{where or 'message'}: text with a NUL character (\\u0000) is refused")
    return data


_NUL = b"\\u0000"


def _nul_at(value: Any, path: str = "") -> str | None:
    """Where a NUL character is (a dotted path), or None: no database column can hold one, so it is refused."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        items: Iterable[tuple[Any, Any]] = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        where = f"{path}.{key}" if path else str(key)
        if "\x00" in str(key):
            return where
        if (found := _nul_at(item, where)) is not None:
            return found
    return None


def _summarise(error: ValidationError) -> str:
    parts = []
    for item in error.errors()[:5]:
        where = ".".join(str(p) for p in item["loc"]) or "message"
        parts.append(f"{where}: {item['msg']}")
    more = error.error_count() - 5
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")
