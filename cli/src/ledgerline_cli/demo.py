"""`make demo`: the whole mission on real Kafka and PostgreSQL, told as a story, checked at the end.

The same story runs in tests/test_demo.py against the test stack.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table

from ledgerline_contracts import financing
from ledgerline_contracts.factoring import AccountRef
from ledgerline_contracts.invoicing import Address, InvoiceLine
from ledgerline_contracts.money import format_nok
from ledgerline_contracts.norway import KidScheme, kid_problem
from ledgerline_contracts.samples import COMPANY, INCOMPLETE, PERSON

from . import monitoring, reports
from .bus import Bus
from .operator import Operator, Urls
from .stack import Stack


@dataclass
class Story:
    """Narrates each step and keeps the checks; a failed check makes the demo exit non-zero."""

    console: Console
    checks: list[tuple[str, bool, str]] = field(default_factory=list)

    def step(self, text: str) -> None:
        self.console.print(f"[bold cyan]▸[/bold cyan] {text}")

    def note(self, text: str) -> None:
        self.console.print(f"    {text}")

    def check(self, name: str, ok: bool, detail: Any = "") -> None:
        self.checks.append((name, ok, str(detail)))
        mark = "[green]✓[/green]" if ok else "[red]✗[/red]"
        self.console.print(f"    {mark} {name}" + (f" ({detail})" if detail != "" else ""))

    @property
    def failures(self) -> list[str]:
        return [name for name, ok, _ in self.checks if not ok]


async def until(probe: Callable[[], Awaitable[Any]], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = await probe()
        if result or time.monotonic() > deadline:
            return result
        await asyncio.sleep(0.25)


async def invoice_status(op: Operator, client: str, invoice: uuid.UUID, wanted: str, timeout: float = 60.0) -> str:
    async def probe() -> str | None:
        status = (await op.invoice(client, invoice))["factoring_status"]
        return status if status == wanted else None

    return await until(probe, timeout) or (await op.invoice(client, invoice))["factoring_status"]


async def factoring_story(op: Operator, story: Story, suffix: str) -> str:
    client = f"nordlys-{suffix}"
    story.step(f"Client {client}: Nordlys Regnskap AS, with a person and two companies as customers")
    await op.create_client(
        client,
        "Nordlys Regnskap AS",
        "912345678",
        "Ada Admin",
        address=Address(street="Nordlysveien 5", postcode="9008", city="Tromsø"),
        vat_registered=True,
        kid_scheme="MOD11",
    )
    await op.add_user(client, "gm", "Gunnar Daglig", ["general_manager"])
    await op.add_user(client, "acc", "Anne Regnskap", ["accountant"])
    kari = (await op.upsert_customer(client, PERSON)).details["customer_number"]
    fjellbygg = (await op.upsert_customer(client, COMPANY)).details["customer_number"]
    sjobris = (await op.upsert_customer(client, INCOMPLETE)).details["customer_number"]
    story.note(f"customers {kari} (Kari Nordmann), {fjellbygg} (Fjellbygg AS), {sjobris} (Sjøbris Kafé, no org. no.)")

    story.step("The old file-based factoring is on: activation must wait for it to end")
    await op.settings(client, legacy_factoring=True)
    old = await op.create_invoice(client, fjellbygg, [InvoiceLine(description="Old-style delivery", net_ore=200_000)])
    await op.send_invoice(client, old)
    mapping = {
        "intermediate": AccountRef(account="2400", party=20001),
        "fees": AccountRef(account="7770"),
        "interest_income": AccountRef(account="8050"),
        "bank": AccountRef(account="1920"),
        "receivables": AccountRef(account="1500"),
        "deviation": AccountRef(account="2900"),
    }
    await op.add_party(client, 20001, "ABC Factoring", "supplier")
    await op.map_accounts(client, "abc-factoring", mapping)
    story.note(
        "accounts mapped: intermediate 2400/20001 (ABC as a supplier), fees 7770, interest income 8050, "
        "bank 1920, receivables 1500, deviation 2900 (a debtor paying the client by mistake)"
    )
    refused = await op.activate(client, "abc-factoring", expect_accepted=False)
    story.check("activation refused while the old factoring is on", not refused.accepted, refused.reason)
    still = await op.settings(client, legacy_factoring=False, expect_accepted=False)
    story.check("old factoring cannot end with an unsent invoice", not still.accepted, still.reason)
    transferred = await op.transfer_legacy_invoices(client)
    story.note(f"factoring report: {transferred.details['transferred']} unsent invoice transferred")
    await op.settings(client, legacy_factoring=False)

    story.step("Activate ABC Factoring")
    activated = await op.activate(client, "abc-factoring")
    story.check(
        "ABC Factoring active; every customer card flagged «Use factoring»",
        activated.details["customer_cards_flagged"] == 3,
        activated.details,
    )
    await op.exclude_customer(client, fjellbygg, "print")
    story.note(f"customer {fjellbygg} excluded: unticked, delivered by print")
    await op.simulator_script(op.urls.abc_simulator, client, late_percent=100)

    story.step("Send invoices")
    kari_invoice = await op.create_invoice(
        client,
        kari,
        [
            InvoiceLine(description="Consulting, hours", quantity="8", unit_price_ore=100_000, net_ore=800_000),
            InvoiceLine(description="Travel", net_ore=200_000),
        ],
    )
    sent = await op.send_invoice(client, kari_invoice)
    story.note(
        f"invoice {sent.details['invoice_number']} to Kari: via {sent.details['delivery_method']}, "
        f"status {sent.details['factoring_status']}; ABC makes the invoice document from "
        f"{sent.details['lines']} lines with KID {sent.details['kid']}"
    )
    story.check(
        "the delivery's KID carries a valid MOD11 check digit (the client's choice)",
        kid_problem(sent.details["kid"], KidScheme.MOD11) is None,
        sent.details["kid"],
    )
    imported = await op.create_invoice(
        client, kari, [InvoiceLine(description="From the old system", net_ore=50_000)], origin="imported"
    )
    refusal = await op.send_invoice(client, imported, expect_accepted=False)
    story.check("an imported invoice is refused", not refusal.accepted, refusal.reason)
    incomplete = await op.create_invoice(client, sjobris, [InvoiceLine(description="Catering", net_ore=80_000)])
    refusal = await op.send_invoice(client, incomplete, expect_accepted=False)
    story.check(
        "an invoice to a card without organisation number is refused",
        not refusal.accepted and "organisation number" in (refusal.reason or ""),
        refusal.reason,
    )
    printed = await op.create_invoice(client, fjellbygg, [InvoiceLine(description="Materials", net_ore=400_000)])
    sent = await op.send_invoice(client, printed)
    story.check(
        "the excluded customer's invoice goes by print, not via factoring",
        sent.details["delivery_method"] == "print" and not sent.details["via_factoring"],
    )
    await op.register_payment(client, printed, 500_000)

    story.step("ABC Factoring runs the invoice to settlement: advance, fee, reminder, interest note, payment")
    status = await invoice_status(op, client, kari_invoice, "settled")
    story.check("Kari's invoice settled by ABC Factoring", status == "settled", status)
    return client


async def recourse_story(op: Operator, story: Story, suffix: str) -> str:
    client = f"havbris-{suffix}"
    story.step(f"Client {client}: Havbris Handel AS sells its invoices to Fjord Invoice Sale; one comes back")
    await op.create_client(
        client,
        "Havbris Handel AS",
        "923456789",
        "Ada Admin",
        address=Address(street="Strandkaien 8", postcode="5013", city="Bergen"),
    )
    customer = (await op.upsert_customer(client, COMPANY)).details["customer_number"]
    await op.add_account(client, "1590", "Mellomregning Fjord Invoice Sale", "asset")
    await op.add_account(client, "1591", "Tilbakeholdt hos Fjord Invoice Sale", "asset")
    await op.map_accounts(
        client,
        "fjord-invoice-sale",
        {
            "intermediate": AccountRef(account="1590"),
            "holdback": AccountRef(account="1591"),
            "fees": AccountRef(account="7770"),
            "bank": AccountRef(account="1920"),
            "receivables": AccountRef(account="1500"),
            "deviation": AccountRef(account="2900"),
        },
    )
    await op.activate(client, "fjord-invoice-sale")
    await op.simulator_script(op.urls.fjord_simulator, client, recourse_percent=100, fee_ore=25_000)
    invoice = await op.create_invoice(client, customer, [InvoiceLine(description="Fish crates", net_ore=2_000_000)])
    await op.send_invoice(client, invoice)
    status = await invoice_status(op, client, invoice, "returned")
    story.check("sold, paid out, then returned by recourse and netted", status == "returned", status)
    return client


async def financing_story(op: Operator, story: Story, client: str) -> None:
    story.step("Invoice financing with Buffer, started from the open-items report")
    consent = financing.GiveFinancingConsent(
        client_id=client,
        acting_user="acc",
        context=financing.FinancingContext.OPEN_ITEMS,
        agreed=True,
        consent_text=financing.CONSENT_TEXTS["en-1"],
        consent_text_version="en-1",
    )
    refused = await op.financing(consent, expect_accepted=False)
    story.check("the accountant, without the privilege, is refused", not refused.accepted, refused.reason)
    await op.financing(consent.model_copy(update={"message_id": uuid.uuid4(), "acting_user": "gm"}))
    story.note("the general manager consents: «I agree that Buffer may access this client»")

    async def limit_other_than(previous: int | None) -> dict[str, Any] | None:
        widget = await op.widget(client)
        credit = widget.get("credit")
        opened = widget["state"] == financing.OnboardingState.ACCOUNT_OPENED.value
        return widget if opened and credit and credit["limit_ore"] != previous else None

    widget = await until(lambda: limit_other_than(None))
    story.check("Buffer opens the account and offers a credit limit the widget shows", bool(widget), _limit(widget))
    if not widget:
        return
    customer = (await op.customers(client))[1]["number"]  # Fjellbygg: excluded from factoring, so ours to finance
    invoice = await op.create_invoice(client, customer, [InvoiceLine(description="New order", net_ore=3_000_000)])
    await op.send_invoice(client, invoice)
    grown = await until(lambda: limit_other_than(widget["credit"]["limit_ore"]))
    story.check("a new invoice raises the credit limit", bool(grown), f"{_limit(widget)} → {_limit(grown)}")
    if not grown:
        return
    await op.register_payment(client, invoice, 3_750_000)
    shrunk = await until(lambda: limit_other_than(grown["credit"]["limit_ore"]))
    story.check("its payment lowers it again", bool(shrunk), f"{_limit(grown)} → {_limit(shrunk)}")
    if shrunk:
        await factored_story(op, story, client, shrunk["credit"]["limit_ore"])
    buffer_view = await op.get(op.urls.buffer_simulator, f"/clients/{client}")
    draw = buffer_view["available_ore"] // 200 * 100  # half of what Buffer has available, in whole kroner
    await op.post(op.urls.buffer_simulator, f"/clients/{client}/drawdowns", {"amount_ore": draw})
    story.note(f"the client draws {format_nok(draw)} on its Buffer account")

    async def used() -> dict[str, Any] | None:
        now = await op.widget(client)
        return now if now.get("credit") and now["credit"]["used_ore"] == draw else None

    drawn = await until(used)
    available = f"available {format_nok(drawn['credit']['available_ore'])}" if drawn else ""
    story.check("the drawdown shows as used credit in the widget", bool(drawn), available)
    if drawn:
        story.console.print(reports.widget(drawn))


async def factored_story(op: Operator, story: Story, client: str, limit: int) -> None:
    """An invoice ABC Factoring holds is not the client's to pledge: Buffer is not offered it until ABC returns it."""
    story.step("An invoice to Kari goes to ABC Factoring: no receivable is pledged twice")
    await op.simulator_script(op.urls.abc_simulator, client, recourse_percent=100, step_delay_ms=1000)
    kari = (await op.customers(client))[0]["number"]  # delivered via ABC Factoring
    invoice = await op.create_invoice(client, kari, [InvoiceLine(description="Consulting", net_ore=1_000_000)])
    await op.send_invoice(client, invoice)

    async def excluding(receivables: int, limit_ore: int) -> dict[str, Any] | None:
        widget = await op.widget(client)
        excluded, credit = widget.get("excluded") or {}, widget.get("credit") or {}
        return widget if (excluded.get("receivables"), credit.get("limit_ore")) == (receivables, limit_ore) else None

    held = await until(lambda: excluding(1, limit))
    story.check(
        "while ABC holds it, Buffer is not offered it: the limit stays and the widget says why",
        bool(held),
        reports.excluded_receivables(held["excluded"]) if held else "not seen",
    )
    if held:
        story.console.print(reports.widget(held))
    status = await invoice_status(op, client, invoice, "returned")
    back = await until(lambda: excluding(0, limit + 1_000_000))  # 80 % of 12 500,00
    story.check(
        "ABC returns it by recourse: it is streamed to Buffer again and the limit follows",
        status == "returned" and bool(back),
        f"{format_nok(limit)} → {_limit(back)}",
    )


