"""What the handlers of one batch share: the repository, and the receivables streams of the batch's clients.

A batch is one unit of work (`servicekit.messagebus`). Each consumer of the gateway has its kind of batch,
declared with the handlers it runs: `commands.CommandBatch`, `projections.LedgerEventBatch`, and the two below.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ledgerline_contracts.messages import ClientMessage, Message
from servicekit.messagebus import Batch
from servicekit.unit_of_work import UnitOfWork

from ..adapters.repository import FinancingRepository
from ..domain.stream import ReceivableStream
from .publishing import StreamWriter

RepositoryFactory = Callable[[Any], FinancingRepository]
"""Builds the repository a batch works through, from its unit of work: the PostgreSQL one, or
`adapters.memory.FinancingStore.repository` in unit tests."""


class FinancingBatch(Batch):
    """A batch whose handlers read and write through the gateway's repository."""

    def __init__(self, uow: UnitOfWork, group: str, repository: RepositoryFactory) -> None:
        super().__init__(uow, group)
        self.repo = repository(uow)


class StreamBatch(FinancingBatch):
    """A batch whose handlers may move clients' receivables streams (commands and Buffer's messages).

    Before any handler runs, the stream row of every client the batch's messages are about is locked
    (`FinancingRepository.lock_streams`): sequence numbers are then taken one at a time per client and reach the
    outbox in order, and a consent and the ledger's changes never miss each other. The streams are saved when
    the handlers are done.
    """

    def __init__(self, uow: UnitOfWork, group: str, repository: RepositoryFactory) -> None:
        super().__init__(uow, group, repository)
        self.streams: dict[str, ReceivableStream] = {}
        self.writer = StreamWriter(uow, self.repo)

    async def prepare(self, messages: Sequence[Message]) -> None:
        self.streams = await self.repo.lock_streams(m.client_id for m in messages if isinstance(m, ClientMessage))

    async def finish(self) -> None:
        await self.repo.save_streams(self.streams.values())
