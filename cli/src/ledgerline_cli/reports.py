"""Rendering reports as rich tables; the data comes from the services' HTTP queries."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

from rich.table import Table

from ledgerline_contracts.money import format_nok

if TYPE_CHECKING:
    from .operator import Operator

FACTORING_COLUMNS = ("factoring_status", "factoring_description")
# The invoice numbers travel in the query string: in slices, the URL stays short however many items are open.
INVOICE_NUMBERS_PER_QUERY = 200


def _nok(ore: int | None) -> str:
    return "" if ore is None else format_nok(int(ore))


def _factoring_cells(row: dict[str, Any]) -> list[str]:
    """Rule 7: every invoice-related report shows the factoring invoice status and the factoring description."""
    return [row[column] or "" for column in FACTORING_COLUMNS]


# --- the ledger's open items joined with invoicing's factoring columns ------------------------------------------------
def with_factoring(items: list[dict[str, Any]], invoices: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each open item with its invoice's factoring status and description. The ledger keys an invoice's open item by
    the invoice number under the customer's party; an item no invoice of that customer is behind (or one that was
    not factored) gets None in both."""
    by_item = {(invoice["customer_number"], invoice["number"]): invoice for invoice in invoices}
    joined = []
    for item in items:
        invoice = by_item.get((item["party"], item["open_item"]), {})
        joined.append({**item, **{column: invoice.get(column) for column in FACTORING_COLUMNS}})
    return joined


