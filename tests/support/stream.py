"""A stream of invoices through the whole factoring lifecycle, and the books it must leave behind.

Used by the chaos tests: publish many invoices as fast as the broker takes them, break things while they are
handled, then check every invoice has exactly the vouchers and status it should, no more, no fewer.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from ledgerline_cli.operator import Operator
from ledgerline_contracts import invoicing, topics
from ledgerline_contracts.invoicing import CustomerData, InvoiceLine

from .scenario import COMPANY, PERSON, client_with_accounts

FEE_ORE = 15_000
NETS = [1_000_000, 250_000, 87_650, 3_333_300]
LIFECYCLE = {"invoice.sent", "advance.paid", "fee.charged", "debtor.paid", "invoice.settled"}
"""The vouchers of one invoice through ABC Factoring with the default script: the sale and four events."""


@dataclass
class Stream:
    customers: dict[str, list[int]]
    invoices: dict[uuid.UUID, tuple[str, int]] = field(default_factory=dict)  # invoice → (client, net)

    def expected_balances(self, client: str) -> dict[str, int]:
        nets = [net for c, net in self.invoices.values() if c == client]
        vat = [(net * 25 + 50) // 100 for net in nets]
        gross = sum(nets) + sum(vat)
        return {
            k: v
            for k, v in {
                "1920": gross - FEE_ORE * len(nets),
                "2700": -sum(vat),
                "3000": -sum(nets),
                "7770": FEE_ORE * len(nets),
            }.items()
            if v
        }


async def prepare(op: Operator, clients: int, customers: int = 10) -> Stream:
    """Clients on ABC Factoring (default script: accept, advance, fee, paid, settled), with customers."""
    stream = Stream({})
    for _ in range(clients):
        client = f"chaos-{uuid.uuid4().hex[:10]}"
        await client_with_accounts(op, client, "abc-factoring")
        numbers = []
        for i in range(customers):
            base: CustomerData = PERSON if i % 2 else COMPANY
            data = base.model_copy(update={"email": f"c{i}@example.no"})
            numbers.append((await op.upsert_customer(client, data)).details["customer_number"])
        await op.activate(client, "abc-factoring")
        await op.simulator_script(op.urls.abc_simulator, client, fee_ore=FEE_ORE)
        stream.customers[client] = numbers
    return stream


async def publish(op: Operator, stream: Stream, count: int) -> None:
    """Drafts and sends `count` invoices without waiting for answers (one key per client keeps them in order)."""
    clients = list(stream.customers)
    today = date.today()
    sends = []
    for i in range(count):
        client = clients[i % len(clients)]
        customer = stream.customers[client][i % len(stream.customers[client])]
        net = NETS[i % len(NETS)]
        invoice = uuid.uuid4()
        stream.invoices[invoice] = (client, net)
        draft = invoicing.CreateInvoiceDraft(
            client_id=client,
            acting_user=op.user,
            invoice_id=invoice,
            customer_number=customer,
            invoice_date=today,
            due_date=today + timedelta(days=14),
            lines=[InvoiceLine(description=f"Chaos {i}", net_ore=net)],
        )
        send = invoicing.SendInvoice(client_id=client, acting_user=op.user, invoice_id=invoice)
        sends += [
            op.bus.send(topics.TOPIC_INVOICING_COMMANDS, draft, client),
            op.bus.send(topics.TOPIC_INVOICING_COMMANDS, send, client),
        ]
        if len(sends) >= 400:
            await asyncio.gather(*sends)
            sends = []
    await asyncio.gather(*sends)


async def settled_share(op: Operator, stream: Stream) -> float:
    """How much of the expected bank balance has arrived, over all clients (1.0 when every invoice settled)."""
    got = want = 0
    for client in stream.customers:
        trial = await op.trial_balance(client)
        bank = next((a["balance_ore"] for a in trial["accounts"] if a["account"] == "1920"), 0)
        got += bank
        want += stream.expected_balances(client)["1920"]
    return got / want if want else 1.0


async def unsettled_statuses(op: Operator, stream: Stream) -> int:
    """Invoices whose factoring status in invoicing does not say settled yet (status updates trail the books)."""
    waiting = 0
    for client in stream.customers:
        rows = await op.invoices(client)
        waiting += sum(
            1 for r in rows if uuid.UUID(r["invoice_id"]) in stream.invoices and r["factoring_status"] != "settled"
        )
    return waiting


async def wait_until_done(op: Operator, stream: Stream, timeout: float) -> float:
    """Until the books hold every settlement and invoicing shows every invoice settled."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if await settled_share(op, stream) >= 1.0 and await unsettled_statuses(op, stream) == 0:
            return time.monotonic() - started
        await asyncio.sleep(1.0)
    raise TimeoutError(
        f"only {await settled_share(op, stream):.1%} settled in the books and "
        f"{await unsettled_statuses(op, stream)} statuses not settled after {timeout:.0f} s"
    )


