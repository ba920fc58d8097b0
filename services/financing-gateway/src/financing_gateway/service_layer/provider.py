"""Buffer's answers: onboarding steps and refusals, credit limits, resnapshot requests, drawdowns and repayments.

Buffer delivers at least once; an event is recognised by its message id, and a drawdown or repayment also by its
own id, so a repeat changes nothing and books nothing. Messages about an onboarding other than the client's
current one are stale and ignored. Each batch holds its clients' streams locked (`batches.StreamBatch`).
"""

from __future__ import annotations

from datetime import date

from ledgerline_contracts import financing, topics
from ledgerline_contracts.providers import buffer
from servicekit.logging import get_logger

from .. import metrics
from ..domain.limits import CreditFigures, Verdict, judge
from ..domain.onboarding import Onboarding
from ..domain.postings import TransactionKind, idempotency_key, voucher_for
from .batches import StreamBatch
from .publishing import publish_state

log = get_logger(__name__)


# --- onboarding ---------------------------------------------------------------------------------------------------
async def onboarding_progressed(batch: StreamBatch, message: buffer.OnboardingProgressed) -> None:
    onboarding = await _current_onboarding(batch, message)
    if onboarding is not None and onboarding.progress(message.step):
        await batch.repo.save_onboarding(onboarding)
        publish_state(batch.uow, onboarding, reason=message.description)


async def onboarding_refused(batch: StreamBatch, message: buffer.OnboardingRefused) -> None:
    onboarding = await _current_onboarding(batch, message)
    if onboarding is not None and onboarding.refuse(message.code.value, message.reason):
        batch.streams[message.client_id].stop()  # a refused onboarding gives the provider no further access
        await batch.repo.save_onboarding(onboarding)
        publish_state(batch.uow, onboarding, reason=message.reason)


async def _current_onboarding(
    batch: StreamBatch, message: buffer.OnboardingProgressed | buffer.OnboardingRefused
) -> Onboarding | None:
    """The onboarding the message is about if it is the client's current one; None (and a log line) if not."""
    stream = batch.streams[message.client_id]
    onboarding = (
        await batch.repo.onboarding(message.onboarding_id) if message.onboarding_id == stream.onboarding_id else None
    )
    if onboarding is None:
        log.info("ignoring a message about an onboarding that is not the current one", type=message.type)
    return onboarding


# --- the credit limit and the stream ------------------------------------------------------------------------------
async def credit_limit_changed(batch: StreamBatch, message: buffer.CreditLimitChanged) -> None:
    # Limits keep coming after a withdrawal (the account and its debt outlive the data access), so any of
    # the client's onboardings may report them; staleness is judged by the stream position they are based on.
    repo = batch.repo
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
    batch.uow.publish(
        topics.TOPIC_FINANCING_EVENTS,
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


async def resnapshot_requested(batch: StreamBatch, message: buffer.ResnapshotRequested) -> None:
    stream = batch.streams[message.client_id]
    if not stream.streaming or message.onboarding_id != stream.onboarding_id:
        log.info("ignoring a resnapshot request: no stream runs for that onboarding", client_id=stream.client_id)
        return
    log.info(
        "provider asked for a resnapshot",
        client_id=stream.client_id,
        expected=message.expected_sequence,
        received=message.received_sequence,
    )
    await batch.writer.snapshot(stream)


# --- money moved on the provider account ---------------------------------------------------------------------------
async def drawdown_made(batch: StreamBatch, message: buffer.DrawdownMade) -> None:
    await _transaction(batch, message, "drawdown", message.drawdown_id, message.paid_out_on)


async def repayment_made(batch: StreamBatch, message: buffer.RepaymentMade) -> None:
    await _transaction(batch, message, "repayment", message.repayment_id, message.repaid_on)


async def _transaction(
    batch: StreamBatch,
    message: buffer.DrawdownMade | buffer.RepaymentMade,
    kind: TransactionKind,
    transaction_id: str,
    on: date,
) -> None:
    """Recorded once; booked on the ledger (exactly once, by its idempotency key) if the client turned automatic
    postings on, else left manual."""
    client_id, uow = message.client_id, batch.uow
    settings = await batch.repo.posting_settings(client_id)
    key = idempotency_key(kind, transaction_id) if settings.accounts else None
    if not await batch.repo.record_transaction(client_id, kind, transaction_id, message.amount_ore, on, key):
        return  # Buffer sent it again under a new message id: seen, booked (or not) the first time
    if settings.accounts is not None:
        uow.publish(
            topics.TOPIC_LEDGER_COMMANDS,
            voucher_for(client_id, kind, transaction_id, message.amount_ore, on, settings.accounts),
            key=client_id,
        )
    uow.publish(
        topics.TOPIC_FINANCING_EVENTS,
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
