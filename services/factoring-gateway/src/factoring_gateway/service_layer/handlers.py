"""The factoring gateway's handlers: activation, deliveries to providers, provider events into bookings.

Provider events are applied per invoice through the lifecycle (domain.lifecycle). One that cannot apply yet
is parked and retried whenever its invoices move; one that can never apply is refused to the dead-letter topic
with the reason and books nothing. A provider may only touch invoices that were handed to it.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from ledgerline_contracts import topics
from ledgerline_contracts.factoring import (
    AccountRef,
    FactoringActivated,
    FactoringActivationRefused,
    FactoringStatusChanged,
    SetAccountMapping,
)
from ledgerline_contracts.invoicing import (
    DirectPaymentReceived,
    FactoringActivationRequested,
    FactoringIntegrationDeactivated,
    FactoringStatus,
    InvoiceCredited,
    InvoiceDelivery,
)
from ledgerline_contracts.messages import UndecodableMessage
from ledgerline_contracts.money import format_nok
from ledgerline_contracts.operations import DeadLetter
from servicekit import metrics
from servicekit.commands import answer
from servicekit.consumer import Delivery, kept_value
from servicekit.db import UnitOfWork

from ..adapters.ledger_client import LedgerClient
from ..adapters.repository import GatewayRepository, Origin, Parked
from ..domain import lifecycle, mapping
from ..domain.lifecycle import Case, Impossible, NotYet
from ..domain.providers import ADAPTERS, ProviderAdapter
from ..domain.providers.base import ClientInfo, Translation, direct_payment_vouchers

SERVICE = "factoring-gateway"
INVOICING_EVENTS, COMMANDS = "factoring-gateway", "factoring-gateway.commands"


def provider_group(slug: str) -> str:
    return f"factoring-gateway.{slug}"


class GatewayHandlers:
    def __init__(
        self, uow: Callable[[], UnitOfWork], ledger: LedgerClient, adapters: dict[str, ProviderAdapter] | None = None
    ) -> None:
        self._uow = uow
        self._ledger = ledger
        self._adapters = adapters or ADAPTERS

    # --- from invoicing -------------------------------------------------------------------------------------------
    async def handle_invoicing_events(self, deliveries: Sequence[Delivery]) -> None:
        async with self._uow() as uow:
            repo = GatewayRepository(uow)
            integrations: dict[str, str | None] = {}  # client → active provider, read once per batch
            new_cases: list[Case] = []
            for event in await uow.unseen(INVOICING_EVENTS, [d.message for d in deliveries]):
                match event:
                    case FactoringActivationRequested():
                        integrations.pop(event.client_id, None)
                        await self._activate(uow, repo, event)
                    case FactoringIntegrationDeactivated():
                        integrations.pop(event.client_id, None)
                        await self._deactivate(uow, repo, event)
                    case InvoiceDelivery():
                        if event.client_id not in integrations:
                            active = await repo.active_integration(event.client_id)
                            integrations[event.client_id] = active[0] if active else None
                        new_cases.append(self._deliver(uow, event, integrations[event.client_id]))
                    case InvoiceCredited() if event.provider in self._adapters:
                        await self._credit(uow, repo, event, {c.invoice_id: c for c in new_cases})
                    case DirectPaymentReceived():
                        await self._direct_payment(uow, repo, event)
            await repo.save_cases(new_cases, new=True)

    async def _credit(
        self, uow: UnitOfWork, repo: GatewayRepository, credit: InvoiceCredited, new: dict[UUID, Case]
    ) -> None:
        """Tells the provider of a credit note, and corrects invoicing's booking where the provider owns the claim."""
        adapter = self._adapters[credit.provider or ""]
        uow.publish(topics.factoring_outbound(adapter.slug), adapter.credit_note(credit), key=str(credit.invoice_id))
        if credit.invoice_id in new:  # delivered in this same batch: nothing decided yet, the case is saved later
            lifecycle.record_client_credit(new[credit.invoice_id], credit.amount_ore)
            return
        case = (await repo.cases([credit.invoice_id])).get(credit.invoice_id)
        if case is None or case.provider != adapter.slug:
            return
        accounts = await repo.mapping(credit.client_id, adapter.slug) or {}
        for voucher in adapter.credit_vouchers(credit, case, accounts):
            uow.publish(topics.LEDGER_COMMANDS, voucher, key=credit.client_id)
        lifecycle.record_client_credit(case, credit.amount_ore)
        await repo.save_cases([case])

    async def _direct_payment(self, uow: UnitOfWork, repo: GatewayRepository, payment: DirectPaymentReceived) -> None:
        """Books a debtor's payment to the client against the deviation account, passes it on, tells the provider.

        Invoicing has taken the payment already, so what cannot be booked here is not refused quietly: it fails
        with the reason and ends in this consumer's dead letters, to be replayed once the mapping is fixed."""
        adapter = self._adapters.get(payment.provider)
        case = (await repo.cases([payment.invoice_id])).get(payment.invoice_id)
        if adapter is None or case is None or case.provider != payment.provider:
            raise Impossible(f"invoice {payment.invoice_number} was not handed to {payment.provider}")
        if case.decision not in ("accepted", "purchased") or case.returned:
            raise Impossible(
                f"{payment.provider} does not hold invoice {payment.invoice_number} ({case.status.value}): a payment "
                "on it is the client's own"
            )
        accounts = await repo.mapping(payment.client_id, adapter.slug)
        if accounts is None or "deviation" not in accounts:
            raise Impossible(
                f"client {payment.client_id} has no deviation account mapped for {adapter.display_name}: the direct "
                f"payment on invoice {payment.invoice_number} cannot be booked"
            )
        for voucher in direct_payment_vouchers(adapter.slug, adapter.display_name, payment, accounts):
            uow.publish(topics.LEDGER_COMMANDS, voucher, key=payment.client_id)
        uow.publish(
            topics.factoring_outbound(adapter.slug), adapter.direct_payment(payment), key=str(payment.invoice_id)
        )
        amount = format_nok(payment.amount_ore)
        description = f"Debtor paid {amount} to the client directly; passed on to {adapter.display_name}"
        if lifecycle.set_status(case, None, description):
            self._publish_status(uow, case, None)
            await repo.save_cases([case])

    async def _activate(self, uow: UnitOfWork, repo: GatewayRepository, event: FactoringActivationRequested) -> None:
        adapter = self._adapters.get(event.provider)
        if adapter is None:
            self._refuse_activation(
                uow,
                event,
                f"there is no factoring provider {event.provider!r} (known: {', '.join(sorted(self._adapters))})",
            )
            return
        accounts = await repo.mapping(event.client_id, adapter.slug)
        found = mapping.problems(adapter.roles, accounts, await self._ledger.chart(event.client_id))
        if found:
            self._refuse_activation(
                uow, event, f"{adapter.display_name} cannot be activated: {'; '.join(found)}", found
            )
            return
        assert accounts is not None
        client = ClientInfo(event.client_id, event.client_name, event.organisation_number)
        await repo.set_integration(client, adapter.slug, adapter.display_name, active=True)
        # The mapping is what the provider receives at onboarding.
        uow.publish(topics.factoring_outbound(adapter.slug), adapter.onboarding(client, accounts), key=client.client_id)
        uow.publish(
            topics.FACTORING_EVENTS,
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

    @staticmethod
    def _refuse_activation(
        uow: UnitOfWork, event: FactoringActivationRequested, reason: str, missing: list[str] | None = None
    ) -> None:
        uow.publish(
            topics.FACTORING_EVENTS,
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

    async def _deactivate(
        self, uow: UnitOfWork, repo: GatewayRepository, event: FactoringIntegrationDeactivated
    ) -> None:
        current = await repo.active_integration(event.client_id)
        adapter = self._adapters.get(event.provider)
        if current is None or adapter is None or current[0] != event.provider:
            return
        await repo.set_integration(current[1], event.provider, adapter.display_name, active=False)
        uow.publish(topics.factoring_outbound(adapter.slug), adapter.offboarding(event.client_id), key=event.client_id)

    def _deliver(self, uow: UnitOfWork, delivery: InvoiceDelivery, active_provider: str | None) -> Case:
        """Hands the invoice to its provider in the provider's format; the case starts as «invoice prepared»."""
        case = Case(
            delivery.invoice_id,
            delivery.client_id,
            delivery.provider,
            delivery.invoice_number,
            delivery.customer_number,
            delivery.gross_ore,
        )
        adapter = self._adapters.get(delivery.provider)
        if adapter is None or active_provider != delivery.provider:
            lifecycle.set_status(
                case,
                FactoringStatus.DELIVERY_REFUSED,
                f"{delivery.provider} is not an active integration of this client",
            )
        else:
            uow.publish(
                topics.factoring_outbound(adapter.slug), adapter.delivery(delivery), key=str(delivery.invoice_id)
            )
            lifecycle.set_status(case, FactoringStatus.PREPARED, f"Invoice prepared for {adapter.display_name}")
        self._publish_status(uow, case, None)
        return case

    # --- account mappings -----------------------------------------------------------------------------------------
    async def handle_commands(self, deliveries: Sequence[Delivery]) -> None:
        async with self._uow() as uow:
            repo = GatewayRepository(uow)
            for command in await uow.unseen(COMMANDS, [d.message for d in deliveries]):
                assert isinstance(command, SetAccountMapping)
                adapter = self._adapters.get(command.provider)
                if adapter is None:
                    answer(uow, SERVICE, command, accepted=False, reason=f"there is no provider {command.provider!r}")
                    continue
                unknown = sorted(set(command.accounts) - {role.name for role in adapter.roles})
                if unknown:
                    answer(
                        uow,
                        SERVICE,
                        command,
                        accepted=False,
                        reason=f"{adapter.display_name} uses no account role {', '.join(unknown)} (it uses: "
                        f"{', '.join(r.name for r in adapter.roles)})",
                    )
                    continue
                await repo.save_mapping(command.client_id, adapter.slug, command.accounts)
                pending = mapping.problems(adapter.roles, command.accounts, await self._ledger.chart(command.client_id))
                answer(
                    uow, SERVICE, command, accepted=True, details={"provider": adapter.slug, "still_missing": pending}
                )

    # --- from providers -------------------------------------------------------------------------------------------
    def provider_handler(self, slug: str) -> Callable[[Sequence[Delivery]], Any]:
        async def handle(deliveries: Sequence[Delivery]) -> None:
            await self.handle_provider_events(slug, deliveries)

        return handle

    async def handle_provider_events(self, slug: str, deliveries: Sequence[Delivery]) -> None:
        adapter = self._adapters[slug]
        group = provider_group(slug)
        async with self._uow() as uow:
            run = _ProviderRun(uow, GatewayRepository(uow), adapter, group)
            understood: list[tuple[Delivery, Translation]] = []
            for delivery in deliveries:
                try:
                    understood.append((delivery, adapter.translate(delivery.message)))
                except Impossible as refusal:
                    run.refuse(Origin.of(delivery), str(refusal))
            # Provider events deduplicate on the provider's own event id, so a retried callback books nothing twice.
            by_message = {id(delivery.message): (delivery, translation) for delivery, translation in understood}
            fresh = await uow.unseen(
                group, [d.message for d, _ in understood], key=lambda message: by_message[id(message)][1].key
            )
            await run.prepare([by_message[id(message)][1] for message in fresh])
            for message in fresh:
                delivery, translation = by_message[id(message)]
                await run.process(translation, Origin.of(delivery))
            await run.finish()

    # --- status out -----------------------------------------------------------------------------------------------
    @staticmethod
    def _publish_status(uow: UnitOfWork, case: Case, event_key: str | None) -> None:
        uow.publish(
            topics.FACTORING_EVENTS,
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


class _ProviderRun:
    """One batch of one provider's events: applies, parks, refuses, and retries what was parked.

    The batch's cases are read once (locked) and written once; its parked events are read once. Each event is
    applied to copies of its cases, which replace the originals only if the whole event applies.
    """

    def __init__(self, uow: UnitOfWork, repo: GatewayRepository, adapter: ProviderAdapter, group: str) -> None:
        self.uow, self.repo, self.adapter, self.group = uow, repo, adapter, group
        self.cases: dict[UUID, Case] = {}
        self.changed: set[UUID] = set()
        self.mappings: dict[str, dict[str, AccountRef] | None] = {}
        self.parked: list[Parked] = []

    async def prepare(self, translations: Sequence[Translation]) -> None:
        ids = {effect.invoice_id for t in translations for effect in t.effects}
        self.cases = await self.repo.cases(ids)
        self.parked = await self.repo.parked_for(self.adapter.slug, ids) if ids else []

    async def finish(self) -> None:
        await self.repo.save_cases(self.cases[i] for i in self.changed)

    async def process(self, translation: Translation, origin: Origin) -> None:
        outcome = await self._apply(translation)
        if isinstance(outcome, NotYet):
            ids = [e.invoice_id for e in translation.effects]
            parked_id = await self.repo.park(self.adapter.slug, translation.key, ids, origin, str(outcome))
            if parked_id is not None:
                self.parked.append(Parked(parked_id, translation.key, frozenset(ids), origin))
        elif isinstance(outcome, Impossible):
            await self.uow.release(self.group, [translation.key])
            self.refuse(origin, str(outcome))
        elif self.parked:
            await self._retry_parked({e.invoice_id for e in translation.effects})

    async def _cases_for(self, ids: set[UUID]) -> dict[UUID, Case]:
        missing = ids - self.cases.keys()
        if missing:  # e.g. a parked remittance that also covers invoices outside this batch
            self.cases.update(await self.repo.cases(missing))
        return {i: self.cases[i] for i in ids if i in self.cases}

    async def _mapping(self, client_id: str) -> dict[str, AccountRef] | None:
        if client_id not in self.mappings:
            self.mappings[client_id] = await self.repo.mapping(client_id, self.adapter.slug)
        return self.mappings[client_id]

    async def _apply(self, translation: Translation) -> NotYet | Impossible | None:
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
                return Impossible(f"invoice {case.invoice_number} does not belong to seller {translation.client_ref}")
        clients = {case.client_id for case in stored.values()}
        if len(clients) != 1:
            return Impossible(f"one {translation.event_type} covers invoices of several clients")
        (client_id,) = clients
        accounts = await self._mapping(client_id)
        if accounts is None:
            return Impossible(f"client {client_id} has no account mapping for {slug}")
        cases = {i: c.copy() for i, c in stored.items()}  # the originals stay untouched unless everything applies
        changed: list[Case] = []
        try:
            for effect in translation.effects:
                case = cases[effect.invoice_id]
                if translation.sequence is not None:
                    _in_sequence(case, translation.sequence)
                lifecycle.apply(case, effect.step, effect.amount_ore)
                status, description = self.adapter.describe(effect, case)
                if lifecycle.set_status(case, status, description) and case not in changed:
                    changed.append(case)
        except (NotYet, Impossible) as outcome:
            return outcome
        for voucher in self.adapter.vouchers(translation, cases, accounts):
            self.uow.publish(topics.LEDGER_COMMANDS, voucher, key=voucher.client_id)
        self.cases.update(cases)
        self.changed.update(cases)
        for case in changed:
            GatewayHandlers._publish_status(self.uow, case, translation.key)
        return None

    async def _retry_parked(self, invoice_ids: set[UUID]) -> None:
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
                outcome = await self._apply(translation)
                if isinstance(outcome, NotYet):
                    continue
                await self._unpark(parked)
                if isinstance(outcome, Impossible):
                    await self.uow.release(self.group, [parked.event_key])
                    self.refuse(parked.origin, str(outcome))
                else:
                    invoice_ids |= {e.invoice_id for e in translation.effects}
                    progress = True

    async def _unpark(self, parked: Parked) -> None:
        await self.repo.unpark(parked.id)
        self.parked.remove(parked)

    def refuse(self, origin: Origin, reason: str) -> None:
        """Refused for good: a dead letter with the reason, in the same transaction; nothing is booked."""
        now = datetime.now(UTC)
        self.uow.publish(
            topics.dead_letters(self.group),
            DeadLetter(
                consumer_group=self.group,
                topic=origin.topic,
                partition=origin.partition,
                offset=origin.offset,
                key_b64=base64.b64encode(origin.key).decode() if origin.key is not None else None,
                **kept_value(origin.raw),
                error_kind="refused",
                error=reason,
                attempts=1,
                first_failed_at=now,
                last_failed_at=now,
            ),
            key=origin.key,
        )
        self.uow.after_commit(metrics.dead_letters.labels(SERVICE, self.group, origin.topic, "refused").inc)


def _in_sequence(case: Case, sequence: int) -> None:
    """Providers that number each invoice's events are applied in that order, whatever order they arrive in."""
    if sequence <= case.last_sequence:
        raise Impossible(f"event number {sequence} of invoice {case.invoice_number} was already applied")
    if sequence > case.last_sequence + 1:
        raise NotYet(f"event number {sequence} of invoice {case.invoice_number} before number {case.last_sequence + 1}")
    case.last_sequence = sequence
