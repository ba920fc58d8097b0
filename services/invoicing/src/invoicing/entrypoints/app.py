"""Wires invoicing: its four consumers, what it publishes, its reports."""

from __future__ import annotations

from ledgerline_contracts import invoicing, ledger, topics
from ledgerline_contracts.messages import CommandResult
from servicekit.service import Service

from ..adapters.ledger_chart import LedgerChart
from ..service_layer.handlers import HANDLERS, consumers
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
    service.consume(consumers(LedgerChart(settings.ledger_url, service.token)), HANDLERS)
    service.publishes(
        topics.TOPIC_INVOICING_EVENTS,
        invoicing.INVOICING_EVENTS.models,
        "Deliveries for factoring, activation requests, privilege changes, credit notes.",
    )
    service.publishes(
        topics.TOPIC_LEDGER_COMMANDS,
        [ledger.OpenBooks, ledger.UpsertParty, ledger.PostVoucher],
        "Books opened for new clients, customers as sub-ledger parties, sales, payments, credit notes.",
    )
    service.publishes(topics.TOPIC_COMMAND_RESULTS, [CommandResult], "The answer to every command invoicing handled.")
    http.register(service)
    return service
