"""The ledger's chart, asked of the ledger itself (its HTTP query, never its tables).

Activation checks the mapping against what the ledger holds at that moment: a party added a second earlier is
there, which a projection of the ledger's events could not promise.
"""

from __future__ import annotations

import httpx

from ..domain.mapping import KnownLedger


class LedgerUnavailable(ConnectionError):
    """The ledger did not answer: a transient failure, so the message is retried rather than refused."""


class LedgerClient:
    def __init__(self, base_url: str) -> None:
        self._base_url = base_url

    async def chart(self, client_id: str) -> KnownLedger:
        try:
            async with httpx.AsyncClient(base_url=self._base_url, timeout=10) as http:
                response = await http.get(f"/clients/{client_id}/chart")
                response.raise_for_status()
        except httpx.HTTPError as error:
            raise LedgerUnavailable(f"the ledger's chart query failed: {error!r}") from error
        chart = response.json()
        return KnownLedger(
            frozenset(a["number"] for a in chart["accounts"]),
            {p["number"]: _control_account(chart, p["series"]) for p in chart["parties"]},
        )


def _control_account(chart: dict[str, list[dict[str, object]]], series: object) -> str:
    return next(str(s["control_account"]) for s in chart["series"] if s["code"] == series)
