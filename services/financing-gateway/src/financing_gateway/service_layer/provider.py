"""Buffer's answers: onboarding steps and refusals, credit limits, resnapshot requests, drawdowns and repayments.

Buffer delivers at least once; an event is recognised by its message id, and a drawdown or repayment also by its
own id, so a repeat changes nothing and books nothing. Messages about an onboarding other than the client's
current one are stale and ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date

from ledgerline_contracts import financing, topics
from ledgerline_contracts.messages import ClientMessage
from ledgerline_contracts.providers import buffer
from servicekit.consumer import Delivery
from servicekit.db import UnitOfWork
from servicekit.logging import get_logger

from .. import metrics
from ..adapters.repository import FinancingRepository
from ..domain.limits import CreditFigures, Verdict, judge
from ..domain.postings import TransactionKind, idempotency_key, voucher_for
from ..domain.stream import ReceivableStream
from .publishing import StreamWriter, publish_state

CONSUMER = "financing-gateway.buffer"

log = get_logger(__name__)


class BufferEventHandlers:
    def __init__(self, uow: Callable[[], UnitOfWork]) -> None:
        self._uow = uow

    async def handle(self, deliveries: Sequence[Delivery]) -> None:
        messages = [d.message for d in deliveries if isinstance(d.message, ClientMessage)]
        async with self._uow() as uow:
            todo = await uow.unseen(CONSUMER, messages)
            repo = FinancingRepository(uow)
            streams = await repo.lock_streams(m.client_id for m in todo)
            writer = StreamWriter(uow, repo)
            for message in todo:
                stream = streams[message.client_id]
                match message:
                    case buffer.OnboardingProgressed() | buffer.OnboardingRefused():
                        await self._onboarding(uow, repo, stream, message)
                    case buffer.CreditLimitChanged():
                        await self._credit_limit(uow, repo, message)
                    case buffer.ResnapshotRequested():
                        await self._resnapshot(writer, stream, message)
                    case buffer.DrawdownMade():
                        await self._transaction(
                            uow, repo, message, "drawdown", message.drawdown_id, message.paid_out_on
                        )
                    case buffer.RepaymentMade():
                        await self._transaction(
                            uow, repo, message, "repayment", message.repayment_id, message.repaid_on
                        )
            await repo.save_streams(streams.values())

    async def _onboarding(
        self,
        uow: UnitOfWork,
        repo: FinancingRepository,
        stream: ReceivableStream,
        message: buffer.OnboardingProgressed | buffer.OnboardingRefused,
    ) -> None:
        onboarding = (
            await repo.onboarding(message.onboarding_id) if message.onboarding_id == stream.onboarding_id else None
        )
        if onboarding is None:
            log.info("ignoring a message about an onboarding that is not the current one", type=message.type)
            return
        if isinstance(message, buffer.OnboardingProgressed):
            moved, reason = onboarding.progress(message.step), message.description
        else:
            moved, reason = onboarding.refuse(message.code.value, message.reason), message.reason
            if moved:
                stream.stop()  # a refused onboarding gives the provider no further access
        if moved:
            await repo.save_onboarding(onboarding)
            publish_state(uow, onboarding, reason=reason)

    async def _credit_limit(
        self, uow: UnitOfWork, repo: FinancingRepository, message: buffer.CreditLimitChanged
    ) -> None:
        # Limits keep coming after a withdrawal (the account and its debt outlive the data access), so any of
        # the client's onboardings may report them; staleness is judged by the stream position they are based on.
        onboarding = await repo.onboarding(message.onboarding_id)
        if onboarding is None or onboarding.client_id != message.client_id:
            log.warning("ignoring a credit limit for an unknown onboarding", onboarding_id=str(message.onboarding_id))
            return
        figures = CreditFigures(
            message.onboarding_id,
            message.limit_ore,
            message.used_ore,
            message.available_ore,
            message.based_on_sequence,
            message.calculated_at,
        )
        verdict = judge(figures, await repo.latest_credit(message.client_id))
        if verdict is Verdict.CONFIRMS:
            await repo.confirm_credit(message.client_id, figures)
        if verdict is not Verdict.CHANGE:
            return
        await repo.add_credit(message.client_id, figures)
        uow.publish(
            topics.FINANCING_EVENTS,
            financing.CreditLimitChanged(
                client_id=message.client_id,
                correlation_id=str(message.onboarding_id),
                limit_ore=figures.limit_ore,
                used_ore=figures.used_ore,
                available_ore=figures.available_ore,
                based_on_sequence=figures.based_on_sequence,
                calculated_at=figures.calculated_at,
            ),
            key=message.client_id,
        )

    async def _resnapshot(
        self, writer: StreamWriter, stream: ReceivableStream, message: buffer.ResnapshotRequested
    ) -> None:
        if not stream.streaming or message.onboarding_id != stream.onboarding_id:
            log.info("ignoring a resnapshot request: no stream runs for that onboarding", client_id=stream.client_id)
            return
        log.info(
            "provider asked for a resnapshot",
            client_id=stream.client_id,
            expected=message.expected_sequence,
            received=message.received_sequence,
        )
        await writer.snapshot(stream)

    async def _transaction(
        self,
        uow: UnitOfWork,
        repo: FinancingRepository,
        message: buffer.DrawdownMade | buffer.RepaymentMade,
        kind: TransactionKind,
        transaction_id: str,
        on: date,
    ) -> None:
        client_id = message.client_id
        settings = await repo.posting_settings(client_id)
        key = idempotency_key(kind, transaction_id) if settings.accounts else None
        if not await repo.record_transaction(client_id, kind, transaction_id, message.amount_ore, on, key):
            return  # Buffer sent it again under a new message id: seen, booked (or not) the first time
        if settings.accounts is not None:
            uow.publish(
                topics.LEDGER_COMMANDS,
                voucher_for(client_id, kind, transaction_id, message.amount_ore, on, settings.accounts),
                key=client_id,
            )
        uow.publish(
            topics.FINANCING_EVENTS,
            financing.FinancingTransactionRecorded(
                client_id=client_id,
                kind=kind,
                provider_transaction_id=transaction_id,
                amount_ore=message.amount_ore,
                booked=key is not None,
                idempotency_key=key,
            ),
            key=client_id,
        )
        posting = "booked" if key else "manual"
        uow.after_commit(metrics.transactions.labels(kind, posting).inc)
