"""Invoicing's handlers through its routing table, with a fake unit of work and the in-memory repository.

No Kafka, no PostgreSQL: each test runs batches exactly as the consumer does after decoding (claim, prepare,
a handler per message, finish) and looks at what committed: stored aggregates, events, answers.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import pytest

from invoicing.adapters.memory import FakeChart, InvoicingStore
from invoicing.domain import rules
from invoicing.domain.model import Client, IntegrationState, Invoice, InvoiceState
from invoicing.service_layer.handlers import HANDLERS, consumers
from ledgerline_contracts import auth, topics
from ledgerline_contracts.factoring import (
    AccountRef,
    FactoringActivated,
    FactoringActivationRefused,
    FactoringStatusChanged,
)
from ledgerline_contracts.invoicing import (
    ActivateFactoringIntegration,
    Address,
    AddUser,
    ChangeClientSettings,
    ClientCreated,
    ConnectFollowUpIntegration,
    CreateClient,
    CreateInvoiceDraft,
    CreateRole,
    DeactivateFactoringIntegration,
    DirectPaymentReceived,
    DisconnectFollowUpIntegration,
    ExcludeCustomerFromFactoring,
    FactoringActivationRequested,
    FactoringIntegrationDeactivated,
    FactoringStatus,
    FollowUp,
    GrantPrivilege,
    InvoiceCredited,
    InvoiceDelivery,
    InvoiceLine,
    InvoiceOrigin,
    IssueCreditNote,
    RegisterPayment,
    RevokePrivilege,
    SendInvoice,
    SetPostingAccounts,
    TransferUnsentLegacyInvoices,
    UpsertCustomerCard,
    UserPrivilegesChanged,
)
from ledgerline_contracts.ledger import (
    BookingRejected,
    BookingSource,
    OpenBooks,
    OpenItemChanged,
    PeriodClosed,
    PeriodReopened,
    PostVoucher,
    UpsertParty,
)
from ledgerline_contracts.messages import CommandResult, Message
from ledgerline_contracts.samples import COMPANY, SELLER_ADDRESS
from ledgerline_contracts.topics import Topic
from servicekit.messagebus import RoutingError, routes
from servicekit.testing import AUTOMATIC, USERS, Coverage, FakeUnitOfWork, consumer_for, deliver

CLIENT = "c1"
ADMIN = "admin"
coverage = Coverage()
covers = coverage.covers


class Invoicing:
    """The service's handlers over one store, one fake inbox: `send` is one batch on one topic."""

    def __init__(self) -> None:
        self.store = InvoicingStore()
        self.uow = FakeUnitOfWork()
        self.ledger = FakeChart()
        self.consumers = consumers(self.ledger, repository=self.store.repository)

    async def send(self, topic: Topic, *messages: Message, token: Any = AUTOMATIC) -> None:
        await deliver(consumer_for(self.consumers, topic), HANDLERS, self.uow, *messages, token=token)

    async def command(self, *commands: Message, token: Any = AUTOMATIC) -> list[CommandResult]:
        """One batch of commands, each with `token` (by default its acting user's, or an operator's)."""
        before = len(self.uow.inbox.published)
        await self.send(topics.TOPIC_INVOICING_COMMANDS, *commands, token=token)
        return [p.message for p in self.uow.inbox.published[before:] if isinstance(p.message, CommandResult)]

    async def accepted(self, command: Message) -> dict[str, Any]:
        (result,) = await self.command(command)
        assert result.accepted, result.reason
        return result.details

    async def refused(self, command: Message) -> str:
        (result,) = await self.command(command)
        assert not result.accepted
        assert result.reason
        return result.reason

    def events(self, kind: type[Message]) -> list[Any]:
        return self.uow.inbox.messages(kind=kind)


async def with_client() -> Invoicing:
    app = Invoicing()
    await app.accepted(
        CreateClient(
            client_id=CLIENT,
            company_name="Demo AS",
            organisation_number="912345678",
            administrator=ADMIN,
            administrator_name="Ada Admin",
            address=SELLER_ADDRESS,
        )
    )
    return app


