"""Invoice financing with Buffer through the real broker and database: the financing gateway, the ledger and the
Buffer simulator as processes. The tests play invoicing themselves (ClientCreated, UserPrivilegesChanged) and
create receivables by booking real vouchers in the real ledger.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from ledgerline_abc_factoring import contract as abc
from ledgerline_cli.bus import Bus
from ledgerline_cli.operator import Operator, Urls
from ledgerline_cli.stack import Stack
from ledgerline_contracts import financing, topics
from ledgerline_contracts import invoicing as inv
from ledgerline_contracts import ledger as L
from ledgerline_contracts.messages import Command, CommandResult
from ledgerline_contracts.providers import buffer
from tests.support.http import eventually, get_json, metric
from tests.support.scenario import TEN_THOUSAND, factoring_client
from tests.support.watch import WATCHED
from tests.test_factoring import abc_says, status_of

pytestmark = pytest.mark.integration
TODAY = date.today()
ADMIN, MANAGER, ACCOUNTANT = "ada", "gus", "acc"
CONSENT_TEXT = financing.CONSENT_TEXTS["en-1"]


@pytest.fixture(scope="module")
def buffer_simulator(services: Stack) -> Iterator[str]:
    """The Buffer simulator; stopped afterwards only if this module started it."""
    already_running = services.pid("buffer-simulator") is not None
    services.start("buffer-simulator")
    services.wait_ready(["buffer-simulator"])
    yield services.url("buffer-simulator")
    if not already_running:
        services.stop("buffer-simulator")


@pytest.fixture
async def financing_bus(infra: Stack) -> AsyncIterator[Bus]:
    watched = [
        *WATCHED,
        (topics.TOPIC_BUFFER_OUTBOUND, buffer.OUTBOUND),
        (topics.TOPIC_BUFFER_INBOUND, buffer.INBOUND),
        (topics.TOPIC_FINANCING_EVENTS, financing.FINANCING_EVENTS),
        (topics.TOPIC_LEDGER_COMMANDS, L.LEDGER_COMMANDS),
    ]
    async with Bus(infra.bootstrap, watched, write_as_owner=True) as bus:  # the test plays invoicing and Buffer
        yield bus


class Client:
    """One client (tenant) of the test, with invoicing played by hand and the ledger booked for real."""

    def __init__(self, stack: Stack, bus: Bus, client_id: str) -> None:
        self.stack, self.bus, self.id = stack, bus, client_id
        self.gateway = stack.url("financing-gateway")
        self.ledger = stack.url("ledger")
        self.buffer = stack.url("buffer-simulator")
        self._privilege_sequence = 0

    # --- invoicing, played by the test --------------------------------------------------------------------------
    async def announce(self, company_name: str = "Fjellvik Rør AS") -> None:
        created = inv.ClientCreated(client_id=self.id, company_name=company_name, organisation_number="987654321")
        await self.bus.send(topics.TOPIC_INVOICING_EVENTS, created, self.id)

    async def user(self, user_id: str, roles: list[str], privileges: list[str], sequence: int | None = None) -> None:
        """Announces a user's effective privileges with the next sequence (or a given, older one)."""
        if sequence is None:
            self._privilege_sequence += 1
            sequence = self._privilege_sequence
        changed = inv.UserPrivilegesChanged(
            client_id=self.id,
            user_id=user_id,
            name=user_id.title(),
            roles=roles,
            privileges=privileges,
            sequence=sequence,
        )
        await self.bus.send(topics.TOPIC_INVOICING_EVENTS, changed, self.id)

    async def staff(self) -> None:
        """The client with the default holders of the privilege and an accountant without it."""
        await self.announce()
        await self.user(ADMIN, [inv.ADMINISTRATOR], [inv.INVOICE_FINANCING, "invoicing"])
        await self.user(MANAGER, [inv.GENERAL_MANAGER], [inv.INVOICE_FINANCING])
        await self.user(ACCOUNTANT, ["accountant"], ["invoicing"])
        await self.until_allowed(ADMIN)
        await self.until_allowed(MANAGER)

    # --- the gateway's HTTP queries -----------------------------------------------------------------------------
    async def query(self, path: str, user: str) -> httpx.Response:
        async with httpx.AsyncClient(timeout=10) as http:
            token = self.bus.signer().user(self.id, user)
            return await http.get(
                f"{self.gateway}/clients/{self.id}/{path}", headers={"authorization": f"Bearer {token}"}
            )

    async def view(self, path: str, user: str = ADMIN) -> Any:
        response = await self.query(path, user)
        assert response.status_code == 200, response.text
        return response.json()

    async def until_allowed(self, user: str, allowed: bool = True) -> None:
        async def settled() -> bool:
            return (await self.query("widget", user)).status_code == (200 if allowed else 403)

        await eventually(settled)

    async def until_widget(self, **expected: Any) -> dict[str, Any]:
        """Waits until the widget shows `expected` (keys of the widget, or credit_<figure> for credit figures)."""

        async def shows() -> dict[str, Any] | None:
            widget: dict[str, Any] = await self.view("widget")
            credit = widget["credit"] or {}
            seen = {
                k: credit.get(k.removeprefix("credit_")) if k.startswith("credit_") else widget[k] for k in expected
            }
            return widget if seen == expected else None

        result: dict[str, Any] = await eventually(shows)
        return result

    async def until_gateway_knows_ledger(self) -> dict[str, Any]:
        """Waits until the gateway's projection holds what the ledger reports open right now."""
        ledger = await get_json(f"{self.ledger}/clients/{self.id}/open-items")

        async def caught_up() -> dict[str, Any] | None:
            stream: dict[str, Any] = await self.view("stream")
            known = (stream["open_items"], stream["open_total_ore"])
            return ledger if known == (len(ledger["open_items"]), ledger["total_ore"]) else None

        result: dict[str, Any] = await eventually(caught_up)
        return result

    # --- commands -----------------------------------------------------------------------------------------------
    async def command(self, topic: topics.Topic, command: Command, accepted: bool = True) -> CommandResult:
        result = await self.bus.command(topic, command, key=self.id, expect_accepted=accepted)
        assert result.accepted is accepted, result.reason
        return result

    async def consent(self, user: str, accepted: bool = True, **fields: Any) -> CommandResult:
        consent = financing.GiveFinancingConsent(
            client_id=self.id,
            acting_user=user,
            context=fields.pop("context", financing.FinancingContext.AGED_RECEIVABLES),
            agreed=True,
            consent_text=CONSENT_TEXT,
            consent_text_version="en-1",
            **fields,
        )
        return await self.command(topics.TOPIC_FINANCING_COMMANDS, consent, accepted)

    async def withdraw(self, user: str, accepted: bool = True) -> CommandResult:
        withdrawal = financing.WithdrawFinancingConsent(client_id=self.id, acting_user=user, reason="test")
        return await self.command(topics.TOPIC_FINANCING_COMMANDS, withdrawal, accepted)

    async def postings(self, user: str, enabled: bool, accepted: bool = True) -> CommandResult:
        accounts: dict[str, Any] = {"bank_account": "1920", "liability_account": {"account": "2380"}} if enabled else {}
        setting = financing.SetFinancingPostings(client_id=self.id, acting_user=user, enabled=enabled, **accounts)
        return await self.command(topics.TOPIC_FINANCING_COMMANDS, setting, accepted)

    # --- the real ledger ----------------------------------------------------------------------------------------
    async def open_books(self) -> None:
        await self.command(topics.TOPIC_LEDGER_COMMANDS, L.OpenBooks(client_id=self.id, company_name="Fjellvik Rør AS"))
        for number, name in ((10001, "Kunde C"), (10002, "Kunde D")):
            await self.command(
                topics.TOPIC_LEDGER_COMMANDS,
                L.UpsertParty(client_id=self.id, number=number, name=name, kind="customer"),
            )
        await self.command(
            topics.TOPIC_LEDGER_COMMANDS,
            L.UpsertAccount(client_id=self.id, number="2380", name="Buffer kreditt", account_type="liability"),
        )

    async def book(self, key: str, text: str, *lines: L.VoucherLine) -> None:
        voucher = L.PostVoucher(
            client_id=self.id,
            idempotency_key=key,
            voucher_date=TODAY,
            text=text,
            lines=list(lines),
            source=L.BookingSource(service="test"),
        )
        await self.command(topics.TOPIC_LEDGER_COMMANDS, voucher)

    async def invoice(self, number: str, party: int, ore: int, due_in_days: int) -> None:
        due = TODAY + timedelta(days=due_in_days)
        await self.book(
            f"invoice-{number}",
            f"Invoice {number}",
            L.VoucherLine(account="1500", side="debit", amount_ore=ore, party=party, open_item=number, due_date=due),
            L.VoucherLine(account="3000", side="credit", amount_ore=ore),
        )

    async def payment(self, number: str, party: int, ore: int) -> None:
        await self.book(
            f"payment-{number}-{ore}",
            f"Payment of invoice {number}",
            L.VoucherLine(account="1920", side="debit", amount_ore=ore),
            L.VoucherLine(account="1500", side="credit", amount_ore=ore, party=party, open_item=number),
        )

    # --- what went to Buffer ------------------------------------------------------------------------------------
    def outbound(self, kind: type[Any] | None = None) -> list[Any]:
        return self.bus.seen(topics.TOPIC_BUFFER_OUTBOUND, kind, lambda m: m.client_id == self.id)

    def sequences(self) -> list[int]:
        return [m.sequence for m in self.outbound() if hasattr(m, "sequence")]

    async def onboarded(self, user: str = ADMIN) -> CommandResult:
        """Consent by `user`, and Buffer's account opened."""
        result = await self.consent(user)
        await self.until_widget(state="account_opened")
        return result


