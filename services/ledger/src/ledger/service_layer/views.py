"""Read-only reports, computed from the postings (voucher lines), never from a stored balance."""

from __future__ import annotations

from datetime import date
from itertools import groupby
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncEngine

from servicekit.db import query
from servicekit.http import BUSINESS_TIME_ZONE

from .. import saft
from ..domain.reports import OpenItem, aged_receivables


async def trial_balance(engine: AsyncEngine, client_id: str, as_of: date) -> dict[str, Any]:
    rows = await query(
        engine,
        "SELECT a.number AS account, a.name, a.account_type, "
        "COALESCE(sum(l.amount_ore) FILTER (WHERE l.amount_ore > 0), 0)::bigint AS debit_ore, "
        "COALESCE(-sum(l.amount_ore) FILTER (WHERE l.amount_ore < 0), 0)::bigint AS credit_ore, "
        "COALESCE(sum(l.amount_ore), 0)::bigint AS balance_ore "
        "FROM accounts a JOIN voucher_lines l ON l.client_id = a.client_id AND l.account = a.number "
        "AND l.voucher_date <= $1 WHERE a.client_id = $2 GROUP BY a.number, a.name, a.account_type "
        "ORDER BY a.number",
        as_of,
        client_id,
    )
    return {
        "client_id": client_id,
        "as_of": as_of.isoformat(),
        "accounts": rows,
        "total_debit_ore": sum(r["debit_ore"] for r in rows),
        "total_credit_ore": sum(r["credit_ore"] for r in rows),
        "balance_ore": sum(r["balance_ore"] for r in rows),
    }


async def account_movements(
    engine: AsyncEngine, client_id: str, account: str, start: date | None, end: date | None
) -> dict[str, Any]:
    rows = await query(
        engine,
        "SELECT v.series, v.number, v.id AS voucher_id, l.voucher_date, v.text, l.line_number, l.amount_ore, "
        "l.party, l.open_item, v.source->>'service' AS source_service, v.source->>'event_type' AS source_event "
        "FROM voucher_lines l JOIN vouchers v ON v.id = l.voucher_id "
        "WHERE l.client_id = $1 AND l.account = $2 "
        "AND (CAST($3 AS date) IS NULL OR l.voucher_date >= $3) "
        "AND (CAST($4 AS date) IS NULL OR l.voucher_date <= $4) "
        "ORDER BY l.voucher_date, v.series, v.number, l.line_number",
        client_id,
        account,
        start,
        end,
    )
    opening = 0
    if start is not None:
        opening = (
            await query(
                engine,
                "SELECT COALESCE(sum(amount_ore), 0)::bigint AS b FROM voucher_lines "
                "WHERE client_id = $1 AND account = $2 AND voucher_date < $3",
                client_id,
                account,
                start,
            )
        )[0]["b"]
    running = opening
    for row in rows:
        running += row["amount_ore"]
        row["running_balance_ore"] = running
    return {
        "client_id": client_id,
        "account": account,
        "opening_balance_ore": opening,
        "closing_balance_ore": running,
        "movements": rows,
    }


async def party_balances(engine: AsyncEngine, client_id: str, kind: str | None) -> list[dict[str, Any]]:
    return await query(
        engine,
        "SELECT p.number AS party, p.name, p.kind, p.series, COALESCE(sum(l.amount_ore), 0)::bigint AS balance_ore "
        "FROM parties p LEFT JOIN voucher_lines l ON l.client_id = p.client_id AND l.party = p.number "
        "WHERE p.client_id = $1 AND (CAST($2 AS text) IS NULL OR p.kind = $2) "
        "GROUP BY p.number, p.name, p.kind, p.series ORDER BY p.number",
        client_id,
        kind,
    )


