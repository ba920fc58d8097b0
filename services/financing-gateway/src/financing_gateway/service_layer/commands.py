"""The gateway's commands: consent (which starts onboarding and the stream), withdrawal, the posting option.

One batch, one transaction. Each command is answered exactly once with a CommandResult; a refusal changes
nothing and says why in words (a missing privilege is named). A command seen before is not handled again: its
answer was committed with its effect.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from uuid import uuid4

from ledgerline_contracts import topics
from ledgerline_contracts.financing import (
    PROVIDER_NAME,
    FinancingPostingsChanged,
    GiveFinancingConsent,
    SetFinancingPostings,
    WithdrawFinancingConsent,
)
from ledgerline_contracts.messages import Command
from ledgerline_contracts.providers.buffer import (
    BufferCompany,
    BufferConsent,
    BufferUser,
    ConsentGiven,
    ConsentWithdrawn,
)
from servicekit.commands import answer
from servicekit.consumer import Delivery
from servicekit.db import UnitOfWork

from .. import metrics
from ..adapters.repository import FinancingRepository
from ..domain import onboarding as onboarding_rules
from ..domain.access import UserAccess, require_financing_privilege
from ..domain.errors import Refused
from ..domain.postings import SERVICE, check_accounts
from ..domain.stream import ReceivableStream
from .publishing import StreamWriter, publish_state

CONSUMER = "financing-gateway"

FinancingCommand = GiveFinancingConsent | WithdrawFinancingConsent | SetFinancingPostings


class CommandHandlers:
    def __init__(self, uow: Callable[[], UnitOfWork]) -> None:
        self._uow = uow

    async def handle(self, deliveries: Sequence[Delivery]) -> None:
        commands = [d.message for d in deliveries if isinstance(d.message, Command)]
        async with self._uow() as uow:
            todo = await uow.unseen(CONSUMER, commands)
            repo = FinancingRepository(uow)
            streams = await repo.lock_streams(c.client_id for c in todo)
            writer = StreamWriter(uow, repo)
            for command in todo:
                try:
                    details = await self._apply(uow, repo, writer, streams[command.client_id], command)
                except Refused as refusal:
                    uow.after_commit(metrics.refusals.labels(refusal.code).inc)
                    answer(uow, SERVICE, command, accepted=False, reason=refusal.reason, details=refusal.details)
                else:
                    answer(uow, SERVICE, command, accepted=True, details=details)
            await repo.save_streams(streams.values())

    async def _apply(
        self,
        uow: UnitOfWork,
        repo: FinancingRepository,
        writer: StreamWriter,
        stream: ReceivableStream,
        command: Command,
    ) -> dict[str, Any]:
        if not isinstance(command, FinancingCommand):
            raise Refused("unsupported", f"the financing gateway does not handle {command.type}")
        # Everything here needs the privilege: checked once, before anything else.
        access = require_financing_privilege(
            command.acting_user, await repo.user_access(command.client_id, command.acting_user)
        )
        match command:
            case GiveFinancingConsent():
                return await self._consent(uow, repo, writer, stream, command, access)
            case WithdrawFinancingConsent():
                return await self._withdraw(uow, repo, stream, command)
            case SetFinancingPostings():
                return await self._postings(uow, repo, command)

    async def _consent(
        self,
        uow: UnitOfWork,
        repo: FinancingRepository,
        writer: StreamWriter,
        stream: ReceivableStream,
        command: GiveFinancingConsent,
        access: UserAccess,
    ) -> dict[str, Any]:
        client_id = command.client_id
        company = await repo.company(client_id)
        if company is None:
            raise Refused(
                "unknown_client",
                f"client {client_id} is not known to the financing gateway yet (invoicing has not announced it); "
                "try again in a moment",
            )
        current = await repo.onboarding(stream.onboarding_id) if stream.onboarding_id else None
        onboarding = onboarding_rules.start(command, current, uuid4())
        await repo.save_onboarding(onboarding)
        stream.start(onboarding.onboarding_id)
        uow.publish(
            topics.BUFFER_OUTBOUND,
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
        receivables, parts = await writer.snapshot(stream)
        publish_state(uow, onboarding, acting_user=command.acting_user)
        return {
            "onboarding_id": str(onboarding.onboarding_id),
            "state": onboarding.state.value,
            "receivables": receivables,
            "snapshot_parts": parts,
            "last_sequence": stream.last_sequence,
        }

    async def _withdraw(
        self, uow: UnitOfWork, repo: FinancingRepository, stream: ReceivableStream, command: WithdrawFinancingConsent
    ) -> dict[str, Any]:
        onboarding = await repo.onboarding(stream.onboarding_id) if stream.onboarding_id else None
        if onboarding is None:
            raise Refused("not_active", f"there is no consent to withdraw: onboarding with {PROVIDER_NAME} never began")
        onboarding.withdraw(command.acting_user, command.occurred_at, command.reason)
        stream.stop()
        await repo.save_onboarding(onboarding)
        uow.publish(
            topics.BUFFER_OUTBOUND,
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
        publish_state(uow, onboarding, acting_user=command.acting_user, reason=command.reason)
        return {"onboarding_id": str(onboarding.onboarding_id), "last_sequence": stream.last_sequence}

    async def _postings(
        self, uow: UnitOfWork, repo: FinancingRepository, command: SetFinancingPostings
    ) -> dict[str, Any]:
        accounts = None
        if command.enabled:
            assert command.bank_account is not None and command.liability_account is not None  # the contract says so
            chart = await repo.chart(command.client_id)
            accounts = check_accounts(command.bank_account, command.liability_account, chart)
        await repo.save_posting_settings(command.client_id, accounts, command.acting_user, command.occurred_at)
        uow.publish(
            topics.FINANCING_EVENTS,
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