def _limit(widget: dict[str, Any] | None) -> str:
    credit = widget.get("credit") if widget else None
    return format_nok(credit["limit_ore"]) if credit else "none"


async def closing_checks(op: Operator, story: Story, clients: dict[str, str]) -> None:
    story.step("Reports")
    for client, provider in clients.items():
        story.console.print(reports.invoices(await op.invoices(client)))
        balance = await op.trial_balance(client)
        story.console.print(reports.trial_balance(balance))
        story.check(
            f"{client}: trial balance sums to zero",
            balance["balance_ore"] == 0 and balance["total_debit_ore"] == balance["total_credit_ore"],
            format_nok(balance["balance_ore"]),
        )
        refused = await op.rejections(client)
        story.check(
            f"{client}: the ledger refused none of the bookings",
            refused == [],
            "; ".join(f"{r['idempotency_key']}: {r['reason']}" for r in refused),
        )
        recon = await op.reconciliation(client, provider)
        story.console.print(reports.reconciliation(recon))
        story.check(
            f"{client}: intermediate accounts zero after {provider}'s settlement",
            recon.get("differences") == [],
            f"{recon.get('finished_with_zero_balance')} invoices finished",
        )
        story.console.print(reports.open_items(await reports.open_items_with_factoring(op, client)))
        story.console.print(reports.aged(await reports.aged_with_factoring(op, client)))


