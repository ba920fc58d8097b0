"""The financing gateway's routing table: every message type it acts on, its handler, and its four consumers.

The handlers live by concern: `commands` (consent, withdrawal, the posting option), `projections` (what invoicing
and the ledger announce, and the receivables stream that follows the ledger) and `provider` (Buffer's answers).
Subscriptions, the types each consumer decodes and the AsyncAPI document all come from `HANDLERS`.
"""

from __future__ import annotations

from functools import partial

from ledgerline_contracts import topics
from ledgerline_contracts.financing import GiveFinancingConsent, SetFinancingPostings, WithdrawFinancingConsent
from ledgerline_contracts.invoicing import ClientCreated, UserPrivilegesChanged
from ledgerline_contracts.ledger import AccountUpserted, OpenItemChanged, PartyUpserted
from ledgerline_contracts.messages import Message
from ledgerline_contracts.providers import buffer
from servicekit.messagebus import Consumer, Handler

from ..adapters.repository import FinancingRepository
from . import commands, projections, provider
from .batches import FinancingBatch, RepositoryFactory, StreamBatch

HANDLERS: dict[type[Message], Handler] = {
    # financing.commands.v1
    GiveFinancingConsent: commands.give_consent,
    WithdrawFinancingConsent: commands.withdraw_consent,
    SetFinancingPostings: commands.set_postings,
    # invoicing.events.v1
    ClientCreated: projections.client_created,
    UserPrivilegesChanged: projections.user_privileges_changed,
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
            partial(FinancingBatch, repository=repository),
            "Company data (ClientCreated) and each user's effective privileges (UserPrivilegesChanged, newest wins).",
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