@pytest.fixture
async def client(services: Stack, buffer_simulator: str, financing_bus: Bus, client_id: str) -> Client:
    return Client(services, financing_bus, client_id)


def refused_for_the_privilege(result: CommandResult) -> bool:
    return not result.accepted and inv.INVOICE_FINANCING in (result.reason or "")


async def test_only_holders_of_the_invoice_financing_privilege_get_anywhere(client: Client) -> None:
    await client.staff()
    for user in (ADMIN, MANAGER):
        assert (await client.view("widget", user))["state"] == "not_started"
        assert (await client.postings(user, enabled=False)).accepted

    async def refused_everywhere() -> None:
        for path in ("widget", "credit-limit/history", "stream", "transactions"):
            response = await client.query(path, ACCOUNTANT)
            assert response.status_code == 403, path
            body = response.json()
            assert body["missing_privilege"] == inv.INVOICE_FINANCING and inv.INVOICE_FINANCING in body["error"]
        assert refused_for_the_privilege(await client.consent(ACCOUNTANT, accepted=False))
        assert refused_for_the_privilege(await client.withdraw(ACCOUNTANT, accepted=False))
        assert refused_for_the_privilege(await client.postings(ACCOUNTANT, enabled=False, accepted=False))

    await refused_everywhere()
    assert (await client.query("widget", "nobody")).status_code == 403
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"{client.gateway}/clients/{client.id}/widget")).status_code == 401

    # Role management grants the privilege to the accountant's role: invoicing announces the new effective set.
    await client.user(ACCOUNTANT, ["accountant"], ["invoicing", inv.INVOICE_FINANCING])
    await client.until_allowed(ACCOUNTANT)
    assert (await client.postings(ACCOUNTANT, enabled=False)).accepted
    assert (await client.view("stream", ACCOUNTANT))["streaming"] is False

    await client.user(ACCOUNTANT, ["accountant"], ["invoicing"])
    await client.until_allowed(ACCOUNTANT, allowed=False)
    await refused_everywhere()

    # A late copy of the old grant changes nothing: the newer revoke stays. The new company name, announced
    # after it on the same partition, shows when the gateway has handled both.
    await client.user(ACCOUNTANT, ["accountant"], ["invoicing", inv.INVOICE_FINANCING], sequence=4)
    await client.announce("Fjellvik Rør og Varme AS")
    await client.until_widget(company={"company_name": "Fjellvik Rør og Varme AS", "organisation_number": "987654321"})
    assert (await client.query("widget", ACCOUNTANT)).status_code == 403


