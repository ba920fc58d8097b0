"""Factoring via API end to end: invoicing, the factoring gateway, both provider simulators and the ledger,
all real processes on the real broker and database."""

from __future__ import annotations

import asyncio
import base64
import random
import uuid
from datetime import date
from typing import Any

import httpx
import orjson
import pytest
from rich.console import Console

from ledgerline_abc_factoring import contract as abc
from ledgerline_cli import reports
from ledgerline_cli.operator import Operator
from ledgerline_contracts import invoicing, ledger, topics
from ledgerline_contracts.invoicing import InvoiceLine
from ledgerline_contracts.operations import DeadLetter
from ledgerline_contracts.samples import SELLER_ADDRESS
from ledgerline_fjord_invoice_sale import contract as fjord
from tests.support.http import eventually, metric
from tests.support.scenario import COMPANY, PERSON, TEN_THOUSAND, client_with_accounts, factoring_client

pytestmark = pytest.mark.integration


async def status_of(op: Operator, client: str, invoice: uuid.UUID, wanted: str, timeout: float = 30) -> dict[str, Any]:
    async def reached() -> dict[str, Any] | None:
        found = await op.invoice(client, invoice)
        return found if found["factoring_status"] == wanted else None

    return await eventually(reached, timeout=timeout)  # type: ignore[no-any-return]


async def abc_says(
    op: Operator,
    invoice: uuid.UUID,
    sequence: int,
    kind: abc.AbcEventType,
    amount: int | None = None,
    event_id: str | None = None,
) -> None:
    """ABC Factoring's event for an invoice, as its simulator in manual mode leaves to the test."""
    event = abc.AbcInvoiceEvent(
        event_id=f"{invoice}:{event_id or sequence}",
        submission_id=invoice,
        sequence=sequence,
        event_type=kind,
        amount_ore=amount,
        occurred_on=date.today(),
    )
    await op.bus.send(topics.factoring_inbound("abc-factoring"), event, str(invoice))


async def prepared_invoice(op: Operator, client: str, provider: str) -> uuid.UUID:
    """A person's invoice of 12 500 handed to `provider`, whose simulator leaves every answer to the test."""
    person, _ = await factoring_client(op, client, provider)
    simulator = op.urls.abc_simulator if provider == "abc-factoring" else op.urls.fjord_simulator
    await op.simulator_script(simulator, client, mode="manual")
    invoice = await op.create_invoice(client, person, TEN_THOUSAND)
    await op.send_invoice(client, invoice)
    await status_of(op, client, invoice, "prepared")
    return invoice


def balances(trial: dict[str, Any]) -> dict[str, int]:
    return {a["account"]: a["balance_ore"] for a in trial["accounts"] if a["balance_ore"]}


async def settled_books(op: Operator, client: str, expected: dict[str, int]) -> dict[str, int]:
    async def matches() -> dict[str, int] | None:
        found = balances(await op.trial_balance(client))
        return found if found == expected else None

    try:
        return await eventually(matches, timeout=30)  # type: ignore[no-any-return]
    except TimeoutError:
        assert balances(await op.trial_balance(client)) == expected
        raise


async def test_activation_waits_for_the_old_file_based_factoring_to_end(operator: Operator, client_id: str) -> None:
    await client_with_accounts(operator, client_id, "abc-factoring")
    customer = (await operator.upsert_customer(client_id, PERSON)).details["customer_number"]
    await operator.settings(client_id, legacy_factoring=True)
    refused = await operator.activate(client_id, "abc-factoring", expect_accepted=False)
    assert "old file-based factoring is still on" in (refused.reason or "")
    invoice = await operator.create_invoice(client_id, customer, TEN_THOUSAND)
    await operator.send_invoice(client_id, invoice)  # goes the old way: waits for the factoring report
    still = await operator.settings(client_id, legacy_factoring=False, expect_accepted=False)
    assert "1 invoice(s) have not been sent to the factoring company" in (still.reason or "")
    assert (await operator.transfer_legacy_invoices(client_id)).details == {"transferred": 1}
    await operator.settings(client_id, legacy_factoring=False)
    activated = await operator.activate(client_id, "abc-factoring")
    assert activated.details["delivery_method"] == "ABC Factoring"


