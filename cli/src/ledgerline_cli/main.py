"""`ledgerline`: the operator command line. Drives the system through its Kafka command topics and HTTP
queries (never a service's tables), shows reports as tables (`--json` for scripts), exits non-zero with the
service's reason when a command is refused."""

from __future__ import annotations

import asyncio
import json as jsonlib
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from ledgerline_contracts import auth, financing, invoicing
from ledgerline_contracts.factoring import AccountRef
from ledgerline_contracts.invoicing import Address, CustomerData, CustomerKind, InvoiceLine, VatCode
from ledgerline_contracts.messages import CommandResult
from ledgerline_contracts.money import ore_from_decimal

from . import partitions, reports, tokens
from .bus import Bus, CommandRefused
from .kafka_admin import ensure_topics
from .operator import Operator, QueryFailed, Urls
from .stack import Stack

T = TypeVar("T")
console = Console(width=None if sys.stdout.isatty() else 160)  # reports stay readable in logs and CI
err = Console(stderr=True)

app = typer.Typer(help="Ledgerline operator tool: drives the system over Kafka and HTTP.", no_args_is_help=True)
stack_app = typer.Typer(help="Run the whole stack locally (broker, database, services, simulators).")
client_app = typer.Typer(help="Clients, users, roles and settings (invoicing).")
ledger_app = typer.Typer(help="Chart of accounts and sub-ledgers (ledger).")
factoring_app = typer.Typer(help="Factoring integrations: account mapping, activation.")
customer_app = typer.Typer(help="Customer cards.")
invoice_app = typer.Typer(help="Invoices: create, send, pay, credit.")
financing_app = typer.Typer(help="Invoice financing with Buffer.")
report_app = typer.Typer(help="Reports (tables; --json for scripts).")
for name, sub in [
    ("stack", stack_app),
    ("client", client_app),
    ("ledger", ledger_app),
    ("factoring", factoring_app),
    ("customer", customer_app),
    ("invoice", invoice_app),
    ("financing", financing_app),
    ("report", report_app),
]:
    app.add_typer(sub, name=name)


def _settings() -> tuple[int, str, str]:
    return (
        int(os.environ.get("LEDGERLINE_PORT_BASE", "8100")),
        os.environ.get("LEDGERLINE_KAFKA", "127.0.0.1:9092"),
        os.environ.get("LEDGERLINE_USER", "admin"),
    )


def _stack() -> Stack:
    base, kafka, _ = _settings()
    return Stack(port_base=base, bootstrap=kafka)


def run(action: Callable[[Operator], Awaitable[T]], waiting: str = "waiting for the services") -> T:
    """Runs one operator action with a live status line; a refusal or failed query exits 1 with its reason."""
    base, kafka, user = _settings()

    async def main() -> T:
        async with Bus(kafka) as bus:
            return await action(Operator(bus, Urls.for_port_base(base), user=user))

    try:
        with console.status(waiting):
            return asyncio.run(main())
    except CommandRefused as refused:
        err.print(f"[red]refused[/red] by {refused.result.service}: {refused.result.reason}")
        raise typer.Exit(1) from None
    except (QueryFailed, TimeoutError) as failure:
        err.print(f"[red]failed[/red]: {failure}")
        raise typer.Exit(1) from None


def accepted(result: CommandResult) -> None:
    details = ", ".join(f"{k}={v}" for k, v in result.details.items())
    console.print(f"[green]accepted[/green] by {result.service}" + (f": {details}" if details else ""))


# --- stack --------------------------------------------------------------------------------------------------------
@stack_app.command("up")
def stack_up(only: list[str] = typer.Option(None, "--only", help="Start just these processes.")) -> None:
    """Start broker, database and every process; wait until each answers /readyz."""
    stack = _stack()
    started = time.monotonic()
    ready = stack.up(only or None)
    table = Table("process", "url", "ready after (s)")
    for name, seconds in ready.items():
        table.add_row(name, stack.url(name), f"{seconds:.1f}")
    console.print(table)
    console.print(f"stack up in {time.monotonic() - started:.1f} s (logs: {stack.state / 'logs'})")


