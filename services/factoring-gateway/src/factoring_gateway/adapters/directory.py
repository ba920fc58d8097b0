"""Who a client's users are, asked of invoicing, which owns users and roles (its HTTP query, never its tables).

Asked when a mapping changes, so the answer is the roles as they are, which a projection of invoicing's events
could not promise.
"""

from __future__ import annotations

from typing import Protocol

from ledgerline_contracts import auth
from servicekit.http import ServiceQueries


class Directory(Protocol):
    """Who a client's users are: invoicing owns users and roles; the gateway asks it."""

    async def roles(self, client_id: str, user_id: str) -> frozenset[str]: ...


class NoDirectory:
    """Knows no one: without a directory, no user counts as an administrator."""

    async def roles(self, client_id: str, user_id: str) -> frozenset[str]:
        return frozenset()


class InvoicingDirectory:
    """Invoicing's own answer about a client's users (its HTTP query, asked when needed: the roles as they are)."""

    def __init__(self, base_url: str, token: auth.ServiceToken | None = None) -> None:
        self._get = ServiceQueries("invoicing service", base_url, token).get

    async def roles(self, client_id: str, user_id: str) -> frozenset[str]:
        client = await self._get(f"/clients/{client_id}", none_if_missing=True)
        users = client["users"] if client else []
        return next((frozenset(u["roles"]) for u in users if u["user_id"] == user_id), frozenset())
