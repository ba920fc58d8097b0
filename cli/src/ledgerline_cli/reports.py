"""Rendering reports as rich tables; the data comes from the services' HTTP queries."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from ledgerline_contracts.money import format_nok


def _nok(ore: int | None) -> str:
    return "" if ore is None else format_nok(int(ore))


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
            r["factoring_status"] or "",
            r["factoring_description"] or "",
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
    table = Table("customer", "invoice", "due", "original", "open", title=f"Open items as of {data['as_of']}")
    for item in data["open_items"]:
        table.add_row(
            str(item["party"]),
            item["open_item"],
            str(item["due_date"]),
            _nok(item["original_ore"]),
            _nok(item["balance_ore"]),
        )
    table.add_row("", "", "", "total", _nok(data["total_ore"]))
    return table


def aged(data: dict[str, Any]) -> Table:
    buckets = data["buckets"]
    table = Table(
        "customer",
        *[b.replace("_", "–") for b in buckets],
        "total",
        title=f"Aged receivables as of {data['as_of']} (days past due)",
    )
    for party in data["parties"]:
        table.add_row(str(party["party"]), *[_nok(party[b]) for b in buckets], _nok(party["total_ore"]))
    table.add_row("total", *[_nok(data["total_ore"][b]) for b in buckets], _nok(sum(data["total_ore"].values())))
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
    """The dashboard widget: the credit line's figures and where onboarding stands."""
    table = Table("", "", title=f"Invoice financing ({data['provider']})")
    credit = data.get("credit") or {}
    table.add_row("onboarding", data["state"])
    for label, key in (("credit limit", "limit_ore"), ("used", "used_ore"), ("available", "available_ore")):
        table.add_row(label, _nok(credit.get(key)))
    table.add_row("updated", str(credit.get("updated_at", "")))
    table.add_row("receivables sent", f"up to sequence {data['stream']['last_sequence']}")
    return table
