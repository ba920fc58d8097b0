"""The ledger through the real broker and database: the DOMAIN.md example, exactly once, refusals, scale-out."""

from __future__ import annotations

import asyncio
import base64
import uuid
from datetime import date

import httpx
import pytest

from ledgerline_cli.bus import Bus
from ledgerline_cli.stack import Stack
from ledgerline_contracts import ledger as L
from ledgerline_contracts import topics
from ledgerline_contracts.operations import DeadLetter
from tests.support.http import eventually, get_json, metric

pytestmark = pytest.mark.integration
TODAY = date.today()
SOURCE = L.BookingSource(service="test")


def line(account: str, side: str, ore: int, **kw: object) -> L.VoucherLine:
    return L.VoucherLine(account=account, side=side, amount_ore=ore, **kw)  # type: ignore[arg-type]


def post(client: str, key: str, text: str, *lines: L.VoucherLine) -> L.PostVoucher:
    return L.PostVoucher(
        client_id=client, idempotency_key=key, voucher_date=TODAY, text=text, lines=list(lines), source=SOURCE
    )


async def open_books(bus: Bus, client: str) -> None:
    await bus.command(topics.TOPIC_LEDGER_COMMANDS, L.OpenBooks(client_id=client, company_name="Test AS"), key=client)
    await bus.command(
        topics.TOPIC_LEDGER_COMMANDS,
        L.UpsertAccount(client_id=client, number="2960", name="Mellomregning ABC Factoring", account_type="liability"),
        key=client,
    )
    await bus.command(
        topics.TOPIC_LEDGER_COMMANDS,
        L.UpsertParty(client_id=client, number=10001, name="Kunde C", kind="customer"),
        key=client,
    )


async def test_the_domain_example_books_to_exactly_its_table(services: Stack, bus: Bus, client_id: str) -> None:
    await open_books(bus, client_id)
    ledger = services.url("ledger")
    c = "1001"  # the invoice number: the open item on the customer and the reference on the intermediate account
    steps = [
        post(
            client_id,
            "inv",
            "Invoice 1001",
            line("1500", "debit", 1_250_000, party=10001, open_item=c, due_date=TODAY),
            line("3000", "credit", 1_000_000),
            line("2700", "credit", 250_000),
        ),
        post(
            client_id,
            "advance",
            "Advance 85 %",
            line("1920", "debit", 1_062_500),
            line("2960", "credit", 1_062_500, open_item=c),
        ),
        post(
            client_id,
            "fee",
            "Factoring fee",
            line("7770", "debit", 15_000),
            line("2960", "credit", 15_000, open_item=c),
        ),
        post(
            client_id,
            "paid",
            "Customer paid ABC",
            line("2960", "debit", 1_250_000, open_item=c),
            line("1500", "credit", 1_250_000, party=10001, open_item=c),
        ),
        post(
            client_id,
            "interest",
            "Interest note",
            line("2960", "debit", 8_000, open_item=c),
            line("8050", "credit", 8_000),
        ),
        post(
            client_id,
            "settled",
            "Settlement",
            line("1920", "debit", 180_500),
            line("2960", "credit", 180_500, open_item=c),
        ),
    ]
    numbers = []
    for step in steps:
        result = await bus.command(topics.TOPIC_LEDGER_COMMANDS, step, key=client_id)
        numbers.append(result.details["number"])
    assert numbers == [1, 2, 3, 4, 5, 6]

    balance = await get_json(f"{ledger}/clients/{client_id}/trial-balance")
    by_account = {a["account"]: a["balance_ore"] for a in balance["accounts"]}
    assert by_account == {
        "1500": 0,
        "1920": 1_243_000,
        "2700": -250_000,
        "2960": 0,
        "3000": -1_000_000,
        "7770": 15_000,
        "8050": -8_000,
    }
    assert balance["balance_ore"] == 0 and balance["total_debit_ore"] == balance["total_credit_ore"]
    assert (await get_json(f"{ledger}/clients/{client_id}/open-items"))["open_items"] == []
    per_invoice = await get_json(f"{ledger}/clients/{client_id}/accounts/2960/items", include_zero="true")
    assert per_invoice[0]["open_item"] == c and per_invoice[0]["balance_ore"] == 0
    assert per_invoice[0]["vouchers"] == 5

    changes = bus.seen(topics.TOPIC_LEDGER_EVENTS, L.OpenItemChanged, lambda m: m.client_id == client_id)
    assert [(m.original_ore, m.balance_ore) for m in changes] == [(1_250_000, 1_250_000), (1_250_000, 0)]


