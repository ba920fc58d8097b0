"""The gateway's read-only HTTP queries. Each answers only a user who holds the invoice-financing privilege.

The user is the subject of the bearer token (checked, with its client, by `servicekit.service.Service.get`); a
user without the privilege gets 403 with the missing privilege named.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request

from ledgerline_contracts.auth import Principal
from servicekit.http import BadRequest, JSONResponse
from servicekit.service import Service

from ..domain.access import require_financing_privilege
from ..domain.errors import Refused
from ..service_layer import views

MAX_HISTORY = 1000

ClientQuery = Callable[[Request, str], Awaitable[Any]]


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit", str(MAX_HISTORY))
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_HISTORY:
        raise BadRequest(f"limit must be a whole number from 1 to {MAX_HISTORY}, got {raw!r}")
    return int(raw)


def register(service: Service) -> None:
    engine = service.queries

    def for_privileged_users(query: ClientQuery) -> Callable[[Request], Awaitable[Any]]:
        async def endpoint(request: Request) -> Any:
            client_id = request.path_params["client_id"]
            caller: Principal = request.state.principal
            if caller.kind != "user":
                raise BadRequest("the widget answers a user of the client, with the invoice-financing privilege", 403)
            user_id = caller.subject
            try:
                require_financing_privilege(user_id, await views.user_access(engine, client_id, user_id))
            except Refused as refusal:
                return JSONResponse({"error": refusal.reason, **refusal.details}, status_code=403)
            return await query(request, client_id)

        return endpoint

    async def widget(_: Request, client_id: str) -> object:
        return await views.widget(engine, client_id)

    async def history(request: Request, client_id: str) -> object:
        return await views.credit_history(engine, client_id, _limit(request))

    async def stream(_: Request, client_id: str) -> object:
        return await views.stream_status(engine, client_id)

    async def transactions(_: Request, client_id: str) -> object:
        return await views.transactions(engine, client_id)

    prefix = "/clients/{client_id}"
    service.get(f"{prefix}/widget", for_privileged_users(widget))
    service.get(f"{prefix}/credit-limit/history", for_privileged_users(history))
    service.get(f"{prefix}/stream", for_privileged_users(stream))
    service.get(f"{prefix}/transactions", for_privileged_users(transactions))
