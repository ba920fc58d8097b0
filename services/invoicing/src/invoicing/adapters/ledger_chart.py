"""The client's chart, asked of the ledger itself (its HTTP query, never its tables), to check posting accounts."""

from __future__ import annotations

from typing import Any, Protocol

from ledgerline_contracts import auth
from servicekit.http import ServiceQueries, Unavailable

LedgerUnavailable = Unavailable


class Chart(Protocol):
    async def chart(self, client_id: str) -> dict[str, Any]:
        """The ledger's answer to `GET /clients/{client_id}/chart`: accounts, series and parties."""
        ...


class LedgerChart:
    def __init__(self, base_url: str, token: auth.ServiceToken | None = None) -> None:
        self._get = ServiceQueries("ledger", base_url, token).get

    async def chart(self, client_id: str) -> dict[str, Any]:
        answer: dict[str, Any] = await self._get(f"/clients/{client_id}/chart")
        return answer
