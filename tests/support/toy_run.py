"""One invoice through Toy Factoring, on a stack of its own (run by tests/test_provider_package.py).

The test starts this module in a process that has the toy package on its path and a topic namespace and
databases of its own, so the test session's services never see the toy provider. Everything here is the
ordinary way in: the CLI's commands and queries, the provider's own topics. Prints one line per step and exits
non-zero on the first thing that is not as it should be.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from datetime import date
from typing import Any

from ledgerline_cli.bus import Bus
from ledgerline_cli.operator import Operator, Urls
from ledgerline_cli.stack import Stack
from ledgerline_contracts import factoring, topics
from ledgerline_contracts.factoring import AccountRef
from ledgerline_contracts.providers import factoring_providers
from ledgerline_contracts.samples import SELLER_ADDRESS
from tests.support.scenario import COMPANY, TEN_THOUSAND

SLUG = "toy-factoring"
ACCOUNTS = {
    "intermediate": AccountRef(account="1592"),
    "fees": AccountRef(account="7770"),
    "bank": AccountRef(account="1920"),
    "receivables": AccountRef(account="1500"),
    "deviation": AccountRef(account="2900"),
}


def check(condition: bool, what: str) -> None:
    if not condition:
        sys.exit(f"toy provider: {what}")
    print(f"toy provider: {what}", flush=True)


async def until(probe: Any, what: str, timeout: float = 60.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if found := await probe():
            return found
        await asyncio.sleep(0.3)
    sys.exit(f"toy provider: timed out waiting until {what}")


async def story(stack: Stack) -> None:
    check(SLUG in factoring_providers(), "the registry finds the installed package by its entry point")
    wire = factoring_providers()[SLUG].wire_format()
    outbound, inbound = topics.factoring_outbound(SLUG), topics.factoring_inbound(SLUG)
    watched = [(outbound, wire.OUTBOUND), (topics.TOPIC_FACTORING_EVENTS, factoring.FACTORING_EVENTS)]
    async with Bus(stack.bootstrap, watched, write_as_owner=True) as bus:  # writes Toy's topic as toy-factoring
        op = Operator(bus, Urls.for_port_base(stack.port_base))
        client = f"toy-{uuid.uuid4().hex[:10]}"
        await op.create_client(client, "Demo AS", "912345678", address=SELLER_ADDRESS)
        await op.add_account(client, "1592", "Mellomregning Toy Factoring", "asset")
        await op.map_accounts(client, SLUG, ACCOUNTS)
        customer = (await op.upsert_customer(client, COMPANY)).details["customer_number"]
        activated = await op.activate(client, SLUG)
        check(activated.details["delivery_method"] == "Toy Factoring", "activated: delivery method «Toy Factoring»")

        invoice = await op.create_invoice(client, customer, TEN_THOUSAND)
        sent = await op.send_invoice(client, invoice)
        check(sent.details["via_factoring"], "the invoice went to the provider")
        offer = await bus.wait_for(outbound, lambda m: isinstance(m, wire.ToyOffer) and m.invoice_ref == invoice)
        check(offer.amount_ore == 1_250_000, "the provider read its offer on its own topic")

        # The provider answers on its own topic: the payment first (it waits for the purchase), then the purchase.
        today = date.today()
        await bus.send(inbound, wire.ToyPaid(invoice_ref=invoice, amount_ore=1_200_000, paid_on=today), str(invoice))
        await bus.send(inbound, wire.ToyBought(invoice_ref=invoice, price_ore=1_200_000, bought_on=today), str(invoice))

        async def settled() -> dict[str, Any] | None:
            found = await op.invoice(client, invoice)
            return found if found["factoring_status"] == "settled" else None

        final = await until(settled, "the invoice is settled")
        check(final["factoring_status"] == "settled", f"status settled: {final['factoring_description']}")

        async def booked() -> list[dict[str, Any]] | None:
            # The status reaches invoicing and the bookings reach the ledger by separate paths: wait for the ledger.
            found = [v for v in await op.vouchers(client, invoice) if v["series"] == "FACTORING"]
            return found if len(found) >= 2 else None

        await until(booked, "the ledger has booked the provider's vouchers")
        await asyncio.sleep(1.0)  # a third (a double booking) would have had the time to arrive
        vouchers = [v for v in await op.vouchers(client, invoice) if v["series"] == "FACTORING"]
        check(len(vouchers) == 2, "two vouchers booked: the purchase and the payment")
        intermediate = await op.account(client, "1592")
        check(intermediate["closing_balance_ore"] == 0, "what Toy Factoring owed is paid: 1592 is back at zero")
        balance = (await op.trial_balance(client))["balance_ore"]
        check(balance == 0, "the trial balance balances")


def main() -> None:
    port_base = int(sys.argv[1])
    stack = Stack(
        port_base=port_base,
        bootstrap=os.environ.get("LEDGERLINE_KAFKA", "127.0.0.1:9092"),
        db_suffix=f"_toy{port_base}",
    )
    stack.infra_up()
    services = list(Stack.SERVICES)
    stack.down(services, infra=False)
    stack.up(services, infra=False)
    try:
        asyncio.run(story(stack))
    finally:
        stack.down(services, infra=False)


if __name__ == "__main__":
    main()