async def open_items(engine: AsyncEngine, client_id: str, as_of: date, party: int | None = None) -> list[OpenItem]:
    rows = await query(
        engine,
        "SELECT l.party, l.open_item, "
        "COALESCE(sum(l.amount_ore) FILTER (WHERE l.due_date IS NOT NULL), 0)::bigint AS original_ore, "
        "sum(l.amount_ore)::bigint AS balance_ore, max(l.due_date) AS due_date "
        "FROM voucher_lines l JOIN parties p ON p.client_id = l.client_id AND p.number = l.party "
        "WHERE l.client_id = $1 AND p.kind = 'customer' AND l.open_item IS NOT NULL "
        "AND l.voucher_date <= $2 AND (CAST($3 AS int) IS NULL OR l.party = $3) "
        "GROUP BY l.party, l.open_item HAVING sum(l.amount_ore) <> 0 ORDER BY l.party, l.open_item",
        client_id,
        as_of,
        party,
    )
    return [OpenItem(r["party"], r["open_item"], r["original_ore"], r["balance_ore"], r["due_date"]) for r in rows]


async def aged(engine: AsyncEngine, client_id: str, as_of: date) -> dict[str, Any]:
    return aged_receivables(await open_items(engine, client_id, as_of), as_of)


async def balance_per_item(
    engine: AsyncEngine, client_id: str, account: str, party: int | None, include_zero: bool
) -> list[dict[str, Any]]:
    """An account's balance per open-item reference (invoice), e.g. the factoring intermediate account."""
    return await query(
        engine,
        "SELECT l.open_item, sum(l.amount_ore)::bigint AS balance_ore, count(DISTINCT l.voucher_id) AS vouchers, "
        "array_agg(DISTINCT v.series || '-' || v.number) AS voucher_numbers "
        "FROM voucher_lines l JOIN vouchers v ON v.id = l.voucher_id "
        "WHERE l.client_id = $1 AND l.account = $2 AND l.open_item IS NOT NULL "
        "AND (CAST($3 AS int) IS NULL OR l.party = $3) "
        "GROUP BY l.open_item HAVING $4 OR sum(l.amount_ore) <> 0 ORDER BY l.open_item",
        client_id,
        account,
        party,
        include_zero,
    )


async def vouchers(
    engine: AsyncEngine, client_id: str, invoice_id: UUID | None, series: str | None, limit: int
) -> list[dict[str, Any]]:
    heads = await query(
        engine,
        "SELECT id AS voucher_id, series, number, voucher_date, text, idempotency_key, source, invoice_id, "
        "provider_event_id, reverses_voucher_id, posted_at FROM vouchers WHERE client_id = $1 "
        "AND (CAST($2 AS uuid) IS NULL OR invoice_id = $2) "
        "AND (CAST($3 AS text) IS NULL OR series = $3) ORDER BY posted_at, series, number LIMIT $4",
        client_id,
        invoice_id,
        series,
        limit,
    )
    if not heads:
        return []
    lines = await query(
        engine,
        "SELECT voucher_id, line_number, account, amount_ore, party, open_item, due_date, vat_code "
        "FROM voucher_lines WHERE voucher_id = ANY($1) ORDER BY voucher_id, line_number",
        [h["voucher_id"] for h in heads],
    )
    by_voucher: dict[UUID, list[dict[str, Any]]] = {}
    for line in lines:
        by_voucher.setdefault(line.pop("voucher_id"), []).append(line)
    for head in heads:
        head["lines"] = by_voucher.get(head["voucher_id"], [])
    return heads


async def chart(engine: AsyncEngine, client_id: str) -> dict[str, Any]:
    books = await query(engine, "SELECT * FROM books WHERE client_id = $1", client_id)
    return {
        "client_id": client_id,
        "books": books[0] if books else None,
        "accounts": await query(
            engine,
            "SELECT number, name, account_type, control_role FROM accounts WHERE client_id = $1 ORDER BY number",
            client_id,
        ),
        "series": await query(
            engine,
            "SELECT code, name, kind, control_account, first_number, last_number "
            "FROM subledger_series WHERE client_id = $1 ORDER BY first_number",
            client_id,
        ),
        "parties": await query(
            engine,
            "SELECT number, name, kind, series FROM parties WHERE client_id = $1 ORDER BY number",
            client_id,
        ),
    }


async def rejections(engine: AsyncEngine, client_id: str) -> list[dict[str, Any]]:
    return await query(
        engine,
        "SELECT idempotency_key, command_id, code, reason, source, rejected_at FROM rejected_bookings "
        "WHERE client_id = $1 ORDER BY rejected_at",
        client_id,
    )