@stack_app.command("down")
def stack_down(keep_infra: bool = typer.Option(False, help="Leave Kafka and PostgreSQL running.")) -> None:
    """Stop every process of the stack, broker and database included."""
    _stack().down(infra=not keep_infra)
    console.print("stack down")


@stack_app.command("status")
def stack_status() -> None:
    stack = _stack()
    running = stack.running()
    table = Table("process", "pid", "url")
    for name in stack.specs():
        table.add_row(name, str(running.get(name, "-")), stack.url(name))
    console.print(table)


topics_app = typer.Typer(help="Topics: create the missing ones; grow one provider's partitions.")
app.add_typer(topics_app, name="topics", invoke_without_command=True)
partitions.register(topics_app, console, err)


@topics_app.callback()
def topics(
    ctx: typer.Context,
    bootstrap: str = typer.Option("127.0.0.1:9092", envvar="LEDGERLINE_KAFKA"),
    replication: int = typer.Option(
        1, envvar="LEDGERLINE_TOPIC_REPLICATION", help="Replication factor: 1 on the local broker, 3 on a cluster."
    ),
) -> None:
    """Create every topic of the system that does not exist yet (`topics grow`: more partitions for a provider)."""
    if ctx.invoked_subcommand is not None:
        return
    created = asyncio.run(ensure_topics(bootstrap, replication=replication))
    console.print(f"created {len(created)} topics" + (f": {', '.join(created)}" if created else ""))


@app.command("keys")
def keys(directory: Path = typer.Option(None, "--dir", help="Where (default: the state folder's keys/).")) -> None:
    """Make the token issuers' key pairs that are missing: the users' issuer and each service."""
    made = auth.ensure_keys(directory, (auth.USERS_ISSUER, *tokens.SERVICES)) if directory else []
    where = directory or tokens.keys_dir()
    console.print(f"keys in {where}" + (f"; made {', '.join(made)}" if made else ""))


@app.command("login")
def login(
    client: str = typer.Argument(None, help="The client (tenant) the user belongs to."),
    user: str = typer.Argument(None, help="The user's id."),
    operator: str = typer.Option(None, help="A platform operator's name instead of a client's user."),
    privilege: list[str] = typer.Option(
        list(auth.OPERATOR_PRIVILEGES), help="An operator's privileges (repeat the option)."
    ),
    minutes: int = typer.Option(15, help="How long the token is valid."),
) -> None:
    """Sign a token with the local issuer (the stand-in for the accounting system's identity provider), print it
    and save it in the state folder (mode 0600)."""
    issuer = tokens.local_issuer()
    if operator:
        token = issuer.operator(operator, privilege, seconds=minutes * 60)
    elif client and user:
        token = issuer.user(client, user, seconds=minutes * 60)
    else:
        raise typer.BadParameter("name a client and a user, or --operator NAME")
    path = tokens.save_token(token)
    console.print(token, soft_wrap=True)
    console.print(f"saved to {path}; valid for {minutes} minutes", style="dim")


# --- clients --------------------------------------------------------------------------------------------------------
@client_app.command("create")
def client_create(
    client: str,
    company: str = typer.Option(...),
    org_no: str = typer.Option(...),
    admin_name: str = typer.Option("Administrator"),
    street: str = typer.Option(None, help="The client's address, printed on its invoices."),
    postcode: str = typer.Option(None),
    city: str = typer.Option(None),
    vat_registered: bool = typer.Option(False, help="«MVA» after the organisation number on its invoices."),
    kid: str = typer.Option("MOD10", help="The KID's check digit on its invoices: MOD10 or MOD11."),
) -> None:
    """Create a client; its books open in the ledger, the acting user becomes its administrator."""
    address = Address(street=street, postcode=postcode, city=city) if street or postcode or city else None
    accepted(
        run(
            lambda op: op.create_client(
                client, company, org_no, admin_name, address=address, vat_registered=vat_registered, kid_scheme=kid
            )
        )
    )


@client_app.command("add-user")
def client_add_user(
    client: str,
    user: str,
    name: str = typer.Option(...),
    role: list[str] = typer.Option(..., help="administrator, general_manager, accountant, …"),
) -> None:
    accepted(run(lambda op: op.add_user(client, user, name, role)))


