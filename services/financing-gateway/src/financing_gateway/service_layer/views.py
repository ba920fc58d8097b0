"""Read-only queries: the dashboard widget, the credit-limit history, the stream's status, the account's movements."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from ledgerline_contracts.financing import PROVIDER, OnboardingState
from servicekit.db import query

from ..adapters.repository import access_from_row
from ..domain.access import UserAccess
from ..domain.onboarding import PROGRESS


async def _first(engine: AsyncEngine, sql: str, *args: Any) -> dict[str, Any] | None:
    rows = await query(engine, sql, *args)
    return rows[0] if rows else None


async def user_access(engine: AsyncEngine, client_id: str, user_id: str) -> UserAccess | None:
    row = await _first(engine, "SELECT * FROM users WHERE client_id = $1 AND user_id = $2", client_id, user_id)
    return access_from_row(row) if row else None


async def _onboarding(engine: AsyncEngine, client_id: str) -> dict[str, Any] | None:
    row = await _first(
        engine,
        "SELECT o.* FROM receivable_streams s JOIN onboardings o ON o.onboarding_id = s.onboarding_id "
        "WHERE s.client_id = $1",
        client_id,
    )
    if row is None:
        return None
    return {
        "onboarding_id": row["onboarding_id"],
        "state": row["state"],
        "context": row["context"],
        "consent": {
            "given_by": row["consent_given_by"],
            "given_at": row["consent_given_at"],
            "text": row["consent_text"],
            "text_version": row["consent_text_version"],
        },
        "refusal": {"code": row["refusal_code"], "reason": row["refusal_reason"]} if row["refusal_code"] else None,
        "withdrawal": (
            {"by": row["withdrawn_by"], "at": row["withdrawn_at"], "reason": row["withdrawal_reason"]}
            if row["withdrawn_by"]
            else None
        ),
        "updated_at": row["updated_at"],
    }


EXCLUDED_REASON = "held by a factoring provider"
"""Why an open item is not offered to the financing provider (`domain.factored`)."""


async def _factored(engine: AsyncEngine, client_id: str) -> dict[str, Any]:
    """How many of the client's open items a factoring provider holds, and their balances summed."""
    row = await _first(
        engine,
        "SELECT count(*) AS factored_items, COALESCE(sum(o.balance_ore), 0)::bigint AS factored_total_ore "
        "FROM open_items o WHERE o.client_id = $1 AND EXISTS (SELECT 1 FROM factored_invoices f "
        "WHERE f.held AND f.client_id = o.client_id AND f.party = o.party AND f.open_item = o.open_item)",
        client_id,
    )
    return row or {"factored_items": 0, "factored_total_ore": 0}


async def widget(engine: AsyncEngine, client_id: str) -> dict[str, Any]:
    """What the dashboard widget shows: the credit line's figures, where onboarding stands, and the open items left
    out of what the financing provider sees because a factoring provider holds them."""
    onboarding = await _onboarding(engine, client_id)
    state = onboarding["state"] if onboarding else OnboardingState.NOT_STARTED.value
    credit = await _first(
        engine,
        "SELECT limit_ore, used_ore, available_ore, calculated_at AS updated_at, based_on_sequence "
        "FROM credit_limits WHERE client_id = $1 ORDER BY id DESC LIMIT 1",
        client_id,
    )
    company = await _first(
        engine, "SELECT company_name, organisation_number FROM clients WHERE client_id = $1", client_id
    )
    stream = await _first(
        engine, "SELECT streaming, last_sequence FROM receivable_streams WHERE client_id = $1", client_id
    )
    postings = await _first(
        engine,
        "SELECT enabled, bank_account, liability_account, liability_party FROM posting_settings WHERE client_id = $1",
        client_id,
    )
    factored = await _factored(engine, client_id)
    return {
        "client_id": client_id,
        "provider": PROVIDER,
        "company": company,
        "active": state in PROGRESS,
        "state": state,
        "account_opened": state == OnboardingState.ACCOUNT_OPENED.value,
        "credit": credit,
        "onboarding": onboarding,
        "stream": stream or {"streaming": False, "last_sequence": 0},
        "postings": postings or {"enabled": False},
        "excluded": {
            "receivables": factored["factored_items"],
            "total_ore": factored["factored_total_ore"],
            "reason": EXCLUDED_REASON,
        },
    }


async def credit_history(engine: AsyncEngine, client_id: str, limit: int) -> dict[str, Any]:
    rows = await query(
        engine,
        "SELECT onboarding_id, limit_ore, used_ore, available_ore, based_on_sequence, calculated_at, received_at "
        "FROM credit_limits WHERE client_id = $1 ORDER BY id DESC LIMIT $2",
        client_id,
        limit,
    )
    return {"client_id": client_id, "history": rows[::-1]}


async def stream_status(engine: AsyncEngine, client_id: str) -> dict[str, Any]:
    """What the provider has been sent, next to what the gateway knows is open now (all of it, and the part a
    factoring provider holds, which the provider is not sent)."""
    stream = await _first(engine, "SELECT * FROM receivable_streams WHERE client_id = $1", client_id)
    known = await _first(
        engine,
        "SELECT count(*) AS open_items, COALESCE(sum(balance_ore), 0)::bigint AS open_total_ore "
        "FROM open_items WHERE client_id = $1",
        client_id,
    )
    return {
        "client_id": client_id,
        "streaming": bool(stream and stream["streaming"]),
        "onboarding_id": stream["onboarding_id"] if stream else None,
        "last_sequence": stream["last_sequence"] if stream else 0,
        "snapshots_sent": stream["snapshots_sent"] if stream else 0,
        "changes_sent": stream["changes_sent"] if stream else 0,
        "last_sent_at": stream["last_sent_at"] if stream else None,
        **(known or {}),
        **await _factored(engine, client_id),
    }


async def transactions(engine: AsyncEngine, client_id: str) -> dict[str, Any]:
    rows = await query(
        engine,
        "SELECT kind, transaction_id, amount_ore, transaction_date, idempotency_key, received_at, "
        "CASE WHEN idempotency_key IS NULL THEN 'manual' ELSE 'booked' END AS posting "
        "FROM provider_transactions WHERE client_id = $1 ORDER BY received_at, transaction_id",
        client_id,
    )
    return {"client_id": client_id, "transactions": rows}
