"""Open items and aged receivables with invoicing's factoring columns: the join, the batched lookup, the tables."""

from __future__ import annotations

from typing import Any, cast

from rich.console import Console
from rich.table import Table

from ledgerline_cli import reports
from ledgerline_cli.operator import Operator

CUSTOMER, OTHER = 10001, 10002


def item(party: int, number: str, balance: int = 1_250_000, bucket: str = "not_due") -> dict[str, Any]:
    return {
        "party": party,
        "open_item": number,
        "original_ore": balance,
        "balance_ore": balance,
        "due_date": "2026-12-07",
        "bucket": bucket,
    }


def invoice(customer: int, number: str, status: str | None, description: str | None) -> dict[str, Any]:
    return {
        "customer_number": customer,
        "number": number,
        "factoring_status": status,
        "factoring_description": description,
    }


FACTORED = invoice(CUSTOMER, "1001", "advance_paid", "Advance of 10 625,00 paid by ABC Factoring")
BY_EMAIL = invoice(CUSTOMER, "1002", None, None)


def factoring_of(rows: list[dict[str, Any]]) -> list[tuple[str, str | None, str | None]]:
    return [(r["open_item"], r["factoring_status"], r["factoring_description"]) for r in rows]


def test_open_items_get_their_invoices_factoring_columns_and_others_get_none() -> None:
    items = [item(CUSTOMER, "1001"), item(CUSTOMER, "1002"), item(CUSTOMER, "OB-7"), item(OTHER, "1001")]
    assert factoring_of(reports.with_factoring(items, [FACTORED, BY_EMAIL])) == [
        ("1001", "advance_paid", "Advance of 10 625,00 paid by ABC Factoring"),
        ("1002", None, None),  # sent by e-mail: not factored
        ("OB-7", None, None),  # no invoice behind it, e.g. an opening balance
        ("1001", None, None),  # another customer's item under the same reference is not that invoice
    ]


def test_the_join_keeps_every_ledger_field() -> None:
    [joined] = reports.with_factoring([item(CUSTOMER, "1001", bucket="1_30")], [FACTORED])
    assert joined == {**item(CUSTOMER, "1001", bucket="1_30"), **{k: FACTORED[k] for k in reports.FACTORING_COLUMNS}}


class FakeServices:
    """The ledger's and invoicing's answers, counting how often invoicing is asked."""

    def __init__(self, items: list[dict[str, Any]], invoices: list[dict[str, Any]]) -> None:
        self.items = items
        self.known = invoices
        self.asked: list[list[str]] = []

    async def open_items(self, client_id: str) -> dict[str, Any]:
        return {"as_of": "2026-11-30", "open_items": self.items, "total_ore": sum(i["balance_ore"] for i in self.items)}

    async def aged_receivables(self, client_id: str) -> dict[str, Any]:
        return {"as_of": "2026-11-30", "buckets": ["not_due"], "items": self.items}

    async def invoices(self, client_id: str, unpaid: bool = False, numbers: list[str] | None = None) -> list[Any]:
        assert numbers
        self.asked.append(numbers)
        return [i for i in self.known if i["number"] in numbers]


async def test_invoicing_is_asked_per_slice_of_numbers_not_per_item() -> None:
    many = [item(CUSTOMER, str(1000 + n)) for n in range(reports.INVOICE_NUMBERS_PER_QUERY + 1)]
    fake = FakeServices([*many, item(OTHER, "1000")], [invoice(CUSTOMER, "1000", "accepted", "Accepted")])
    data = await reports.open_items_with_factoring(cast(Operator, fake), "c")
    assert [len(numbers) for numbers in fake.asked] == [reports.INVOICE_NUMBERS_PER_QUERY, 1]  # "1000" asked once
    assert factoring_of(data["open_items"])[0] == ("1000", "accepted", "Accepted")
    assert data["total_ore"] == sum(i["balance_ore"] for i in fake.items)


async def test_no_open_items_ask_invoicing_nothing() -> None:
    fake = FakeServices([], [FACTORED])
    data = await reports.aged_with_factoring(cast(Operator, fake), "c")
    assert data["items"] == [] and fake.asked == []


def text_of(table: Table) -> list[str]:
    console = Console(width=220, record=True)
    console.print(table)
    return console.export_text().splitlines()


def test_the_open_items_table_shows_the_factoring_columns() -> None:
    items = reports.with_factoring([item(CUSTOMER, "1001"), item(CUSTOMER, "1002")], [FACTORED, BY_EMAIL])
    lines = text_of(reports.open_items({"as_of": "2026-11-30", "open_items": items, "total_ore": 2_500_000}))
    assert "factoring status" in lines[2] and "factoring description" in lines[2]
    [factored] = [line for line in lines if " 1001 " in line]
    assert "advance_paid" in factored and "Advance of 10 625,00 paid by ABC Factoring" in factored
    [plain] = [line for line in lines if " 1002 " in line]
    assert "advance_paid" not in plain and "ABC" not in plain


def test_the_aged_table_lists_items_in_their_buckets_under_each_customers_total() -> None:
    items = reports.with_factoring(
        [item(CUSTOMER, "1001", 1_250_000, "1_30"), item(CUSTOMER, "1002", 500_000, "not_due")], [FACTORED, BY_EMAIL]
    )
    data = {
        "as_of": "2026-11-30",
        "buckets": ["not_due", "1_30"],
        "total_ore": {"not_due": 500_000, "1_30": 1_250_000},
        "parties": [{"party": CUSTOMER, "not_due": 500_000, "1_30": 1_250_000, "total_ore": 1_750_000}],
        "items": items,
    }
    lines = text_of(reports.aged(data))
    header = lines[2]
    for column in ("customer", "invoice", "not–due", "1–30", "total", "factoring status", "factoring description"):
        assert column in header
    [factored] = [line for line in lines if " 1001 " in line]
    assert "advance_paid" in factored and "Advance of 10 625,00 paid by ABC Factoring" in factored
    # The amount stands under its bucket only: under "1–30", and again as the row's total.
    assert factored.index("12 500,00") >= header.index("1–30") - 2
    [plain] = [line for line in lines if " 1002 " in line]
    assert "advance_paid" not in plain
    assert any(f"{CUSTOMER}" in line and "total" in line and "17 500,00" in line for line in lines)


def test_the_widget_says_how_many_receivables_a_factoring_provider_holds() -> None:
    data = {
        "provider": "Buffer",
        "state": "account_opened",
        "credit": {"limit_ore": 1_000_000, "used_ore": 0, "available_ore": 1_000_000, "updated_at": "2026-11-30"},
        "stream": {"last_sequence": 3},
        "excluded": {"receivables": 1, "total_ore": 1_250_000, "reason": "held by a factoring provider"},
    }
    lines = text_of(reports.widget(data))
    [excluded] = [line for line in lines if "excluded" in line]
    assert "1 receivable (12 500,00 NOK) excluded: held by a factoring provider" in excluded
    data["excluded"] = {"receivables": 2, "total_ore": 2_000_000, "reason": "held by a factoring provider"}
    assert any("2 receivables (20 000,00 NOK) excluded" in line for line in text_of(reports.widget(data)))
