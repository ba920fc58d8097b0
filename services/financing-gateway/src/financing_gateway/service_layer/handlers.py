"""The financing gateway's routing table: every message type it acts on, its handler, and its five consumers.

The handlers live by concern: `commands` (consent, withdrawal, the posting option), `projections` (what invoicing,
the ledger and the factoring gateway announce, and the receivables stream that follows them) and `provider`
(Buffer's answers).
Subscriptions, the types each consumer decodes and the AsyncAPI document all come from `HANDLERS`.
"""

from __future__ import annotations

from functools import partial

from ledgerline_contracts import topics
from ledgerline_contracts.factoring import FactoringStatusChanged
from ledgerline_contracts.financing import GiveFinancingConsent, SetFinancingPostings, WithdrawFinancingConsent
from ledgerline_contracts.invoicing import ClientCreated, InvoiceDelivery, UserPrivilegesChanged
from ledgerline_contracts.ledger import AccountUpserted, OpenItemChanged, PartyUpserted
from ledgerline_contracts.messages import Message
from ledgerline_contracts.providers import buffer
from servicekit.messagebus import Consumer, Handler

from ..adapters.repository import FinancingRepository
from . import commands, projections, provider
from .batches import RepositoryFactory, StreamBatch

HANDLERS: dict[type[Message], Handler] = {
    # financing.commands.v1
    GiveFinancingConsent: commands.give_consent,
    WithdrawFinancingConsent: commands.withdraw_consent,
    SetFinancingPostings: commands.set_postings,
    # invoicing.events.v1
    ClientCreated: projections.client_created,
    UserPrivilegesChanged: projections.user_privileges_changed,
    InvoiceDelivery: projections.invoice_delivered,
    # factoring.events.v1
    FactoringStatusChanged: projections.factoring_status_changed,
    # ledger.events.v1
    AccountUpserted: projections.account_upserted,
    PartyUpserted: projections.party_upserted,
    OpenItemChanged: projections.open_item_changed,
    # financing.buffer.inbound.v1
    buffer.OnboardingProgressed: provider.onboarding_progressed,
    buffer.OnboardingRefused: provider.onboarding_refused,
    buffer.CreditLimitChanged: provider.credit_limit_changed,
    buffer.ResnapshotRequested: provider.resnapshot_requested,
    buffer.DrawdownMade: provider.drawdown_made,
    buffer.RepaymentMade: provider.repayment_made,
}


def consumers(repository: RepositoryFactory = FinancingRepository) -> list[Consumer]:
    """The gateway's subscriptions; `repository` is the PostgreSQL one, or an in-memory one in unit tests."""
    return [
        Consumer(
            topics.TOPIC_FINANCING_COMMANDS,
            topics.GROUP_FINANCING_COMMANDS,
            partial(commands.CommandBatch, repository=repository),
            "Consent (starts onboarding and the receivables stream), withdrawal, the automatic-posting option. "
            "Only users holding the invoice-financing privilege.",
            routes_every_type=True,
        ),
        Consumer(
            topics.TOPIC_INVOICING_EVENTS,
            topics.GROUP_FINANCING_INVOICING_EVENTS,
            partial(projections.HoldingBatch, repository=repository),
            "Company data (ClientCreated), each user's effective privileges (UserPrivilegesChanged, newest wins), "
            "and which open item each invoice handed to a factoring provider is (InvoiceDelivery): held by the "
            "provider, so left out of the receivables stream.",
        ),
        Consumer(
            topics.TOPIC_FACTORING_EVENTS,
            topics.GROUP_FINANCING_FACTORING_EVENTS,
            partial(projections.HoldingBatch, repository=repository),
            "Factoring status of invoices (FactoringStatusChanged, newest per-invoice sequence wins): a rejected, "
            "refused or returned invoice is the client's again and comes back into the receivables stream.",
        ),
        Consumer(
            topics.TOPIC_LEDGER_EVENTS,
            topics.GROUP_FINANCING_LEDGER_EVENTS,
            partial(projections.LedgerEventBatch, repository=repository),
            "Customer open items (OpenItemChanged) from the beginning, streamed on to Buffer while a client's "
            "consent lasts; accounts and parties to check the posting accounts.",
        ),
        Consumer(
            topics.TOPIC_BUFFER_INBOUND,
            topics.GROUP_FINANCING_BUFFER,
            partial(StreamBatch, repository=repository),
            "Buffer's onboarding steps and refusals, credit limits, resnapshot requests, drawdowns and repayments.",
        ),
    ]