async def story(op: Operator, console: Console) -> Story:
    told = Story(console)
    suffix = uuid.uuid4().hex[:6]
    try:
        first = await factoring_story(op, told, suffix)
        second = await recourse_story(op, told, suffix)
        await financing_story(op, told, first)
        await closing_checks(op, told, {first: "abc-factoring", second: "fjord-invoice-sale"})
    except Exception as error:  # a step that could not run at all: the story fails, saying where
        told.check("the story ran to its end", False, repr(error))
    return told


def prometheus_summary(stack: Stack, story: Story, seconds: float) -> None:
    """Throughput per service and per provider during the demo, as the stack's Prometheus saw it (PromQL over
    HTTP: ledgerline_cli.monitoring.throughput)."""
    watcher = monitoring.Monitoring(stack)
    if not watcher.running():
        story.note("Prometheus is not running (not installed: `make setup` installs it), so no throughput summary")
        return
    story.step(f"Throughput from Prometheus ({watcher.url})")
    try:
        asked = time.time()
        deadline = time.monotonic() + 20
        while not watcher.scraped_since(asked) and time.monotonic() < deadline:  # counters as of the story's end
            time.sleep(0.5)
        services, providers = monitoring.throughput(watcher, int(seconds))
    except Exception as error:  # Prometheus runs but does not answer: the story's checks stand, this one fails
        story.check("Prometheus answered the throughput queries", False, repr(error))
        return
    for title, header, rows in (
        ("Per service", ("service", "messages handled", "per second", "vouchers posted for it"), services),
        ("Per provider", ("provider", "events handled", "per second", "messages sent to it"), providers),
    ):
        table = Table(*header, title=title)
        for row in rows:
            table.add_row(*row)
        story.console.print(table)
    handled = {row[0] for row in services if float(row[1]) > 0}
    story.check(
        "Prometheus saw every service handle messages",
        set(Stack.SERVICES) <= handled,
        ", ".join(sorted(set(Stack.SERVICES) - handled)) or f"{len(handled)} processes",
    )


