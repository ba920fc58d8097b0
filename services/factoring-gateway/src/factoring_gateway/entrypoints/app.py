"""Wires the factoring gateway: one consumer per input, one pair of topics per provider."""

from __future__ import annotations

import asyncio

from ledgerline_contracts import factoring, ledger, topics
from ledgerline_contracts.messages import CommandResult
from ledgerline_contracts.operations import DeadLetter
from servicekit.logging import get_logger
from servicekit.service import BackgroundTask, Service

from .. import metrics
from ..adapters.directory import InvoicingDirectory
from ..adapters.ledger_client import LedgerClient
from ..adapters.repository import GatewayRepository
from ..domain.providers import ProviderAdapter, installed_adapters
from ..service_layer import views
from ..service_layer.handlers import InvoicingEventBatch, consumers, handlers, retry_deferred_activations
from ..settings import FactoringGatewaySettings
from . import http

log = get_logger(__name__)


def build(settings: FactoringGatewaySettings | None = None) -> Service:
    settings = settings or FactoringGatewaySettings()
    service = Service(
        settings,
        title="Ledgerline factoring gateway",
        description="The API factoring providers integrate with: each provider has its own outbound topic (invoice "
        "deliveries in its format) and inbound topic (its events, booked exactly once against the client's mapped "
        "accounts).",
    )
    adapters = installed_adapters()
    providers = [adapters[slug] for slug in (adapters if settings.providers is None else settings.providers)]
    ledger_client = LedgerClient(settings.ledger_url, service.token)
    service.consume(
        consumers(
            ledger_client,
            providers=providers,
            core=settings.core,
            directory=InvoicingDirectory(settings.invoicing_url, service.token),
        ),
        handlers(providers, core=settings.core),
    )
    # The core hands every provider its deliveries; an instance serving providers answers for their dead letters.
    for adapter in adapters.values() if settings.core else providers:
        service.publishes(
            topics.factoring_outbound(adapter.slug),
            adapter.delivery_models,
            f"Deliveries, credit notes and onboarding for {adapter.display_name}, in its own format.",
        )
    for adapter in providers:
        service.publishes(
            topics.dead_letters(topics.group_for_provider(adapter.slug)),
            [DeadLetter],
            f"{adapter.display_name}'s events that were refused, with the reason.",
        )
    service.publishes(
        topics.TOPIC_FACTORING_EVENTS,
        factoring.FACTORING_EVENTS.models,
        "Activation answers and factoring status of invoices.",
    )
    service.publishes(topics.TOPIC_LEDGER_COMMANDS, [ledger.PostVoucher], "Bookings for provider events.")
    service.publishes(topics.TOPIC_COMMAND_RESULTS, [CommandResult], "Answers to account-mapping commands.")
    http.register(service, settings)
    service.run_in_background(_watch_parked(service, [adapter.slug for adapter in providers]))
    if settings.core:
        service.run_in_background(_retry_deferred_activations(service, ledger_client, adapters))
    return service


def _retry_deferred_activations(
    service: Service, ledger_client: LedgerClient, adapters: dict[str, ProviderAdapter], interval: float = 5.0
) -> BackgroundTask:
    # Activations the ledger did not answer wait in the database (see handlers.activation_requested), off the
    # consumer's path; this answers them once the ledger is back.
    async def retry() -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                async with service.uow() as uow:
                    batch = InvoicingEventBatch(
                        uow, topics.GROUP_FACTORING_INVOICING_EVENTS, GatewayRepository, ledger_client, adapters
                    )
                    _, waiting = await retry_deferred_activations(batch)
            except Exception as error:  # the database may be down for a while: the next round tries again
                log.warning("could not retry deferred activations", error=repr(error))
            else:
                metrics.deferred_activations.set(waiting)

    retry.__name__ = "deferred-activations"
    return retry


def _watch_parked(service: Service, providers: list[str], interval_seconds: float = 5.0) -> BackgroundTask:
    # Parked events are otherwise silent: an event refused to the dead letters holds back the later events of its
    # invoice until the provider sends a corrected one, and SREs must see that wait grow.
    async def watch() -> None:
        while True:
            try:
                found = await views.parked_per_provider(service.engine)
            except Exception as error:  # the database may be down for a while; the gauges keep their last value
                log.warning("could not count parked events", error=str(error))
            else:
                for slug in providers:
                    count, age = found.get(slug, (0, 0.0))
                    metrics.parked_events.labels(slug).set(count)
                    metrics.parked_oldest_age.labels(slug).set(age)
            await asyncio.sleep(interval_seconds)

    watch.__name__ = "parked-events-monitor"
    return watch