def new_client(client_id: str = "c2", administrator: str = "mallory") -> CreateClient:
    return CreateClient(
        client_id=client_id,
        company_name="Other AS",
        organisation_number="998877665",
        administrator=administrator,
        administrator_name="M",
    )


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (None, "unauthenticated: no token"),
        (USERS.user("c2", "mallory"), "unauthorised: this needs a platform operator with the clients.create"),
        (USERS.operator("ops", [auth.LEDGER_PERIODS]), "unauthorised: operator ops lacks the clients.create"),
        (auth.Issuer(auth.USERS_ISSUER, auth.new_key()).operator("ops"), "unauthenticated: invalid token"),
    ],
)
async def test_only_a_platform_operator_creates_a_client(token: str | None, reason: str) -> None:
    app = Invoicing()
    (result,) = await app.command(new_client(), token=token)
    assert not result.accepted and (result.reason or "").startswith(reason), result.reason
    assert result.details == {"refused": reason.split(":", maxsplit=1)[0]}
    assert app.store.clients == {} and app.events(ClientCreated) == []


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (None, "unauthenticated: no token"),
        (USERS.user(CLIENT, ADMIN, now=0), "unauthenticated: the token expired"),
        (auth.Issuer(auth.USERS_ISSUER, auth.new_key()).user(CLIENT, ADMIN), "unauthenticated: invalid token"),
        (USERS.user("c2", ADMIN), "unauthorised: the token is for client c2, not c1"),
        (USERS.user(CLIENT, "eve"), "unauthorised: acting_user 'admin' is not the token's user 'eve'"),
        (USERS.operator("ops"), "unauthorised: this needs a user of client c1, not a operator token"),
    ],
)
async def test_a_user_command_needs_its_own_users_token_and_changes_nothing_without(
    token: str | None, reason: str
) -> None:
    app = await with_client()
    published = len(app.uow.inbox.published)
    card = UpsertCustomerCard(client_id=CLIENT, acting_user=ADMIN, customer=COMPANY)
    (result,) = await app.command(card, token=token)
    assert not result.accepted and (result.reason or "").startswith(reason), result.reason
    assert app.store.cards == {}
    assert [p.message for p in app.uow.inbox.published[published:]] == [result]


async def with_customer() -> Invoicing:
    app = await with_client()
    await app.accepted(UpsertCustomerCard(client_id=CLIENT, acting_user=ADMIN, customer=COMPANY))
    return app


async def with_factoring() -> tuple[Invoicing, uuid.UUID]:
    app = await with_customer()
    activation = ActivateFactoringIntegration(client_id=CLIENT, acting_user=ADMIN, provider="abc-factoring")
    assert await app.command(activation) == []  # a saga: answered when the gateway has decided
    await app.send(
        topics.TOPIC_FACTORING_EVENTS,
        FactoringActivated(
            client_id=CLIENT,
            request_id=activation.message_id,
            provider="abc-factoring",
            display_name="ABC Factoring",
            accounts={"intermediate": AccountRef(account="2400", party=20001)},
        ),
    )
    return app, activation.message_id


async def with_invoice(app: Invoicing, gross: bool = True, send: bool = True) -> uuid.UUID:
    invoice_id = uuid.uuid4()
    await app.accepted(
        CreateInvoiceDraft(
            client_id=CLIENT,
            acting_user=ADMIN,
            invoice_id=invoice_id,
            customer_number=10001,
            invoice_date=date(2026, 11, 23),
            due_date=date(2026, 12, 7),
            lines=[InvoiceLine(description="Consulting", net_ore=1_000_000)],
        )
    )
    if send:
        await app.accepted(SendInvoice(client_id=CLIENT, acting_user=ADMIN, invoice_id=invoice_id))
    return invoice_id


# --- the routing table ---------------------------------------------------------------------------------------------
def test_every_command_on_invoicings_topic_has_a_handler() -> None:
    subscriptions = routes(consumers(FakeChart()), HANDLERS, FakeUnitOfWork)
    by_group = {s.group: s.wants for s in subscriptions}
    assert by_group[topics.GROUP_INVOICING_LEDGER_EVENTS] == {
        "ledger.OpenItemChanged",
        "ledger.PeriodClosed",
        "ledger.PeriodReopened",
    }