async def test_consent_streams_the_ledgers_open_items_then_each_change_once_in_order_and_the_limit_follows(
    client: Client,
) -> None:
    await client.staff()
    await client.open_books()
    await client.invoice("1001", 10001, 1_250_000, due_in_days=14)
    await client.invoice("1002", 10001, 800_000, due_in_days=-90)  # over 60 days past due: Buffer lends nothing on it
    await client.invoice("1003", 10002, 300_000, due_in_days=-30)
    await client.payment("1001", 10001, 250_000)
    ledger = await client.until_gateway_knows_ledger()

    result = await client.consent(ADMIN, context=financing.FinancingContext.UNPAID_INVOICES)
    assert result.details["receivables"] == 3 and result.details["last_sequence"] == 1

    consent = await client.bus.wait_for(topics.TOPIC_BUFFER_OUTBOUND, lambda m: m.client_id == client.id)
    assert isinstance(consent, buffer.ConsentGiven)
    assert consent.company.organisation_number == "987654321"
    assert (consent.user.user_id, consent.user.roles) == (ADMIN, [inv.ADMINISTRATOR])
    assert (consent.consent.text, consent.consent.text_version) == (CONSENT_TEXT, "en-1")
    assert consent.consent.context is financing.FinancingContext.UNPAID_INVOICES
    snapshot = await client.bus.wait_for(
        topics.TOPIC_BUFFER_OUTBOUND, lambda m: isinstance(m, buffer.ReceivablesSnapshot) and m.client_id == client.id
    )
    assert isinstance(snapshot, buffer.ReceivablesSnapshot)
    assert (snapshot.sequence, snapshot.part, snapshot.parts) == (1, 1, 1)
    sent = {
        (
            r.debtor_number,
            r.invoice_reference,
            r.original_ore,
            r.balance_ore,
            r.due_date.isoformat() if r.due_date else None,
        )
        for r in snapshot.receivables
    }
    assert sent == {
        (i["party"], i["open_item"], i["original_ore"], i["balance_ore"], i["due_date"]) for i in ledger["open_items"]
    }
    assert (snapshot.total_count, snapshot.total_ore) == (3, ledger["total_ore"]) == (3, 2_100_000)
    assert {r.debtor_name for r in snapshot.receivables} == {"Kunde C", "Kunde D"}

    # 80 % of 10 000,00 (1001) + 3 000,00 (1003): 1002 is too far past due.
    widget = await client.until_widget(state="account_opened", credit_limit_ore=1_040_000)
    assert widget["active"] and widget["account_opened"]
    assert widget["credit"]["used_ore"] == 0 and widget["credit"]["available_ore"] == 1_040_000
    assert widget["credit"]["updated_at"]
    assert widget["onboarding"]["context"] == "unpaid_invoices"
    assert widget["onboarding"]["consent"]["given_by"] == ADMIN
    assert widget["onboarding"]["consent"]["text_version"] == "en-1"

    await client.invoice("1004", 10002, 500_000, due_in_days=30)
    opened = await client.bus.wait_for(
        topics.TOPIC_BUFFER_OUTBOUND, lambda m: isinstance(m, buffer.ReceivableChanged) and m.client_id == client.id
    )
    assert isinstance(opened, buffer.ReceivableChanged)
    assert (opened.sequence, opened.change, opened.receivable.invoice_reference) == (2, "opened", "1004")
    assert (opened.receivable.balance_ore, opened.previous_balance_ore) == (500_000, None)
    await client.until_widget(credit_limit_ore=1_440_000, credit_based_on_sequence=2)

    await client.payment("1001", 10001, 1_000_000)
    await client.until_widget(credit_limit_ore=640_000, credit_based_on_sequence=3)
    # Buffer has answered sequence 3, so everything the gateway sent before it has arrived: exactly these.
    changes = client.outbound(buffer.ReceivableChanged)
    assert [(m.sequence, m.change, m.receivable.invoice_reference) for m in changes] == [
        (2, "opened", "1004"),
        (3, "settled", "1001"),
    ]
    assert (changes[1].previous_balance_ore, changes[1].receivable.balance_ore) == (1_000_000, 0)
    assert client.sequences() == [1, 2, 3]

    figures = await get_json(f"{client.buffer}/clients/{client.id}")
    widget = await client.view("widget")
    assert {k: widget["credit"][k] for k in ("limit_ore", "used_ore", "available_ore")} == {
        k: figures[k] for k in ("limit_ore", "used_ore", "available_ore")
    }
    history = (await client.view("credit-limit/history"))["history"]
    assert [(h["limit_ore"], h["based_on_sequence"]) for h in history] == [(1_040_000, 1), (1_440_000, 2), (640_000, 3)]
    stream = await client.view("stream")
    assert (stream["streaming"], stream["last_sequence"], stream["snapshots_sent"], stream["changes_sent"]) == (
        True,
        3,
        1,
        2,
    )
    async with httpx.AsyncClient() as http:
        exposition = (await http.get(f"{client.gateway}/metrics")).text
    assert metric(exposition, "ledgerline_receivable_stream_sequence", client_id=client.id) == 3
    states = client.bus.seen(
        topics.TOPIC_FINANCING_EVENTS, financing.OnboardingStateChanged, lambda m: m.client_id == client.id
    )
    assert [m.state for m in states] == [
        "consent_given",
        "signed_in",
        "signing_authority_confirmed",
        "analysing",
        "offer_made",
        "account_opened",
    ]