async def test_activation_is_refused_until_every_account_is_mapped_and_exists(
    operator: Operator, client_id: str
) -> None:
    await operator.create_client(client_id, "Demo AS", "912345678")
    # The provider's document is the only invoice the debtor sees: no seller's address, no factoring.
    refused = await operator.activate(client_id, "abc-factoring", expect_accepted=False)
    assert (refused.reason or "").startswith("the client's address is missing: abc-factoring's invoice must show")
    await operator.settings(client_id, address=SELLER_ADDRESS)
    refused = await operator.activate(client_id, "abc-factoring", expect_accepted=False)
    assert "no account mapped for intermediate" in (refused.reason or "")
    assert "no account mapped for interest_income" in (refused.reason or "")
    from tests.support.scenario import ROLES

    await operator.map_accounts(client_id, "abc-factoring", ROLES["abc-factoring"])
    refused = await operator.activate(client_id, "abc-factoring", expect_accepted=False)
    assert refused.reason == (
        "ABC Factoring cannot be activated: intermediate: sub-ledger party 20001 does not exist in the ledger"
    )
    await operator.add_party(client_id, 20001, "ABC Factoring", "supplier")
    await eventually(lambda: _activates(operator, client_id), timeout=20)


async def _activates(op: Operator, client_id: str) -> bool:
    result = await op.activate(client_id, "abc-factoring", expect_accepted=False)
    return result.accepted


async def test_activation_flags_every_card_and_deactivation_restores_them(operator: Operator, client_id: str) -> None:
    await factoring_client(operator, client_id, "abc-factoring")
    client = await operator.client(client_id)
    assert "ABC Factoring" in client["delivery_methods"]
    cards = {c["number"]: c for c in await operator.customers(client_id)}
    assert all(c["use_factoring"] and c["delivery_method"] == "ABC Factoring" for c in cards.values())
    newcomer = await operator.upsert_customer(client_id, PERSON.model_copy(update={"first_name": "Ola"}))
    assert newcomer.details["use_factoring"] and newcomer.details["delivery_method"] == "ABC Factoring"
    await operator.deactivate(client_id)
    cards = {c["number"]: c for c in await operator.customers(client_id)}
    assert all(not c["use_factoring"] and c["delivery_method"] == "email" for c in cards.values())
    assert "ABC Factoring" not in (await operator.client(client_id))["delivery_methods"]


async def test_a_card_missing_its_organisation_number_is_refused_by_name(operator: Operator, client_id: str) -> None:
    await factoring_client(operator, client_id, "abc-factoring")
    refused = await operator.upsert_customer(
        client_id,
        COMPANY.model_copy(update={"organisation_number": None, "company_name": "Nyfirma AS"}),
        expect_accepted=False,
    )
    assert refused.reason == "customer card 10003 lacks what ABC Factoring needs: organisation number"


async def test_an_imported_invoice_is_refused_and_an_excluded_customer_is_invoiced_by_email(
    operator: Operator, client_id: str
) -> None:
    person, company = await factoring_client(operator, client_id, "abc-factoring")
    imported = await operator.create_invoice(client_id, person, TEN_THOUSAND, origin="imported")
    refused = await operator.send_invoice(client_id, imported, expect_accepted=False)
    assert "imported invoices cannot go via factoring" in (refused.reason or "")
    await operator.exclude_customer(client_id, company, "email")
    plain = await operator.create_invoice(client_id, company, TEN_THOUSAND)
    sent = await operator.send_invoice(client_id, plain)
    assert sent.details["via_factoring"] is False and sent.details["delivery_method"] == "email"
    await asyncio.sleep(1)
    assert (
        operator.bus.seen(topics.TOPIC_INVOICING_EVENTS, where=lambda m: getattr(m, "invoice_id", None) == plain) == []
    )


async def test_abc_books_the_domain_example_to_settlement(operator: Operator, client_id: str) -> None:
    person, _ = await factoring_client(operator, client_id, "abc-factoring")
    await operator.simulator_script(operator.urls.abc_simulator, client_id, late_percent=100)
    invoice = await operator.create_invoice(client_id, person, TEN_THOUSAND)
    sent = await operator.send_invoice(client_id, invoice)
    assert sent.details["factoring_status"] == "preparing" and sent.details["via_factoring"]
    final = await status_of(operator, client_id, invoice, "settled")
    assert final["reminders"] is False and final["debt_collection"] is False
    history = [h["status"] for h in final["factoring_history"] if h["applied"]]
    assert history[0] == "prepared" and history[-1] == "settled"
    assert {"accepted", "advance_paid", "delivered", "reminded", "paid"} <= set(history)
    expected = {"1920": 1_243_000, "2700": -250_000, "3000": -1_000_000, "7770": 15_000, "8050": -8_000}
    assert await settled_books(operator, client_id, expected) == expected  # 1500 and the intermediate: zero
    deliveries = operator.bus.seen(
        topics.factoring_outbound("abc-factoring"), abc.AbcInvoiceSubmission, lambda m: m.submission_id == invoice
    )
    assert len(deliveries) == 1 and deliveries[0].amount_ore == 1_250_000
    assert "assigned to ABC Factoring" in deliveries[0].assignment_text
    assert deliveries[0].debtor.email == "kari@example.no"
    report = await operator.reconciliation(client_id, "abc-factoring")
    assert report["differences"] == [] and report["finished_with_zero_balance"] == 1
    assert (await operator.open_items(client_id))["open_items"] == []