async def operator_actions(engine: AsyncEngine, client_id: str) -> list[dict[str, Any]]:
    """What platform operators did to the client's books, oldest first."""
    return await query(
        engine,
        "SELECT command_id, command_type, operator, accepted, reason, details, recorded_at FROM operator_actions "
        "WHERE client_id = $1 ORDER BY id",
        client_id,
    )


async def company_name(engine: AsyncEngine, client_id: str) -> str | None:
    """The name the client's books were opened under; None if it has no books."""
    rows = await query(engine, "SELECT company_name FROM books WHERE client_id = $1", client_id)
    return rows[0]["company_name"] if rows else None


async def saft_ledger(
    engine: AsyncEngine, client_id: str, start: date, end: date, company: saft.Company
) -> saft.Ledger:
    """What a SAF-T Financial file for the selection [start, end] holds, read from the postings: the chart with
    each account's balance before `start` and at `end`, the parties with theirs, and the vouchers dated inside."""
    balances = (
        "COALESCE(sum(l.amount_ore) FILTER (WHERE l.voucher_date < $2), 0)::bigint AS opening_ore, "
        "COALESCE(sum(l.amount_ore), 0)::bigint AS closing_ore"
    )
    accounts = await query(
        engine,
        f"SELECT a.number, a.name, {balances} FROM accounts a LEFT JOIN voucher_lines l "
        "ON l.client_id = a.client_id AND l.account = a.number AND l.voucher_date <= $3 "
        "WHERE a.client_id = $1 GROUP BY a.number, a.name ORDER BY a.number",
        client_id,
        start,
        end,
    )
    parties = await query(
        engine,
        "SELECT p.number, p.name, p.kind, s.control_account FROM parties p LEFT JOIN subledger_series s "
        "ON s.client_id = p.client_id AND s.code = p.series WHERE p.client_id = $1 ORDER BY p.number",
        client_id,
    )
    party_balances = await query(
        engine,
        f"SELECT l.party, l.account, {balances} FROM voucher_lines l "
        "WHERE l.client_id = $1 AND l.party IS NOT NULL AND l.voucher_date <= $3 "
        "GROUP BY l.party, l.account ORDER BY l.party, l.account",
        client_id,
        start,
        end,
    )
    lines = await query(
        engine,
        "SELECT v.series, v.number, v.voucher_date, v.text, v.posted_at, l.line_number, l.account, l.amount_ore, "
        "l.party, l.vat_code, l.description, l.due_date FROM vouchers v JOIN voucher_lines l ON l.voucher_id = v.id "
        "WHERE v.client_id = $1 AND v.voucher_date BETWEEN $2 AND $3 ORDER BY v.series, v.number, l.line_number",
        client_id,
        start,
        end,
    )
    by_party: dict[int, list[saft.PartyBalance]] = {}
    for row in party_balances:
        by_party.setdefault(row["party"], []).append(
            saft.PartyBalance(row["account"], row["opening_ore"], row["closing_ore"])
        )
    vouchers = []
    for _, group in groupby(lines, key=lambda r: (r["series"], r["number"])):
        rows = list(group)
        head = rows[0]
        vouchers.append(
            saft.Voucher(
                head["series"],
                head["number"],
                head["voucher_date"],
                head["text"],
                head["posted_at"].astimezone(BUSINESS_TIME_ZONE).date(),
                tuple(
                    saft.Line(
                        r["line_number"],
                        r["account"],
                        r["amount_ore"],
                        r["party"],
                        r["vat_code"],
                        r["description"],
                        r["due_date"],
                    )
                    for r in rows
                ),
            )
        )
    return saft.Ledger(
        client_id,
        company,
        start,
        end,
        tuple(saft.AccountBalance(r["number"], r["name"], r["opening_ore"], r["closing_ore"]) for r in accounts),
        tuple(
            saft.Party(r["number"], r["name"], r["kind"], r["control_account"], tuple(by_party.get(r["number"], ())))
            for r in parties
        ),
        tuple(vouchers),
    )
