"""The factoring gateway's handlers: activation, deliveries to providers, provider events into bookings.

Provider events are applied per invoice through the lifecycle (domain.lifecycle). One that cannot apply yet
is parked and retried whenever its invoices move; one that can never apply is refused to the dead-letter topic
with the reason and books nothing. A provider may only touch invoices that were handed to it.

An invoice id belongs to one client: the one whose delivery opened its case. Every event that names an invoice is
checked against its case's client (invoicing's events carry their client; of the providers' events, those that
carry one, Fjord's remittances, are checked against it, and one event may not span several clients' cases), and is
refused to the dead letters if it does not match: never delivered, never booked.

The routing table depends on which providers an instance serves, so `handlers()` builds it: invoicing's events
and the mapping commands (unless the instance runs without the core, scaling providers alone), and every
inbound message type of each provider it serves. `consumers()` declares the matching subscriptions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from typing import Any
from uuid import UUID

from ledgerline_contracts import auth, topics
from ledgerline_contracts.factoring import (
    AccountRef,
    FactoringActivated,
    FactoringActivationRefused,
    FactoringStatusChanged,
    SetAccountMapping,
)
from ledgerline_contracts.invoicing import (
    ADMINISTRATOR,
    DirectPaymentReceived,
    FactoringActivationRequested,
    FactoringIntegrationDeactivated,
    FactoringStatus,
    InvoiceCredited,
    InvoiceDelivery,
)
from ledgerline_contracts.messages import Command, Message, UndecodableMessage
from ledgerline_contracts.money import format_nok
from servicekit.auth import authorise_user_command
from servicekit.commands import answer, refuse_caller
from servicekit.consumer import Delivery
from servicekit.logging import get_logger
from servicekit.messagebus import Batch, Consumer, Handler, fingerprint, refuse
from servicekit.unit_of_work import UnitOfWork, by_message_id

from .. import SERVICE
from .. import metrics as gateway_metrics
from ..adapters.directory import Directory, NoDirectory
from ..adapters.ledger_client import Ledger, LedgerUnavailable
from ..adapters.repository import GatewayRepository, Origin, Parked, Repository
from ..domain import lifecycle, mapping
from ..domain.lifecycle import Case, Impossible, NotYet, OtherClients
from ..domain.providers import ProviderAdapter, installed_adapters
from ..domain.providers.base import ClientInfo, Translation, decide_statuses, direct_payment_vouchers

log = get_logger(__name__)

RepositoryFactory = Callable[[Any], Repository]
"""Builds the repository a batch works through, from its unit of work."""


class Refused(Exception):
    """A command that cannot be carried out; its CommandResult says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --- the batches: what one batch's handlers share, read before and written after ---------------------------------
class GatewayBatch(Batch):
    def __init__(self, uow: UnitOfWork, group: str, repository: RepositoryFactory) -> None:
        super().__init__(uow, group)
        self.repo = repository(uow)


class CoreBatch(GatewayBatch):
    """Invoicing's events and the mapping commands: every provider the gateway knows, and the ledger's chart."""

    def __init__(
        self,
        uow: UnitOfWork,
        group: str,
        repository: RepositoryFactory,
        ledger: Ledger,
        adapters: Mapping[str, ProviderAdapter],
        directory: Directory | None = None,
    ) -> None:
        super().__init__(uow, group, repository)
        self.ledger = ledger
        self.adapters = adapters
        self.directory = directory or NoDirectory()


