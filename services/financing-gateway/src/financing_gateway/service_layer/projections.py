"""What the gateway keeps of other services' events, and the receivables stream that follows the ledger.

From invoicing: each client's company data and each user's effective privileges (the newest announcement).
From the ledger: the chart (to check the posting accounts) and every customer open item, from the beginning of
the topic, so a snapshot can be built the moment a client consents; while a client's stream runs, each change
of an open item goes to the provider as it is applied, in the ledger's order.
"""

from __future__ import annotations

from ledgerline_contracts.invoicing import ClientCreated, UserPrivilegesChanged
from ledgerline_contracts.ledger import AccountUpserted, OpenItemChanged, PartyUpserted
from servicekit.unit_of_work import UnitOfWork

from ..adapters.repository import Company
from ..domain.access import UserAccess
from ..domain.stream import OpenItem, classify
from .batches import FinancingBatch, RepositoryFactory
from .publishing import StreamWriter

ItemKey = tuple[str, int, str]


# --- from invoicing -----------------------------------------------------------------------------------------------
async def client_created(batch: FinancingBatch, event: ClientCreated) -> None:
    await batch.repo.save_company(event.client_id, Company(event.company_name, event.organisation_number))


async def user_privileges_changed(batch: FinancingBatch, event: UserPrivilegesChanged) -> None:
    await batch.repo.save_user_access(
        event.client_id,
        UserAccess(event.user_id, event.name, tuple(event.roles), frozenset(event.privileges), event.sequence),
    )


# --- from the ledger ----------------------------------------------------------------------------------------------
class LedgerEventBatch(FinancingBatch):
    """The chart and the open items of one batch, written together when its handlers are done: first the
    accounts and parties, then the open items, so a change of an open item names a debtor announced in the same
    batch."""

    def __init__(self, uow: UnitOfWork, group: str, repository: RepositoryFactory) -> None:
        super().__init__(uow, group, repository)
        self.accounts: list[tuple[str, str, str, str | None]] = []
        self.parties: list[tuple[str, int, str, str, str]] = []
        self.open_item_changes: list[OpenItemChanged] = []

    async def finish(self) -> None:
        await self.repo.save_accounts(self.accounts)
        await self.repo.save_parties(self.parties)
        await follow_open_items(self, self.open_item_changes)


async def account_upserted(batch: LedgerEventBatch, event: AccountUpserted) -> None:
    control_role = event.control_role.value if event.control_role else None
    batch.accounts.append((event.client_id, event.number, event.account_type.value, control_role))


async def party_upserted(batch: LedgerEventBatch, event: PartyUpserted) -> None:
    batch.parties.append((event.client_id, event.number, event.name, event.kind.value, event.control_account))


async def open_item_changed(batch: LedgerEventBatch, event: OpenItemChanged) -> None:
    """Kept, and told to the provider while the client's stream runs, by `follow_open_items` at the batch's end."""
    batch.open_item_changes.append(event)


async def follow_open_items(batch: FinancingBatch, changes: list[OpenItemChanged]) -> None:
    """Applies the batch's open-item changes in the ledger's order; each one that changes what the provider reads
    goes out on the client's stream if it runs."""
    if not changes:
        return
    repo = batch.repo
    # Locked before the projection is read: a consent running at the same time either snapshots these
    # changes or sees its stream already running here, never neither.
    streams = await repo.lock_streams(m.client_id for m in changes)
    known = await repo.open_items_by_key((m.client_id, m.party, m.open_item) for m in changes)
    streaming = [m for m in changes if streams[m.client_id].streaming]
    names = await repo.party_names((m.client_id, m.party) for m in streaming)
    writer = StreamWriter(batch.uow, repo)
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
            writer.change(stream, before, after, change, message.cause, names.get((message.client_id, message.party)))
    await repo.save_open_items(latest)
    await repo.save_streams(streams.values())