@client_app.command("grant")
def client_grant(
    client: str, role: str, privilege: str, revoke: bool = typer.Option(False, help="Take the privilege away instead.")
) -> None:
    """Role management: give a privilege (e.g. invoice_financing) to a role, or take it away."""
    accepted(run(lambda op: op.grant(client, role, privilege, revoke=revoke)))


@client_app.command("settings")
def client_settings(
    client: str,
    legacy_factoring: bool = typer.Option(None, "--legacy-factoring/--no-legacy-factoring"),
    reminders: bool = typer.Option(None, "--reminders/--no-reminders"),
    debt_collection: bool = typer.Option(None, "--debt-collection/--no-debt-collection"),
    e_invoice: bool = typer.Option(None, "--e-invoice/--no-e-invoice"),
    vat_registered: bool = typer.Option(None, "--vat-registered/--no-vat-registered"),
    kid: str = typer.Option(None, help="MOD10 or MOD11: the KID's check digit on invoices sent from now on."),
    street: str = typer.Option(None, help="The client's address, printed on its invoices (all three together)."),
    postcode: str = typer.Option(None),
    city: str = typer.Option(None),
) -> None:
    changes: dict[str, Any] = {
        k: v
        for k, v in {
            "legacy_factoring": legacy_factoring,
            "reminders": reminders,
            "debt_collection": debt_collection,
            "e_invoice_agreement": e_invoice,
            "vat_registered": vat_registered,
            "kid_scheme": kid,
            "address": Address(street=street, postcode=postcode, city=city) if street or postcode or city else None,
        }.items()
        if v is not None
    }
    accepted(run(lambda op: op.settings(client, **changes)))


@client_app.command("follow-up")
def client_follow_up(
    client: str,
    kind: invoicing.FollowUp,
    service: str = typer.Option(None, help="The reminder or debt-collection service to connect, e.g. Kredinor."),
    disconnect: bool = typer.Option(False, help="Disconnect the service of this kind instead."),
) -> None:
    """Reminder («purring») and debt-collection («inkasso») integrations; never beside a factoring integration."""
    if disconnect == (service is not None):
        raise typer.BadParameter("give either --service NAME or --disconnect")
    accepted(run(lambda op: op.follow_up(client, kind.value, None if disconnect else service)))


@client_app.command("accounts")
def client_accounts(
    client: str,
    receivables: str = typer.Option(None, help="Customer receivables, the customer series' control account (15xx)."),
    sales: str = typer.Option(None, help="Sales with output VAT (3xxx)."),
    sales_exempt: str = typer.Option(None, help="VAT-exempt sales (3xxx)."),
    output_vat: str = typer.Option(None, help="Output VAT (27xx)."),
    bank: str = typer.Option(None, help="The bank account payments arrive in (19xx)."),
) -> None:
    """Where invoicing books the client's sales and payments; each account is checked against the ledger's chart."""
    given = {"receivables": receivables, "sales": sales, "sales_exempt": sales_exempt, "output_vat": output_vat}
    changes = {k: v for k, v in {**given, "bank": bank}.items() if v is not None}
    accepted(run(lambda op: op.posting_accounts(client, changes)))


@client_app.command("transfer-legacy")
def client_transfer_legacy(client: str) -> None:
    """The old factoring report: send every unsent invoice to the factoring company."""
    accepted(run(lambda op: op.transfer_legacy_invoices(client)))


# --- ledger set-up --------------------------------------------------------------------------------------------------
@ledger_app.command("account")
def ledger_account(
    client: str,
    number: str,
    name: str,
    account_type: str = typer.Option(..., "--type"),
    control_role: str = typer.Option(None, help="accounts_receivable or accounts_payable"),
) -> None:
    accepted(run(lambda op: op.add_account(client, number, name, account_type, control_role)))


@ledger_app.command("series")
def ledger_series(
    client: str,
    code: str,
    name: str,
    kind: str = typer.Option(...),
    control_account: str = typer.Option(...),
    first: int = typer.Option(...),
    last: int = typer.Option(...),
) -> None:
    """A numbered sub-ledger series, e.g. a dedicated series for a factoring provider."""
    accepted(run(lambda op: op.add_series(client, code, name, kind, control_account, first, last)))


