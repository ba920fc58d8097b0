"""Wires the ledger: its consumer, what it publishes, its queries."""

from __future__ import annotations

from ledgerline_contracts import ledger, topics
from ledgerline_contracts.messages import CommandResult
from servicekit.consumer import Subscription
from servicekit.service import Service

from ..service_layer.handlers import CONSUMER, LedgerHandlers
from ..settings import LedgerSettings
from . import http


def build(settings: LedgerSettings | None = None) -> Service:
    settings = settings or LedgerSettings()
    service = Service(
        settings,
        title="Ledgerline ledger",
        description="The only service that writes postings: double-entry vouchers, sub-ledgers and open items.",
    )
    handlers = LedgerHandlers(service.uow)
    service.subscribe(
        Subscription(
            topics.LEDGER_COMMANDS,
            CONSUMER,
            ledger.LEDGER_COMMANDS,
            handlers.handle_commands,
            "Chart, sub-ledger, period and booking commands. Booking commands are exactly once per idempotency key.",
        )
    )
    service.publishes(
        topics.LEDGER_EVENTS, ledger.LEDGER_EVENTS.models, "Vouchers posted, open items moved, chart changes."
    )
    service.publishes(
        topics.LEDGER_REJECTIONS, ledger.LEDGER_REJECTIONS.models, "Booking commands refused, with reason."
    )
    service.publishes(topics.COMMAND_RESULTS, [CommandResult], "The answer to every command the ledger handled.")
    http.register(service)
    return service