async def test_a_rejected_invoice_books_nothing_at_the_provider_side(operator: Operator, client_id: str) -> None:
    person, _ = await factoring_client(operator, client_id, "abc-factoring")
    await operator.simulator_script(operator.urls.abc_simulator, client_id, accept_percent=0)
    invoice = await operator.create_invoice(client_id, person, TEN_THOUSAND)
    await operator.send_invoice(client_id, invoice)
    rejected = await status_of(operator, client_id, invoice, "rejected")
    # The provider's own reason, where the accountant follows the invoice up.
    assert rejected["factoring_description"] == "Rejected by ABC Factoring: Debtor's credit rating is too low"
    vouchers = await operator.vouchers(client_id, invoice)
    assert [v["source"]["service"] for v in vouchers] == ["invoicing"]  # only the sale itself
    assert (await operator.open_items(client_id))["total_ore"] == 1_250_000


async def test_abc_recourse_reclaims_the_advance_and_reopens_nothing_it_did_not_close(
    operator: Operator, client_id: str
) -> None:
    person, _ = await factoring_client(operator, client_id, "abc-factoring")
    await operator.simulator_script(operator.urls.abc_simulator, client_id, recourse_percent=100)
    invoice = await operator.create_invoice(client_id, person, TEN_THOUSAND)
    sent = await operator.invoice(client_id, invoice)
    assert sent["reminders"] is False  # rule 3: ABC follows up what it holds
    await operator.send_invoice(client_id, invoice)
    returned = await status_of(operator, client_id, invoice, "returned")
    assert returned["reminders"] is True  # back with the client: reminded again, as its own invoices are
    # The advance came and went back; the fee stays owed to ABC on the intermediate party; the receivable is ours.
    expected = {"1500": 1_250_000, "2400": -15_000, "2700": -250_000, "3000": -1_000_000, "7770": 15_000}
    await settled_books(operator, client_id, expected)
    assert (await operator.open_items(client_id))["total_ore"] == 1_250_000


async def test_every_event_delivered_twice_and_shuffled_still_books_once(operator: Operator, client_id: str) -> None:
    person, company = await factoring_client(operator, client_id, "abc-factoring")
    await operator.simulator_script(
        operator.urls.abc_simulator, client_id, late_percent=100, duplicate_percent=100, shuffle=True
    )
    invoices = [await operator.create_invoice(client_id, c, TEN_THOUSAND) for c in (person, company, person)]
    for invoice in invoices:
        await operator.send_invoice(client_id, invoice)
    for invoice in invoices:
        await status_of(operator, client_id, invoice, "settled", timeout=60)
    per_invoice = {"1920": 1_243_000, "2700": -250_000, "3000": -1_000_000, "7770": 15_000, "8050": -8_000}
    expected = {account: 3 * amount for account, amount in per_invoice.items()}
    await settled_books(operator, client_id, expected)
    for invoice in invoices:
        assert len(await operator.vouchers(client_id, invoice)) == 6  # the sale and five provider events


async def test_a_provider_cannot_touch_another_clients_invoice(operator: Operator, client_id: str) -> None:
    invoice = await prepared_invoice(operator, client_id, "fjord-invoice-sale")
    forged = abc.AbcInvoiceEvent(
        event_id=f"forged-{uuid.uuid4()}",
        submission_id=invoice,
        sequence=1,
        event_type=abc.AbcEventType.ACCEPTED,
        occurred_on=date.today(),
    )
    unknown = forged.model_copy(update={"event_id": f"unknown-{uuid.uuid4()}", "submission_id": uuid.uuid4()})
    for event in (forged, unknown):
        await operator.bus.send(topics.factoring_inbound("abc-factoring"), event, str(event.submission_id))
    letters = await operator.bus.wait_count(
        topics.dead_letters("factoring-gateway.abc-factoring"),
        lambda m: (
            isinstance(m, DeadLetter)
            and orjson.loads(base64.b64decode(m.value_b64 or ""))["event_id"] in (forged.event_id, unknown.event_id)
        ),
        2,
    )
    reasons = sorted(letter.error for letter in letters)
    assert "was not handed to abc-factoring" in reasons[0] or "was not handed to abc-factoring" in reasons[1]
    assert any("unknown invoice" in r for r in reasons)
    assert all(letter.error_kind == "refused" for letter in letters)
    assert [v["source"]["service"] for v in await operator.vouchers(client_id, invoice)] == ["invoicing"]
    assert (await operator.invoice(client_id, invoice))["factoring_status"] == "prepared"


