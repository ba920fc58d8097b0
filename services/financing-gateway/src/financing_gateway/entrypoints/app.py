"""Wires the financing gateway: its five consumers, what it publishes, its queries."""

from __future__ import annotations

from ledgerline_contracts import financing, ledger, topics
from ledgerline_contracts.messages import CommandResult
from ledgerline_contracts.operations import DeadLetter
from ledgerline_contracts.providers import buffer
from servicekit.service import Service

from ..service_layer.handlers import HANDLERS, consumers
from ..settings import FinancingGatewaySettings
from . import http


def build(settings: FinancingGatewaySettings | None = None) -> Service:
    settings = settings or FinancingGatewaySettings()
    service = Service(
        settings,
        title="Ledgerline financing gateway",
        description="Invoice financing with Buffer: consent, streaming receivables, the credit-limit widget.",
    )
    service.consume(consumers(), HANDLERS)
    service.publishes(
        topics.TOPIC_BUFFER_OUTBOUND,
        buffer.OUTBOUND.models,
        "Consent, the numbered receivables stream (snapshot, then each change), withdrawal.",
    )
    service.publishes(
        topics.TOPIC_FINANCING_EVENTS,
        financing.FINANCING_EVENTS.models,
        "Onboarding state, credit limit, posting option and provider-account transactions per client.",
    )
    service.publishes(
        topics.TOPIC_LEDGER_COMMANDS,
        [ledger.PostVoucher],
        "Vouchers for drawdowns and repayments, when the client turned automatic postings on; exactly once each.",
    )
    service.publishes(topics.TOPIC_COMMAND_RESULTS, [CommandResult], "The answer to every financing command.")
    service.publishes(
        topics.dead_letters(topics.GROUP_FINANCING_BUFFER),
        [DeadLetter],
        "Buffer's messages that could not be decoded or handled, with the reason.",
    )
    http.register(service)
    return service