async def test_a_repeated_booking_command_books_once_and_answers_with_the_original(
    services: Stack, bus: Bus, client_id: str
) -> None:
    await open_books(bus, client_id)
    first = post(client_id, "same-key", "Cash sale", line("1920", "debit", 10_000), line("3000", "credit", 10_000))
    again = first.model_copy(update={"message_id": uuid.uuid4()})
    one = await bus.command(topics.TOPIC_LEDGER_COMMANDS, first, key=client_id)
    two = await bus.command(topics.TOPIC_LEDGER_COMMANDS, again, key=client_id)
    assert two.details["voucher_id"] == one.details["voucher_id"] and two.details["repeat"] is True
    vouchers = await get_json(f"{services.url('ledger')}/clients/{client_id}/vouchers")
    assert len(vouchers) == 1
    assert len(bus.seen(topics.TOPIC_LEDGER_EVENTS, L.VoucherPosted, lambda m: m.client_id == client_id)) == 1


async def test_a_refused_voucher_books_nothing_and_says_why(services: Stack, bus: Bus, client_id: str) -> None:
    await open_books(bus, client_id)
    bad = post(client_id, "bad", "Typo", line("1920", "debit", 10_000), line("3000", "credit", 9_999))
    result = await bus.command(topics.TOPIC_LEDGER_COMMANDS, bad, key=client_id, expect_accepted=False)
    assert not result.accepted and "does not balance" in (result.reason or "")
    rejected = await bus.wait_for(topics.TOPIC_LEDGER_REJECTIONS, lambda m: m.client_id == client_id)
    assert isinstance(rejected, L.BookingRejected) and rejected.code == "unbalanced"
    assert await get_json(f"{services.url('ledger')}/clients/{client_id}/vouchers") == []
    unknown = post(client_id, "unknown", "Wrong account", line("1999", "debit", 1), line("3000", "credit", 1))
    result = await bus.command(topics.TOPIC_LEDGER_COMMANDS, unknown, key=client_id, expect_accepted=False)
    assert "account 1999 is not in the chart" in (result.reason or "")


async def test_malformed_messages_go_to_the_dead_letter_topic_and_the_consumer_carries_on(
    services: Stack, bus: Bus, client_id: str
) -> None:
    await open_books(bus, client_id)
    valid = post(client_id, "after", "After the junk", line("1920", "debit", 1), line("3000", "credit", 1))
    wrong_version = valid.model_dump(mode="json") | {"version": 9, "message_id": str(uuid.uuid4())}
    wrong_schema = {"type": "ledger.PostVoucher", "version": 1, "client_id": client_id, "lines": "many"}
    import orjson

    # A misspelt field is not ignored (it would book something else than meant): refused, and the sender told which.
    misspelt_id = uuid.uuid4()
    misspelt = valid.model_dump(mode="json") | {"message_id": str(misspelt_id), "idempotency": "typo"}

    junk = [b"{not json", orjson.dumps(wrong_schema), orjson.dumps(wrong_version), orjson.dumps(misspelt)]
    for raw in junk:
        await bus.send(topics.TOPIC_LEDGER_COMMANDS, raw, client_id)
    result = await bus.command(topics.TOPIC_LEDGER_COMMANDS, valid, key=client_id)
    assert result.accepted
    answer = await bus.result(misspelt_id)
    assert not answer.accepted and answer.reason is not None
    assert "idempotency: Extra inputs are not permitted" in answer.reason, answer.reason
    letters = await bus.wait_count(
        topics.dead_letters("ledger"),
        lambda m: isinstance(m, DeadLetter) and m.key_b64 == base64.b64encode(client_id.encode()).decode(),
        4,
    )
    by_bytes = {base64.b64decode(m.value_b64 or ""): m for m in letters}
    assert set(by_bytes) == set(junk)
    assert "not JSON" in by_bytes[junk[0]].error
    assert "lines" in by_bytes[junk[1]].error
    assert "unknown contract version 9" in by_bytes[junk[2]].error
    assert "idempotency" in by_bytes[junk[3]].error
    assert all(m.consumer_group == "ledger" and m.topic == topics.TOPIC_LEDGER_COMMANDS.name for m in letters)


