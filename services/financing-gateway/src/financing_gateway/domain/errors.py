"""How a rule says no: a code for counting and a reason the user can act on."""

from __future__ import annotations

from typing import Any


class Refused(Exception):
    def __init__(self, code: str, reason: str, **details: Any) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.details: dict[str, Any] = {"code": code, **details}