async def test_withdrawal_stops_the_stream_and_tells_buffer_and_a_new_consent_resumes_it(client: Client) -> None:
    await client.staff()
    await client.open_books()
    await client.invoice("2001", 10001, 400_000, due_in_days=10)
    await client.until_gateway_knows_ledger()
    await client.onboarded(MANAGER)

    result = await client.withdraw(ADMIN)
    assert result.details["last_sequence"] == 1
    withdrawn = await client.bus.wait_for(
        topics.TOPIC_BUFFER_OUTBOUND, lambda m: isinstance(m, buffer.ConsentWithdrawn) and m.client_id == client.id
    )
    assert isinstance(withdrawn, buffer.ConsentWithdrawn)
    assert (withdrawn.withdrawn_by, withdrawn.last_sequence) == (ADMIN, 1)
    widget = await client.until_widget(state="withdrawn", active=False)
    assert widget["onboarding"]["withdrawal"]["by"] == ADMIN

    await client.invoice("2002", 10002, 600_000, due_in_days=10)
    await client.until_gateway_knows_ledger()  # the gateway has applied the new invoice, and told Buffer nothing
    assert client.outbound(buffer.ReceivableChanged) == []
    stream = await client.view("stream")
    assert (stream["streaming"], stream["last_sequence"]) == (False, 1)
    assert (await client.withdraw(ADMIN, accepted=False)).reason.startswith("there is no active consent")  # type: ignore[union-attr]

    await client.onboarded(ADMIN)
    resumed = client.outbound(buffer.ReceivablesSnapshot)[-1]
    assert resumed.sequence == 2 and {r.invoice_reference for r in resumed.receivables} == {"2001", "2002"}
    await client.until_widget(credit_limit_ore=800_000, credit_based_on_sequence=2)