class InvoicingEventBatch(CoreBatch):
    """Reads each client's active integration once per batch; the cases of delivered invoices are saved at the end."""

    def __init__(
        self,
        uow: UnitOfWork,
        group: str,
        repository: RepositoryFactory,
        ledger: Ledger,
        adapters: Mapping[str, ProviderAdapter],
    ) -> None:
        super().__init__(uow, group, repository, ledger, adapters)
        self.integrations: dict[str, str | None] = {}  # client → active provider
        self.new_cases: list[Case] = []
        self.delivered: dict[UUID, Case] = {}  # the new cases by invoice (the latest delivery of each)
        self.stored: dict[UUID, Case] = {}  # the cases already open for the invoices the batch delivers
        self._origins: dict[int, Origin] = {}

    async def claim(self, deliveries: Sequence[Delivery]) -> list[Message]:
        self._origins = {id(delivery.message): Origin.of(delivery) for delivery in deliveries}
        return await super().claim(deliveries)

    async def prepare(self, messages: Sequence[Message]) -> None:
        ids = {m.invoice_id for m in messages if isinstance(m, InvoiceDelivery)}
        self.stored = await self.repo.cases(ids) if ids else {}

    async def refuse_other_clients(self, event: InvoiceDelivery | InvoiceCredited | DirectPaymentReceived) -> None:
        """The event names an invoice whose case is another client's: refused for good, before anything is
        published. A dead letter with the reason (which never names the other client), in the same transaction,
        and released from the inbox so that a replay is handled again."""
        reason = (
            f"{event.type} of client {event.client_id} names invoice id {event.invoice_id}, whose case belongs to "
            "another client: refused, nothing delivered or booked"
        )
        await self.uow.release(self.group, [by_message_id(event)])
        refuse(self.uow, self.group, self._origins[id(event)], reason)
        self.uow.after_commit(gateway_metrics.cross_client_refusals.labels(event.type).inc)

    async def active_provider(self, client_id: str) -> str | None:
        if client_id not in self.integrations:
            active = await self.repo.active_integration(client_id)
            self.integrations[client_id] = active[0] if active else None
        return self.integrations[client_id]

    def forget_integration(self, client_id: str) -> None:
        self.integrations.pop(client_id, None)

    def add_case(self, case: Case) -> None:
        self.new_cases.append(case)
        self.delivered[case.invoice_id] = case

    async def finish(self) -> None:
        await self.repo.save_cases(self.new_cases, new=True)


class CommandBatch(CoreBatch):
    """Every command is answered: accepted with the handler's details, or refused with the reason. Only a client's
    administrator (the role that activates factoring in invoicing) may change where its factoring is booked."""

    async def dispatch(self, handler: Handler, message: Message) -> None:
        assert isinstance(message, Command)
        try:
            caller = self.caller(message)
            authorise_user_command(caller, message)
            if ADMINISTRATOR not in await self.directory.roles(message.client_id, caller.subject):
                raise auth.NotAuthorised(f"user {caller.subject} is not an administrator of {message.client_id}")
        except auth.NotAuthenticated as refusal:
            refuse_caller(self.uow, SERVICE, message, refusal)
            return
        try:
            details = await handler(self, message)
        except Refused as refusal:
            answer(self.uow, SERVICE, message, accepted=False, reason=refusal.reason)
            return
        answer(self.uow, SERVICE, message, accepted=True, details=details)


