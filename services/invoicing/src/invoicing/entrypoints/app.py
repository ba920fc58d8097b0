"""Wires invoicing: its four consumers, what it publishes, its reports."""

from __future__ import annotations

from ledgerline_contracts import factoring, invoicing, ledger, topics
from ledgerline_contracts.messages import CommandResult
from servicekit.consumer import Subscription
from servicekit.service import Service

from ..service_layer.handlers import (
    BOOKING_REJECTIONS,
    COMMANDS,
    FACTORING_EVENTS,
    LEDGER_EVENTS,
    InvoicingHandlers,
)
from ..settings import InvoicingSettings
from . import http


def build(settings: InvoicingSettings | None = None) -> Service:
    settings = settings or InvoicingSettings()
    service = Service(
        settings,
        title="Ledgerline invoicing",
        description="Clients, users and roles, customer cards and invoices; the accounting system's side of "
        "factoring (activation, delivery rules, factoring status).",
    )
    handlers = InvoicingHandlers(service.uow)
    service.subscribe(
        Subscription(
            topics.INVOICING_COMMANDS,
            COMMANDS,
            invoicing.INVOICING_COMMANDS,
            handlers.handle_commands,
            "Operator commands. Each is answered on ledgerline.command-results.v1 (activation when the saga ends).",
        )
    )
    service.subscribe(
        Subscription(
            topics.FACTORING_EVENTS,
            FACTORING_EVENTS,
            factoring.FACTORING_EVENTS,
            handlers.handle_factoring_events,
            "Activation answers and factoring status updates from the factoring gateway.",
        )
    )
    service.subscribe(
        Subscription(
            topics.LEDGER_EVENTS,
            LEDGER_EVENTS,
            ledger.LEDGER_EVENTS,
            handlers.handle_ledger_events,
            "Open-item changes (the payment state of invoices) and closed periods.",
            wants=frozenset({ledger.OpenItemChanged.type_name(), ledger.PeriodClosed.type_name()}),
        )
    )
    service.subscribe(
        Subscription(
            topics.LEDGER_REJECTIONS,
            BOOKING_REJECTIONS,
            ledger.LEDGER_REJECTIONS,
            handlers.handle_booking_rejections,
            "Bookings the ledger refused; those of invoicing's invoices are shown on the invoice.",
        )
    )
    service.publishes(
        topics.INVOICING_EVENTS,
        invoicing.INVOICING_EVENTS.models,
        "Deliveries for factoring, activation requests, privilege changes, credit notes.",
    )
    service.publishes(
        topics.LEDGER_COMMANDS,
        [ledger.OpenBooks, ledger.UpsertParty, ledger.PostVoucher],
        "Books opened for new clients, customers as sub-ledger parties, sales, payments, credit notes.",
    )
    service.publishes(topics.COMMAND_RESULTS, [CommandResult], "The answer to every command invoicing handled.")
    http.register(service)
    return service