async def test_fjord_buys_pays_through_remittances_and_releases_the_holdback(
    operator: Operator, client_id: str
) -> None:
    person, company = await factoring_client(operator, client_id, "fjord-invoice-sale")
    await operator.simulator_script(operator.urls.fjord_simulator, client_id, fee_ore=25_000, remittance_every=2)
    invoices = [await operator.create_invoice(client_id, c, TEN_THOUSAND) for c in (person, company)]
    for invoice in invoices:
        await operator.send_invoice(client_id, invoice)
    for invoice in invoices:
        await status_of(operator, client_id, invoice, "settled", timeout=60)
    offers = operator.bus.seen(
        topics.factoring_outbound("fjord-invoice-sale"), fjord.SaleOffer, lambda m: m.seller_ref == client_id
    )
    assert sorted(o.total_amount for o in offers) == ["12500.00", "12500.00"]
    expected = {"1920": 2 * (1_250_000 - 25_000), "2700": -500_000, "3000": -2_000_000, "7770": 50_000}
    await settled_books(operator, client_id, expected)  # receivables, intermediate and holdback all zero
    report = await operator.reconciliation(client_id, "fjord-invoice-sale")
    assert report["differences"] == [] and report["finished_with_zero_balance"] == 2


async def test_fjord_recourse_brings_the_receivable_back(operator: Operator, client_id: str) -> None:
    person, _ = await factoring_client(operator, client_id, "fjord-invoice-sale")
    await operator.simulator_script(operator.urls.fjord_simulator, client_id, recourse_percent=100, fee_ore=25_000)
    invoice = await operator.create_invoice(client_id, person, [InvoiceLine(description="Goods", net_ore=800_000)])
    await operator.send_invoice(client_id, invoice)
    await status_of(operator, client_id, invoice, "returned", timeout=60)
    # Paid 10 000 less fee and holdback, then the 10 000 netted and the holdback released: net −250 fee.
    expected = {"1500": 1_000_000, "1920": -25_000, "2700": -200_000, "3000": -800_000, "7770": 25_000}
    await settled_books(operator, client_id, expected)
    report = await operator.reconciliation(client_id, "fjord-invoice-sale")
    assert report["differences"] == []


async def test_a_retried_command_changes_nothing(operator: Operator, client_id: str) -> None:
    person, _ = await factoring_client(operator, client_id, "abc-factoring")
    await operator.simulator_script(operator.urls.abc_simulator, client_id, mode="manual")
    invoice = await operator.create_invoice(client_id, person, TEN_THOUSAND)
    send = invoicing.SendInvoice(client_id=client_id, acting_user="admin", invoice_id=invoice)
    first = await operator.bus.command(topics.TOPIC_INVOICING_COMMANDS, send, key=client_id)
    await operator.bus.send(topics.TOPIC_INVOICING_COMMANDS, send, client_id)  # the same request, retried
    await status_of(operator, client_id, invoice, "prepared")
    await asyncio.sleep(2)
    assert first.details["invoice_number"] == "1001"
    assert len(await operator.vouchers(client_id, invoice)) == 1
    deliveries = operator.bus.seen(
        topics.factoring_outbound("abc-factoring"), abc.AbcInvoiceSubmission, lambda m: m.submission_id == invoice
    )
    assert len(deliveries) == 1