class ProviderBatch(GatewayBatch):
    """One batch of one provider's events: applies, parks, refuses, and retries what was parked.

    Each event is translated first and claimed on its translation's key (the provider's own event id, so a retried
    callback books nothing twice); one that cannot be translated is refused before it is claimed. The batch's
    cases are read once (locked) and written once; its parked events are read once. Each event is applied to
    copies of its cases, which replace the originals only if the whole event applies.
    """

    def __init__(self, uow: UnitOfWork, group: str, repository: RepositoryFactory, adapter: ProviderAdapter) -> None:
        super().__init__(uow, group, repository)
        self.adapter = adapter
        self.cases: dict[UUID, Case] = {}
        self.changed: set[UUID] = set()
        self.mappings: dict[str, dict[str, AccountRef] | None] = {}
        self.parked: list[Parked] = []
        self._understood: dict[int, tuple[Delivery, Translation]] = {}

    async def claim(self, deliveries: Sequence[Delivery]) -> list[Message]:
        understood: list[tuple[Delivery, Translation]] = []
        for delivery in deliveries:
            try:
                understood.append((delivery, self.adapter.translate(delivery.message)))
            except Impossible as refusal:
                self.refuse(Origin.of(delivery), str(refusal))
        self._understood = by_message = {id(delivery.message): (delivery, t) for delivery, t in understood}
        return await self.uow.unseen(
            self.group,
            [d.message for d, _ in understood],
            key=lambda message: by_message[id(message)][1].key,
            fingerprint=lambda message: fingerprint(by_message[id(message)][0]),
            on_conflict=lambda message: self.reused_id(*by_message[id(message)]),
        )

    def reused_id(self, delivery: Delivery, translation: Translation) -> None:
        """The provider reused an event id for other content (say an advance under the id of an "accepted"):
        a provider bug or a forgery. Refused with the reason and counted; the first event stands."""
        refuse(
            self.uow,
            self.group,
            Origin.of(delivery),
            f"{self.adapter.slug} sent {translation.event_type} under event id {translation.key}, which an earlier "
            "event with other content already used (a provider bug or a forgery): refused, nothing booked",
            kind="conflict",
        )

    def understood(self, message: Message) -> tuple[Translation, Origin]:
        delivery, translation = self._understood[id(message)]
        return translation, Origin.of(delivery)

    async def prepare(self, messages: Sequence[Message]) -> None:
        ids = {effect.invoice_id for m in messages for effect in self._understood[id(m)][1].effects}
        self.cases = await self.repo.cases(ids)
        self.parked = await self.repo.parked_for(self.adapter.slug, ids) if ids else []

    async def finish(self) -> None:
        await self.repo.save_cases(self.cases[i] for i in self.changed)

    async def park(self, translation: Translation, origin: Origin, reason: str) -> None:
        ids = [e.invoice_id for e in translation.effects]
        (client_id,) = {self.cases[i].client_id for i in ids}  # `apply` found them all, and all one client's
        parked_id = await self.repo.park(self.adapter.slug, translation.key, client_id, ids, origin, reason)
        if parked_id is not None:
            self.parked.append(Parked(parked_id, translation.key, frozenset(ids), origin))

    async def _cases_for(self, ids: set[UUID]) -> dict[UUID, Case]:
        missing = ids - self.cases.keys()
        if missing:  # e.g. a parked remittance that also covers invoices outside this batch
            self.cases.update(await self.repo.cases(missing))
        return {i: self.cases[i] for i in ids if i in self.cases}

    async def _mapping(self, client_id: str) -> dict[str, AccountRef] | None:
        if client_id not in self.mappings:
            self.mappings[client_id] = await self.repo.mapping(client_id, self.adapter.slug)
        return self.mappings[client_id]

    async def apply(self, translation: Translation) -> NotYet | Impossible | None:
        """Applies the event to its invoices and books it, or says why it cannot apply (yet)."""
        ids = {effect.invoice_id for effect in translation.effects}
        stored = await self._cases_for(ids)
        slug = self.adapter.slug
        for invoice_id in ids:
            case = stored.get(invoice_id)
            if case is None:
                return Impossible(f"{slug} sent {translation.event_type} for unknown invoice {invoice_id}")
            if case.provider != slug:
                return Impossible(
                    f"invoice {case.invoice_number} of client {case.client_id} was not handed to "
                    f"{slug}; its events are not {slug}'s to send"
                )
            if translation.client_ref is not None and case.client_id != translation.client_ref:
                return OtherClients(f"invoice {case.invoice_number} does not belong to seller {translation.client_ref}")
        clients = {case.client_id for case in stored.values()}
        if len(clients) != 1:
            return OtherClients(f"one {translation.event_type} covers invoices of several clients")
        (client_id,) = clients
        accounts = await self._mapping(client_id)
        if accounts is None:
            return Impossible(f"client {client_id} has no account mapping for {slug}")
        cases = {i: c.copy() for i, c in stored.items()}  # the originals stay untouched unless everything applies
        try:
            for effect in translation.effects:
                case = cases[effect.invoice_id]
                if translation.sequence is not None:
                    _in_sequence(case, translation.sequence)
                lifecycle.apply(case, effect.step, effect.amount_ore)
            # Each invoice's status once the whole event applied: never after one line of a report.
            changed = decide_statuses(self.adapter, translation.effects, cases)
        except (NotYet, Impossible) as outcome:
            return outcome
        for voucher in self.adapter.vouchers(translation, cases, accounts):
            self.uow.publish(topics.TOPIC_LEDGER_COMMANDS, voucher, key=voucher.client_id)
        self.cases.update(cases)
        self.changed.update(cases)
        for case in changed:
            _publish_status(self.uow, case, translation.key)
        return None

    async def retry_parked(self, invoice_ids: set[UUID]) -> None:
        """Events that waited for these invoices may apply now; each success may release others in turn."""
        progress = True
        while progress:
            progress = False
            for parked in [p for p in self.parked if p.invoice_ids & invoice_ids]:
                try:
                    translation = self.adapter.translate(self.adapter.inbound.decode(parked.origin.raw))
                except (Impossible, UndecodableMessage) as refusal:
                    await self._unpark(parked)
                    await self.uow.release(self.group, [parked.event_key])
                    self.refuse(parked.origin, str(refusal))
                    continue
                outcome = await self.apply(translation)
                if isinstance(outcome, NotYet):
                    continue
                await self._unpark(parked)
                if isinstance(outcome, Impossible):
                    await self.uow.release(self.group, [parked.event_key])
                    self.refuse(parked.origin, outcome)
                else:
                    invoice_ids |= {e.invoice_id for e in translation.effects}
                    progress = True

    async def _unpark(self, parked: Parked) -> None:
        await self.repo.unpark(parked.id)
        self.parked.remove(parked)

    def refuse(self, origin: Origin, reason: str | Impossible) -> None:
        """Refused for good: a dead letter with the reason, in the same transaction; nothing is booked."""
        refuse(self.uow, self.group, origin, str(reason))
        if isinstance(reason, OtherClients):
            self.uow.after_commit(gateway_metrics.cross_client_refusals.labels(self.adapter.slug).inc)


