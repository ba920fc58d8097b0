"""Contracts for operating the system: dead letters."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from .messages import Catalogue, Message

KEEP_VALUE_BYTES = 256 * 1024
"""Dead letters keep original values up to this size; a larger one (refused for its size) keeps its first bytes,
so the dead letter itself always fits in a Kafka message."""


class DeadLetter(Message):
    """A message a consumer could not handle, kept with everything needed to understand and replay it."""

    type: Literal["ledgerline.DeadLetter"] = "ledgerline.DeadLetter"
    version: Literal[1] = 1
    consumer_group: str
    topic: str
    partition: int
    offset: int
    key_b64: str | None = None
    value_b64: str | None = Field(
        default=None,
        max_length=4 * (KEEP_VALUE_BYTES // 3 + 1),
        description="The original bytes, base64: replayed as they were.",
    )
    value_size: int = Field(default=0, description="Size of the original value in bytes.")
    value_sha256: str | None = Field(default=None, description="Of the original value; kept even when it is not.")
    value_truncated: bool = Field(
        default=False, description="The value was too large to keep whole (it could not have been handled anyway)."
    )
    headers: dict[str, str] = Field(default_factory=dict)
    error_kind: Literal["undecodable", "handler_error", "refused", "conflict"]
    error: str
    attempts: int
    first_failed_at: datetime
    last_failed_at: datetime


DEAD_LETTERS = Catalogue("deadletter", [DeadLetter])
