"""The gateway's read-only views: integrations, cases, parked events, and reconciliation against the ledger."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ledgerline_contracts.factoring import AccountRef
from ledgerline_contracts.invoicing import FactoringStatus

from ..domain.lifecycle import Case
from ..domain.providers import ADAPTERS
from ..domain.reconciliation import LedgerBalance, reconcile


async def _rows(engine: AsyncEngine, sql: str, **params: Any) -> list[dict[str, Any]]:
    async with engine.connect() as connection:
        return [dict(row._mapping) for row in await connection.execute(text(sql), params)]


async def integrations(engine: AsyncEngine, client_id: str) -> dict[str, Any]:
    active = await _rows(
        engine, "SELECT provider, display_name, active, changed_at FROM integrations WHERE client_id = :c", c=client_id
    )
    mappings = await _rows(
        engine, "SELECT provider, accounts, changed_at FROM account_mappings WHERE client_id = :c", c=client_id
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
            for a in ADAPTERS.values()
        ],
    }


async def cases(engine: AsyncEngine, client_id: str, provider: str | None) -> list[Case]:
    rows = await _rows(
        engine,
        "SELECT * FROM cases WHERE client_id = :c AND (CAST(:p AS text) IS NULL OR provider = :p) "
        "ORDER BY invoice_number",
        c=client_id,
        p=provider,
    )
    return [
        Case(
            invoice_id=r["invoice_id"],
            client_id=r["client_id"],
            provider=r["provider"],
            invoice_number=r["invoice_number"],
            customer_number=r["customer_number"],
            gross_ore=r["gross_ore"],
            status=FactoringStatus(r["status"]),
            description=r["description"],
            status_sequence=r["status_sequence"],
            **r["facts"],
        )
        for r in rows
    ]


async def parked(engine: AsyncEngine, client_id: str) -> list[dict[str, Any]]:
    return await _rows(
        engine,
        "SELECT p.provider, p.event_key, p.invoice_ids, p.reason, p.parked_at FROM parked_events p "
        "WHERE EXISTS (SELECT 1 FROM cases c WHERE c.invoice_id = ANY(p.invoice_ids) AND c.client_id = :c) "
        "ORDER BY p.id",
        c=client_id,
    )


async def parked_per_provider(engine: AsyncEngine) -> dict[str, tuple[int, float]]:
    """Per provider: how many events are parked, and the oldest one's age in seconds."""
    rows = await _rows(
        engine,
        "SELECT provider, count(*) AS n, EXTRACT(EPOCH FROM now() - min(parked_at)) AS age_seconds "
        "FROM parked_events GROUP BY provider",
    )
    return {row["provider"]: (row["n"], float(row["age_seconds"] or 0.0)) for row in rows}


async def reconciliation(engine: AsyncEngine, ledger_url: str, client_id: str, provider: str) -> dict[str, Any]:
    adapter = ADAPTERS[provider]
    found = await _rows(
        engine, "SELECT accounts FROM account_mappings WHERE client_id = :c AND provider = :p", c=client_id, p=provider
    )
    if not found:
        return {"provider": provider, "error": f"client {client_id} has no account mapping for {provider}"}
    accounts = {role: AccountRef.model_validate(ref) for role, ref in found[0]["accounts"].items()}
    the_cases = await cases(engine, client_id, provider)
    roles = {role for case in the_cases[:1] for role in adapter.expected_balances(case)} or {"intermediate"}
    ledger: dict[str, dict[str, LedgerBalance]] = {}
    async with httpx.AsyncClient(base_url=ledger_url, timeout=10) as http:
        for role in roles:
            ref = accounts[role]
            params: dict[str, str] = {"include_zero": "true"}
            if ref.party is not None:
                params["party"] = str(ref.party)
            response = await http.get(f"/clients/{client_id}/accounts/{ref.account}/items", params=params)
            response.raise_for_status()
            ledger[role] = {
                row["open_item"]: LedgerBalance(row["balance_ore"], row["voucher_numbers"]) for row in response.json()
            }
    waiting: dict[str, int] = {}
    for row in await parked(engine, client_id):
        for invoice_id in row["invoice_ids"]:
            waiting[str(invoice_id)] = waiting.get(str(invoice_id), 0) + 1
    return {"client_id": client_id, **reconcile(adapter, the_cases, ledger, waiting)}