async def test_a_credit_note_or_payment_sent_again_as_a_new_message_is_booked_once(
    operator: Operator, client_id: str
) -> None:
    _, company = await factoring_client(operator, client_id, "abc-factoring")
    await operator.exclude_customer(client_id, company, "email")
    invoice = await operator.create_invoice(client_id, company, TEN_THOUSAND)
    await operator.send_invoice(client_id, invoice)
    credit_note, payment = uuid.uuid4(), uuid.uuid4()
    for _ in range(2):  # each a new message, as a client that lost the answer would send it
        credited = await operator.credit_invoice(client_id, invoice, 250_000, credit_note_id=credit_note)
        paid = await operator.register_payment(client_id, invoice, 500_000, payment_id=payment)
    assert credited.details == {"invoice_number": "1001", "already_issued": True}
    assert paid.details == {"invoice_number": "1001", "already_registered": True}
    found = await operator.invoice(client_id, invoice)
    assert (found["credited_ore"], found["paid_ore"], found["outstanding_ore"]) == (250_000, 500_000, 500_000)

    async def three_vouchers() -> list[dict[str, Any]] | None:
        vouchers = await operator.vouchers(client_id, invoice)
        return vouchers if len(vouchers) >= 3 else None

    await eventually(three_vouchers, timeout=30)
    await asyncio.sleep(1)
    vouchers = await operator.vouchers(client_id, invoice)
    assert sorted(v["source"]["event_type"] for v in vouchers) == [
        "credit_note.issued",
        "invoice.sent",
        "payment.registered",
    ]


async def test_invoicing_refuses_dates_the_ledger_has_closed(operator: Operator, client_id: str) -> None:
    _, company = await factoring_client(operator, client_id, "abc-factoring")
    await operator.exclude_customer(client_id, company, "email")
    close = ledger.ClosePeriod(client_id=client_id, through=date(2026, 10, 31))
    await operator.bus.command(topics.TOPIC_LEDGER_COMMANDS, close, key=client_id)

    async def told() -> bool:
        return bool((await operator.client(client_id))["settings"].get("closed_through") == "2026-10-31")

    await eventually(told, timeout=30)  # the ledger's PeriodClosed has reached invoicing
    invoice = await operator.create_invoice(client_id, company, TEN_THOUSAND, invoice_date=date(2026, 10, 15))
    refused = await operator.send_invoice(client_id, invoice, expect_accepted=False)
    assert "invoice date 2026-10-15 is in a closed period (the books are closed through 2026-10-31)" in (
        refused.reason or ""
    )
    assert (await operator.invoice(client_id, invoice))["state"] == "draft"


async def test_a_booking_the_ledger_refuses_shows_its_reason_on_the_invoice(operator: Operator, client_id: str) -> None:
    _, company = await factoring_client(operator, client_id, "abc-factoring")
    await operator.exclude_customer(client_id, company, "email")
    invoice = await operator.create_invoice(client_id, company, TEN_THOUSAND)
    await operator.send_invoice(client_id, invoice)
    # A booking of invoicing's that the ledger cannot take (here: an account missing from the chart).
    broken = ledger.PostVoucher(
        client_id=client_id,
        idempotency_key=f"payment:{invoice}:broken",
        voucher_date=date.today(),
        text="Payment of invoice 1001",
        lines=[
            ledger.VoucherLine(account="1999", side="debit", amount_ore=100),
            ledger.VoucherLine(account="1500", side="credit", amount_ore=100, party=company, open_item="1001"),
        ],
        source=ledger.BookingSource(service="invoicing", event_type="payment.registered", invoice_id=invoice),
    )
    await operator.bus.send(topics.TOPIC_LEDGER_COMMANDS, broken, client_id)

    async def flagged() -> list[dict[str, Any]] | None:
        return (await operator.invoice(client_id, invoice))["booking_problems"] or None

    (problem,) = await eventually(flagged, timeout=30)
    assert (problem["event_type"], problem["code"]) == ("payment.registered", "unknown_account")
    assert "account 1999 is not in the chart" in problem["reason"]
    listed = await operator.invoices(client_id)
    assert [row["booking_problems"][0]["code"] for row in listed if row["invoice_id"] == str(invoice)] == [
        "unknown_account"
    ]
    refused = await operator.rejections(client_id)
    assert [(r["code"], r["source"]["event_type"]) for r in refused] == [("unknown_account", "payment.registered")]
    rendered = Console(width=200, record=True)
    rendered.print(reports.rejections(refused), reports.invoices(listed))
    text = rendered.export_text()
    assert "is not in the chart" in text and "not booked" in text


