"""Invoicing's message handlers: commands from operators, answers from the factoring gateway, ledger events.

Each batch is one unit of work. Commands are answered with a CommandResult, except the activation of a
factoring integration, which is a saga: it is answered when the factoring gateway has accepted or refused it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID

from ledgerline_contracts import topics
from ledgerline_contracts.factoring import FactoringActivated, FactoringActivationRefused, FactoringStatusChanged
from ledgerline_contracts.invoicing import (
    ActivateFactoringIntegration,
    AddUser,
    ChangeClientSettings,
    ClientCreated,
    CreateClient,
    CreateInvoiceDraft,
    CreateRole,
    DeactivateFactoringIntegration,
    DirectPaymentReceived,
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
    UpsertParty,
)
from ledgerline_contracts.messages import Command, Message
from servicekit.commands import answer, answer_later
from servicekit.consumer import Delivery
from servicekit.db import UnitOfWork

from ..adapters.repository import InvoicingRepository
from ..domain import postings, rules
from ..domain.model import ADMINISTRATOR, Client, IntegrationState, Invoice, InvoiceState, User
from ..domain.rules import Refused

SERVICE = "invoicing"
COMMANDS, FACTORING_EVENTS, LEDGER_EVENTS = "invoicing", "invoicing.factoring-events", "invoicing.ledger-events"
BOOKING_REJECTIONS = "invoicing.booking-rejections"
_SAGA_ANSWERED_LATER = object()


class InvoicingHandlers:
    def __init__(self, uow: Callable[[], UnitOfWork]) -> None:
        self._uow = uow
        self._commands: dict[type[Message], Callable[[_Context, Any], Awaitable[Any]]] = {
            CreateClient: self._create_client,
            AddUser: self._add_user,
            CreateRole: self._create_role,
            GrantPrivilege: self._grant,
            RevokePrivilege: self._revoke,
            ChangeClientSettings: self._settings,
            TransferUnsentLegacyInvoices: self._transfer_legacy,
            ActivateFactoringIntegration: self._activate,
            DeactivateFactoringIntegration: self._deactivate,
            UpsertCustomerCard: self._upsert_card,
            ExcludeCustomerFromFactoring: self._exclude,
            CreateInvoiceDraft: self._create_draft,
            SendInvoice: self._send,
            RegisterPayment: self._pay,
            IssueCreditNote: self._credit,
        }

    # --- entry points (one per subscription) ----------------------------------------------------------------------
    async def handle_commands(self, deliveries: Sequence[Delivery]) -> None:
        async with self._uow() as uow:
            context = _Context(uow, InvoicingRepository(uow))
            commands = await uow.unseen(COMMANDS, [d.message for d in deliveries])
            await _preload(context.repo, commands)
            for command in commands:
                assert isinstance(command, Command)
                try:  # the rules refuse before anything changes, so a refusal leaves nothing to undo
                    details = await self._commands[type(command)](context, command)
                except Refused as refusal:
                    answer(uow, SERVICE, command, accepted=False, reason=refusal.reason)
                    continue
                if details is not _SAGA_ANSWERED_LATER:
                    answer(uow, SERVICE, command, accepted=True, details=details or {})
            await context.repo.flush()

    async def handle_factoring_events(self, deliveries: Sequence[Delivery]) -> None:
        async with self._uow() as uow:
            context = _Context(uow, InvoicingRepository(uow))
            events = await uow.unseen(FACTORING_EVENTS, [d.message for d in deliveries])
            await context.repo.load_invoices(e.invoice_id for e in events if isinstance(e, FactoringStatusChanged))
            history: list[tuple[str, UUID, int, str, str, str | None, bool]] = []
            for event in events:
                match event:
                    case FactoringActivated():
                        await self._activation_done(context, event)
                    case FactoringActivationRefused():
                        await self._activation_refused(context, event)
                    case FactoringStatusChanged():
                        await self._status_changed(context, event, history)
            await context.repo.record_statuses(history)
            await context.repo.flush()

    async def handle_ledger_events(self, deliveries: Sequence[Delivery]) -> None:
        async with self._uow() as uow:
            events = await uow.unseen(LEDGER_EVENTS, [d.message for d in deliveries])
            await InvoicingRepository(uow).record_closed_periods(
                (e.client_id, e.closed_through) for e in events if isinstance(e, PeriodClosed)
            )
            # Settled by a payment or by the sale to a provider; an open item invoicing did not create (say an
            # opening balance) matches no invoice and changes nothing.
            await InvoicingRepository(uow).record_settlements(
                (e.client_id, e.open_item, e.party, e.balance_ore) for e in events if isinstance(e, OpenItemChanged)
            )

    async def handle_booking_rejections(self, deliveries: Sequence[Delivery]) -> None:
        """The ledger refused one of our bookings (say the invoice date lies in a closed period): the invoice
        carries the reason, so the accountant sees in the invoice list what is not in the books."""
        async with self._uow() as uow:
            events = await uow.unseen(BOOKING_REJECTIONS, [d.message for d in deliveries])
            await InvoicingRepository(uow).record_booking_problems(
                (e.idempotency_key, e.client_id, e.source.invoice_id, e.source.event_type, e.code, e.reason)
                for e in events
                if isinstance(e, BookingRejected)
                and e.source is not None
                and e.source.service == SERVICE
                and e.source.invoice_id is not None
            )

    # --- clients, users, roles ------------------------------------------------------------------------------------
    async def _create_client(self, ctx: _Context, command: CreateClient) -> dict[str, Any]:
        if await ctx.repo.client(command.client_id) is not None:
            raise Refused(f"client {command.client_id} already exists")
        client = Client(command.client_id, command.company_name, command.organisation_number)
        client.users[command.administrator] = User(command.administrator, command.administrator_name, {ADMINISTRATOR})
        await ctx.repo.save_client(client)
        ctx.publish(
            ClientCreated(
                client_id=client.client_id,
                company_name=client.company_name,
                organisation_number=client.organisation_number,
            )
        )
        ctx.uow.publish(
            topics.LEDGER_COMMANDS,
            OpenBooks(client_id=client.client_id, company_name=client.company_name, reply=False),
            key=client.client_id,
        )
        await self._announce_privileges(ctx, client, [command.administrator])
        return {"administrator": command.administrator}

    async def _add_user(self, ctx: _Context, command: AddUser) -> dict[str, Any]:
        client = await ctx.client(command.client_id)
        rules.require_role_manager(client, command.acting_user)
        unknown = sorted(set(command.roles) - set(client.roles))
        if unknown:
            raise Refused(f"no such role: {', '.join(unknown)}")
        client.users[command.user_id] = User(command.user_id, command.name, set(command.roles))
        await self._announce_privileges(ctx, client, [command.user_id])
        return {"user_id": command.user_id, "privileges": sorted(client.privileges_of(command.user_id))}

    async def _create_role(self, ctx: _Context, command: CreateRole) -> dict[str, Any]:
        client = await ctx.client(command.client_id)
        rules.require_role_manager(client, command.acting_user)
        client.roles.setdefault(command.role, set())
        await ctx.repo.save_client(client)
        return {"role": command.role}

    async def _grant(self, ctx: _Context, command: GrantPrivilege) -> dict[str, Any]:
        return await self._change_role(ctx, command, grant=True)

    async def _revoke(self, ctx: _Context, command: RevokePrivilege) -> dict[str, Any]:
        return await self._change_role(ctx, command, grant=False)

    async def _change_role(
        self, ctx: _Context, command: GrantPrivilege | RevokePrivilege, grant: bool
    ) -> dict[str, Any]:
        client = await ctx.client(command.client_id)
        rules.require_role_manager(client, command.acting_user)
        if command.role not in client.roles:
            raise Refused(f"no such role: {command.role}")
        holders = [u.user_id for u in client.users.values() if command.role in u.roles]
        before = {u: client.privileges_of(u) for u in holders}
        privileges = client.roles[command.role]
        (privileges.add if grant else privileges.discard)(command.privilege)
        changed = [u for u in holders if client.privileges_of(u) != before[u]]
        await self._announce_privileges(ctx, client, changed)
        return {"role": command.role, "privileges": sorted(privileges), "users_changed": changed}

    async def _announce_privileges(self, ctx: _Context, client: Client, user_ids: list[str]) -> None:
        """Other services learn who may do what only from these events, never from this database."""
        for user_id in user_ids:
            client.privilege_sequence += 1
            user = client.users[user_id]
            ctx.publish(
                UserPrivilegesChanged(
                    client_id=client.client_id,
                    user_id=user_id,
                    name=user.name,
                    roles=sorted(user.roles),
                    privileges=sorted(client.privileges_of(user_id)),
                    sequence=client.privilege_sequence,
                )
            )
        await ctx.repo.save_client(client)

    async def _settings(self, ctx: _Context, command: ChangeClientSettings) -> dict[str, Any]:
        client = await ctx.client(command.client_id)
        rules.require_administrator(client, command.acting_user)
        if command.legacy_factoring is True and client.integration is not None:
            raise Refused("the old file-based factoring cannot be turned on while a factoring integration is active")
        if command.legacy_factoring is False and client.legacy_factoring:
            rules.turn_off_legacy_factoring(client, await ctx.repo.unsent_legacy_count(client.client_id))
        for name in ("legacy_factoring", "reminders", "debt_collection", "e_invoice_agreement"):
            if (value := getattr(command, name)) is not None:
                setattr(client, name, value)
        await ctx.repo.save_client(client)
        return {
            "legacy_factoring": client.legacy_factoring,
            "reminders": client.reminders,
            "debt_collection": client.debt_collection,
            "e_invoice_agreement": client.e_invoice_agreement,
        }

    async def _transfer_legacy(self, ctx: _Context, command: TransferUnsentLegacyInvoices) -> dict[str, Any]:
        client = await ctx.client(command.client_id)
        rules.require_administrator(client, command.acting_user)
        if not client.legacy_factoring:
            raise Refused("the old file-based factoring is not on for this client")
        return {"transferred": await ctx.repo.transfer_legacy(client.client_id)}

    # --- the activation saga --------------------------------------------------------------------------------------
    async def _activate(self, ctx: _Context, command: ActivateFactoringIntegration) -> object:
        client = await ctx.client(command.client_id)
        rules.require_administrator(client, command.acting_user)
        client.integration = rules.start_activation(client, command.provider, command.message_id)
        await ctx.repo.save_client(client)
        ctx.publish(
            FactoringActivationRequested(
                client_id=client.client_id,
                correlation_id=str(command.message_id),
                request_id=command.message_id,
                provider=command.provider,
                client_name=client.company_name,
                organisation_number=client.organisation_number,
            )
        )
        return _SAGA_ANSWERED_LATER

    async def _activation_done(self, ctx: _Context, event: FactoringActivated) -> None:
        client = await ctx.repo.client(event.client_id)
        if client is None or client.integration is None or client.integration.request_id != event.request_id:
            return
        client.integration.state = IntegrationState.ACTIVE
        client.integration.display_name = event.display_name
        await ctx.repo.save_client(client)
        cards = rules.flag_cards_for_factoring(await ctx.repo.cards(client.client_id), event.display_name)
        await ctx.repo.save_cards(client.client_id, cards)
        answer_later(
            ctx.uow,
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

    async def _activation_refused(self, ctx: _Context, event: FactoringActivationRefused) -> None:
        client = await ctx.repo.client(event.client_id)
        if client is None or client.integration is None or client.integration.request_id != event.request_id:
            return
        client.integration = None
        await ctx.repo.save_client(client)
        answer_later(
            ctx.uow,
            SERVICE,
            event.request_id,
            ActivateFactoringIntegration.type_name(),
            client.client_id,
            accepted=False,
            reason=event.reason,
            details={"missing": event.missing},
        )

    async def _deactivate(self, ctx: _Context, command: DeactivateFactoringIntegration) -> dict[str, Any]:
        client = await ctx.client(command.client_id)
        rules.require_administrator(client, command.acting_user)
        if client.integration is None or client.integration.state is not IntegrationState.ACTIVE:
            raise Refused("no factoring integration is active for this client")
        method = client.factoring_method or ""
        cards = rules.unflag_cards(await ctx.repo.cards(client.client_id), method)
        provider = client.integration.provider
        client.integration = None
        await ctx.repo.save_client(client)
        await ctx.repo.save_cards(client.client_id, cards)
        ctx.publish(FactoringIntegrationDeactivated(client_id=client.client_id, provider=provider))
        return {"provider": provider, "customer_cards_reset": len(cards)}

    # --- customer cards -------------------------------------------------------------------------------------------
    async def _upsert_card(self, ctx: _Context, command: UpsertCustomerCard) -> dict[str, Any]:
        client = await ctx.client(command.client_id)
        rules.require_user(client, command.acting_user)
        existing = await ctx.repo.card(client.client_id, command.customer_number) if command.customer_number else None
        if existing is None:
            number = command.customer_number or client.next_customer_number
            card = rules.new_card(client, number, command.customer, command.use_factoring, command.delivery_method)
            client.next_customer_number = max(client.next_customer_number, number + 1)
            await ctx.repo.save_client(client)
        else:
            card = rules.changed_card(
                client, existing, command.customer, command.use_factoring, command.delivery_method
            )
        await ctx.repo.save_cards(client.client_id, [card])
        ctx.uow.publish(
            topics.LEDGER_COMMANDS,
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

    async def _exclude(self, ctx: _Context, command: ExcludeCustomerFromFactoring) -> dict[str, Any]:
        client = await ctx.client(command.client_id)
        rules.require_user(client, command.acting_user)
        card = await ctx.card(client, command.customer_number)
        card = rules.exclude_from_factoring(client, card, command.delivery_method)
        await ctx.repo.save_cards(client.client_id, [card])
        return {"customer_number": card.number, "use_factoring": False, "delivery_method": card.delivery_method}

    # --- invoices -------------------------------------------------------------------------------------------------
    async def _create_draft(self, ctx: _Context, command: CreateInvoiceDraft) -> dict[str, Any]:
        client = await ctx.client(command.client_id)
        rules.require_user(client, command.acting_user)
        if await ctx.repo.invoice(client.client_id, command.invoice_id) is not None:
            raise Refused(f"invoice {command.invoice_id} already exists")
        await ctx.card(client, command.customer_number)
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
        await ctx.repo.save_invoice(client.client_id, invoice)
        return {"invoice_id": str(invoice.invoice_id), "net_ore": net, "vat_ore": vat, "gross_ore": gross}

    async def _send(self, ctx: _Context, command: SendInvoice) -> dict[str, Any]:
        client = await ctx.client(command.client_id)
        rules.require_user(client, command.acting_user)
        invoice = await ctx.invoice(client, command)
        card = await ctx.card(client, invoice.customer_number)
        method, via_factoring = rules.choose_delivery(client, card, invoice, command.delivery_method)
        rules.check_open_period(client, invoice.invoice_date, "invoice date")
        rules.send(client, invoice, method, via_factoring)
        await ctx.repo.save_client(client)
        await ctx.repo.save_invoice(client.client_id, invoice)
        ctx.uow.publish(topics.LEDGER_COMMANDS, postings.sale(client, invoice), key=client.client_id)
        if via_factoring:
            assert invoice.factoring_provider is not None and invoice.number is not None
            ctx.publish(
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
                    lines=invoice.lines,
                    net_ore=invoice.net_ore,
                    vat_ore=invoice.vat_ore,
                    gross_ore=invoice.gross_ore,
                )
            )
        return {
            "invoice_number": invoice.number,
            "delivery_method": method,
            "via_factoring": via_factoring,
            "factoring_status": invoice.factoring_status,
        }

    async def _pay(self, ctx: _Context, command: RegisterPayment) -> dict[str, Any]:
        client = await ctx.client(command.client_id)
        rules.require_user(client, command.acting_user)
        invoice = await ctx.invoice(client, command)
        payment_id = command.payment_id or command.message_id
        # One bank transaction may pay several invoices: the payment id is unique per invoice, not overall.
        async with _once(ctx.uow, "invoicing.payments", f"{invoice.invoice_id}:{payment_id}") as first:
            if first:
                rules.check_open_period(client, command.paid_on, "payment date")
                providers = rules.check_payment(invoice, command.amount_ore)
        if not first:
            return {"invoice_number": invoice.number, "already_registered": True}
        if providers:
            assert invoice.number is not None and invoice.factoring_provider is not None
            invoice.passed_on_ore += command.amount_ore
            await ctx.repo.save_invoice(client.client_id, invoice)
            ctx.publish(
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
        await ctx.repo.save_invoice(client.client_id, invoice)
        ctx.uow.publish(
            topics.LEDGER_COMMANDS,
            postings.payment(client, invoice, command.amount_ore, command.paid_on, payment_id),
            key=client.client_id,
        )
        return {"invoice_number": invoice.number, "outstanding_ore": invoice.outstanding_ore}

    async def _credit(self, ctx: _Context, command: IssueCreditNote) -> dict[str, Any]:
        client = await ctx.client(command.client_id)
        rules.require_user(client, command.acting_user)
        invoice = await ctx.invoice(client, command)
        async with _once(ctx.uow, "invoicing.credit-notes", str(command.credit_note_id)) as first:
            if first:
                rules.check_open_period(client, command.credited_on, "credit note date")
                amount = rules.check_credit(invoice, command.amount_ore)
        if not first:
            return {"invoice_number": invoice.number, "already_issued": True}
        voucher = postings.credit_note(
            client, invoice, amount, command.credited_on, command.credit_note_id, credited_before=invoice.credited_ore
        )
        invoice.credited_ore += amount
        await ctx.repo.save_invoice(client.client_id, invoice)
        ctx.uow.publish(topics.LEDGER_COMMANDS, voucher, key=client.client_id)
        assert invoice.number is not None
        ctx.publish(
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
    async def _status_changed(
        self,
        ctx: _Context,
        event: FactoringStatusChanged,
        history: list[tuple[str, UUID, int, str, str, str | None, bool]],
    ) -> None:
        invoice = await ctx.repo.invoice(event.client_id, event.invoice_id)
        if invoice is None:
            return
        applied = rules.apply_status(invoice, event.status, event.description, event.sequence)
        history.append(
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
            await ctx.repo.save_invoice(event.client_id, invoice)


async def _preload(repo: InvoicingRepository, commands: Sequence[Message]) -> None:
    """One read for all the invoices and cards a batch of commands will touch, instead of one per command."""
    await repo.load_invoices(c.invoice_id for c in commands if isinstance(c, INVOICE_COMMANDS))
    cards = {(c.client_id, c.customer_number) for c in commands if isinstance(c, CreateInvoiceDraft)}
    for command in commands:
        if isinstance(command, SendInvoice) and (invoice := await repo.invoice(command.client_id, command.invoice_id)):
            cards.add((command.client_id, invoice.customer_number))
    await repo.load_cards(cards)


INVOICE_COMMANDS = (CreateInvoiceDraft, SendInvoice, RegisterPayment, IssueCreditNote)


class _Context:
    """What one batch's handlers share: the unit of work and the repository (with its client cache)."""

    def __init__(self, uow: UnitOfWork, repo: InvoicingRepository) -> None:
        self.uow = uow
        self.repo = repo

    def publish(self, event: Message) -> None:
        self.uow.publish(topics.INVOICING_EVENTS, event, key=getattr(event, "client_id", None))

    async def client(self, client_id: str) -> Client:
        client = await self.repo.client(client_id)
        if client is None:
            raise Refused(f"client {client_id} does not exist")
        return client

    async def card(self, client: Client, number: int) -> Any:
        card = await self.repo.card(client.client_id, number)
        if card is None:
            raise Refused(f"customer {number} does not exist")
        return card

    async def invoice(self, client: Client, command: SendInvoice | RegisterPayment | IssueCreditNote) -> Invoice:
        invoice = await self.repo.invoice(client.client_id, command.invoice_id)
        if invoice is None:
            raise Refused(f"invoice {command.invoice_id} does not exist")
        return invoice


__all__ = ["InvoiceState", "InvoicingHandlers"]


@asynccontextmanager
async def _once(uow: UnitOfWork, business: str, key: str) -> AsyncIterator[bool]:
    """Whether a business id (a credit note's, a payment's) is new, claimed in this transaction like a message id.

    A resent command with a new message id but the same business id then changes nothing. A refusal inside the
    block releases the id again, so a corrected command with the same id is not taken for a repeat.
    """
    first = bool(await uow.claim(business, [key]))
    try:
        yield first
    except Refused:
        await uow.release(business, [key])
        raise
