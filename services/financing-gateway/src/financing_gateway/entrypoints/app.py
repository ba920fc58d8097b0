"""Wires the financing gateway: its four consumers, what it publishes, its queries."""

from __future__ import annotations

from ledgerline_contracts import financing, invoicing, ledger, topics
from ledgerline_contracts.messages import CommandResult
from ledgerline_contracts.operations import DeadLetter
from ledgerline_contracts.providers import buffer
from servicekit.consumer import Subscription
from servicekit.service import Service

from ..service_layer.commands import CONSUMER as COMMANDS_CONSUMER
from ..service_layer.commands import CommandHandlers
from ..service_layer.projections import (
    INVOICING_CONSUMER,
    LEDGER_CONSUMER,
    InvoicingEventHandlers,
    LedgerEventHandlers,
)
from ..service_layer.provider import CONSUMER as BUFFER_CONSUMER
from ..service_layer.provider import BufferEventHandlers
from ..settings import FinancingGatewaySettings
from . import http


def build(settings: FinancingGatewaySettings | None = None) -> Service:
    settings = settings or FinancingGatewaySettings()
    service = Service(
        settings,
        title="Ledgerline financing gateway",
        description="Invoice financing with Buffer: consent, streaming receivables, the credit-limit widget.",
    )
    service.subscribe(
        Subscription(
            topics.FINANCING_COMMANDS,
            COMMANDS_CONSUMER,
            financing.FINANCING_COMMANDS,
            CommandHandlers(service.uow).handle,
            "Consent (starts onboarding and the receivables stream), withdrawal, the automatic-posting option. "
            "Only users holding the invoice-financing privilege.",
        )
    )
    service.subscribe(
        Subscription(
            topics.INVOICING_EVENTS,
            INVOICING_CONSUMER,
            invoicing.INVOICING_EVENTS,
            InvoicingEventHandlers(service.uow).handle,
            "Company data (ClientCreated) and each user's effective privileges (UserPrivilegesChanged, newest wins).",
            wants=frozenset({invoicing.ClientCreated.type_name(), invoicing.UserPrivilegesChanged.type_name()}),
        )
    )
    service.subscribe(
        Subscription(
            topics.LEDGER_EVENTS,
            LEDGER_CONSUMER,
            ledger.LEDGER_EVENTS,
            LedgerEventHandlers(service.uow).handle,
            "Customer open items (OpenItemChanged) from the beginning, streamed on to Buffer while a client's "
            "consent lasts; accounts and parties to check the posting accounts.",
            wants=frozenset(
                m.type_name() for m in (ledger.OpenItemChanged, ledger.AccountUpserted, ledger.PartyUpserted)
            ),
        )
    )
    service.subscribe(
        Subscription(
            topics.BUFFER_INBOUND,
            BUFFER_CONSUMER,
            buffer.INBOUND,
            BufferEventHandlers(service.uow).handle,
            "Buffer's onboarding steps and refusals, credit limits, resnapshot requests, drawdowns and repayments.",
        )
    )
    service.publishes(
        topics.BUFFER_OUTBOUND,
        buffer.OUTBOUND.models,
        "Consent, the numbered receivables stream (snapshot, then each change), withdrawal.",
    )
    service.publishes(
        topics.FINANCING_EVENTS,
        financing.FINANCING_EVENTS.models,
        "Onboarding state, credit limit, posting option and provider-account transactions per client.",
    )
    service.publishes(
        topics.LEDGER_COMMANDS,
        [ledger.PostVoucher],
        "Vouchers for drawdowns and repayments, when the client turned automatic postings on; exactly once each.",
    )
    service.publishes(topics.COMMAND_RESULTS, [CommandResult], "The answer to every financing command.")
    service.publishes(
        topics.dead_letters(BUFFER_CONSUMER),
        [DeadLetter],
        "Buffer's messages that could not be decoded or handled, with the reason.",
    )
    http.register(service)
    return service