async def test_a_user_without_signing_authority_is_refused_by_buffer(client: Client) -> None:
    await client.staff()
    await client.user(ACCOUNTANT, ["accountant"], ["invoicing", inv.INVOICE_FINANCING])
    await client.until_allowed(ACCOUNTANT)
    await client.consent(ACCOUNTANT)  # we let them ask; only Buffer can tell whether they may sign

    refusal = await client.bus.wait_for(
        topics.TOPIC_BUFFER_INBOUND, lambda m: isinstance(m, buffer.OnboardingRefused) and m.client_id == client.id
    )
    assert isinstance(refusal, buffer.OnboardingRefused) and refusal.code is buffer.RefusalCode.NO_SIGNING_AUTHORITY
    widget = await client.until_widget(state="refused")
    assert widget["onboarding"]["refusal"]["code"] == "no_signing_authority"
    assert "no signing authority" in widget["onboarding"]["refusal"]["reason"]
    assert widget["stream"]["streaming"] is False and widget["credit"] is None
    await client.bus.wait_for(
        topics.TOPIC_FINANCING_EVENTS,
        lambda m: isinstance(m, financing.OnboardingStateChanged) and m.client_id == client.id and m.state == "refused",
    )
    await client.onboarded(MANAGER)  # someone who may sign can start again