async def test_two_ledger_instances_split_the_partitions_and_number_every_client_without_gaps(
    services: Stack, bus: Bus
) -> None:
    second = services.sibling(300, "2")
    second.up(["ledger"], infra=False)
    try:
        first_metrics = f"{services.url('ledger')}/metrics"
        second_metrics = f"{second.url('ledger')}/metrics"

        async def both_assigned() -> bool:
            async with httpx.AsyncClient() as http:
                await asyncio.sleep(1)
                return all(
                    [
                        "ledger.commands.v1" in (await http.get(first_metrics)).text,
                        "ledger.commands.v1" in (await http.get(second_metrics)).text,
                    ]
                )

        await eventually(both_assigned, timeout=30)
        clients = [f"scale-{uuid.uuid4().hex[:10]}" for _ in range(16)]
        for client in clients:
            await bus.send(topics.TOPIC_LEDGER_COMMANDS, L.OpenBooks(client_id=client, company_name="Scale AS"), client)
        commands = [
            post(client, f"k{i}", f"Sale {i}", line("1920", "debit", 100 + i), line("3000", "credit", 100 + i))
            for i in range(25)
            for client in clients
        ]
        await asyncio.gather(*(bus.send(topics.TOPIC_LEDGER_COMMANDS, c, c.client_id) for c in commands))
        results = await asyncio.gather(*(bus.result(c.message_id, timeout=60) for c in commands))
        assert all(r.accepted for r in results)
        for client in clients:
            numbers = sorted(r.details["number"] for r in results if r.client_id == client)
            assert numbers == list(range(1, 26)), client
        async with httpx.AsyncClient() as http:
            posted = [
                metric((await http.get(url)).text, "ledgerline_vouchers_posted_total")
                for url in (first_metrics, second_metrics)
            ]
        assert all(count > 0 for count in posted), f"one instance did all the work: {posted}"
    finally:
        second.down(["ledger"], infra=False)


async def test_a_correction_is_a_reversal_linked_to_the_original_never_a_change(
    services: Stack, bus: Bus, client_id: str
) -> None:
    await open_books(bus, client_id)
    wrong = await bus.command(
        topics.TOPIC_LEDGER_COMMANDS,
        post(client_id, "typo", "Sale, wrong amount", line("1920", "debit", 10_000), line("3000", "credit", 10_000)),
        key=client_id,
    )
    original = uuid.UUID(str(wrong.details["voucher_id"]))
    reverse = L.ReverseVoucher(
        client_id=client_id,
        idempotency_key="typo-reversal",
        voucher_id=original,
        voucher_date=TODAY,
        reason="wrong amount",
        source=SOURCE,
    )
    reversed_ = await bus.command(topics.TOPIC_LEDGER_COMMANDS, reverse, key=client_id)
    assert reversed_.details["number"] == 2
    again = reverse.model_copy(update={"idempotency_key": "typo-reversal-2", "message_id": uuid.uuid4()})
    refused = await bus.command(topics.TOPIC_LEDGER_COMMANDS, again, key=client_id, expect_accepted=False)
    assert "already been reversed" in (refused.reason or "")
    vouchers = await get_json(f"{services.url('ledger')}/clients/{client_id}/vouchers")
    assert [v["reverses_voucher_id"] for v in vouchers] == [None, str(original)]
    assert [line["amount_ore"] for line in vouchers[1]["lines"]] == [-10_000, 10_000]
    balance = await get_json(f"{services.url('ledger')}/clients/{client_id}/trial-balance")
    assert all(a["balance_ore"] == 0 for a in balance["accounts"])
