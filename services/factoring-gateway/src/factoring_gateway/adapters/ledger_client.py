"""The ledger's chart, asked of the ledger itself (its HTTP query, never its tables).

Activation checks the mapping against what the ledger holds at that moment: a party added a second earlier is
there, which a projection of the ledger's events could not promise.
"""

from __future__ import annotations

from typing import Protocol

from ledgerline_contracts import auth
from ledgerline_contracts.chart import accounts_of
from ledgerline_contracts.factoring import AccountRef
from ledgerline_contracts.ledger import PartyKind
from servicekit.http import ServiceQueries, Unavailable

from ..domain.mapping import KnownLedger
from ..domain.reconciliation import LedgerBalance

LedgerUnavailable = Unavailable
"""The ledger did not answer: a transient failure, so the message is retried rather than refused."""


class Ledger(Protocol):
    """What the handlers ask of the ledger: the client's chart, as it is now."""

    async def chart(self, client_id: str) -> KnownLedger: ...


class LedgerClient:
    def __init__(self, base_url: str, token: auth.ServiceToken | None = None) -> None:
        self._get = ServiceQueries("ledger", base_url, token).get

    async def chart(self, client_id: str) -> KnownLedger:
        chart = await self._get(f"/clients/{client_id}/chart")
        return KnownLedger(
            accounts_of(chart),
            {p["number"]: _control_account(chart, p["series"]) for p in chart["parties"]},
            {p["number"]: PartyKind(p["kind"]) for p in chart["parties"]},
        )

    async def balances_per_item(self, client_id: str, ref: AccountRef) -> dict[str, LedgerBalance]:
        """An account's (or a party's) balance per open item, zero balances included: what reconciliation checks."""
        params = {"include_zero": "true"}
        if ref.party is not None:
            params["party"] = str(ref.party)
        rows = await self._get(f"/clients/{client_id}/accounts/{ref.account}/items", params)
        return {row["open_item"]: LedgerBalance(row["balance_ore"], row["voucher_numbers"]) for row in rows}


def _control_account(chart: dict[str, list[dict[str, object]]], series: object) -> str:
    return next(str(s["control_account"]) for s in chart["series"] if s["code"] == series)