async def test_fjord_events_delivered_again_and_shuffled_change_nothing(operator: Operator, client_id: str) -> None:
    person, company = await factoring_client(operator, client_id, "fjord-invoice-sale")
    await operator.simulator_script(operator.urls.fjord_simulator, client_id, fee_ore=25_000, remittance_every=2)
    invoices = [await operator.create_invoice(client_id, c, TEN_THOUSAND) for c in (person, company)]
    for invoice in invoices:
        await operator.send_invoice(client_id, invoice)
    for invoice in invoices:
        await status_of(operator, client_id, invoice, "settled", timeout=60)
    expected = {"1920": 2 * (1_250_000 - 25_000), "2700": -500_000, "3000": -2_000_000, "7770": 50_000}
    await settled_books(operator, client_id, expected)
    vouchers_before = len(await operator.vouchers(client_id))
    # Replay every message Fjord sent about these invoices, twice, shuffled (a provider retrying its callbacks).
    sent = operator.bus.seen(
        topics.factoring_inbound("fjord-invoice-sale"),
        fjord.FjordMessage,
        lambda m: str(invoices[0]) in m.to_bytes().decode() or str(invoices[1]) in m.to_bytes().decode(),
    )
    assert len(sent) >= 6
    replay = [*sent, *sent]
    random.Random(7).shuffle(replay)
    for message in replay:
        await operator.bus.send(topics.factoring_inbound("fjord-invoice-sale"), message, client_id)
    await asyncio.sleep(5)
    assert balances(await operator.trial_balance(client_id)) == expected
    assert len(await operator.vouchers(client_id)) == vouchers_before


async def test_a_refused_event_is_replayed_from_its_dead_letter_after_the_fix(
    operator: Operator, client_id: str
) -> None:
    from ledgerline_cli.deadletters import read_all, replay

    person, _ = await factoring_client(operator, client_id, "abc-factoring")
    await operator.simulator_script(operator.urls.abc_simulator, client_id, mode="manual")
    invoice = uuid.uuid4()
    early = abc.AbcInvoiceEvent(
        event_id=f"{invoice}:1",
        submission_id=invoice,
        sequence=1,
        event_type=abc.AbcEventType.ACCEPTED,
        occurred_on=date.today(),
    )
    await operator.bus.send(topics.factoring_inbound("abc-factoring"), early, str(invoice))
    group = "factoring-gateway.abc-factoring"
    key = base64.b64encode(str(invoice).encode()).decode()
    await operator.bus.wait_for(topics.dead_letters(group), lambda m: m.key_b64 == key)
    # The fix: the invoice the event was about now exists and is handed to ABC.
    await operator.create_invoice(client_id, person, TEN_THOUSAND, invoice_id=invoice)
    await operator.send_invoice(client_id, invoice)
    await status_of(operator, client_id, invoice, "prepared")
    letters = [m for m in await read_all(operator.bus.bootstrap, [group]) if m.key_b64 == key]
    assert await replay(operator.bus.bootstrap, letters) == 1
    accepted = await status_of(operator, client_id, invoice, "accepted")
    assert accepted["factoring_description"] == "Accepted by ABC Factoring"


async def test_events_behind_a_refused_one_wait_visibly_until_the_provider_corrects_it(
    operator: Operator, client_id: str
) -> None:
    invoice = await prepared_invoice(operator, client_id, "abc-factoring")
    E = abc.AbcEventType
    await abc_says(operator, invoice, 1, E.ACCEPTED)
    await status_of(operator, client_id, invoice, "accepted")
    await abc_says(operator, invoice, 2, E.ADVANCE_PAID, 2_000_000)  # more than the invoice
    await abc_says(operator, invoice, 3, E.FEE_CHARGED, 15_000)
    group = "factoring-gateway.abc-factoring"
    key = base64.b64encode(str(invoice).encode()).decode()
    letter = await operator.bus.wait_for(topics.dead_letters(group), lambda m: m.key_b64 == key)
    assert isinstance(letter, DeadLetter) and "exceeds the invoice" in letter.error

    async def parked_and_counted() -> bool:
        parked = await operator.get(operator.urls.factoring, f"/clients/{client_id}/parked-events")
        async with httpx.AsyncClient(timeout=10) as http:
            exposition = (await http.get(f"{operator.urls.factoring}/metrics")).text
        count = metric(exposition, "ledgerline_factoring_parked_events", provider="abc-factoring")
        return [p["event_key"] for p in parked] == [f"{invoice}:3"] and count >= 1

    await eventually(parked_and_counted, timeout=30)
    assert [v["source"]["event_type"] for v in await operator.vouchers(client_id, invoice)] == ["invoice.sent"]

    # The provider's correction: a new event for the same place in the invoice's sequence.
    await abc_says(operator, invoice, 2, E.ADVANCE_PAID, 1_062_500, event_id="2b")

    async def both_booked() -> list[dict[str, Any]] | None:
        found = await operator.vouchers(client_id, invoice)
        kinds = sorted(v["source"]["event_type"] for v in found)
        return found if kinds == ["advance.paid", "fee.charged", "invoice.sent"] else None

    await eventually(both_booked, timeout=30)
    assert await operator.get(operator.urls.factoring, f"/clients/{client_id}/parked-events") == []


