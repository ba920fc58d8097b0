"""Rule 7 in the ledger's reports: open items and aged receivables carry each invoice's factoring invoice status and
factoring description, joined from invoicing by the report layer, on the real stack."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import date, timedelta
from typing import Any

import pytest
from typer.testing import CliRunner

from ledgerline_abc_factoring import contract as abc
from ledgerline_cli import reports
from ledgerline_cli.main import app
from ledgerline_cli.operator import Operator
from ledgerline_cli.stack import Stack
from tests.support.http import eventually
from tests.support.scenario import TEN_THOUSAND, factoring_client
from tests.test_factoring import abc_says, status_of

pytestmark = pytest.mark.integration

Columns = tuple[str | None, str | None]


def factoring_per_invoice(items: list[dict[str, Any]]) -> dict[str, Columns]:
    return {i["open_item"]: (i["factoring_status"], i["factoring_description"]) for i in items}


async def test_open_items_and_aged_receivables_show_each_invoices_factoring_columns(
    operator: Operator, client_id: str, services: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    person, company = await factoring_client(operator, client_id, "abc-factoring")
    await operator.simulator_script(operator.urls.abc_simulator, client_id, mode="manual")  # ABC answers as told

    async def sent_to_abc() -> uuid.UUID:
        invoice = await operator.create_invoice(client_id, person, TEN_THOUSAND)
        await operator.send_invoice(client_id, invoice)
        await status_of(operator, client_id, invoice, "prepared")
        return invoice

    prepared, advanced, rejected = [await sent_to_abc() for _ in range(3)]
    E = abc.AbcEventType
    await abc_says(operator, advanced, 1, E.ACCEPTED)
    await abc_says(operator, advanced, 2, E.ADVANCE_PAID, 1_062_500)
    await abc_says(operator, rejected, 1, E.REJECTED)
    await status_of(operator, client_id, advanced, "advance_paid")
    await status_of(operator, client_id, rejected, "rejected")
    # A customer outside factoring, with an invoice 31 days overdue: no factoring columns, another age bucket.
    await operator.exclude_customer(client_id, company, "email")
    plain = await operator.create_invoice(
        client_id, company, TEN_THOUSAND, invoice_date=date.today() - timedelta(days=45), days=14
    )
    await operator.send_invoice(client_id, plain)

    invoices = {i: await operator.invoice(client_id, i) for i in (prepared, advanced, rejected, plain)}
    number = {i: found["number"] for i, found in invoices.items()}
    expected = {
        found["number"]: (found["factoring_status"], found["factoring_description"]) for found in invoices.values()
    }
    assert expected[number[plain]] == (None, None)
    assert [expected[number[i]][0] for i in (prepared, advanced, rejected)] == ["prepared", "advance_paid", "rejected"]
    assert expected[number[rejected]][1] == "Rejected by ABC Factoring"  # no reason given
    assert all(expected[number[i]][1] for i in (prepared, advanced))

    async def all_open() -> dict[str, Any] | None:  # the ledger books the sales from invoicing's events
        found = await reports.open_items_with_factoring(operator, client_id)
        return found if {i["open_item"] for i in found["open_items"]} == set(expected) else None

    open_items = await eventually(all_open, timeout=30)
    assert factoring_per_invoice(open_items["open_items"]) == expected

    # The CLI's --json, as a script reads it (in a thread: the command runs its own event loop).
    monkeypatch.setenv("LEDGERLINE_PORT_BASE", str(services.port_base))
    monkeypatch.setenv("LEDGERLINE_KAFKA", services.bootstrap)
    printed = await asyncio.to_thread(CliRunner().invoke, app, ["report", "aged", client_id, "--json"])
    assert printed.exit_code == 0, printed.output
    aged = json.loads(printed.output)
    assert factoring_per_invoice(aged["items"]) == expected
    assert {i["open_item"]: i["bucket"] for i in aged["items"]} == {
        **dict.fromkeys((number[prepared], number[advanced], number[rejected]), "not_due"),
        number[plain]: "31_60",
    }
    assert aged["total_ore"]["31_60"] == 1_250_000 and aged["total_ore"]["not_due"] == 3 * 1_250_000
    assert "factoring status" in " ".join(
        (await asyncio.to_thread(CliRunner().invoke, app, ["report", "open-items", client_id])).output.split()
    )