# --- from invoicing -----------------------------------------------------------------------------------------------
async def activation_requested(batch: InvoicingEventBatch, event: FactoringActivationRequested) -> None:
    """The activation saga's middle step: every account role of the provider mapped and in the ledger, or refused
    with what is missing.

    The check asks the ledger. If it does not answer, the request waits in `deferred_activations` and is answered
    when it does (`retry_deferred_activations`): the consumer goes on with every other client's events meanwhile,
    instead of holding them all behind this one."""
    try:
        await _activate(batch, event)
    except LedgerUnavailable as error:
        await batch.repo.defer_activation(event, str(error))
        batch.uow.after_commit(partial(_deferred, event, str(error)))


def _deferred(event: FactoringActivationRequested, reason: str) -> None:
    gateway_metrics.activations_deferred.inc()
    log.warning(
        "activation waits for the ledger",
        client_id=event.client_id,
        provider=event.provider,
        request_id=str(event.request_id),
        error=reason[:500],
    )


async def retry_deferred_activations(batch: InvoicingEventBatch, limit: int = 100) -> tuple[int, int]:
    """Answers the activations that waited for the ledger, oldest first, in the batch's unit of work; stops at the
    first the ledger still does not answer. Returns how many were answered, and how many of those read still wait."""
    waiting = await batch.repo.deferred_activations(limit)
    for answered, event in enumerate(waiting):
        try:
            await _activate(batch, event)
        except LedgerUnavailable as error:
            await batch.repo.defer_activation(event, str(error))  # counts the attempt
            return answered, len(waiting) - answered
        log.info("deferred activation answered", client_id=event.client_id, provider=event.provider)
    return len(waiting), 0


async def _activate(batch: InvoicingEventBatch, event: FactoringActivationRequested) -> None:
    """Activates or refuses; raises LedgerUnavailable (having changed nothing) when the ledger does not answer."""
    batch.forget_integration(event.client_id)
    adapter = batch.adapters.get(event.provider)
    if adapter is None:
        _refuse_activation(
            batch.uow,
            event,
            f"there is no factoring provider {event.provider!r} (known: {', '.join(sorted(batch.adapters))})",
        )
        return
    accounts = await batch.repo.mapping(event.client_id, adapter.slug)
    chart = await batch.ledger.chart(event.client_id)
    found = mapping.problems(adapter.roles, accounts, chart, event.receivables_account)
    await batch.repo.forget_deferred_activation(event.client_id)  # answered now, whether it waited or not
    if found:
        _refuse_activation(batch.uow, event, f"{adapter.display_name} cannot be activated: {'; '.join(found)}", found)
        return
    assert accounts is not None
    client = ClientInfo(event.client_id, event.client_name, event.organisation_number)
    await batch.repo.set_integration(client, adapter.slug, adapter.display_name, active=True)
    # The mapping is what the provider receives at onboarding.
    batch.uow.publish(
        topics.factoring_outbound(adapter.slug), adapter.onboarding(client, accounts), key=client.client_id
    )
    batch.uow.publish(
        topics.TOPIC_FACTORING_EVENTS,
        FactoringActivated(
            client_id=event.client_id,
            correlation_id=event.correlation_id,
            request_id=event.request_id,
            provider=adapter.slug,
            display_name=adapter.display_name,
            accounts=accounts,
        ),
        key=event.client_id,
    )