async def test_a_debtor_paying_the_client_by_mistake_goes_through_the_deviation_account_to_abc(
    operator: Operator, client_id: str
) -> None:
    invoice = await prepared_invoice(operator, client_id, "abc-factoring")
    E = abc.AbcEventType
    await abc_says(operator, invoice, 1, E.ACCEPTED)
    await abc_says(operator, invoice, 2, E.ADVANCE_PAID, 1_062_500)
    await status_of(operator, client_id, invoice, "advance_paid")
    paid = await operator.register_payment(client_id, invoice, 1_250_000)  # into the client's own bank
    assert paid.details == {"invoice_number": "1001", "passed_on_to": "abc-factoring"}
    notice = await operator.bus.wait_for(
        topics.factoring_outbound("abc-factoring"),
        lambda m: isinstance(m, abc.AbcDirectPaymentNotice) and m.submission_id == invoice,
    )
    assert isinstance(notice, abc.AbcDirectPaymentNotice) and notice.amount_ore == 1_250_000

    async def described() -> dict[str, Any] | None:
        found = await operator.invoice(client_id, invoice)
        return found if "paid 12 500,00 to the client directly" in found["factoring_description"] else None

    await eventually(described, timeout=30)
    # ABC received the money from the client and registers it as the debtor's payment, then settles the rest.
    await abc_says(operator, invoice, 3, E.DEBTOR_PAID, 1_250_000)
    await abc_says(operator, invoice, 4, E.SETTLED, 187_500)
    await status_of(operator, client_id, invoice, "settled")
    expected = {"1920": 1_250_000, "2700": -250_000, "3000": -1_000_000}  # 1500, 2400/20001 and 2900: zero
    assert await settled_books(operator, client_id, expected) == expected
    deviation = await operator.account(client_id, "2900")
    assert [m["amount_ore"] for m in deviation["movements"]] == [-1_250_000, 1_250_000]
    assert (await operator.reconciliation(client_id, "abc-factoring"))["differences"] == []


async def test_a_credit_note_on_an_invoice_sold_to_fjord_is_owed_back_to_fjord(
    operator: Operator, client_id: str
) -> None:
    invoice = await prepared_invoice(operator, client_id, "fjord-invoice-sale")
    bought = fjord.PurchaseDecision(
        offer_ref=invoice, decision="APPROVED", purchase_price="12500.00", decided_on=date.today()
    )
    await operator.bus.send(topics.factoring_inbound("fjord-invoice-sale"), bought, str(invoice))
    await status_of(operator, client_id, invoice, "purchased")
    await operator.credit_invoice(client_id, invoice, 250_000)
    # The receivable, closed by the sale to Fjord, stays closed; Fjord now owes the client 2 500 less.
    expected = {"1590": 1_000_000, "2700": -200_000, "3000": -800_000}
    assert await settled_books(operator, client_id, expected) == expected


