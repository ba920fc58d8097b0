"""The ledger's read-only HTTP queries."""

from __future__ import annotations

from dataclasses import asdict
from uuid import UUID

from starlette.requests import Request

from servicekit.http import BadRequest, business_today, query_date
from servicekit.service import Service

from ..service_layer import views


def _int(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number, got {raw!r}") from None


def register(service: Service) -> None:
    engine = service.engine

    async def trial_balance(request: Request) -> object:
        as_of = query_date(request, "as_of") or business_today()
        return await views.trial_balance(engine, request.path_params["client_id"], as_of)

    async def account(request: Request) -> object:
        return await views.account_movements(
            engine,
            request.path_params["client_id"],
            request.path_params["number"],
            query_date(request, "from"),
            query_date(request, "to"),
        )

    async def subledger(request: Request) -> object:
        return await views.party_balances(engine, request.path_params["client_id"], request.query_params.get("kind"))

    async def open_items(request: Request) -> object:
        as_of = query_date(request, "as_of") or business_today()
        items = await views.open_items(engine, request.path_params["client_id"], as_of, _int(request, "party"))
        return {
            "as_of": as_of.isoformat(),
            "open_items": [asdict(i) for i in items],
            "total_ore": sum(i.balance_ore for i in items),
        }

    async def aged(request: Request) -> object:
        as_of = query_date(request, "as_of") or business_today()
        return await views.aged(engine, request.path_params["client_id"], as_of)

    async def per_item(request: Request) -> object:
        return await views.balance_per_item(
            engine,
            request.path_params["client_id"],
            request.path_params["number"],
            _int(request, "party"),
            request.query_params.get("include_zero") == "true",
        )

    async def voucher_list(request: Request) -> object:
        invoice = request.query_params.get("invoice_id")
        try:
            invoice_id = UUID(invoice) if invoice else None
        except ValueError:
            raise BadRequest(f"invoice_id must be a UUID, got {invoice!r}") from None
        return await views.vouchers(
            engine,
            request.path_params["client_id"],
            invoice_id,
            request.query_params.get("series"),
            _int(request, "limit") or 1000,
        )

    async def chart(request: Request) -> object:
        return await views.chart(engine, request.path_params["client_id"])

    async def rejected(request: Request) -> object:
        return await views.rejections(engine, request.path_params["client_id"])

    async def operator_actions(request: Request) -> object:
        return await views.operator_actions(engine, request.path_params["client_id"])

    prefix = "/clients/{client_id}"
    service.get(f"{prefix}/trial-balance", trial_balance)
    service.get(f"{prefix}/accounts/{{number}}", account)
    service.get(f"{prefix}/accounts/{{number}}/items", per_item)
    service.get(f"{prefix}/subledger", subledger)
    service.get(f"{prefix}/open-items", open_items)
    service.get(f"{prefix}/aged-receivables", aged)
    service.get(f"{prefix}/vouchers", voucher_list)
    service.get(f"{prefix}/chart", chart)
    service.get(f"{prefix}/rejections", rejected)
    service.get(f"{prefix}/operator-actions", operator_actions)