async def test_a_gap_makes_buffer_ask_for_a_resnapshot_and_the_stream_carries_on(client: Client) -> None:
    await client.staff()
    await client.open_books()
    await client.invoice("3001", 10001, 1_000_000, due_in_days=20)
    await client.until_gateway_knows_ledger()
    await client.onboarded()
    snapshot = client.outbound(buffer.ReceivablesSnapshot)[0]

    # A message from the future: Buffer sees sequence 5 where it expects 2.
    stray = buffer.ReceivableChanged(
        client_id=client.id,
        onboarding_id=snapshot.onboarding_id,
        sequence=5,
        change=buffer.ReceivableChange.OPENED,
        receivable=buffer.Receivable(
            invoice_reference="9999", debtor_number=10001, original_ore=1, balance_ore=1, due_date=TODAY
        ),
        previous_balance_ore=None,
        cause="injected by the test",
    )
    await client.bus.send(topics.TOPIC_BUFFER_OUTBOUND, stray, client.id)
    asked = await client.bus.wait_for(
        topics.TOPIC_BUFFER_INBOUND, lambda m: isinstance(m, buffer.ResnapshotRequested) and m.client_id == client.id
    )
    assert isinstance(asked, buffer.ResnapshotRequested)
    assert (asked.expected_sequence, asked.received_sequence) == (2, 5)
    again = await client.bus.wait_for(
        topics.TOPIC_BUFFER_OUTBOUND,
        lambda m: isinstance(m, buffer.ReceivablesSnapshot) and m.client_id == client.id and m.sequence == 2,
    )
    assert isinstance(again, buffer.ReceivablesSnapshot)
    assert [r.invoice_reference for r in again.receivables] == ["3001"]

    async def buffer_in_sync() -> bool:
        view = await get_json(f"{client.buffer}/clients/{client.id}")
        return bool(view["in_sync"] and view["last_sequence"] == 2 and view["receivables"] == 1)

    await eventually(buffer_in_sync)  # the stray change was never applied

    await client.invoice("3002", 10001, 500_000, due_in_days=20)
    await client.until_widget(credit_limit_ore=1_200_000, credit_based_on_sequence=3)