def test_an_unrouted_command_stops_the_service_from_starting() -> None:
    without = {kind: handler for kind, handler in HANDLERS.items() if kind is not SendInvoice}
    with pytest.raises(RoutingError, match=r"no handler for invoicing\.SendInvoice"):
        routes(consumers(FakeChart()), without, FakeUnitOfWork)


# --- clients, users, roles -----------------------------------------------------------------------------------------
@covers(CreateClient)
async def test_a_new_client_opens_its_books_and_announces_its_administrator() -> None:
    app = await with_client()
    assert app.store.clients[CLIENT].users[ADMIN].roles == {"administrator"}
    assert [e.client_id for e in app.events(ClientCreated)] == [CLIENT]
    assert [c.client_id for c in app.uow.inbox.messages(topics.TOPIC_LEDGER_COMMANDS, OpenBooks)] == [CLIENT]
    (privileges,) = app.events(UserPrivilegesChanged)
    assert (privileges.user_id, privileges.sequence) == (ADMIN, 1)
    assert "invoice_financing" in privileges.privileges
    again = CreateClient(
        client_id=CLIENT, company_name="X", organisation_number="912345678", administrator="x", administrator_name="X"
    )
    assert "already exists" in await app.refused(again)


@covers(AddUser, CreateRole, GrantPrivilege, RevokePrivilege)
async def test_role_management_announces_every_change_of_privileges() -> None:
    app = await with_client()
    await app.accepted(AddUser(client_id=CLIENT, acting_user=ADMIN, user_id="bo", name="Bo", roles=["accountant"]))
    assert "no such role" in await app.refused(
        AddUser(client_id=CLIENT, acting_user=ADMIN, user_id="cy", name="Cy", roles=["pilot"])
    )
    assert "role" in (await app.refused(CreateRole(client_id=CLIENT, acting_user="bo", role="auditor"))).lower()
    await app.accepted(CreateRole(client_id=CLIENT, acting_user=ADMIN, role="auditor"))
    granted = await app.accepted(
        GrantPrivilege(client_id=CLIENT, acting_user=ADMIN, role="accountant", privilege="invoice_financing")
    )
    assert granted["users_changed"] == ["bo"]
    revoked = await app.accepted(
        RevokePrivilege(client_id=CLIENT, acting_user=ADMIN, role="accountant", privilege="invoice_financing")
    )
    assert revoked["users_changed"] == ["bo"]
    bo = [e for e in app.events(UserPrivilegesChanged) if e.user_id == "bo"]
    assert [("invoice_financing" in e.privileges) for e in bo] == [False, True, False]
    assert [e.sequence for e in app.events(UserPrivilegesChanged)] == [1, 2, 3, 4]


@covers(ChangeClientSettings, TransferUnsentLegacyInvoices)
async def test_legacy_factoring_goes_off_only_once_its_unsent_invoices_are_transferred() -> None:
    app = await with_customer()
    await app.accepted(ChangeClientSettings(client_id=CLIENT, acting_user=ADMIN, legacy_factoring=True))
    await with_invoice(app)
    assert "invoice" in await app.refused(
        ChangeClientSettings(client_id=CLIENT, acting_user=ADMIN, legacy_factoring=False)
    )
    assert (await app.accepted(TransferUnsentLegacyInvoices(client_id=CLIENT, acting_user=ADMIN))) == {"transferred": 1}
    details = await app.accepted(ChangeClientSettings(client_id=CLIENT, acting_user=ADMIN, legacy_factoring=False))
    assert details["legacy_factoring"] is False
    assert "not on" in await app.refused(TransferUnsentLegacyInvoices(client_id=CLIENT, acting_user=ADMIN))