def _refuse_activation(
    uow: UnitOfWork, event: FactoringActivationRequested, reason: str, missing: list[str] | None = None
) -> None:
    uow.publish(
        topics.TOPIC_FACTORING_EVENTS,
        FactoringActivationRefused(
            client_id=event.client_id,
            correlation_id=event.correlation_id,
            request_id=event.request_id,
            provider=event.provider,
            reason=reason,
            missing=missing or [],
        ),
        key=event.client_id,
    )


async def integration_deactivated(batch: InvoicingEventBatch, event: FactoringIntegrationDeactivated) -> None:
    batch.forget_integration(event.client_id)
    current = await batch.repo.active_integration(event.client_id)
    adapter = batch.adapters.get(event.provider)
    if current is None or adapter is None or current[0] != event.provider:
        return
    await batch.repo.set_integration(current[1], event.provider, adapter.display_name, active=False)
    batch.uow.publish(
        topics.factoring_outbound(adapter.slug), adapter.offboarding(event.client_id), key=event.client_id
    )


async def invoice_delivery(batch: InvoicingEventBatch, delivery: InvoiceDelivery) -> None:
    """Hands the invoice to its provider in the provider's format; the case starts as «invoice prepared».

    An invoice id belongs to the client whose delivery opened its case: another client's delivery of it is refused."""
    known = batch.delivered.get(delivery.invoice_id) or batch.stored.get(delivery.invoice_id)
    if known is not None and known.client_id != delivery.client_id:
        await batch.refuse_other_clients(delivery)
        return
    active_provider = await batch.active_provider(delivery.client_id)
    case = Case(
        delivery.invoice_id,
        delivery.client_id,
        delivery.provider,
        delivery.invoice_number,
        delivery.customer_number,
        delivery.gross_ore,
    )
    adapter = batch.adapters.get(delivery.provider)
    if adapter is None or active_provider != delivery.provider:
        lifecycle.set_status(
            case,
            FactoringStatus.DELIVERY_REFUSED,
            f"{delivery.provider} is not an active integration of this client",
        )
    else:
        batch.uow.publish(
            topics.factoring_outbound(adapter.slug), adapter.delivery(delivery), key=str(delivery.invoice_id)
        )
        lifecycle.set_status(case, FactoringStatus.PREPARED, f"Invoice prepared for {adapter.display_name}")
    _publish_status(batch.uow, case, None)
    batch.add_case(case)


async def invoice_credited(batch: InvoicingEventBatch, credit: InvoiceCredited) -> None:
    """Tells the provider of a credit note, and corrects invoicing's booking where the provider owns the claim."""
    adapter = batch.adapters.get(credit.provider or "")
    if adapter is None:  # not a factored invoice, or a provider this gateway does not know
        return
    new = batch.delivered.get(credit.invoice_id)
    case = new if new is not None else (await batch.repo.cases([credit.invoice_id])).get(credit.invoice_id)
    if case is not None and case.client_id != credit.client_id:
        await batch.refuse_other_clients(credit)
        return
    batch.uow.publish(topics.factoring_outbound(adapter.slug), adapter.credit_note(credit), key=str(credit.invoice_id))
    if new is not None:  # delivered in this same batch: nothing decided yet, the case is saved later
        lifecycle.record_client_credit(new, credit.amount_ore)
        return
    if case is None or case.provider != adapter.slug:
        return
    accounts = await batch.repo.mapping(credit.client_id, adapter.slug) or {}
    for voucher in adapter.credit_vouchers(credit, case, accounts):
        batch.uow.publish(topics.TOPIC_LEDGER_COMMANDS, voucher, key=credit.client_id)
    lifecycle.record_client_credit(case, credit.amount_ore)
    await batch.repo.save_cases([case])


