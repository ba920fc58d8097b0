"""Tenant-scoped keys end to end (issue 17, item 5): invoicing, the factoring gateway, the ABC simulator and the
ledger as real processes on the real broker and database.

An invoice id belongs to the client that created it: another client's commands naming it are refused (without
saying whose it is) and the invoice is unchanged; payment and credit-note ids are per client; the gateway refuses
another client's delivery of an invoice id that already has a case.
"""

from __future__ import annotations

import base64
import uuid
from datetime import date
from typing import Any

import httpx
import pytest

from ledgerline_abc_factoring import contract as abc
from ledgerline_cli.bus import CommandRefused
from ledgerline_cli.operator import Operator, QueryFailed
from ledgerline_contracts import invoicing, topics
from ledgerline_contracts.invoicing import INVOICING_EVENTS, InvoiceLine
from tests.support.http import eventually, metric
from tests.support.scenario import COMPANY, TEN_THOUSAND, factoring_client

pytestmark = pytest.mark.integration


async def sent_invoice(op: Operator, client: str, customer: int) -> uuid.UUID:
    invoice = await op.create_invoice(client, customer, TEN_THOUSAND)
    await op.send_invoice(client, invoice)
    return invoice


async def refused(command: Any) -> str:
    """The reason an operator's command was refused with."""
    with pytest.raises(CommandRefused) as refusal:
        await command
    assert not refusal.value.result.accepted
    return refusal.value.result.reason or ""


async def two_clients(op: Operator, client_id: str) -> tuple[tuple[str, int], tuple[str, int]]:
    """Clients A and B (with one company customer each), as two tenants of one installation."""
    found = []
    for client in (client_id, f"{client_id}-b"):
        await op.create_client(client, f"{client} AS", "912345678")
        found.append((client, (await op.upsert_customer(client, COMPANY)).details["customer_number"]))
    return found[0], found[1]


async def test_another_clients_commands_naming_an_invoice_id_are_refused_and_leave_the_invoice_unchanged(
    operator: Operator, client_id: str
) -> None:
    (a, a_customer), (b, b_customer) = await two_clients(operator, client_id)
    invoice = await sent_invoice(operator, a, a_customer)
    before = await operator.invoice(a, invoice)
    taken = f"invoice id {invoice} belongs to another client"

    draft = operator.create_invoice(b, b_customer, [InvoiceLine(description="Takeover", net_ore=1)], invoice_id=invoice)
    reason = await refused(draft)
    assert reason == taken and a not in reason  # never says whose it is
    assert (await operator.send_invoice(b, invoice, expect_accepted=False)).reason == taken
    assert await refused(operator.register_payment(b, invoice, 1_250_000)) == taken
    assert await refused(operator.credit_invoice(b, invoice, 1_250_000)) == taken

    assert await operator.invoice(a, invoice) == before
    assert (before["state"], before["gross_ore"], before["number"]) == ("sent", 1_250_000, "1001")
    with pytest.raises(QueryFailed, match="no invoice"):
        await operator.invoice(b, invoice)
    assert [row["invoice_id"] for row in await operator.invoices(b)] == []
    assert [v["source"]["event_type"] for v in await operator.vouchers(a, invoice)] == ["invoice.sent"]