async def test_automatic_postings_book_each_drawdown_and_repayment_exactly_once(client: Client) -> None:
    await client.staff()
    await client.open_books()
    await client.invoice("4001", 10001, 10_000_000, due_in_days=30)
    await client.until_gateway_knows_ledger()
    await client.onboarded()

    async def move(kind: str, ore: int) -> str:
        async with httpx.AsyncClient(timeout=10) as http:
            response = await http.post(f"{client.buffer}/clients/{client.id}/{kind}s", json={"amount_ore": ore})
        assert response.status_code == 200, response.text
        return str(response.json()[f"{kind}_id"])

    async def voucher(key: str) -> dict[str, Any]:
        async def booked() -> dict[str, Any] | None:
            vouchers = await get_json(f"{client.ledger}/clients/{client.id}/vouchers")
            return next((v for v in vouchers if v["idempotency_key"] == key), None)

        result: dict[str, Any] = await eventually(booked)
        return result

    manual = await move("drawdown", 1_000_000)  # postings are manual until the client turns them on
    await eventually(lambda: _transaction_posted(client, manual, "manual"))

    await client.postings(ADMIN, enabled=True)
    drawdown = await move("drawdown", 2_000_000)
    drawn = await voucher(f"buffer:drawdown:{drawdown}")
    assert {(line["account"], line["amount_ore"]) for line in drawn["lines"]} == {
        ("1920", 2_000_000),
        ("2380", -2_000_000),
    }

    # Buffer delivers the drawdown again: the same message, and the same event under a new message id.
    original = await client.bus.wait_for(
        topics.TOPIC_BUFFER_INBOUND, lambda m: isinstance(m, buffer.DrawdownMade) and m.drawdown_id == drawdown
    )
    await client.bus.send(topics.TOPIC_BUFFER_INBOUND, original, client.id)
    await client.bus.send(
        topics.TOPIC_BUFFER_INBOUND, original.model_copy(update={"message_id": uuid.uuid4()}), client.id
    )

    repayment = await move("repayment", 500_000)
    repaid = await voucher(f"buffer:repayment:{repayment}")
    assert {(line["account"], line["amount_ore"]) for line in repaid["lines"]} == {
        ("1920", -500_000),
        ("2380", 500_000),
    }

    # The repayment came after the repeats on the same partition, so they have been handled: nothing more booked.
    ours = [
        v
        for v in await get_json(f"{client.ledger}/clients/{client.id}/vouchers")
        if v["source"]["service"] == "financing-gateway"
    ]
    assert sorted(v["idempotency_key"] for v in ours) == sorted(
        [f"buffer:drawdown:{drawdown}", f"buffer:repayment:{repayment}"]
    )
    sent = client.bus.seen(
        topics.TOPIC_LEDGER_COMMANDS,
        L.PostVoucher,
        lambda m: m.client_id == client.id and m.source.provider == "buffer",
    )
    assert len(sent) == 2
    liability = await get_json(f"{client.ledger}/clients/{client.id}/accounts/2380")
    assert liability["closing_balance_ore"] == -1_500_000

    movements = (await client.view("transactions"))["transactions"]
    assert [(t["kind"], t["amount_ore"], t["posting"]) for t in movements] == [
        ("drawdown", 1_000_000, "manual"),
        ("drawdown", 2_000_000, "booked"),
        ("repayment", 500_000, "booked"),
    ]
    await client.until_widget(credit_limit_ore=8_000_000, credit_used_ore=2_500_000, credit_available_ore=5_500_000)


async def _transaction_posted(client: Client, transaction_id: str, posting: str) -> bool:
    movements = (await client.view("transactions"))["transactions"]
    return any(t["transaction_id"] == transaction_id and t["posting"] == posting for t in movements)


