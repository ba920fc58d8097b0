"""Wires the ledger: its consumer, what it publishes, its queries."""

from __future__ import annotations

from ledgerline_contracts import ledger, topics
from ledgerline_contracts.messages import CommandResult
from servicekit.service import Service

from ..service_layer.handlers import HANDLERS, consumers
from ..settings import LedgerSettings
from . import http


def build(settings: LedgerSettings | None = None) -> Service:
    settings = settings or LedgerSettings()
    service = Service(
        settings,
        title="Ledgerline ledger",
        description="The only service that writes postings: double-entry vouchers, sub-ledgers and open items.",
    )
    service.consume(consumers(), HANDLERS)
    service.publishes(
        topics.TOPIC_LEDGER_EVENTS, ledger.LEDGER_EVENTS.models, "Vouchers posted, open items moved, chart changes."
    )
    service.publishes(
        topics.TOPIC_LEDGER_REJECTIONS, ledger.LEDGER_REJECTIONS.models, "Booking commands refused, with reason."
    )
    service.publishes(topics.TOPIC_COMMAND_RESULTS, [CommandResult], "The answer to every command the ledger handled.")
    http.register(service)
    return service
