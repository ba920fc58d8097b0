"""The gateway's read-only views: integrations, cases, parked events, and reconciliation against the ledger."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from ledgerline_contracts.factoring import AccountRef
from servicekit.db import query

from ..adapters.ledger_client import LedgerClient
from ..adapters.repository import case_from_row
from ..domain.lifecycle import Case
from ..domain.providers import installed_adapters
from ..domain.reconciliation import LedgerBalance, reconcile


async def integrations(engine: AsyncEngine, client_id: str) -> dict[str, Any]:
    active = await query(
        engine, "SELECT provider, display_name, active, changed_at FROM integrations WHERE client_id = $1", client_id
    )
    mappings = await query(
        engine, "SELECT provider, accounts, changed_at FROM account_mappings WHERE client_id = $1", client_id
    )
    return {
        "client_id": client_id,
        "integrations": active,
        "mappings": mappings,
        "providers": [
            {
                "slug": a.slug,
                "display_name": a.display_name,
                "roles": [{"name": r.name, "purpose": r.purpose, "required": r.required} for r in a.roles],
            }
            for a in installed_adapters().values()
        ],
    }


async def cases(engine: AsyncEngine, client_id: str, provider: str | None) -> list[Case]:
    rows = await query(
        engine,
        "SELECT * FROM cases WHERE client_id = $1 AND ($2::text IS NULL OR provider = $2::text) "
        "ORDER BY invoice_number",
        client_id,
        provider,
    )
    return [case_from_row(row) for row in rows]


async def parked(engine: AsyncEngine, client_id: str) -> list[dict[str, Any]]:
    return await query(
        engine,
        "SELECT p.provider, p.event_key, p.invoice_ids, p.reason, p.parked_at FROM parked_events p "
        "WHERE p.client_id = $1 ORDER BY p.id",
        client_id,
    )


async def parked_per_provider(engine: AsyncEngine) -> dict[str, tuple[int, float]]:
    """Per provider: how many events are parked, and the oldest one's age in seconds."""
    rows = await query(
        engine,
        "SELECT provider, count(*) AS n, EXTRACT(EPOCH FROM now() - min(parked_at)) AS age_seconds "
        "FROM parked_events GROUP BY provider",
    )
    return {row["provider"]: (row["n"], float(row["age_seconds"] or 0.0)) for row in rows}


async def reconciliation(engine: AsyncEngine, ledger: LedgerClient, client_id: str, provider: str) -> dict[str, Any]:
    adapter = installed_adapters()[provider]
    found = await query(
        engine, "SELECT accounts FROM account_mappings WHERE client_id = $1 AND provider = $2", client_id, provider
    )
    if not found:
        return {"provider": provider, "error": f"client {client_id} has no account mapping for {provider}"}
    accounts = {role: AccountRef.model_validate(ref) for role, ref in found[0]["accounts"].items()}
    the_cases = await cases(engine, client_id, provider)
    roles = {role for case in the_cases[:1] for role in adapter.expected_balances(case)} or {"intermediate"}
    balances: dict[str, dict[str, LedgerBalance]] = {
        role: await ledger.balances_per_item(client_id, accounts[role]) for role in roles
    }
    waiting: dict[str, int] = {}
    for row in await parked(engine, client_id):
        for invoice_id in row["invoice_ids"]:
            waiting[str(invoice_id)] = waiting.get(str(invoice_id), 0) + 1
    return {"client_id": client_id, **reconcile(adapter, the_cases, balances, waiting)}