async def direct_payment_received(batch: InvoicingEventBatch, payment: DirectPaymentReceived) -> None:
    """Books a debtor's payment to the client against the deviation account, passes it on, tells the provider.

    Invoicing has taken the payment already, so what cannot be booked here is not refused quietly: it fails
    with the reason and ends in this consumer's dead letters, to be replayed once the mapping is fixed."""
    adapter = batch.adapters.get(payment.provider)
    case = (await batch.repo.cases([payment.invoice_id])).get(payment.invoice_id)
    if case is not None and case.client_id != payment.client_id:
        await batch.refuse_other_clients(payment)
        return
    if adapter is None or case is None or case.provider != payment.provider:
        raise Impossible(f"invoice {payment.invoice_number} was not handed to {payment.provider}")
    if case.decision not in ("accepted", "purchased") or case.returned:
        raise Impossible(
            f"{payment.provider} does not hold invoice {payment.invoice_number} ({case.status.value}): a payment "
            "on it is the client's own"
        )
    accounts = await batch.repo.mapping(payment.client_id, adapter.slug)
    if accounts is None or "deviation" not in accounts:
        raise Impossible(
            f"client {payment.client_id} has no deviation account mapped for {adapter.display_name}: the direct "
            f"payment on invoice {payment.invoice_number} cannot be booked"
        )
    for voucher in direct_payment_vouchers(adapter.slug, adapter.display_name, payment, accounts):
        batch.uow.publish(topics.TOPIC_LEDGER_COMMANDS, voucher, key=payment.client_id)
    batch.uow.publish(
        topics.factoring_outbound(adapter.slug), adapter.direct_payment(payment), key=str(payment.invoice_id)
    )
    amount = format_nok(payment.amount_ore)
    description = f"Debtor paid {amount} to the client directly; passed on to {adapter.display_name}"
    if lifecycle.set_status(case, None, description):
        _publish_status(batch.uow, case, None)
        await batch.repo.save_cases([case])


# --- account mappings ---------------------------------------------------------------------------------------------
async def set_account_mapping(batch: CommandBatch, command: SetAccountMapping) -> dict[str, Any]:
    """Saves the mapping of every role the provider uses; before activation, what the ledger still lacks is
    reported, not refused (activation checks again). While the provider's integration is live, a mapping is
    checked as activation checks it: bookings must never go to an account the ledger would refuse."""
    adapter = batch.adapters.get(command.provider)
    if adapter is None:
        raise Refused(f"there is no provider {command.provider!r}")
    unknown = sorted(set(command.accounts) - {role.name for role in adapter.roles})
    if unknown:
        raise Refused(
            f"{adapter.display_name} uses no account role {', '.join(unknown)} (it uses: "
            f"{', '.join(r.name for r in adapter.roles)})"
        )
    try:
        chart = await batch.ledger.chart(command.client_id)
    except LedgerUnavailable:
        # Refused rather than waited for: the sender is waiting for an answer, and a new command is cheap.
        raise Refused(
            "the ledger is unavailable, so the accounts cannot be checked against it; nothing was saved, try again "
            "shortly"
        ) from None
    found = mapping.check(adapter.roles, command.accounts, chart)
    wrong = found.never_right()
    if wrong:
        raise Refused(f"{adapter.display_name}'s accounts are not right: {'; '.join(wrong)}")
    pending = found.all()
    active = await batch.repo.active_integration(command.client_id)
    if pending and active is not None and active[0] == adapter.slug:
        raise Refused(
            f"{adapter.display_name} is live for this client, so every account must be right: {'; '.join(pending)}"
        )
    await batch.repo.save_mapping(command.client_id, adapter.slug, command.accounts)
    return {"provider": adapter.slug, "still_missing": pending}


