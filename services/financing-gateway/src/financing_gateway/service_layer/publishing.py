"""What the gateway sends, through the outbox: the numbered receivables stream and its own events."""

from __future__ import annotations

from uuid import uuid4

from ledgerline_contracts import topics
from ledgerline_contracts.financing import OnboardingStateChanged
from ledgerline_contracts.messages import utc_now
from ledgerline_contracts.providers.buffer import Receivable, ReceivableChange, ReceivableChanged, ReceivablesSnapshot
from servicekit.unit_of_work import UnitOfWork

from .. import metrics
from ..adapters.repository import FinancingRepository
from ..domain.onboarding import Onboarding
from ..domain.stream import OpenItem, ReceivableStream, snapshot_parts


def receivable(item: OpenItem, debtor_name: str | None) -> Receivable:
    return Receivable(
        invoice_reference=item.open_item,
        debtor_number=item.party,
        debtor_name=debtor_name,
        original_ore=item.original_ore,
        balance_ore=item.balance_ore,
        due_date=item.due_date,
    )


class StreamWriter:
    """Numbers and sends one unit of work's messages on the clients' receivables streams.

    The caller holds the client's stream row locked (`FinancingRepository.lock_streams`) and saves it afterwards,
    so numbers are taken one at a time per client and the messages reach the outbox in number order.
    """

    def __init__(self, uow: UnitOfWork, repo: FinancingRepository) -> None:
        self._uow = uow
        self._repo = repo

    async def snapshot(self, stream: ReceivableStream) -> tuple[int, int]:
        """Sends every open item of the client that no factoring provider holds as one snapshot, in as many parts
        as it takes.

        Returns how many receivables and how many parts were sent.
        """
        assert stream.onboarding_id is not None, "a snapshot belongs to an onboarding"
        items = await self._repo.pledgeable_open_items(stream.client_id)
        names = await self._repo.party_names((stream.client_id, i.party) for i in items)
        now = utc_now()
        snapshot_id = uuid4()
        parts = snapshot_parts(items)
        total_ore = sum(i.balance_ore for i in items)
        for number, part in enumerate(parts, start=1):
            self._send(
                stream,
                ReceivablesSnapshot(
                    client_id=stream.client_id,
                    correlation_id=str(stream.onboarding_id),
                    onboarding_id=stream.onboarding_id,
                    sequence=stream.take_sequence(now),
                    snapshot_id=snapshot_id,
                    part=number,
                    parts=len(parts),
                    as_of=now,
                    receivables=[receivable(i, names.get((stream.client_id, i.party))) for i in part],
                    total_count=len(items),
                    total_ore=total_ore,
                ),
            )
        stream.snapshots_sent += 1
        self._uow.after_commit(metrics.snapshots_sent.inc)
        self._uow.after_commit(lambda: metrics.snapshot_parts_sent.inc(len(parts)))
        return len(items), len(parts)

    def change(
        self,
        stream: ReceivableStream,
        before: OpenItem | None,
        after: OpenItem,
        change: ReceivableChange,
        cause: str,
        debtor_name: str | None,
    ) -> None:
        assert stream.onboarding_id is not None, "a change belongs to an onboarding"
        self._send(
            stream,
            ReceivableChanged(
                client_id=stream.client_id,
                correlation_id=str(stream.onboarding_id),
                onboarding_id=stream.onboarding_id,
                sequence=stream.take_sequence(utc_now()),
                change=change,
                receivable=receivable(after, debtor_name),
                previous_balance_ore=before.balance_ore if before else None,
                cause=cause,
            ),
        )
        stream.changes_sent += 1
        self._uow.after_commit(metrics.changes_sent.labels(change.value).inc)

    def _send(self, stream: ReceivableStream, message: ReceivablesSnapshot | ReceivableChanged) -> None:
        self._uow.publish(topics.TOPIC_BUFFER_OUTBOUND, message, key=stream.client_id)
        client_id, sequence = stream.client_id, message.sequence
        self._uow.after_commit(lambda: metrics.stream_sequence.labels(client_id).set(sequence))


def publish_state(
    uow: UnitOfWork, onboarding: Onboarding, acting_user: str | None = None, reason: str | None = None
) -> None:
    """Tells our own side (the dashboard, invoicing) where the onboarding stands now."""
    uow.publish(
        topics.TOPIC_FINANCING_EVENTS,
        OnboardingStateChanged(
            client_id=onboarding.client_id,
            correlation_id=str(onboarding.onboarding_id),
            onboarding_id=onboarding.onboarding_id,
            state=onboarding.state,
            context=onboarding.context,
            acting_user=acting_user,
            reason=reason,
        ),
        key=onboarding.client_id,
    )
    uow.after_commit(metrics.onboarding_transitions.labels(onboarding.state.value).inc)
