"""HTTP helpers shared by the services' query endpoints: JSON out, clear errors."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import httpx
import orjson
from starlette.requests import Request
from starlette.responses import Response

from ledgerline_contracts import auth


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


def error_response(reason: str, status: int, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": reason}, status_code=status, headers=headers)


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


class Unavailable(ConnectionError):
    """Another service's query did not answer: a transient failure, so the message is retried, not refused."""


class ServiceQueries:
    """Another service's read-only HTTP queries, asked with this service's own token (never its tables)."""

    def __init__(self, name: str, base_url: str, token: auth.ServiceToken | None = None) -> None:
        self._name = name
        self._base_url = base_url
        self._token = token

    async def get(self, path: str, params: dict[str, str] | None = None, *, none_if_missing: bool = False) -> Any:
        """The answer (with `none_if_missing`, None for a 404); raises Unavailable for anything else."""
        headers = {}
        if self._token is not None:
            header, value = self._token.header()
            headers[header] = value.decode()
        try:
            async with httpx.AsyncClient(base_url=self._base_url, timeout=10) as http:
                response = await http.get(path, params=params, headers=headers)
                if none_if_missing and response.status_code == 404:
                    return None
                response.raise_for_status()
        except httpx.HTTPError as error:
            raise Unavailable(f"the {self._name}'s query {path} failed: {error!r}") from error
        return response.json()
