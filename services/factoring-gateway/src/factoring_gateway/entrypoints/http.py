"""The factoring gateway's read-only HTTP queries."""

from __future__ import annotations

from dataclasses import asdict

from starlette.requests import Request

from servicekit.http import BadRequest
from servicekit.service import Service

from ..adapters.ledger_client import LedgerClient
from ..domain.providers import installed_adapters
from ..service_layer import views
from ..settings import FactoringGatewaySettings


def register(service: Service, settings: FactoringGatewaySettings) -> None:
    engine = service.queries
    ledger = LedgerClient(settings.ledger_url, service.token)

    def provider_of(request: Request) -> str:
        provider = request.query_params.get("provider")
        if provider is None or provider not in installed_adapters():
            raise BadRequest(f"provider must be one of {', '.join(sorted(installed_adapters()))}")
        return provider

    async def integrations(request: Request) -> object:
        return await views.integrations(engine, request.path_params["client_id"])

    async def cases(request: Request) -> object:
        found = await views.cases(engine, request.path_params["client_id"], request.query_params.get("provider"))
        return [asdict(case) for case in found]

    async def parked(request: Request) -> object:
        return await views.parked(engine, request.path_params["client_id"])

    async def reconciliation(request: Request) -> object:
        return await views.reconciliation(engine, ledger, request.path_params["client_id"], provider_of(request))

    prefix = "/clients/{client_id}"
    service.get(f"{prefix}/integrations", integrations)
    service.get(f"{prefix}/cases", cases)
    service.get(f"{prefix}/parked-events", parked)
    service.get(f"{prefix}/reconciliation", reconciliation)