# --- the activation saga -------------------------------------------------------------------------------------------
@covers(ActivateFactoringIntegration, FactoringActivated)
async def test_activation_flags_every_card_once_the_gateway_has_accepted() -> None:
    app, request_id = await with_factoring()
    (requested,) = app.events(FactoringActivationRequested)
    assert requested.request_id == request_id
    client = app.store.clients[CLIENT]
    assert client.integration is not None and client.integration.state is IntegrationState.ACTIVE
    card = app.store.cards[(CLIENT, 10001)]
    assert (card.use_factoring, card.delivery_method) == (True, "ABC Factoring")
    (answer,) = app.events(CommandResult)[-1:]
    assert (answer.command_id, answer.accepted, answer.details["customer_cards_flagged"]) == (request_id, True, 1)


@covers(FactoringActivationRefused)
async def test_a_refused_activation_is_answered_with_the_gateways_reason() -> None:
    app = await with_client()
    activation = ActivateFactoringIntegration(client_id=CLIENT, acting_user=ADMIN, provider="abc-factoring")
    await app.command(activation)
    await app.send(
        topics.TOPIC_FACTORING_EVENTS,
        FactoringActivationRefused(
            client_id=CLIENT, request_id=activation.message_id, provider="abc-factoring", reason="no fee account"
        ),
    )
    (answer,) = app.events(CommandResult)[-1:]
    assert (answer.command_id, answer.accepted, answer.reason) == (activation.message_id, False, "no fee account")
    assert app.store.clients[CLIENT].integration is None


@covers(DeactivateFactoringIntegration)
async def test_deactivation_gives_the_cards_back_their_delivery_method() -> None:
    app, _ = await with_factoring()
    details = await app.accepted(DeactivateFactoringIntegration(client_id=CLIENT, acting_user=ADMIN))
    assert details == {"provider": "abc-factoring", "customer_cards_reset": 1}
    assert app.store.cards[(CLIENT, 10001)].use_factoring is False
    assert [e.provider for e in app.events(FactoringIntegrationDeactivated)] == ["abc-factoring"]
    assert "no factoring integration" in await app.refused(
        DeactivateFactoringIntegration(client_id=CLIENT, acting_user=ADMIN)
    )


# --- customer cards ------------------------------------------------------------------------------------------------
@covers(UpsertCustomerCard, ExcludeCustomerFromFactoring)
async def test_customer_cards_become_ledger_parties_and_can_be_excluded_from_factoring() -> None:
    app, _ = await with_factoring()
    parties = app.uow.inbox.messages(topics.TOPIC_LEDGER_COMMANDS, UpsertParty)
    assert [(p.number, p.name) for p in parties] == [(10001, "Fjellbygg AS")]
    details = await app.accepted(
        ExcludeCustomerFromFactoring(
            client_id=CLIENT, acting_user=ADMIN, customer_number=10001, delivery_method="print"
        )
    )
    assert details == {"customer_number": 10001, "use_factoring": False, "delivery_method": "print"}
    assert "does not exist" in await app.refused(
        ExcludeCustomerFromFactoring(client_id=CLIENT, acting_user=ADMIN, customer_number=99, delivery_method="print")
    )


# --- invoices ------------------------------------------------------------------------------------------------------
@covers(CreateInvoiceDraft, SendInvoice)
async def test_a_sent_invoice_is_booked_and_delivered_to_the_active_provider() -> None:
    app, _ = await with_factoring()
    invoice_id = await with_invoice(app)
    _, invoice = app.store.invoices[invoice_id]
    assert (invoice.state, invoice.number, invoice.factoring_provider) == (InvoiceState.SENT, "1001", "abc-factoring")
    (sale,) = app.uow.inbox.messages(topics.TOPIC_LEDGER_COMMANDS, PostVoucher)
    assert sum(line.signed_ore for line in sale.lines) == 0
    assert sum(line.amount_ore for line in sale.lines if line.signed_ore > 0) == 1_250_000
    (delivery,) = app.events(InvoiceDelivery)
    assert (delivery.invoice_id, delivery.gross_ore, delivery.provider) == (invoice_id, 1_250_000, "abc-factoring")
    assert "already exists" in await app.refused(
        CreateInvoiceDraft(
            client_id=CLIENT,
            acting_user=ADMIN,
            invoice_id=invoice_id,
            customer_number=10001,
            invoice_date=date(2026, 11, 23),
            due_date=date(2026, 12, 7),
            lines=[InvoiceLine(description="Again", net_ore=1)],
        )
    )


