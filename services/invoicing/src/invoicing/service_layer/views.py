"""Invoicing's read-only reports. Every invoice report carries the two factoring columns (rule 7)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncEngine

from servicekit.db import query

INVOICE_COLUMNS = (
    "invoice_id, number, customer_number, origin, invoice_date, due_date, net_ore, vat_ore, gross_ore, state, "
    "delivery_method, factoring_provider, factoring_status, factoring_description, reminders, debt_collection, "
    "legacy_transfer, paid_ore, credited_ore, passed_on_ore, gross_ore - paid_ore - credited_ore AS outstanding_ore, "
    "sent_at, "
    # Bookings of this invoice the ledger refused (rare: an empty list almost always).
    "COALESCE((SELECT json_agg(json_build_object('event_type', p.event_type, 'code', p.code, 'reason', p.reason, "
    "'rejected_at', p.rejected_at) ORDER BY p.rejected_at) FROM booking_problems p "
    "WHERE p.invoice_id = invoices.invoice_id AND p.client_id = invoices.client_id), '[]') AS booking_problems"
)


async def client(engine: AsyncEngine, client_id: str) -> dict[str, Any] | None:
    rows = await query(engine, "SELECT * FROM clients WHERE client_id = $1", client_id)
    if not rows:
        return None
    row = rows[0]
    roles, users = row["roles"], row["users"]
    integration = row["integration"]
    methods = ["email", "e_invoice", "print"]
    if integration and integration.get("state") == "active":
        methods.append(integration["display_name"])
    return {
        "client_id": client_id,
        "company_name": row["company_name"],
        "organisation_number": row["organisation_number"],
        "settings": row["settings"],
        "integration": integration,
        "delivery_methods": methods,
        "roles": roles,
        "users": [
            {**user, "privileges": sorted(set().union(*(set(roles.get(r, [])) for r in user["roles"])))}
            for user in users
        ],
    }


async def customers(engine: AsyncEngine, client_id: str) -> list[dict[str, Any]]:
    return await query(
        engine,
        "SELECT number, data, use_factoring, delivery_method FROM customers WHERE client_id = $1 ORDER BY number",
        client_id,
    )


async def invoices(
    engine: AsyncEngine, client_id: str, unpaid: bool, status: str | None, numbers: list[str] | None = None
) -> list[dict[str, Any]]:
    """`numbers` picks given invoices in one query: how a report keyed by invoice number (e.g. the ledger's open
    items) joins the factoring columns onto its rows without reading our tables."""
    return await query(
        engine,
        f"SELECT {INVOICE_COLUMNS} FROM invoices WHERE client_id = $1 "
        "AND (NOT $2::boolean OR (state = 'sent' AND gross_ore - paid_ore - credited_ore > 0)) "
        "AND ($3::text IS NULL OR factoring_status = $3::text) "
        "AND ($4::text[] IS NULL OR number = ANY($4::text[])) "
        "ORDER BY number NULLS LAST, invoice_date",
        client_id,
        unpaid,
        status,
        numbers,
    )


async def invoice(engine: AsyncEngine, client_id: str, invoice_id: UUID) -> dict[str, Any] | None:
    rows = await query(
        engine,
        f"SELECT {INVOICE_COLUMNS}, lines FROM invoices WHERE client_id = $1 AND invoice_id = $2",
        client_id,
        invoice_id,
    )
    if not rows:
        return None
    result = rows[0]
    result["factoring_history"] = await query(
        engine,
        "SELECT sequence, status, description, provider_event_id, applied, received_at "
        "FROM factoring_status_history WHERE invoice_id = $1 AND client_id = $2 ORDER BY id",
        invoice_id,
        client_id,
    )
    return result
