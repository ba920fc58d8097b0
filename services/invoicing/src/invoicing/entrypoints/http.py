"""Invoicing's read-only HTTP queries."""

from __future__ import annotations

from uuid import UUID

from starlette.requests import Request

from servicekit.http import BadRequest
from servicekit.service import Service

from ..service_layer import views


def register(service: Service) -> None:
    engine = service.queries

    async def client(request: Request) -> object:
        found = await views.client(engine, request.path_params["client_id"])
        if found is None:
            raise BadRequest(f"no client {request.path_params['client_id']}", status=404)
        return found

    async def customers(request: Request) -> object:
        return await views.customers(engine, request.path_params["client_id"])

    async def invoices(request: Request) -> object:
        return await views.invoices(
            engine,
            request.path_params["client_id"],
            request.query_params.get("unpaid") == "true",
            request.query_params.get("factoring_status"),
            request.query_params.getlist("number") or None,
        )

    async def unpaid(request: Request) -> object:
        return await views.invoices(engine, request.path_params["client_id"], True, None)

    async def invoice(request: Request) -> object:
        try:
            invoice_id = UUID(request.path_params["invoice_id"])
        except ValueError:
            raise BadRequest("invoice_id must be a UUID") from None
        found = await views.invoice(engine, request.path_params["client_id"], invoice_id)
        if found is None:
            raise BadRequest(f"no invoice {invoice_id}", status=404)
        return found

    prefix = "/clients/{client_id}"
    service.get(prefix, client)
    service.get(f"{prefix}/customers", customers)
    service.get(f"{prefix}/invoices", invoices)
    service.get(f"{prefix}/unpaid-invoices", unpaid)
    service.get(f"{prefix}/invoices/{{invoice_id}}", invoice)
