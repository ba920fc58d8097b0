"""Contracts for operating the system: dead letters."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from .messages import Catalogue, Message


class DeadLetter(Message):
    """A message a consumer could not handle, kept with everything needed to understand and replay it."""

    type: Literal["ledgerline.DeadLetter"] = "ledgerline.DeadLetter"
    version: Literal[1] = 1
    consumer_group: str
    topic: str
    partition: int
    offset: int
    key_b64: str | None = None
    value_b64: str | None = Field(default=None, description="The original bytes, base64: replayed as they were.")
    headers: dict[str, str] = Field(default_factory=dict)
    error_kind: Literal["undecodable", "handler_error", "refused"]
    error: str
    attempts: int
    first_failed_at: datetime
    last_failed_at: datetime


DEAD_LETTERS = Catalogue("deadletter", [DeadLetter])