async def test_draft_and_send_in_one_batch_see_each_other() -> None:
    app = await with_customer()
    invoice_id = uuid.uuid4()
    draft = CreateInvoiceDraft(
        client_id=CLIENT,
        acting_user=ADMIN,
        invoice_id=invoice_id,
        customer_number=10001,
        invoice_date=date(2026, 11, 23),
        due_date=date(2026, 12, 7),
        lines=[InvoiceLine(description="Consulting", net_ore=400_00)],
    )
    results = await app.command(draft, SendInvoice(client_id=CLIENT, acting_user=ADMIN, invoice_id=invoice_id))
    assert [r.accepted for r in results] == [True, True]
    assert app.store.invoices[invoice_id][1].state is InvoiceState.SENT


@covers(RegisterPayment)
async def test_a_payment_is_booked_once_per_payment_id() -> None:
    app = await with_customer()
    invoice_id = await with_invoice(app)
    payment = RegisterPayment(
        client_id=CLIENT,
        acting_user=ADMIN,
        invoice_id=invoice_id,
        amount_ore=250_000,
        paid_on=date(2026, 11, 30),
        payment_id=uuid.uuid4(),
    )
    assert (await app.accepted(payment))["outstanding_ore"] == 1_000_000
    resent = payment.model_copy(update={"message_id": uuid.uuid4()})
    assert (await app.accepted(resent))["already_registered"] is True
    assert len(app.uow.inbox.messages(topics.TOPIC_LEDGER_COMMANDS, PostVoucher)) == 2  # the sale and one payment


async def test_a_payment_on_a_factored_invoice_is_passed_on_to_the_provider() -> None:
    app, _ = await with_factoring()
    invoice_id = await with_invoice(app)
    await app.send(
        topics.TOPIC_FACTORING_EVENTS,
        FactoringStatusChanged(
            client_id=CLIENT,
            invoice_id=invoice_id,
            provider="abc-factoring",
            status=FactoringStatus.ACCEPTED,
            description="Accepted",
            sequence=2,
        ),
    )
    details = await app.accepted(
        RegisterPayment(
            client_id=CLIENT, acting_user=ADMIN, invoice_id=invoice_id, amount_ore=1_000, paid_on=date(2026, 11, 30)
        )
    )
    assert details["passed_on_to"] == "abc-factoring"
    (passed,) = app.events(DirectPaymentReceived)
    assert (passed.invoice_id, passed.amount_ore) == (invoice_id, 1_000)


@covers(IssueCreditNote)
async def test_a_credit_note_reverses_part_of_the_sale_and_tells_the_provider() -> None:
    app, _ = await with_factoring()
    invoice_id = await with_invoice(app)
    credit_note_id = uuid.uuid4()
    note = IssueCreditNote(
        client_id=CLIENT,
        acting_user=ADMIN,
        invoice_id=invoice_id,
        credit_note_id=credit_note_id,
        reason="Damaged",
        credited_on=date(2026, 11, 30),
        amount_ore=125_000,
    )
    details = await app.accepted(note)
    assert (details["credited_ore"], details["outstanding_ore"]) == (125_000, 1_125_000)
    (credited,) = app.events(InvoiceCredited)
    assert (credited.credit_note_id, credited.provider) == (credit_note_id, "abc-factoring")
    again = note.model_copy(update={"message_id": uuid.uuid4()})
    assert (await app.accepted(again))["already_issued"] is True


