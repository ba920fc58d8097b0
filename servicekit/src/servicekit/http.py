"""HTTP helpers shared by the services' query endpoints: JSON out, clear errors."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import orjson
from starlette.requests import Request
from starlette.responses import Response


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS, default=_default)


def _default(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)  # sums of øre; never a fraction
    if isinstance(value, UUID) or type(value).__name__ == "UUID":  # asyncpg has its own UUID type
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


class BadRequest(Exception):
    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


def error_response(reason: str, status: int) -> JSONResponse:
    return JSONResponse({"error": reason}, status_code=status)


BUSINESS_TIME_ZONE = ZoneInfo("Europe/Oslo")


def business_today() -> date:
    """Today where the books are kept: between midnight and 01:00/02:00 in Oslo it is already tomorrow there while
    the server's UTC date is still yesterday, and an invoice due yesterday is past due."""
    return datetime.now(BUSINESS_TIME_ZONE).date()


def query_date(request: Request, name: str, default: date | None = None) -> date | None:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a date (YYYY-MM-DD), got {raw!r}") from None


def required(request: Request, name: str) -> str:
    value = request.query_params.get(name) or request.path_params.get(name)
    if not value:
        raise BadRequest(f"missing parameter {name}")
    return str(value)
