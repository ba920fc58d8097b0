"""What the gateway keeps of other services' events, and the receivables stream that follows the ledger.

From invoicing: each client's company data and each user's effective privileges (the newest announcement).
From the ledger: the chart (to check the posting accounts) and every customer open item, from the beginning of
the topic, so a snapshot can be built the moment a client consents; while a client's stream runs, each change
of an open item goes to the provider as it is applied, in the ledger's order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ledgerline_contracts.invoicing import ClientCreated, UserPrivilegesChanged
from ledgerline_contracts.ledger import AccountUpserted, OpenItemChanged, PartyUpserted
from servicekit.consumer import Delivery
from servicekit.db import UnitOfWork

from ..adapters.repository import Company, FinancingRepository
from ..domain.access import UserAccess
from ..domain.stream import OpenItem, classify
from .publishing import StreamWriter

INVOICING_CONSUMER = "financing-gateway.invoicing-events"
LEDGER_CONSUMER = "financing-gateway.ledger-events"

ItemKey = tuple[str, int, str]


class InvoicingEventHandlers:
    def __init__(self, uow: Callable[[], UnitOfWork]) -> None:
        self._uow = uow

    async def handle(self, deliveries: Sequence[Delivery]) -> None:
        # The topic carries every invoicing event; only these two matter here.
        wanted = [d.message for d in deliveries if isinstance(d.message, (ClientCreated, UserPrivilegesChanged))]
        if not wanted:
            return
        async with self._uow() as uow:
            repo = FinancingRepository(uow)
            for message in await uow.unseen(INVOICING_CONSUMER, wanted):
                if isinstance(message, ClientCreated):
                    await repo.save_company(
                        message.client_id, Company(message.company_name, message.organisation_number)
                    )
                else:
                    await repo.save_user_access(
                        message.client_id,
                        UserAccess(
                            message.user_id,
                            message.name,
                            tuple(message.roles),
                            frozenset(message.privileges),
                            message.sequence,
                        ),
                    )


class LedgerEventHandlers:
    def __init__(self, uow: Callable[[], UnitOfWork]) -> None:
        self._uow = uow

    async def handle(self, deliveries: Sequence[Delivery]) -> None:
        wanted = [
            d.message for d in deliveries if isinstance(d.message, (OpenItemChanged, AccountUpserted, PartyUpserted))
        ]
        if not wanted:
            return
        async with self._uow() as uow:
            todo = await uow.unseen(LEDGER_CONSUMER, wanted)
            repo = FinancingRepository(uow)
            await repo.save_accounts(
                [
                    (m.client_id, m.number, m.account_type.value, m.control_role.value if m.control_role else None)
                    for m in todo
                    if isinstance(m, AccountUpserted)
                ]
            )
            await repo.save_parties(
                [
                    (m.client_id, m.number, m.name, m.kind.value, m.control_account)
                    for m in todo
                    if isinstance(m, PartyUpserted)
                ]
            )
            await self._follow_open_items(uow, repo, [m for m in todo if isinstance(m, OpenItemChanged)])

    async def _follow_open_items(
        self, uow: UnitOfWork, repo: FinancingRepository, changes: list[OpenItemChanged]
    ) -> None:
        if not changes:
            return
        # Locked before the projection is read: a consent running at the same time either snapshots these
        # changes or sees its stream already running here, never neither.
        streams = await repo.lock_streams(m.client_id for m in changes)
        known = await repo.open_items_by_key((m.client_id, m.party, m.open_item) for m in changes)
        streaming = [m for m in changes if streams[m.client_id].streaming]
        names = await repo.party_names((m.client_id, m.party) for m in streaming)
        writer = StreamWriter(uow, repo)
        latest: dict[ItemKey, OpenItem] = {}
        for message in changes:
            key = (message.client_id, message.party, message.open_item)
            before = latest[key] if key in latest else known.get(key)
            if before is not None and before.balance_ore == 0:
                before = None  # settled items are forgotten: one that opens again is a new receivable
            after = OpenItem(
                message.party,
                message.open_item,
                message.account,
                message.original_ore,
                message.balance_ore,
                message.due_date,
            )
            latest[key] = after
            change = classify(before, after)
            stream = streams[message.client_id]
            if change is not None and stream.streaming:
                writer.change(
                    stream, before, after, change, message.cause, names.get((message.client_id, message.party))
                )
        await repo.save_open_items(latest)
        await repo.save_streams(streams.values())