# --- from the factoring gateway and the ledger ---------------------------------------------------------------------
@covers(FactoringStatusChanged)
async def test_factoring_status_follows_the_gateways_sequence_and_keeps_its_history() -> None:
    app, _ = await with_factoring()
    invoice_id = await with_invoice(app)

    def status(sequence: int, value: FactoringStatus) -> FactoringStatusChanged:
        return FactoringStatusChanged(
            client_id=CLIENT,
            invoice_id=invoice_id,
            provider="abc-factoring",
            status=value,
            description=value.value,
            sequence=sequence,
        )

    await app.send(
        topics.TOPIC_FACTORING_EVENTS, status(3, FactoringStatus.ADVANCE_PAID), status(2, FactoringStatus.ACCEPTED)
    )
    assert app.store.invoices[invoice_id][1].factoring_status is FactoringStatus.ADVANCE_PAID
    assert [(h[2], h[6]) for h in app.store.status_history] == [(3, True), (2, False)]


@covers(PeriodClosed, OpenItemChanged)
async def test_ledger_events_close_periods_and_settle_invoices() -> None:
    app = await with_customer()
    invoice_id = await with_invoice(app)
    await app.send(
        topics.TOPIC_LEDGER_EVENTS,
        PeriodClosed(client_id=CLIENT, closed_through=date(2026, 10, 31)),
        OpenItemChanged(
            client_id=CLIENT,
            party=10001,
            open_item="1001",
            account="1500",
            original_ore=1_250_000,
            balance_ore=250_000,
            due_date=date(2026, 12, 7),
            voucher_id=uuid.uuid4(),
            cause="payment",
        ),
    )
    assert app.store.clients[CLIENT].closed_through == date(2026, 10, 31)
    assert app.store.invoices[invoice_id][1].paid_ore == 1_000_000
    assert "closed" in await app.refused(
        SendInvoice(client_id=CLIENT, acting_user=ADMIN, invoice_id=await with_invoice_dated(app, date(2026, 10, 1)))
    )


@covers(PeriodReopened)
async def test_a_reopened_period_takes_invoices_dated_in_it_again() -> None:
    app = await with_customer()
    closed = PeriodClosed(client_id=CLIENT, closed_through=date(2026, 10, 31))
    reopened = PeriodReopened(
        client_id=CLIENT,
        closed_through=date(2026, 9, 30),
        reopened_from=date(2026, 10, 1),
        reason="late supplier invoice",
        operator="kari",
    )
    await app.send(topics.TOPIC_LEDGER_EVENTS, closed, reopened)  # in one batch: the re-opening came last
    assert app.store.clients[CLIENT].closed_through == date(2026, 9, 30)
    await app.accepted(
        SendInvoice(client_id=CLIENT, acting_user=ADMIN, invoice_id=await with_invoice_dated(app, date(2026, 10, 1)))
    )


def open_item(balance: int, source_service: str | None) -> OpenItemChanged:
    return OpenItemChanged(
        client_id=CLIENT,
        party=10001,
        open_item="1001",
        account="1500",
        original_ore=1_250_000,
        balance_ore=balance,
        due_date=date(2026, 12, 7),
        voucher_id=uuid.uuid4(),
        cause="x",
        source_service=source_service,
    )


async def test_the_ledgers_late_answer_to_our_own_booking_does_not_take_back_a_later_payment() -> None:
    app = await with_customer()
    invoice_id = await with_invoice(app)
    await app.accepted(
        RegisterPayment(
            client_id=CLIENT, acting_user=ADMIN, invoice_id=invoice_id, amount_ore=500_000, paid_on=date(2026, 11, 30)
        )
    )
    # The sale's open item, as the ledger announces it after the payment was registered: nothing to change.
    await app.send(topics.TOPIC_LEDGER_EVENTS, open_item(1_250_000, "invoicing"))
    assert app.store.invoices[invoice_id][1].paid_ore == 500_000


async def test_of_two_balances_in_one_batch_the_newer_counts() -> None:
    app = await with_customer()
    invoice_id = await with_invoice(app)
    await app.send(
        topics.TOPIC_LEDGER_EVENTS, open_item(250_000, "factoring-gateway"), open_item(0, "factoring-gateway")
    )
    assert app.store.invoices[invoice_id][1].paid_ore == 1_250_000