def run_demo(stack: Stack, console: Console, keep_running: bool = False) -> int:
    console.rule("Ledgerline demo")
    started = time.monotonic()
    console.print("Starting Kafka, PostgreSQL, the four services and the three provider simulators …")
    ready = stack.up()
    console.print(f"all {len(ready)} processes ready in {time.monotonic() - started:.1f} s")

    async def main() -> Story:
        async with Bus(stack.bootstrap) as bus:
            return await story(Operator(bus, Urls.for_port_base(stack.port_base), timeout=60), console)

    try:
        told = asyncio.run(main())
        prometheus_summary(stack, told, time.monotonic() - started)
    except Exception as error:  # a step that could not even run: say which and why, and fail
        console.print(f"[red]the story stopped:[/red] {error!r}")
        told = Story(console, [("the story ran to its end", False, repr(error))])
    finally:
        if keep_running:
            console.print("The stack keeps running: try `ledgerline report invoices <client>`; `make down` stops it.")
        else:
            stack.down()
    console.rule("Result")
    passed = len(told.checks) - len(told.failures)
    console.print(f"{passed} of {len(told.checks)} checks passed in {time.monotonic() - started:.0f} s")
    for name in told.failures:
        console.print(f"[red]failed:[/red] {name}")
    return 1 if told.failures else 0
