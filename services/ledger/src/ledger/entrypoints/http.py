"""The ledger's read-only HTTP queries."""

from __future__ import annotations

import re
from dataclasses import asdict
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from uuid import UUID

from starlette.requests import Request
from starlette.responses import Response

from servicekit.http import BUSINESS_TIME_ZONE, BadRequest, business_today, query_date
from servicekit.service import Service

from .. import saft
from ..service_layer import views


def _int(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number, got {raw!r}") from None


def _software_version() -> str:
    try:
        return version("ledgerline-ledger")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree without the package installed
        return "unknown"


def _organisation_number(request: Request) -> str | None:
    raw = request.query_params.get("organisation_number")
    if raw is not None and not re.fullmatch(r"[0-9]{9}", raw):
        raise BadRequest(f"organisation_number must be nine digits, got {raw!r}")
    return raw


def register(service: Service) -> None:
    engine = service.queries

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

    async def saft_file(request: Request) -> Response:
        """SAF-T Financial 1.30 XML for the selection `from`..`to`. The organisation number and the contact person,
        which invoicing keeps and the ledger does not, may be given as parameters (left empty otherwise)."""
        client_id = request.path_params["client_id"]
        start, end = query_date(request, "from"), query_date(request, "to")
        if start is None or end is None:
            raise BadRequest("from and to (YYYY-MM-DD) are required")
        if start > end:
            raise BadRequest(f"from {start} is after to {end}")
        name = await views.company_name(engine, client_id)
        if name is None:
            raise BadRequest(f"client {client_id} has no books", status=404)
        company = saft.Company(
            name,
            _organisation_number(request),
            request.query_params.get("contact") or None,
            request.query_params.get("phone") or None,
        )
        ledger = await views.saft_ledger(engine, client_id, start, end, company)
        created = datetime.now(BUSINESS_TIME_ZONE)
        xml = saft.build_audit_file(ledger, created.date(), _software_version())
        # Skatteetaten's naming convention: SAF-T Financial_<organisation number>_<created, YYYYMMDDhhmmss>.xml
        filename = f"SAF-T Financial_{company.organisation_number or client_id}_{created:%Y%m%d%H%M%S}.xml"
        return Response(
            xml, media_type="application/xml", headers={"content-disposition": f'attachment; filename="{filename}"'}
        )

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
    service.get(f"{prefix}/saft", saft_file)
