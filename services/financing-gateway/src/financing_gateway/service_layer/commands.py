"""The gateway's commands: consent (which starts onboarding and the stream), withdrawal, the posting option.

One batch, one transaction. Each command is answered exactly once with a CommandResult; a refusal changes
nothing and says why in words (a missing privilege is named). A command seen before is not handled again: its
answer was committed with its effect.
"""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from ledgerline_contracts import topics
from ledgerline_contracts.auth import NotAuthenticated
from ledgerline_contracts.financing import (
    PROVIDER_NAME,
    FinancingPostingsChanged,
    GiveFinancingConsent,
    SetFinancingPostings,
    WithdrawFinancingConsent,
)
from ledgerline_contracts.messages import Message
from ledgerline_contracts.providers.buffer import (
    BufferCompany,
    BufferConsent,
    BufferUser,
    ConsentGiven,
    ConsentWithdrawn,
)
from servicekit.auth import authorise_user_command
from servicekit.commands import answer, refuse_caller
from servicekit.messagebus import Handler

from .. import SERVICE, metrics
from ..domain import onboarding as onboarding_rules
from ..domain.access import UserAccess, require_financing_privilege
from ..domain.errors import Refused
from ..domain.postings import check_accounts
from .batches import StreamBatch
from .publishing import publish_state

FinancingCommand = GiveFinancingConsent | WithdrawFinancingConsent | SetFinancingPostings


class CommandBatch(StreamBatch):
    """Answers every command, accepted (with the handler's details) or refused (with the reason).

    Everything here needs the privilege «invoice financing»: it is checked once per command, before its handler
    runs, and the acting user's access is left in `access` for the handler.
    """

    access: UserAccess
    """The acting user of the command being handled (who holds the privilege)."""

    async def dispatch(self, handler: Handler, message: Message) -> None:
        assert isinstance(message, FinancingCommand)  # the routing table answers every command of the topic
        try:
            authorise_user_command(self.caller(message), message)
        except NotAuthenticated as refusal:
            refuse_caller(self.uow, SERVICE, message, refusal)
            return
        try:
            self.access = require_financing_privilege(
                message.acting_user, await self.repo.user_access(message.client_id, message.acting_user)
            )
            details = await handler(self, message)
        except Refused as refusal:
            self.uow.after_commit(metrics.refusals.labels(refusal.code).inc)
            answer(self.uow, SERVICE, message, accepted=False, reason=refusal.reason, details=refusal.details)
        else:
            answer(self.uow, SERVICE, message, accepted=True, details=details)


async def give_consent(batch: CommandBatch, command: GiveFinancingConsent) -> dict[str, Any]:
    client_id = command.client_id
    stream = batch.streams[client_id]
    company = await batch.repo.company(client_id)
    if company is None:
        raise Refused(
            "unknown_client",
            f"client {client_id} is not known to the financing gateway yet (invoicing has not announced it); "
            "try again in a moment",
        )
    current = await batch.repo.onboarding(stream.onboarding_id) if stream.onboarding_id else None
    onboarding = onboarding_rules.start(command, current, uuid4())
    await batch.repo.save_onboarding(onboarding)
    stream.start(onboarding.onboarding_id)
    access = batch.access
    batch.uow.publish(
        topics.TOPIC_BUFFER_OUTBOUND,
        ConsentGiven(
            client_id=client_id,
            correlation_id=str(onboarding.onboarding_id),
            onboarding_id=onboarding.onboarding_id,
            company=BufferCompany(name=company.name, organisation_number=company.organisation_number),
            user=BufferUser(user_id=access.user_id, name=access.name, roles=list(access.roles)),
            consent=BufferConsent(
                text=onboarding.consent.text,
                text_version=onboarding.consent.text_version,
                given_at=onboarding.consent.given_at,
                context=onboarding.context,
            ),
        ),
        key=client_id,
    )
    # The provider's access starts with consent: everything open now, then each change as it happens.
    receivables, parts = await batch.writer.snapshot(stream)
    publish_state(batch.uow, onboarding, acting_user=command.acting_user)
    return {
        "onboarding_id": str(onboarding.onboarding_id),
        "state": onboarding.state.value,
        "receivables": receivables,
        "snapshot_parts": parts,
        "last_sequence": stream.last_sequence,
    }


async def withdraw_consent(batch: CommandBatch, command: WithdrawFinancingConsent) -> dict[str, Any]:
    stream = batch.streams[command.client_id]
    onboarding = await batch.repo.onboarding(stream.onboarding_id) if stream.onboarding_id else None
    if onboarding is None:
        raise Refused("not_active", f"there is no consent to withdraw: onboarding with {PROVIDER_NAME} never began")
    onboarding.withdraw(command.acting_user, command.occurred_at, command.reason)
    stream.stop()
    await batch.repo.save_onboarding(onboarding)
    batch.uow.publish(
        topics.TOPIC_BUFFER_OUTBOUND,
        ConsentWithdrawn(
            client_id=command.client_id,
            correlation_id=str(onboarding.onboarding_id),
            onboarding_id=onboarding.onboarding_id,
            withdrawn_by=command.acting_user,
            withdrawn_at=command.occurred_at,
            last_sequence=stream.last_sequence,
            reason=command.reason,
        ),
        key=command.client_id,
    )
    publish_state(batch.uow, onboarding, acting_user=command.acting_user, reason=command.reason)
    return {"onboarding_id": str(onboarding.onboarding_id), "last_sequence": stream.last_sequence}


async def set_postings(batch: CommandBatch, command: SetFinancingPostings) -> dict[str, Any]:
    accounts = None
    if command.enabled:
        assert command.bank_account is not None and command.liability_account is not None  # the contract says so
        chart = await batch.repo.chart(command.client_id)
        accounts = check_accounts(command.bank_account, command.liability_account, chart)
    await batch.repo.save_posting_settings(command.client_id, accounts, command.acting_user, command.occurred_at)
    batch.uow.publish(
        topics.TOPIC_FINANCING_EVENTS,
        FinancingPostingsChanged(
            client_id=command.client_id,
            correlation_id=command.correlation_id,
            acting_user=command.acting_user,
            enabled=command.enabled,
            bank_account=command.bank_account if accounts else None,
            liability_account=command.liability_account if accounts else None,
        ),
        key=command.client_id,
    )
    return {"enabled": accounts is not None}