async def with_invoice_dated(app: Invoicing, day: date) -> uuid.UUID:
    invoice_id = uuid.uuid4()
    await app.accepted(
        CreateInvoiceDraft(
            client_id=CLIENT,
            acting_user=ADMIN,
            invoice_id=invoice_id,
            customer_number=10001,
            invoice_date=day,
            due_date=date(2026, 12, 7),
            lines=[InvoiceLine(description="Old", net_ore=100)],
        )
    )
    return invoice_id


@covers(BookingRejected)
async def test_a_refused_booking_of_ours_is_kept_with_its_reason() -> None:
    app = await with_customer()
    invoice_id = await with_invoice(app)
    ours = BookingSource(service="invoicing", event_type="invoice.sent", invoice_id=invoice_id)
    theirs = BookingSource(service="factoring-gateway", invoice_id=invoice_id)
    await app.send(
        topics.TOPIC_LEDGER_REJECTIONS,
        BookingRejected(
            client_id=CLIENT,
            command_id=uuid.uuid4(),
            idempotency_key="k1",
            code="closed_period",
            reason="closed",
            source=ours,
        ),
        BookingRejected(
            client_id=CLIENT, command_id=uuid.uuid4(), idempotency_key="k2", code="x", reason="y", source=theirs
        ),
    )
    assert app.store.booking_problems == {(CLIENT, "k1"): (invoice_id, "invoice.sent", "closed_period", "closed")}


async def test_a_repeated_message_changes_nothing() -> None:
    app = await with_client()
    role = CreateRole(client_id=CLIENT, acting_user=ADMIN, role="auditor")
    await app.accepted(role)
    assert await app.command(role) == []  # already handled: no second answer


def test_every_routed_type_has_a_handler_test() -> None:
    assert coverage.untested(HANDLERS) == []


@covers(SetPostingAccounts)
async def test_posting_accounts_are_per_client_checked_against_the_chart_and_used_for_bookings() -> None:
    app = await with_client()
    app.ledger.add("1921", "asset")
    app.ledger.add("3010", "income")
    app.ledger.add("7770", "expense")
    details = await app.accepted(SetPostingAccounts(client_id=CLIENT, acting_user=ADMIN, bank="1921", sales="3010"))
    assert details == {
        "receivables": "1500",
        "sales": "3010",
        "sales_exempt": "3100",
        "output_vat": "2700",
        "bank": "1921",
    }
    assert app.store.clients[CLIENT].accounts.bank == "1921"
    reason = await app.refused(
        SetPostingAccounts(client_id=CLIENT, acting_user=ADMIN, sales="7770", output_vat="2400", bank="1999")
    )
    assert reason == (
        "sales: account 7770 (expense) is not operating income (NS 4102 class 3); output_vat: account 2400 (liability) "
        "is not an output VAT account (NS 4102 27xx, a liability); bank: account 1999 does not exist in the ledger"
    )
    app.ledger.away = True
    reason = await app.refused(SetPostingAccounts(client_id=CLIENT, acting_user=ADMIN, bank="1920"))
    assert "the ledger is unavailable" in reason
    assert app.store.clients[CLIENT].accounts.bank == "1921"  # nothing changed by a refusal


async def test_the_receivables_account_follows_the_customer_series_and_stays_while_factoring_is_on() -> None:
    app = await with_client()
    app.ledger.add("1510", "asset", "accounts_receivable")
    reason = await app.refused(SetPostingAccounts(client_id=CLIENT, acting_user=ADMIN, receivables="1510"))
    assert reason == "receivables: the customer series CUSTOMERS holding customer 10001 is kept on 1500, not 1510"
    app.ledger.series[0]["control_account"] = "1510"  # the client keeps its customers on 1510
    await app.accepted(SetPostingAccounts(client_id=CLIENT, acting_user=ADMIN, receivables="1510"))
    await app.command(ActivateFactoringIntegration(client_id=CLIENT, acting_user=ADMIN, provider="abc-factoring"))
    (requested,) = app.events(FactoringActivationRequested)
    assert requested.receivables_account == "1510"  # the gateway checks the provider's mapping against it
    app.ledger.series[0]["control_account"] = "1500"
    reason = await app.refused(SetPostingAccounts(client_id=CLIENT, acting_user=ADMIN, receivables="1500"))
    assert reason.startswith("receivables: abc-factoring books against 1510; deactivate the factoring integration")