# --- from providers -----------------------------------------------------------------------------------------------
async def provider_event(batch: ProviderBatch, message: Message) -> None:
    """A provider's event applies to its invoices, waits (parked) for an earlier one, or is refused for good;
    when it applies, events parked for its invoices are retried."""
    translation, origin = batch.understood(message)
    outcome = await batch.apply(translation)
    if isinstance(outcome, NotYet):
        await batch.park(translation, origin, str(outcome))
    elif isinstance(outcome, Impossible):
        await batch.uow.release(batch.group, [translation.key])
        batch.refuse(origin, outcome)
    elif batch.parked:
        await batch.retry_parked({e.invoice_id for e in translation.effects})


# --- status out ---------------------------------------------------------------------------------------------------
def _publish_status(uow: UnitOfWork, case: Case, event_key: str | None) -> None:
    uow.publish(
        topics.TOPIC_FACTORING_EVENTS,
        FactoringStatusChanged(
            client_id=case.client_id,
            correlation_id=str(case.invoice_id),
            invoice_id=case.invoice_id,
            provider=case.provider,
            status=case.status,
            description=case.description,
            sequence=case.status_sequence,
            provider_event_id=event_key,
        ),
        key=case.client_id,
    )


def _in_sequence(case: Case, sequence: int) -> None:
    """Providers that number each invoice's events are applied in that order, whatever order they arrive in."""
    if sequence <= case.last_sequence:
        raise Impossible(f"event number {sequence} of invoice {case.invoice_number} was already applied")
    if sequence > case.last_sequence + 1:
        raise NotYet(f"event number {sequence} of invoice {case.invoice_number} before number {case.last_sequence + 1}")
    case.last_sequence = sequence


# --- the routing table --------------------------------------------------------------------------------------------
CORE_HANDLERS: dict[type[Message], Handler] = {
    FactoringActivationRequested: activation_requested,
    FactoringIntegrationDeactivated: integration_deactivated,
    InvoiceDelivery: invoice_delivery,
    InvoiceCredited: invoice_credited,
    DirectPaymentReceived: direct_payment_received,
    SetAccountMapping: set_account_mapping,
}
"""What the core reads: invoicing's events and the mapping commands."""


def handlers(providers: Iterable[ProviderAdapter] | None = None, core: bool = True) -> dict[type[Message], Handler]:
    """The routing table of an instance serving `providers` (by default every installed one) and the core, unless
    `core` is false: each of their inbound message types goes to `provider_event`."""
    table = dict(CORE_HANDLERS) if core else {}
    for adapter in installed_adapters().values() if providers is None else providers:
        table.update(dict.fromkeys(adapter.inbound.models, provider_event))
    return table


def consumers(
    ledger: Ledger,
    adapters: Mapping[str, ProviderAdapter] | None = None,
    providers: Iterable[ProviderAdapter] | None = None,
    core: bool = True,
    repository: RepositoryFactory = GatewayRepository,
    directory: Directory | None = None,
) -> list[Consumer]:
    """The gateway's subscriptions: the core's two (which know every provider in `adapters`), unless `core` is
    false, and one per provider served (`providers`, by default all of `adapters`). `repository` is the PostgreSQL
    one, or an in-memory one in unit tests; `directory` answers who a client's administrators are (none: nobody
    may change a mapping)."""
    adapters = installed_adapters() if adapters is None else adapters
    found: list[Consumer] = []
    if core:
        found += [
            Consumer(
                topics.TOPIC_INVOICING_EVENTS,
                topics.GROUP_FACTORING_INVOICING_EVENTS,
                partial(InvoicingEventBatch, repository=repository, ledger=ledger, adapters=adapters),
                "Activation requests, deliveries, credit notes and direct payments from invoicing.",
            ),
            Consumer(
                topics.TOPIC_FACTORING_COMMANDS,
                topics.GROUP_FACTORING_COMMANDS,
                partial(
                    CommandBatch,
                    repository=repository,
                    ledger=ledger,
                    adapters=adapters,
                    directory=directory,
                ),
                "Account mappings per client and provider.",
                routes_every_type=True,
            ),
        ]
    for adapter in adapters.values() if providers is None else providers:
        found.append(
            Consumer(
                topics.factoring_inbound(adapter.slug),
                topics.group_for_provider(adapter.slug),
                partial(ProviderBatch, repository=repository, adapter=adapter),
                f"Events from {adapter.display_name}; deduplicated on the provider's event id.",
                catalogue=adapter.inbound,
            )
        )
    return found