@dataclass
class Verdict:
    invoices: int
    vouchers: int
    duplicates: int
    lost: int
    wrong_status: int
    wrong_balances: list[str]
    other: list[str]

    def ok(self) -> bool:
        return not (self.duplicates or self.lost or self.wrong_status or self.wrong_balances or self.other)

    def line(self) -> str:
        return (
            f"checked {self.invoices} invoices, {self.vouchers} vouchers: duplicates found = {self.duplicates}, "
            f"lost = {self.lost}, wrong status = {self.wrong_status}, wrong balances = {len(self.wrong_balances)}"
        )


async def verify(op: Operator, stream: Stream) -> Verdict:
    """Every invoice: exactly one voucher per lifecycle step, status settled; every client: exact balances."""
    per_invoice: dict[uuid.UUID, Counter[str]] = defaultdict(Counter)
    vouchers = 0
    other: list[str] = []
    wrong_balances: list[str] = []
    wrong_status = 0
    for client in stream.customers:
        for voucher in await op.get(op.urls.ledger, f"/clients/{client}/vouchers", limit=1_000_000):
            vouchers += 1
            source: dict[str, Any] = voucher["source"]
            if source.get("invoice_id"):
                per_invoice[uuid.UUID(source["invoice_id"])][source["event_type"]] += 1
            else:
                other.append(f"{client}: voucher {voucher['series']}-{voucher['number']} without an invoice")
        trial = await op.trial_balance(client)
        balances = {a["account"]: a["balance_ore"] for a in trial["accounts"] if a["balance_ore"]}
        if balances != stream.expected_balances(client) or trial["balance_ore"] != 0:
            wrong_balances.append(f"{client}: {balances} != {stream.expected_balances(client)}")
        for row in await op.invoices(client):
            if uuid.UUID(row["invoice_id"]) in stream.invoices and row["factoring_status"] != "settled":
                wrong_status += 1
    duplicates = sum(n - 1 for counts in per_invoice.values() for n in counts.values() if n > 1)
    lost = sum(len(LIFECYCLE - set(per_invoice.get(invoice, {}))) for invoice in stream.invoices)
    unexpected = {t for counts in per_invoice.values() for t in counts} - LIFECYCLE
    if unexpected:
        other.append(f"unexpected voucher kinds: {sorted(unexpected)}")
    return Verdict(len(stream.invoices), vouchers, duplicates, lost, wrong_status, wrong_balances, other)


async def run_and_check(
    op: Operator, stream: Stream, count: int, breaker: Callable[[], Awaitable[None]], timeout: float = 420
) -> Verdict:
    """Publishes `count` invoices, breaks something while they are handled, waits until all settled, and fails
    unless every invoice has exactly its vouchers and status and every client's books are exact."""
    started = time.monotonic()
    await publish(op, stream, count)
    print(f"\npublished {count} invoices ({2 * count} commands) in {time.monotonic() - started:.1f} s")
    await breaker()
    done = await wait_until_done(op, stream, timeout)
    print(f"every invoice settled {done:.1f} s after the breakage ended")
    verdict = await verify(op, stream)
    print(verdict.line())
    assert verdict.ok(), (verdict.wrong_balances[:3], verdict.other[:3], verdict.line())
    return verdict