async def test_only_an_administrator_sets_posting_accounts() -> None:
    app = await with_client()
    reason = await app.refused(SetPostingAccounts(client_id=CLIENT, acting_user="nobody", bank="1920"))
    assert "nobody" in reason


@covers(ConnectFollowUpIntegration, DisconnectFollowUpIntegration)
async def test_follow_up_integrations_and_factoring_exclude_each_other_by_name() -> None:
    app = await with_client()
    connect = ConnectFollowUpIntegration(
        client_id=CLIENT, acting_user=ADMIN, kind=FollowUp.REMINDERS, service_name="Kredinor"
    )
    assert await app.accepted(connect) == {"follow_up": {"reminders": "Kredinor"}}
    activation = ActivateFactoringIntegration(client_id=CLIENT, acting_user=ADMIN, provider="abc-factoring")
    reason = await app.refused(activation)
    assert reason.startswith("the reminder integration Kredinor is connected: invoices delivered via factoring")
    assert app.store.clients[CLIENT].integration is None
    disconnect = DisconnectFollowUpIntegration(client_id=CLIENT, acting_user=ADMIN, kind=FollowUp.REMINDERS)
    assert await app.accepted(disconnect) == {"follow_up": {}}
    assert "no reminders integration" in await app.refused(disconnect.model_copy(update={"message_id": uuid.uuid4()}))

    app, _ = await with_factoring()
    collection = ConnectFollowUpIntegration(
        client_id=CLIENT, acting_user=ADMIN, kind=FollowUp.DEBT_COLLECTION, service_name="Intrum"
    )
    reason = await app.refused(collection)
    assert reason == (
        "the factoring integration ABC Factoring is active: invoices delivered via factoring cannot be combined "
        "with a debt-collection integration"
    )
    assert app.store.clients[CLIENT].follow_up == {}


def test_an_invoice_back_with_the_client_is_followed_up_again() -> None:
    client = Client("c", "Demo AS", "912345678", reminders=True, debt_collection=False)
    client.follow_up[FollowUp.DEBT_COLLECTION] = "Intrum"
    day = date(2026, 11, 30)
    invoice = Invoice(uuid.uuid4(), 10001, InvoiceOrigin.CREATED, day, day, [], 0, 0, 0)
    invoice.factoring_provider, invoice.factoring_status = "abc-factoring", FactoringStatus.ADVANCE_PAID
    rules.follow_up_returned(client, invoice)
    assert (invoice.reminders, invoice.debt_collection) == (False, False)  # ABC still holds it
    invoice.factoring_status = FactoringStatus.RETURNED
    rules.follow_up_returned(client, invoice)
    assert (invoice.reminders, invoice.debt_collection) == (True, True)


async def test_factoring_needs_the_sellers_address_on_the_providers_invoice() -> None:
    app = Invoicing()
    await app.accepted(new_client(CLIENT, ADMIN))  # a client created without its address
    activation = ActivateFactoringIntegration(client_id=CLIENT, acting_user=ADMIN, provider="abc-factoring")
    reason = await app.refused(activation)
    assert reason.startswith("the client's address is missing: abc-factoring's invoice must show the seller's name")
    assert app.store.clients[CLIENT].integration is None
    half = Address(street="Dronningens gate 10", city="Oslo")  # no postcode: still no address to print
    await app.accepted(ChangeClientSettings(client_id=CLIENT, acting_user=ADMIN, address=half))
    assert "address is missing" in await app.refused(activation.model_copy(update={"message_id": uuid.uuid4()}))
    await app.accepted(ChangeClientSettings(client_id=CLIENT, acting_user=ADMIN, address=SELLER_ADDRESS))
    await app.command(activation.model_copy(update={"message_id": uuid.uuid4()}))
    assert app.store.clients[CLIENT].integration is not None  # asked of the gateway now