async def test_payment_and_credit_note_ids_are_per_client(operator: Operator, client_id: str) -> None:
    (a, a_customer), (b, b_customer) = await two_clients(operator, client_id)
    a_invoice, b_invoice = await sent_invoice(operator, a, a_customer), await sent_invoice(operator, b, b_customer)
    payment_id, credit_note_id = uuid.uuid4(), uuid.uuid4()
    await operator.register_payment(a, a_invoice, 250_000, payment_id=payment_id)
    await operator.credit_invoice(a, a_invoice, 125_000, credit_note_id=credit_note_id)
    a_before = await operator.invoice(a, a_invoice)
    assert (a_before["paid_ore"], a_before["credited_ore"]) == (250_000, 125_000)

    # B's ids equal A's: B's own payment and credit note, neither a repeat of A's nor a change to A's invoice.
    paid = await operator.register_payment(b, b_invoice, 500_000, payment_id=payment_id)
    assert paid.details == {"invoice_number": "1001", "outstanding_ore": 750_000}
    credited = await operator.credit_invoice(b, b_invoice, 200_000, credit_note_id=credit_note_id)
    assert (credited.details["credited_ore"], credited.details["outstanding_ore"]) == (200_000, 550_000)
    assert await operator.invoice(a, a_invoice) == a_before

    # Each client's repeat is still a repeat, of its own only.
    for client, invoice in ((a, a_invoice), (b, b_invoice)):
        again = await operator.register_payment(client, invoice, 1, payment_id=payment_id)
        assert again.details["already_registered"] is True
        again = await operator.credit_invoice(client, invoice, 1, credit_note_id=credit_note_id)
        assert again.details["already_issued"] is True
    b_after = await operator.invoice(b, b_invoice)
    assert (b_after["paid_ore"], b_after["credited_ore"]) == (500_000, 200_000)
    assert await operator.invoice(a, a_invoice) == a_before

    # The ledger booked each client's payment and credit note once, under the same keys.
    async def booked(client: str, invoice: uuid.UUID) -> list[str] | None:
        keys = sorted(v["idempotency_key"] for v in await operator.vouchers(client, invoice))
        return keys if len(keys) == 3 else None

    expected = {
        a: sorted([f"sale:{a_invoice}", f"payment:{a_invoice}:{payment_id}", f"credit:{credit_note_id}"]),
        b: sorted([f"sale:{b_invoice}", f"payment:{b_invoice}:{payment_id}", f"credit:{credit_note_id}"]),
    }
    for client, invoice in ((a, a_invoice), (b, b_invoice)):
        assert await eventually(lambda c=client, i=invoice: booked(c, i), timeout=30) == expected[client]


async def test_the_gateway_refuses_another_clients_delivery_of_an_invoice_id_that_has_a_case(
    operator: Operator, client_id: str
) -> None:
    """Invoicing never sends one (it refuses the draft); were another client's delivery of the id to arrive anyway,
    the gateway refuses it to its dead letters: nothing goes to the provider, A's case stays A's."""
    from ledgerline_cli.deadletters import read_all

    a, b = client_id, f"{client_id}-b"
    person, _ = await factoring_client(operator, a, "abc-factoring")
    await operator.simulator_script(operator.urls.abc_simulator, a, mode="manual")
    invoice = await operator.create_invoice(a, person, TEN_THOUSAND)
    await operator.send_invoice(a, invoice)

    async def case_of_a() -> dict[str, Any] | None:
        cases = await operator.get(operator.urls.factoring, f"/clients/{a}/cases")
        return next((c for c in cases if c["invoice_id"] == str(invoice)), None)

    case = await eventually(case_of_a, timeout=30)
    b_person, _ = await factoring_client(operator, b, "abc-factoring")
    forged = invoicing.InvoiceDelivery(
        client_id=b,
        correlation_id=str(invoice),
        provider="abc-factoring",
        invoice_id=invoice,
        invoice_number="1001",
        customer_number=b_person,
        customer=COMPANY,
        client_name=f"{b} AS",
        client_organisation_number="912345678",
        invoice_date=date.today(),
        due_date=date.today(),
        lines=[InvoiceLine(description="Takeover", net_ore=100)],
        net_ore=100,
        vat_ore=25,
        gross_ore=125,
    )
    source = "invoicing.InvoiceDelivery"

    async def refusals() -> float:
        async with httpx.AsyncClient(timeout=10) as http:
            exposition = (await http.get(f"{operator.urls.factoring}/metrics")).text
        return metric(exposition, "ledgerline_factoring_cross_client_refusals_total", source=source)

    before = await refusals()
    await operator.bus.send(topics.TOPIC_INVOICING_EVENTS, forged, b)

    async def counted() -> bool:
        return await refusals() == before + 1

    await eventually(counted, timeout=30)
    letters = await read_all(operator.bus.bootstrap, [topics.GROUP_FACTORING_INVOICING_EVENTS])
    (letter,) = [m for m in letters if m.value_b64 and INVOICING_EVENTS.decode(base64.b64decode(m.value_b64)) == forged]
    assert letter.error_kind == "refused"
    assert letter.error == (
        f"invoicing.InvoiceDelivery of client {b} names invoice id {invoice}, whose case belongs to another client: "
        "refused, nothing delivered or booked"
    )
    assert a not in letter.error.replace(b, "")
    assert await case_of_a() == case
    assert [
        c for c in await operator.get(operator.urls.factoring, f"/clients/{b}/cases") if c["invoice_id"] == str(invoice)
    ] == []
    submissions = operator.bus.seen(
        topics.factoring_outbound("abc-factoring"),
        abc.AbcInvoiceSubmission,
        where=lambda m: m.submission_id == invoice,
    )
    assert [s.client.client_id for s in submissions] == [a]
    assert (await operator.invoice(a, invoice))["gross_ore"] == 1_250_000