@ledger_app.command("party")
def ledger_party(
    client: str, number: int, name: str, kind: str = typer.Option(..., help="customer or supplier")
) -> None:
    accepted(run(lambda op: op.add_party(client, number, name, kind)))


# --- factoring ------------------------------------------------------------------------------------------------------
def _account_ref(text: str) -> AccountRef:
    account, _, party = text.partition("/")
    return AccountRef(account=account, party=int(party) if party else None)


@factoring_app.command("map")
def factoring_map(
    client: str,
    provider: str,
    role: list[str] = typer.Option(..., help="ROLE=ACCOUNT[/PARTY], e.g. intermediate=2400/20001"),
) -> None:
    """Map the accounts a provider books against (the provider's adapter says which roles it needs)."""
    accounts = {r.split("=", 1)[0]: _account_ref(r.split("=", 1)[1]) for r in role}
    accepted(run(lambda op: op.map_accounts(client, provider, accounts)))


@factoring_app.command("activate")
def factoring_activate(client: str, provider: str) -> None:
    accepted(run(lambda op: op.activate(client, provider), "activating (invoicing, then the factoring gateway)"))


@factoring_app.command("deactivate")
def factoring_deactivate(client: str) -> None:
    accepted(run(lambda op: op.deactivate(client)))


# --- customers and invoices -----------------------------------------------------------------------------------------
@customer_app.command("add")
def customer_add(
    client: str,
    company: str = typer.Option(None),
    org_no: str = typer.Option(None),
    first_name: str = typer.Option(None),
    last_name: str = typer.Option(None),
    street: str = typer.Option(None),
    postcode: str = typer.Option(None),
    city: str = typer.Option(None),
    phone: str = typer.Option(None),
    email: str = typer.Option(None),
    number: int = typer.Option(None, help="Change this card instead of creating one."),
) -> None:
    """Create (or change) a customer card: a company with --company, otherwise a person."""
    data = CustomerData(
        kind=CustomerKind.COMPANY if company else CustomerKind.PERSON,
        company_name=company,
        organisation_number=org_no,
        first_name=first_name,
        last_name=last_name,
        address=Address(street=street, postcode=postcode, city=city),
        phone=phone,
        email=email,
    )
    accepted(run(lambda op: op.upsert_customer(client, data, number)))


@customer_app.command("exclude")
def customer_exclude(client: str, number: int, method: str = typer.Option("email")) -> None:
    """Untick «Use factoring» and choose another delivery method."""
    accepted(run(lambda op: op.exclude_customer(client, number, method)))


def _line(text: str) -> InvoiceLine:
    description, amount, *vat = text.split(":")
    return InvoiceLine(
        description=description, net_ore=ore_from_decimal(amount), vat_code=VatCode(vat[0]) if vat else VatCode.HIGH
    )


@invoice_app.command("create")
def invoice_create(
    client: str,
    customer: int = typer.Option(...),
    line: list[str] = typer.Option(..., help="DESCRIPTION:NET_NOK[:VAT_CODE], e.g. Consulting:10000"),
    imported: bool = typer.Option(False, help="The invoice comes from another system."),
    days: int = typer.Option(14, help="Days until due."),
) -> None:
    invoice_id = run(
        lambda op: op.create_invoice(
            client, customer, [_line(t) for t in line], origin="imported" if imported else "created", days=days
        )
    )
    console.print(f"draft {invoice_id}")


@invoice_app.command("send")
def invoice_send(
    client: str,
    invoice_id: uuid.UUID,
    method: str = typer.Option(None, help="Another delivery method for this invoice only."),
) -> None:
    accepted(run(lambda op: op.send_invoice(client, invoice_id, method)))


@invoice_app.command("pay")
def invoice_pay(client: str, invoice_id: uuid.UUID, amount: str) -> None:
    accepted(run(lambda op: op.register_payment(client, invoice_id, ore_from_decimal(amount))))


@invoice_app.command("credit")
def invoice_credit(
    client: str,
    invoice_id: uuid.UUID,
    amount: str = typer.Option(None, help="NOK; all if left out"),
    reason: str = typer.Option("Credit note"),
) -> None:
    accepted(
        run(lambda op: op.credit_invoice(client, invoice_id, ore_from_decimal(amount) if amount else None, reason))
    )


