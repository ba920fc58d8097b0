"""Invoicing's message handlers: commands from operators, answers from the factoring gateway, ledger events.

Each batch is one unit of work. Commands are answered with a CommandResult, except the activation of a
factoring integration, which is a saga: it is answered when the factoring gateway has accepted or refused it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict
from datetime import date
from functools import partial
from typing import Any
from uuid import UUID

from ledgerline_contracts import auth, topics
from ledgerline_contracts.chart import accounts_of, series_holding
from ledgerline_contracts.factoring import FactoringActivated, FactoringActivationRefused, FactoringStatusChanged
from ledgerline_contracts.invoicing import (
    ActivateFactoringIntegration,
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
    GrantPrivilege,
    InvoiceCredited,
    InvoiceDelivery,
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
    OpenBooks,
    OpenItemChanged,
    PartyKind,
    PeriodClosed,
    PeriodReopened,
    UpsertParty,
)
from ledgerline_contracts.messages import Command, Message
from servicekit.auth import authorise_user_command
from servicekit.commands import answer, answer_later, refuse_caller
from servicekit.messagebus import Batch, Consumer, Handler
from servicekit.unit_of_work import UnitOfWork

from .. import SERVICE
from ..adapters.ledger_chart import Chart, LedgerUnavailable
from ..adapters.repository import InvoicingRepository
from ..domain import kid as kids
from ..domain import postings, rules
from ..domain.model import ADMINISTRATOR, Client, CustomerCard, IntegrationState, Invoice, User
from ..domain.rules import Refused

_SAGA_ANSWERED_LATER = object()
RepositoryFactory = Callable[[Any], InvoicingRepository]
"""Builds the repository a batch works through, from its unit of work."""


# --- the batches: what one batch's handlers share, read before and written after ---------------------------------
class InvoicingBatch(Batch):
    def __init__(self, uow: UnitOfWork, group: str, repository: RepositoryFactory) -> None:
        super().__init__(uow, group)
        self.repo = repository(uow)

    def publish(self, event: Message) -> None:
        self.uow.publish(topics.TOPIC_INVOICING_EVENTS, event, key=getattr(event, "client_id", None))

    async def client(self, client_id: str) -> Client:
        client = await self.repo.client(client_id)
        if client is None:
            raise Refused(f"client {client_id} does not exist")
        return client

    async def card(self, client: Client, number: int) -> CustomerCard:
        card = await self.repo.card(client.client_id, number)
        if card is None:
            raise Refused(f"customer {number} does not exist")
        return card

    async def invoice(self, client: Client, command: SendInvoice | RegisterPayment | IssueCreditNote) -> Invoice:
        invoice = await self.repo.invoice(client.client_id, command.invoice_id)
        if invoice is None:
            rules.check_invoice_owner(client, command.invoice_id, await self.repo.owner(command.invoice_id))
            raise Refused(f"invoice {command.invoice_id} does not exist")
        return invoice

    async def finish(self) -> None:
        await self.repo.flush()


class CommandBatch(InvoicingBatch):
    """Every command is answered, accepted or refused; the activation saga answers when the gateway has."""

    def __init__(self, uow: UnitOfWork, group: str, repository: RepositoryFactory, ledger: Chart) -> None:
        super().__init__(uow, group, repository)
        self.ledger = ledger

    async def prepare(self, messages: Sequence[Message]) -> None:
        # One read for all the invoices and cards the batch will touch, instead of one per command.
        await self.repo.load_invoices(c.invoice_id for c in messages if isinstance(c, INVOICE_COMMANDS))
        cards = {(c.client_id, c.customer_number) for c in messages if isinstance(c, CreateInvoiceDraft)}
        for command in messages:
            if isinstance(command, SendInvoice) and (
                invoice := await self.repo.invoice(command.client_id, command.invoice_id)
            ):
                cards.add((command.client_id, invoice.customer_number))
        await self.repo.load_cards(cards)

    async def dispatch(self, handler: Handler, message: Message) -> None:
        assert isinstance(message, Command)
        try:
            caller = self.caller(message)
            if isinstance(message, CreateClient):  # a new tenant has no users yet: the platform makes it
                caller.require_operator(auth.CREATE_CLIENTS)
            else:
                authorise_user_command(caller, message)
        except auth.NotAuthenticated as refusal:
            refuse_caller(self.uow, SERVICE, message, refusal)
            return
        try:  # the rules refuse before anything changes, so a refusal leaves nothing to undo
            details = await handler(self, message)
        except Refused as refusal:
            answer(self.uow, SERVICE, message, accepted=False, reason=refusal.reason)
            return
        if details is not _SAGA_ANSWERED_LATER:
            answer(self.uow, SERVICE, message, accepted=True, details=details or {})


class FactoringEventBatch(InvoicingBatch):
    def __init__(self, uow: UnitOfWork, group: str, repository: RepositoryFactory) -> None:
        super().__init__(uow, group, repository)
        self.history: list[tuple[str, UUID, int, str, str, str | None, bool]] = []

    async def prepare(self, messages: Sequence[Message]) -> None:
        await self.repo.load_invoices(e.invoice_id for e in messages if isinstance(e, FactoringStatusChanged))

    async def finish(self) -> None:
        await self.repo.record_statuses(self.history)
        await self.repo.flush()


class LedgerEventBatch(InvoicingBatch):
    def __init__(self, uow: UnitOfWork, group: str, repository: RepositoryFactory) -> None:
        super().__init__(uow, group, repository)
        self.closed_periods: list[tuple[str, date]] = []
        self.settlements: dict[tuple[str, str, int], int] = {}  # (client, invoice number, customer) → balance
        self.booking_problems: list[tuple[str, str, UUID, str | None, str, str]] = []

    async def finish(self) -> None:
        await self.repo.record_closed_periods(self.closed_periods)
        await self.repo.record_settlements((*key, balance) for key, balance in self.settlements.items())
        await self.repo.record_booking_problems(self.booking_problems)


# --- clients, users, roles ------------------------------------------------------------------------------------
async def create_client(batch: CommandBatch, command: CreateClient) -> dict[str, Any]:
    if await batch.repo.client(command.client_id) is not None:
        raise Refused(f"client {command.client_id} already exists")
    client = Client(
        command.client_id,
        command.company_name,
        command.organisation_number,
        address=command.address,
        vat_registered=command.vat_registered,
        kid_scheme=command.kid_scheme,
    )
    client.users[command.administrator] = User(command.administrator, command.administrator_name, {ADMINISTRATOR})
    await batch.repo.save_client(client)
    batch.publish(
        ClientCreated(
            client_id=client.client_id,
            company_name=client.company_name,
            organisation_number=client.organisation_number,
        )
    )
    batch.uow.publish(
        topics.TOPIC_LEDGER_COMMANDS,
        OpenBooks(client_id=client.client_id, company_name=client.company_name, reply=False),
        key=client.client_id,
    )
    await _announce_privileges(batch, client, [command.administrator])
    return {"administrator": command.administrator}


async def add_user(batch: CommandBatch, command: AddUser) -> dict[str, Any]:
    client = await batch.client(command.client_id)
    rules.require_role_manager(client, command.acting_user)
    unknown = sorted(set(command.roles) - set(client.roles))
    if unknown:
        raise Refused(f"no such role: {', '.join(unknown)}")
    client.users[command.user_id] = User(command.user_id, command.name, set(command.roles))
    await _announce_privileges(batch, client, [command.user_id])
    return {"user_id": command.user_id, "privileges": sorted(client.privileges_of(command.user_id))}


async def create_role(batch: CommandBatch, command: CreateRole) -> dict[str, Any]:
    client = await batch.client(command.client_id)
    rules.require_role_manager(client, command.acting_user)
    client.roles.setdefault(command.role, set())
    await batch.repo.save_client(client)
    return {"role": command.role}


async def grant(batch: CommandBatch, command: GrantPrivilege) -> dict[str, Any]:
    return await _change_role(batch, command, grant=True)


async def revoke(batch: CommandBatch, command: RevokePrivilege) -> dict[str, Any]:
    return await _change_role(batch, command, grant=False)


async def _change_role(batch: CommandBatch, command: GrantPrivilege | RevokePrivilege, grant: bool) -> dict[str, Any]:
    client = await batch.client(command.client_id)
    rules.require_role_manager(client, command.acting_user)
    if command.role not in client.roles:
        raise Refused(f"no such role: {command.role}")
    holders = [u.user_id for u in client.users.values() if command.role in u.roles]
    before = {u: client.privileges_of(u) for u in holders}
    privileges = client.roles[command.role]
    (privileges.add if grant else privileges.discard)(command.privilege)
    changed = [u for u in holders if client.privileges_of(u) != before[u]]
    await _announce_privileges(batch, client, changed)
    return {"role": command.role, "privileges": sorted(privileges), "users_changed": changed}


async def _announce_privileges(batch: CommandBatch, client: Client, user_ids: list[str]) -> None:
    """Other services learn who may do what only from these events, never from this database."""
    for user_id in user_ids:
        client.privilege_sequence += 1
        user = client.users[user_id]
        batch.publish(
            UserPrivilegesChanged(
                client_id=client.client_id,
                user_id=user_id,
                name=user.name,
                roles=sorted(user.roles),
                privileges=sorted(client.privileges_of(user_id)),
                sequence=client.privilege_sequence,
            )
        )
    await batch.repo.save_client(client)


async def settings(batch: CommandBatch, command: ChangeClientSettings) -> dict[str, Any]:
    client = await batch.client(command.client_id)
    rules.require_administrator(client, command.acting_user)
    if command.legacy_factoring is True and client.integration is not None:
        raise Refused("the old file-based factoring cannot be turned on while a factoring integration is active")
    if command.legacy_factoring is False and client.legacy_factoring:
        rules.turn_off_legacy_factoring(client, await batch.repo.unsent_legacy_count(client.client_id))
    for name in (
        "legacy_factoring",
        "reminders",
        "debt_collection",
        "e_invoice_agreement",
        "vat_registered",
        "kid_scheme",
        "address",
    ):
        if (value := getattr(command, name)) is not None:
            setattr(client, name, value)
    await batch.repo.save_client(client)
    return {
        "legacy_factoring": client.legacy_factoring,
        "reminders": client.reminders,
        "debt_collection": client.debt_collection,
        "e_invoice_agreement": client.e_invoice_agreement,
        "vat_registered": client.vat_registered,
        "kid_scheme": client.kid_scheme.value,
        "address": client.address.model_dump(mode="json") if client.address else None,
    }


async def connect_follow_up(batch: CommandBatch, command: ConnectFollowUpIntegration) -> dict[str, Any]:
    client = await batch.client(command.client_id)
    rules.require_administrator(client, command.acting_user)
    rules.connect_follow_up(client, command.kind, command.service_name)
    await batch.repo.save_client(client)
    return {"follow_up": {kind.value: name for kind, name in client.follow_up.items()}}


async def disconnect_follow_up(batch: CommandBatch, command: DisconnectFollowUpIntegration) -> dict[str, Any]:
    client = await batch.client(command.client_id)
    rules.require_administrator(client, command.acting_user)
    if client.follow_up.pop(command.kind, None) is None:
        raise Refused(f"no {command.kind.value} integration is connected")
    await batch.repo.save_client(client)
    return {"follow_up": {kind.value: name for kind, name in client.follow_up.items()}}


async def set_posting_accounts(batch: CommandBatch, command: SetPostingAccounts) -> dict[str, Any]:
    client = await batch.client(command.client_id)
    rules.require_administrator(client, command.acting_user)
    changes = {
        name: value
        for name in ("receivables", "sales", "sales_exempt", "output_vat", "bank")
        if (value := getattr(command, name)) is not None
    }
    try:
        chart = await batch.ledger.chart(client.client_id)
    except LedgerUnavailable:
        raise Refused(
            "the ledger is unavailable, so the accounts cannot be checked against it; nothing was changed, try again "
            "shortly"
        ) from None
    client.accounts = rules.change_posting_accounts(
        client, changes, accounts_of(chart), series_holding(chart, client.next_customer_number)
    )
    await batch.repo.save_client(client)
    return asdict(client.accounts)


async def transfer_legacy(batch: CommandBatch, command: TransferUnsentLegacyInvoices) -> dict[str, Any]:
    client = await batch.client(command.client_id)
    rules.require_administrator(client, command.acting_user)
    if not client.legacy_factoring:
        raise Refused("the old file-based factoring is not on for this client")
    return {"transferred": await batch.repo.transfer_legacy(client.client_id)}


# --- the activation saga --------------------------------------------------------------------------------------
async def activate(batch: CommandBatch, command: ActivateFactoringIntegration) -> object:
    client = await batch.client(command.client_id)
    rules.require_administrator(client, command.acting_user)
    client.integration = rules.start_activation(client, command.provider, command.message_id)
    await batch.repo.save_client(client)
    batch.publish(
        FactoringActivationRequested(
            client_id=client.client_id,
            correlation_id=str(command.message_id),
            request_id=command.message_id,
            provider=command.provider,
            client_name=client.company_name,
            organisation_number=client.organisation_number,
            receivables_account=client.accounts.receivables,
        )
    )
    return _SAGA_ANSWERED_LATER


async def activation_done(batch: FactoringEventBatch, event: FactoringActivated) -> None:
    client = await batch.repo.client(event.client_id)
    if client is None or client.integration is None or client.integration.request_id != event.request_id:
        return
    client.integration.state = IntegrationState.ACTIVE
    client.integration.display_name = event.display_name
    await batch.repo.save_client(client)
    cards = rules.flag_cards_for_factoring(await batch.repo.cards(client.client_id), event.display_name)
    await batch.repo.save_cards(client.client_id, cards)
    answer_later(
        batch.uow,
        SERVICE,
        event.request_id,
        ActivateFactoringIntegration.type_name(),
        client.client_id,
        accepted=True,
        details={
            "provider": event.provider,
            "delivery_method": event.display_name,
            "customer_cards_flagged": len(cards),
        },
    )


async def activation_refused(batch: FactoringEventBatch, event: FactoringActivationRefused) -> None:
    client = await batch.repo.client(event.client_id)
    if client is None or client.integration is None or client.integration.request_id != event.request_id:
        return
    client.integration = None
    await batch.repo.save_client(client)
    answer_later(
        batch.uow,
        SERVICE,
        event.request_id,
        ActivateFactoringIntegration.type_name(),
        client.client_id,
        accepted=False,
        reason=event.reason,
        details={"missing": event.missing},
    )


async def deactivate(batch: CommandBatch, command: DeactivateFactoringIntegration) -> dict[str, Any]:
    client = await batch.client(command.client_id)
    rules.require_administrator(client, command.acting_user)
    if client.integration is None or client.integration.state is not IntegrationState.ACTIVE:
        raise Refused("no factoring integration is active for this client")
    method = client.factoring_method or ""
    cards = rules.unflag_cards(await batch.repo.cards(client.client_id), method)
    provider = client.integration.provider
    client.integration = None
    await batch.repo.save_client(client)
    await batch.repo.save_cards(client.client_id, cards)
    batch.publish(FactoringIntegrationDeactivated(client_id=client.client_id, provider=provider))
    return {"provider": provider, "customer_cards_reset": len(cards)}


# --- customer cards -------------------------------------------------------------------------------------------
async def upsert_card(batch: CommandBatch, command: UpsertCustomerCard) -> dict[str, Any]:
    client = await batch.client(command.client_id)
    rules.require_user(client, command.acting_user)
    existing = await batch.repo.card(client.client_id, command.customer_number) if command.customer_number else None
    if existing is None:
        number = command.customer_number or client.next_customer_number
        card = rules.new_card(client, number, command.customer, command.use_factoring, command.delivery_method)
        client.next_customer_number = max(client.next_customer_number, number + 1)
        await batch.repo.save_client(client)
    else:
        card = rules.changed_card(client, existing, command.customer, command.use_factoring, command.delivery_method)
    await batch.repo.save_cards(client.client_id, [card])
    batch.uow.publish(
        topics.TOPIC_LEDGER_COMMANDS,
        UpsertParty(
            reply=False,
            client_id=client.client_id,
            number=card.number,
            name=card.data.display_name or str(card.number),
            kind=PartyKind.CUSTOMER,
        ),
        key=client.client_id,
    )
    return {
        "customer_number": card.number,
        "use_factoring": card.use_factoring,
        "delivery_method": card.delivery_method,
    }


async def exclude(batch: CommandBatch, command: ExcludeCustomerFromFactoring) -> dict[str, Any]:
    client = await batch.client(command.client_id)
    rules.require_user(client, command.acting_user)
    card = await batch.card(client, command.customer_number)
    card = rules.exclude_from_factoring(client, card, command.delivery_method)
    await batch.repo.save_cards(client.client_id, [card])
    return {"customer_number": card.number, "use_factoring": False, "delivery_method": card.delivery_method}


# --- invoices -------------------------------------------------------------------------------------------------
async def create_draft(batch: CommandBatch, command: CreateInvoiceDraft) -> dict[str, Any]:
    client = await batch.client(command.client_id)
    rules.require_user(client, command.acting_user)
    owner = await batch.repo.owner(command.invoice_id)
    rules.check_invoice_owner(client, command.invoice_id, owner)
    if owner is not None:
        raise Refused(f"invoice {command.invoice_id} already exists")
    await batch.card(client, command.customer_number)
    net, vat, gross = rules.totals(command.lines)
    invoice = Invoice(
        command.invoice_id,
        command.customer_number,
        command.origin,
        command.invoice_date,
        command.due_date,
        list(command.lines),
        net,
        vat,
        gross,
    )
    rules.check_draft(invoice)
    await batch.repo.save_invoice(client.client_id, invoice)
    return {"invoice_id": str(invoice.invoice_id), "net_ore": net, "vat_ore": vat, "gross_ore": gross}


async def send(batch: CommandBatch, command: SendInvoice) -> dict[str, Any]:
    client = await batch.client(command.client_id)
    rules.require_user(client, command.acting_user)
    invoice = await batch.invoice(client, command)
    card = await batch.card(client, invoice.customer_number)
    method, via_factoring = rules.choose_delivery(client, card, invoice, command.delivery_method)
    rules.check_open_period(client, invoice.invoice_date, "invoice date")
    rules.send(client, invoice, method, via_factoring)
    await batch.repo.save_client(client)
    await batch.repo.save_invoice(client.client_id, invoice)
    batch.uow.publish(topics.TOPIC_LEDGER_COMMANDS, postings.sale(client, invoice), key=client.client_id)
    if via_factoring:
        assert invoice.factoring_provider is not None and invoice.number is not None
        # The provider's document is the only invoice the debtor sees: everything a Norwegian invoice needs.
        kid = kids.kid_for(card.number, invoice.number, client.kid_scheme)
        batch.publish(
            InvoiceDelivery(
                client_id=client.client_id,
                correlation_id=str(invoice.invoice_id),
                provider=invoice.factoring_provider,
                invoice_id=invoice.invoice_id,
                invoice_number=invoice.number,
                customer_number=card.number,
                customer=card.data,
                client_name=client.company_name,
                client_organisation_number=client.organisation_number,
                invoice_date=invoice.invoice_date,
                due_date=invoice.due_date,
                lines=rules.delivery_lines(invoice.lines),
                net_ore=invoice.net_ore,
                vat_ore=invoice.vat_ore,
                gross_ore=invoice.gross_ore,
                vat_totals=rules.vat_totals(invoice.lines),
                client_address=client.address,
                client_vat_registered=client.vat_registered,
                kid=kid,
                kid_scheme=client.kid_scheme,
                delivery_channel=rules.delivery_channel(card),
            )
        )
        return {
            "invoice_number": invoice.number,
            "delivery_method": method,
            "via_factoring": True,
            "factoring_status": invoice.factoring_status,
            "kid": kid,
            "lines": len(invoice.lines),
        }
    return {
        "invoice_number": invoice.number,
        "delivery_method": method,
        "via_factoring": via_factoring,
        "factoring_status": invoice.factoring_status,
    }


async def pay(batch: CommandBatch, command: RegisterPayment) -> dict[str, Any]:
    client = await batch.client(command.client_id)
    rules.require_user(client, command.acting_user)
    invoice = await batch.invoice(client, command)
    payment_id = command.payment_id or command.message_id
    # One bank transaction may pay several invoices: the payment id is unique per client and invoice, not overall.
    key = f"{client.client_id}:{invoice.invoice_id}:{payment_id}"
    async with _once(batch.uow, "invoicing.payments", key) as first:
        if first:
            rules.check_open_period(client, command.paid_on, "payment date")
            providers = rules.check_payment(invoice, command.amount_ore)
    if not first:
        return {"invoice_number": invoice.number, "already_registered": True}
    if providers:
        assert invoice.number is not None and invoice.factoring_provider is not None
        invoice.passed_on_ore += command.amount_ore
        await batch.repo.save_invoice(client.client_id, invoice)
        batch.publish(
            DirectPaymentReceived(
                client_id=client.client_id,
                correlation_id=str(invoice.invoice_id),
                invoice_id=invoice.invoice_id,
                invoice_number=invoice.number,
                payment_id=payment_id,
                amount_ore=command.amount_ore,
                paid_on=command.paid_on,
                provider=invoice.factoring_provider,
            )
        )
        return {"invoice_number": invoice.number, "passed_on_to": invoice.factoring_provider}
    invoice.paid_ore += command.amount_ore
    await batch.repo.save_invoice(client.client_id, invoice)
    batch.uow.publish(
        topics.TOPIC_LEDGER_COMMANDS,
        postings.payment(client, invoice, command.amount_ore, command.paid_on, payment_id),
        key=client.client_id,
    )
    return {"invoice_number": invoice.number, "outstanding_ore": invoice.outstanding_ore}


async def credit(batch: CommandBatch, command: IssueCreditNote) -> dict[str, Any]:
    client = await batch.client(command.client_id)
    rules.require_user(client, command.acting_user)
    invoice = await batch.invoice(client, command)
    # A credit note id is unique per client: another client's equal id neither blocks nor repeats this one.
    key = f"{client.client_id}:{command.credit_note_id}"
    async with _once(batch.uow, "invoicing.credit-notes", key, unscoped=str(command.credit_note_id)) as first:
        if first:
            rules.check_open_period(client, command.credited_on, "credit note date")
            amount = rules.check_credit(invoice, command.amount_ore)
    if not first:
        return {"invoice_number": invoice.number, "already_issued": True}
    voucher = postings.credit_note(
        client, invoice, amount, command.credited_on, command.credit_note_id, credited_before=invoice.credited_ore
    )
    invoice.credited_ore += amount
    await batch.repo.save_invoice(client.client_id, invoice)
    batch.uow.publish(topics.TOPIC_LEDGER_COMMANDS, voucher, key=client.client_id)
    assert invoice.number is not None
    batch.publish(
        InvoiceCredited(
            client_id=client.client_id,
            correlation_id=str(invoice.invoice_id),
            invoice_id=invoice.invoice_id,
            invoice_number=invoice.number,
            credit_note_id=command.credit_note_id,
            amount_ore=amount,
            provider=invoice.factoring_provider,
            reason=command.reason,
            credited_on=command.credited_on,
        )
    )
    return {"invoice_number": invoice.number, "credited_ore": amount, "outstanding_ore": invoice.outstanding_ore}


# --- factoring status -----------------------------------------------------------------------------------------
async def status_changed(batch: FactoringEventBatch, event: FactoringStatusChanged) -> None:
    invoice = await batch.repo.invoice(event.client_id, event.invoice_id)
    if invoice is None:
        return
    applied = rules.apply_status(invoice, event.status, event.description, event.sequence)
    batch.history.append(
        (
            event.client_id,
            invoice.invoice_id,
            event.sequence,
            event.status.value,
            event.description,
            event.provider_event_id,
            applied,
        )
    )
    if applied:
        if rules.back_with_the_client(invoice):  # rare: only then is the client read
            client = await batch.repo.client(event.client_id)
            if client is not None:
                rules.follow_up_returned(client, invoice)
        await batch.repo.save_invoice(event.client_id, invoice)


INVOICE_COMMANDS = (CreateInvoiceDraft, SendInvoice, RegisterPayment, IssueCreditNote)


@asynccontextmanager
async def _once(uow: UnitOfWork, business: str, key: str, unscoped: str | None = None) -> AsyncIterator[bool]:
    """Whether a business id (a credit note's, a payment's) is new, claimed in this transaction like a message id.

    A resent command with a new message id but the same business id then changes nothing. A refusal inside the
    block releases the id again, so a corrected command with the same id is not taken for a repeat.

    Keys name the client. `unscoped` is the key the same id had before they did (credit notes, migration
    e3a91c5d7f20): the inbox never said whose those were, so such an id stays taken for every client. It is only
    looked at, never claimed anew.
    """
    first = bool(await uow.claim(business, [key]))
    if first and unscoped is not None:
        if await uow.claim(business, [unscoped]):
            await uow.release(business, [unscoped])
        else:
            first = False
    try:
        yield first
    except Refused:
        await uow.release(business, [key])
        raise


# --- from the ledger ----------------------------------------------------------------------------------------------
async def period_closed(batch: LedgerEventBatch, event: PeriodClosed) -> None:
    batch.closed_periods.append((event.client_id, event.closed_through))


async def period_reopened(batch: LedgerEventBatch, event: PeriodReopened) -> None:
    # Closings earlier in the batch first, so the re-opening that followed them wins.
    await batch.repo.record_closed_periods(batch.closed_periods)
    batch.closed_periods.clear()
    await batch.repo.reopen_period(event.client_id, event.closed_through)


async def open_item_changed(batch: LedgerEventBatch, event: OpenItemChanged) -> None:
    """What others booked on an invoice's receivable (a provider's settlement, its recourse) moves what is paid.

    Invoicing's own sales, payments and credit notes are on the invoice from the moment it asked for them; the
    ledger's answer may come after a later payment or credit note, and must not take it back. The newest balance
    of a batch counts. An open item invoicing did not create (say an opening balance) matches no invoice."""
    if event.source_service == SERVICE:
        return
    batch.settlements[(event.client_id, event.open_item, event.party)] = event.balance_ore


async def booking_rejected(batch: LedgerEventBatch, event: BookingRejected) -> None:
    """The ledger refused one of our bookings (say the invoice date lies in a closed period): the invoice carries
    the reason, so the accountant sees in the invoice list what is not in the books."""
    source = event.source
    if source is not None and source.service == SERVICE and source.invoice_id is not None:
        batch.booking_problems.append(
            (event.idempotency_key, event.client_id, source.invoice_id, source.event_type, event.code, event.reason)
        )


# --- the routing table --------------------------------------------------------------------------------------------
HANDLERS: dict[type[Message], Handler] = {
    CreateClient: create_client,
    AddUser: add_user,
    CreateRole: create_role,
    GrantPrivilege: grant,
    RevokePrivilege: revoke,
    ChangeClientSettings: settings,
    ConnectFollowUpIntegration: connect_follow_up,
    DisconnectFollowUpIntegration: disconnect_follow_up,
    SetPostingAccounts: set_posting_accounts,
    TransferUnsentLegacyInvoices: transfer_legacy,
    ActivateFactoringIntegration: activate,
    DeactivateFactoringIntegration: deactivate,
    UpsertCustomerCard: upsert_card,
    ExcludeCustomerFromFactoring: exclude,
    CreateInvoiceDraft: create_draft,
    SendInvoice: send,
    RegisterPayment: pay,
    IssueCreditNote: credit,
    FactoringActivated: activation_done,
    FactoringActivationRefused: activation_refused,
    FactoringStatusChanged: status_changed,
    PeriodClosed: period_closed,
    PeriodReopened: period_reopened,
    OpenItemChanged: open_item_changed,
    BookingRejected: booking_rejected,
}


def consumers(ledger: Chart, repository: RepositoryFactory = InvoicingRepository) -> list[Consumer]:
    """Invoicing's subscriptions; `repository` is the PostgreSQL one, or an in-memory one in unit tests, and
    `ledger` answers the chart query that posting accounts are checked against."""
    return [
        Consumer(
            topics.TOPIC_INVOICING_COMMANDS,
            topics.GROUP_INVOICING_COMMANDS,
            partial(CommandBatch, repository=repository, ledger=ledger),
            "Operator commands. Each is answered on ledgerline.command-results.v1 (activation when the saga ends).",
            routes_every_type=True,
        ),
        Consumer(
            topics.TOPIC_FACTORING_EVENTS,
            topics.GROUP_INVOICING_FACTORING_EVENTS,
            partial(FactoringEventBatch, repository=repository),
            "Activation answers and factoring status updates from the factoring gateway.",
        ),
        Consumer(
            topics.TOPIC_LEDGER_EVENTS,
            topics.GROUP_INVOICING_LEDGER_EVENTS,
            partial(LedgerEventBatch, repository=repository),
            "Open-item changes (the payment state of invoices) and closed periods.",
        ),
        Consumer(
            topics.TOPIC_LEDGER_REJECTIONS,
            topics.GROUP_INVOICING_BOOKING_REJECTIONS,
            partial(LedgerEventBatch, repository=repository),
            "Bookings the ledger refused; those of invoicing's invoices are shown on the invoice.",
        ),
    ]