async def test_a_receivable_abc_factoring_holds_is_never_pledged_to_buffer_until_abc_returns_it(client: Client) -> None:
    """Factoring (ABC) and financing (Buffer) both active on one client, everything real: invoicing, the factoring
    gateway, the ledger, the financing gateway and Buffer's simulator. Invoice A goes to ABC, invoice B by e-mail.
    While ABC holds A, Buffer is offered B only: snapshot, limit and widget; ABC's recourse brings A back."""
    op = Operator(client.bus, Urls.for_port_base(client.stack.port_base), user=ADMIN)  # ADMIN administers the client
    person, company = await factoring_client(op, client.id, "abc-factoring")
    await op.simulator_script(op.urls.abc_simulator, client.id, mode="manual")  # ABC's answers are the test's
    invoice_a = await op.create_invoice(client.id, person, TEN_THOUSAND)  # 12 500
    sent_a = await op.send_invoice(client.id, invoice_a)
    invoice_b = await op.create_invoice(client.id, company, [inv.InvoiceLine(description="Pipes", net_ore=400_000)])
    sent_b = await op.send_invoice(client.id, invoice_b, method="email")  # 5 000, not via factoring
    assert sent_a.details["via_factoring"] and not sent_b.details["via_factoring"]
    number_a, number_b = sent_a.details["invoice_number"], sent_b.details["invoice_number"]
    await abc_says(op, invoice_a, 1, abc.AbcEventType.ACCEPTED)
    await abc_says(op, invoice_a, 2, abc.AbcEventType.ADVANCE_PAID, 1_062_500)
    await status_of(op, client.id, invoice_a, "advance_paid")

    await client.until_allowed(ADMIN)  # invoicing announced the administrator's privileges

    async def gateway_knows_both() -> dict[str, Any] | None:
        stream: dict[str, Any] = await client.view("stream")
        known = (stream["open_items"], stream["open_total_ore"], stream["factored_items"], stream["factored_total_ore"])
        return stream if known == (2, 1_750_000, 1, 1_250_000) else None

    await eventually(gateway_knows_both)
    result = await client.consent(ADMIN)
    assert result.details["receivables"] == 1
    snapshot = await client.bus.wait_for(
        topics.TOPIC_BUFFER_OUTBOUND, lambda m: isinstance(m, buffer.ReceivablesSnapshot) and m.client_id == client.id
    )
    assert isinstance(snapshot, buffer.ReceivablesSnapshot)
    assert [(r.debtor_number, r.invoice_reference, r.balance_ore) for r in snapshot.receivables] == [
        (company, number_b, 500_000)
    ]
    assert (snapshot.total_count, snapshot.total_ore) == (1, 500_000)

    # 80 % of B's 5 000,00: A's 12 500,00 lends nothing while ABC holds it; the widget says why.
    widget = await client.until_widget(state="account_opened", credit_limit_ore=400_000, credit_based_on_sequence=1)
    assert (widget["credit"]["used_ore"], widget["credit"]["available_ore"]) == (0, 400_000)
    assert widget["excluded"] == {"receivables": 1, "total_ore": 1_250_000, "reason": "held by a factoring provider"}
    held = await get_json(f"{client.buffer}/clients/{client.id}")
    assert (held["receivables"], held["receivables_ore"], held["limit_ore"]) == (1, 500_000, 400_000)

    # ABC hands A back by recourse: the client's again, streamed at what is open now, and the limit follows.
    await abc_says(op, invoice_a, 3, abc.AbcEventType.RECOURSE, 1_062_500)
    await status_of(op, client.id, invoice_a, "returned")
    back = await client.bus.wait_for(
        topics.TOPIC_BUFFER_OUTBOUND, lambda m: isinstance(m, buffer.ReceivableChanged) and m.client_id == client.id
    )
    assert isinstance(back, buffer.ReceivableChanged)
    assert (back.sequence, back.change, back.receivable.invoice_reference) == (2, "opened", number_a)
    assert (back.receivable.debtor_number, back.receivable.balance_ore, back.previous_balance_ore) == (
        person,
        1_250_000,
        None,
    )
    widget = await client.until_widget(credit_limit_ore=1_400_000, credit_based_on_sequence=2)
    assert widget["excluded"] == {"receivables": 0, "total_ore": 0, "reason": "held by a factoring provider"}
    returned = await get_json(f"{client.buffer}/clients/{client.id}")
    assert (returned["receivables"], returned["receivables_ore"], returned["limit_ore"]) == (2, 1_750_000, 1_400_000)
    history = (await client.view("credit-limit/history"))["history"]
    assert [(h["limit_ore"], h["based_on_sequence"]) for h in history] == [(400_000, 1), (1_400_000, 2)]
    assert client.sequences() == [1, 2] and len(client.outbound(buffer.ReceivableChanged)) == 1  # A, once