async def test_a_credit_note_after_fjords_first_remittance_is_accepted_deducted_and_the_invoice_settles(
    operator: Operator, client_id: str
) -> None:
    """Issue 19, item 6, on the real stack: after Fjord's first remittance (price paid out, holdback kept) the buyer
    has not paid, so the invoice is «purchased», not «settled», and the client may still credit it. The simulated
    Fjord (the buyer disputes the invoice) deducts the credit note in its next remittance, the buyer pays the rest,
    the holdback is released: only then «settled», with intermediate and holdback zero and nothing to reconcile."""
    person, _ = await factoring_client(operator, client_id, "fjord-invoice-sale")
    await operator.simulator_script(operator.urls.fjord_simulator, client_id, dispute_percent=100, fee_ore=25_000)
    invoice = await operator.create_invoice(client_id, person, TEN_THOUSAND)
    await operator.send_invoice(client_id, invoice)

    async def remitted() -> dict[str, Any] | None:
        found = await operator.invoice(client_id, invoice)
        return found if found["factoring_description"].startswith("Remittance:") else None

    first = await eventually(remitted, timeout=60)
    assert first["factoring_status"] == "purchased"
    assert first["factoring_description"] == (
        "Remittance: purchase price 12 500,00 of 12 500,00 paid out, fees 250,00, 1 250,00 held back; "
        "the buyer has not paid"
    )
    credited = await operator.credit_invoice(client_id, invoice, 250_000, reason="Damaged goods")
    assert credited.accepted  # used to be refused as "more than the 0 øre outstanding"
    final = await status_of(operator, client_id, invoice, "settled", timeout=60)
    assert final["factoring_description"] == (
        "Settled with Fjord Invoice Sale: purchase price 12 500,00 of 12 500,00 paid out, fees 250,00, holdback "
        "1 250,00 released, credit notes 2 500,00 deducted; the buyer paid 10 000,00"
    )
    history = [h["status"] for h in final["factoring_history"] if h["applied"]]
    # Never settled before the end. «paid» shows only when the buyer's payment comes before the holdback release:
    # Fjord keys reports by seller and payments by invoice, so the two may arrive in either order.
    assert history.index("settled") == len(history) - 1 and "purchased" in history
    deductions = operator.bus.seen(
        topics.factoring_inbound("fjord-invoice-sale"),
        fjord.RemittanceReport,
        lambda m: any(line.offer_ref == invoice and line.line_type == "CREDIT_NOTE_DEDUCTION" for line in m.lines),
    )
    assert [r.total_amount for r in deductions] == ["-2500.00"]
    # The bank got the invoice less the credit note, less the fee; receivable, intermediate and holdback are zero.
    expected = {"1920": 975_000, "2700": -200_000, "3000": -800_000, "7770": 25_000}
    assert await settled_books(operator, client_id, expected) == expected
    report = await operator.reconciliation(client_id, "fjord-invoice-sale")
    assert report["differences"] == [] and report["finished_with_zero_balance"] == 1
    (row,) = report["rows"]
    assert {role: (a["expected_ore"], a["ledger_ore"]) for role, a in row["accounts"].items()} == {
        "intermediate": (0, 0),
        "holdback": (0, 0),
    }
    vouchers = await operator.vouchers(client_id)
    assert len(vouchers) == 7  # sale, purchase, remittance, credit note, its correction, deduction, release
    assert all(sum(line["amount_ore"] for line in v["lines"]) == 0 for v in vouchers)


async def test_provider_messages_without_ids_book_once_and_a_reused_id_is_a_visible_conflict(
    operator: Operator, client_id: str
) -> None:
    """Issue 18, holes 1 and 6, on the real stack: Fjord's decision sent without `messageId`, three times, books
    once; a recourse under the id of an earlier payment is dead-lettered as a conflict and books nothing."""
    invoice = await prepared_invoice(operator, client_id, "fjord-invoice-sale")
    inbound = topics.factoring_inbound("fjord-invoice-sale")

    def without_id(message: fjord.FjordMessage) -> bytes:
        data = orjson.loads(message.to_bytes())
        del data["messageId"]
        return orjson.dumps(data)

    today = date.today()
    decision = fjord.PurchaseDecision(
        offer_ref=invoice, decision="APPROVED", purchase_price="12500.00", decided_on=today
    )
    paid = fjord.BuyerPayment(offer_ref=invoice, amount="12500.00", paid_on=today)
    for _ in range(3):
        await operator.bus.send(inbound, without_id(decision), str(invoice))
    await operator.bus.send(inbound, paid, str(invoice))  # with an id: claimed with its content
    await status_of(operator, client_id, invoice, "paid")
    forged = fjord.RecourseNotice(
        message_id=paid.message_id, offer_ref=invoice, amount="12500.00", returned_on=today, reason="forged"
    )
    await operator.bus.send(inbound, forged, str(invoice))  # other content under that id
    letter = await operator.bus.wait_for(
        topics.dead_letters(topics.group_for_provider("fjord-invoice-sale")),
        lambda m: isinstance(m, DeadLetter) and m.error_kind == "conflict" and str(paid.message_id) in m.error,
    )
    assert "fjord-invoice-sale sent recourse under event id" in letter.error
    refused_repeats = operator.bus.seen(
        topics.dead_letters(topics.group_for_provider("fjord-invoice-sale")),
        DeadLetter,
        lambda m: m.error_kind == "refused" and str(invoice) in base64.b64decode(m.value_b64 or "").decode(),
    )
    assert refused_repeats == []  # the copies were repeats, not new decisions refused by the lifecycle
    vouchers = await operator.vouchers(client_id, invoice)
    assert [v["source"].get("event_type") for v in vouchers if v["source"]["service"] == "factoring-gateway"] == [
        "purchase.approved"
    ]
    assert (await operator.invoice(client_id, invoice))["factoring_status"] == "paid"