async def _joined_with_factoring(op: Operator, client_id: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Invoicing is asked once per slice of invoice numbers, not once per item; the ledger knows nothing of it."""
    numbers = sorted({item["open_item"] for item in items})
    invoices: list[dict[str, Any]] = []
    for start in range(0, len(numbers), INVOICE_NUMBERS_PER_QUERY):
        invoices += await op.invoices(client_id, numbers=numbers[start : start + INVOICE_NUMBERS_PER_QUERY])
    return with_factoring(items, invoices)


async def open_items_with_factoring(op: Operator, client_id: str) -> dict[str, Any]:
    data = await op.open_items(client_id)
    return {**data, "open_items": await _joined_with_factoring(op, client_id, data["open_items"])}


async def aged_with_factoring(op: Operator, client_id: str) -> dict[str, Any]:
    data = await op.aged_receivables(client_id)
    return {**data, "items": await _joined_with_factoring(op, client_id, data["items"])}


def invoices(rows: list[dict[str, Any]]) -> Table:
    table = Table(
        "number",
        "customer",
        "due",
        "gross",
        "outstanding",
        "delivery",
        "factoring status",
        "factoring description",
        title="Invoices",
    )
    problems = any(r.get("booking_problems") for r in rows)
    if problems:  # only when the ledger refused a booking of one of them: then it must not go unseen
        table.add_column("not booked", style="bold red")
    for r in rows:
        cells = [
            r["number"] or "(draft)",
            str(r["customer_number"]),
            str(r["due_date"]),
            _nok(r["gross_ore"]),
            _nok(r["outstanding_ore"]),
            r["delivery_method"] or "",
            *_factoring_cells(r),
        ]
        if problems:
            cells.append("; ".join(f"{p['event_type']}: {p['reason']}" for p in r.get("booking_problems") or []))
        table.add_row(*cells)
    return table


def rejections(rows: list[dict[str, Any]]) -> Table:
    table = Table("refused at", "booking", "source", "code", "reason", title="Bookings the ledger refused")
    for r in rows:
        source = r.get("source") or {}
        table.add_row(
            str(r["rejected_at"])[:19],
            r["idempotency_key"],
            " ".join(filter(None, [source.get("service"), source.get("provider"), source.get("event_type")])),
            r["code"],
            r["reason"],
        )
    return table


def open_items(data: dict[str, Any]) -> Table:
    """The open items as `open_items_with_factoring` returns them."""
    table = Table(
        "customer",
        "invoice",
        "due",
        "original",
        "open",
        "factoring status",
        "factoring description",
        title=f"Open items as of {data['as_of']}",
    )
    for item in data["open_items"]:
        table.add_row(
            str(item["party"]),
            item["open_item"],
            str(item["due_date"]),
            _nok(item["original_ore"]),
            _nok(item["balance_ore"]),
            *_factoring_cells(item),
        )
    table.add_row("", "", "", "total", _nok(data["total_ore"]))
    return table


def aged(data: dict[str, Any]) -> Table:
    """The aged receivables as `aged_with_factoring` returns them: per customer its items, each amount in its bucket,
    then the customer's total; the grand total last."""
    buckets = data["buckets"]
    table = Table(
        "customer",
        "invoice",
        *[b.replace("_", "–") for b in buckets],
        "total",
        "factoring status",
        "factoring description",
        title=f"Aged receivables as of {data['as_of']} (days past due)",
    )
    items_of: defaultdict[int, list[dict[str, Any]]] = defaultdict(list)
    for item in data["items"]:
        items_of[item["party"]].append(item)
    for party in data["parties"]:
        for item in items_of[party["party"]]:
            in_bucket = [_nok(item["balance_ore"]) if b == item["bucket"] else "" for b in buckets]
            table.add_row(
                str(item["party"]), item["open_item"], *in_bucket, _nok(item["balance_ore"]), *_factoring_cells(item)
            )
        table.add_row(
            str(party["party"]),
            "total",
            *[_nok(party[b]) for b in buckets],
            _nok(party["total_ore"]),
            style="bold",
            end_section=True,
        )
    table.add_row(
        "total", "", *[_nok(data["total_ore"][b]) for b in buckets], _nok(sum(data["total_ore"].values())), style="bold"
    )
    return table


def trial_balance(data: dict[str, Any]) -> Table:
    table = Table("account", "name", "debit", "credit", "balance", title=f"Trial balance as of {data['as_of']}")
    for a in data["accounts"]:
        table.add_row(a["account"], a["name"], _nok(a["debit_ore"]), _nok(a["credit_ore"]), _nok(a["balance_ore"]))
    table.add_row("", "total", _nok(data["total_debit_ore"]), _nok(data["total_credit_ore"]), _nok(data["balance_ore"]))
    return table


def account(data: dict[str, Any]) -> Table:
    table = Table(
        "date",
        "voucher",
        "text",
        "party",
        "item",
        "amount",
        "balance",
        title=f"Account {data['account']} (opening {_nok(data['opening_balance_ore'])})",
    )
    for m in data["movements"]:
        table.add_row(
            str(m["voucher_date"]),
            f"{m['series']}-{m['number']}",
            m["text"],
            str(m["party"] or ""),
            m["open_item"] or "",
            _nok(m["amount_ore"]),
            _nok(m["running_balance_ore"]),
        )
    return table


def reconciliation(data: dict[str, Any]) -> Table | str:
    if "error" in data:
        return data["error"]
    table = Table(
        "invoice",
        "status",
        "provider done",
        "account",
        "expected",
        "ledger",
        "difference",
        "vouchers",
        title=f"Reconciliation with {data['provider']}: {data['invoices']} invoices, "
        f"{len(data['differences'])} with differences",
    )
    for row in data["rows"]:
        for role, figures in row["accounts"].items():
            mark = "" if row["ok"] else "[red]✗[/red] "
            table.add_row(
                mark + row["invoice_number"],
                row["status"],
                "yes" if row["provider_finished"] else "no",
                role,
                _nok(figures["expected_ore"]),
                _nok(figures["ledger_ore"]),
                _nok(figures["difference_ore"]),
                ", ".join(figures["vouchers"]),
            )
    return table


def widget(data: dict[str, Any]) -> Table:
    """The dashboard widget: the credit line's figures, where onboarding stands, and the receivables left out because
    a factoring provider holds them."""
    table = Table("", "", title=f"Invoice financing ({data['provider']})")
    credit = data.get("credit") or {}
    table.add_row("onboarding", data["state"])
    for label, key in (("credit limit", "limit_ore"), ("used", "used_ore"), ("available", "available_ore")):
        table.add_row(label, _nok(credit.get(key)))
    table.add_row("updated", str(credit.get("updated_at", "")))
    table.add_row("receivables sent", f"up to sequence {data['stream']['last_sequence']}")
    if (excluded := data.get("excluded")) is not None:
        table.add_row("excluded", excluded_receivables(excluded))
    return table


def excluded_receivables(excluded: dict[str, Any]) -> str:
    """«1 receivable (12 500,00 NOK) excluded: held by a factoring provider»: not offered to the financing provider."""
    count = excluded["receivables"]
    noun = "receivable" if count == 1 else "receivables"
    return f"{count} {noun} ({_nok(excluded['total_ore'])} NOK) excluded: {excluded['reason']}"