# --- invoice financing ----------------------------------------------------------------------------------------------
@financing_app.command("consent")
def financing_consent(
    client: str,
    context: financing.FinancingContext = typer.Option("open_items"),
    text_version: str = typer.Option("en-1"),
) -> None:
    """«I agree that Buffer may access this client»: starts onboarding and the receivables stream."""
    _, _, user = _settings()
    command = financing.GiveFinancingConsent(
        client_id=client,
        acting_user=user,
        context=context,
        agreed=True,
        consent_text=financing.CONSENT_TEXTS[text_version],
        consent_text_version=text_version,
    )
    accepted(run(lambda op: op.financing(command)))


@financing_app.command("withdraw")
def financing_withdraw(client: str, reason: str = typer.Option(None)) -> None:
    _, _, user = _settings()
    accepted(
        run(
            lambda op: op.financing(
                financing.WithdrawFinancingConsent(client_id=client, acting_user=user, reason=reason)
            )
        )
    )


# --- reports --------------------------------------------------------------------------------------------------------
def _report(fetch: Callable[[Operator], Awaitable[Any]], render: Callable[[Any], Table | str], as_json: bool) -> None:
    data = run(fetch, "fetching")
    if as_json:
        sys.stdout.write(jsonlib.dumps(data, indent=2, default=str) + "\n")
    else:
        console.print(render(data))


JSON = typer.Option(False, "--json", help="Print the raw JSON instead of a table.")


@report_app.command("invoices")
def report_invoices(
    client: str, unpaid: bool = typer.Option(False, help="Only unpaid invoices."), as_json: bool = JSON
) -> None:
    """Invoices with the factoring invoice status and factoring description columns."""
    _report(lambda op: op.invoices(client, unpaid), reports.invoices, as_json)


@report_app.command("open-items")
def report_open_items(client: str, as_json: bool = JSON) -> None:
    """Open items of customers, with the factoring invoice status and factoring description of their invoices."""
    _report(lambda op: reports.open_items_with_factoring(op, client), reports.open_items, as_json)


@report_app.command("aged")
def report_aged(client: str, as_json: bool = JSON) -> None:
    """Aged receivables: open items bucketed by days past due, each with its invoice's factoring columns."""
    _report(lambda op: reports.aged_with_factoring(op, client), reports.aged, as_json)


@report_app.command("trial-balance")
def report_trial_balance(client: str, as_json: bool = JSON) -> None:
    _report(lambda op: op.trial_balance(client), reports.trial_balance, as_json)


@report_app.command("account")
def report_account(client: str, number: str, as_json: bool = JSON) -> None:
    """An account's movements with the running balance."""
    _report(lambda op: op.account(client, number), reports.account, as_json)


@report_app.command("reconciliation")
def report_reconciliation(client: str, provider: str, as_json: bool = JSON) -> None:
    """The intermediate account per invoice in the ledger against the provider's view."""
    _report(lambda op: op.reconciliation(client, provider), reports.reconciliation, as_json)


@report_app.command("rejections")
def report_rejections(client: str, as_json: bool = JSON) -> None:
    """Bookings the ledger refused for the client, with the reason (nothing of them was booked)."""
    _report(lambda op: op.rejections(client), reports.rejections, as_json)


@report_app.command("widget")
def report_widget(client: str, as_json: bool = JSON) -> None:
    """The invoice-financing dashboard widget, as the acting user sees it."""
    _report(lambda op: op.widget(client), reports.widget, as_json)


@app.command("demo")
def demo(keep_running: bool = typer.Option(False, help="Leave the stack running afterwards to explore.")) -> None:
    """The main job: start everything, run the scripted story end to end, print the reports, check them."""
    from .demo import run_demo

    raise typer.Exit(run_demo(_stack(), console, keep_running=keep_running))


def _register_optional() -> None:
    """Commands that live in their own modules."""
    from . import deadletters, outbox, saft

    deadletters.register(app)
    outbox.register(app)
    saft.register(report_app, run)
    try:
        from . import status
    except ImportError:  # pragma: no cover - status is optional tooling
        return
    status.register(app)


_register_optional()
