"""What the gateway keeps of other services' events, and the receivables stream that follows the ledger.

From invoicing: each client's company data and each user's effective privileges (the newest announcement).
From the ledger: the chart (to check the posting accounts) and every customer open item, from the beginning of
the topic, so a snapshot can be built the moment a client consents; while a client's stream runs, each change
of an open item goes to the provider as it is applied, in the ledger's order.
From invoicing and the factoring gateway: which open items a factoring provider holds (`domain.factored`). Those
are not the client's to pledge: the stream leaves them out, withdraws one the provider takes over and brings one
back when the provider lets it go.
"""

from __future__ import annotations

from uuid import UUID

from ledgerline_contracts.factoring import FactoringStatusChanged
from ledgerline_contracts.invoicing import ClientCreated, InvoiceDelivery, UserPrivilegesChanged
from ledgerline_contracts.ledger import AccountUpserted, OpenItemChanged, PartyUpserted
from ledgerline_contracts.providers.buffer import ReceivableChange
from servicekit.unit_of_work import UnitOfWork

from ..adapters.repository import Company
from ..domain.access import UserAccess
from ..domain.factored import FactoredInvoice, hold_change
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
    held = await repo.held_items((m.client_id, m.party, m.open_item) for m in streaming)  # kept, never told
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
        if change is not None and stream.streaming and key not in held:
            writer.change(stream, before, after, change, message.cause, names.get((message.client_id, message.party)))
    await repo.save_open_items(latest)
    await repo.save_streams(streams.values())


# --- invoices a factoring provider holds --------------------------------------------------------------------------
class HoldingBatch(FinancingBatch):
    """A batch of invoicing's or the factoring gateway's events: which invoice went to which provider, and where
    the provider's decision stands. Applied together when the handlers are done (`follow_holdings`)."""

    def __init__(self, uow: UnitOfWork, group: str, repository: RepositoryFactory) -> None:
        super().__init__(uow, group, repository)
        self.holdings: list[InvoiceDelivery | FactoringStatusChanged] = []

    async def finish(self) -> None:
        await follow_holdings(self, self.holdings)


async def invoice_delivered(batch: HoldingBatch, event: InvoiceDelivery) -> None:
    """Invoicing handed the invoice to its factoring provider: the provider holds its open item from now on."""
    batch.holdings.append(event)


async def factoring_status_changed(batch: HoldingBatch, event: FactoringStatusChanged) -> None:
    """The provider's decision: a rejection, a refused delivery or a return by recourse gives the item back."""
    batch.holdings.append(event)


async def follow_holdings(batch: FinancingBatch, events: list[InvoiceDelivery | FactoringStatusChanged]) -> None:
    """Applies the batch's deliveries and statuses in order; an open item whose holding changed while its client's
    stream runs goes to the provider: `factored` (drop it) or `opened` (at what is open now).

    One read and one write of the invoices for the whole batch; the holdings before and after are read only for
    clients whose stream runs."""
    if not events:
        return
    repo = batch.repo
    # Locked before anything is read, as in `follow_open_items`: a consent's snapshot and a ledger change of the
    # same client see the holding either before or after this, never half of it.
    streams = await repo.lock_streams(e.client_id for e in events)
    invoices = await repo.factored_invoices((e.client_id, e.invoice_id) for e in events)
    changed: dict[tuple[str, UUID], FactoredInvoice] = {}
    causes: dict[ItemKey, str] = {}
    for event in events:
        key = (event.client_id, event.invoice_id)
        invoice = invoices.get(key) or FactoredInvoice(event.invoice_id, event.provider)
        if isinstance(event, InvoiceDelivery):
            invoice.delivered(event.provider, event.customer_number, event.invoice_number)
            cause = f"invoice {event.invoice_number} delivered to {event.provider} for factoring"
        elif invoice.apply_status(event.status, event.sequence):
            cause = event.description
        else:
            continue  # an older status than the one known
        invoices[key] = changed[key] = invoice
        if (item := invoice.item) is not None:
            causes[(event.client_id, item[0], item[1])] = cause
    if not changed:
        return
    live = [key for key in causes if streams[key[0]].streaming]
    held_before = await repo.held_items(live)
    await repo.save_factored_invoices(changed)
    if not live:
        return
    held_now = await repo.held_items(live)
    moved = {key: change for key in live if (change := hold_change(key in held_before, key in held_now))}
    items = await repo.open_items_by_key(moved)  # one that is not open now is nothing to Buffer either way
    names = await repo.party_names((client, party) for client, party, _ in items)
    writer = StreamWriter(batch.uow, repo)
    for (client_id, party, number), change in moved.items():
        if (now := items.get((client_id, party, number))) is None:
            continue
        before = now if change is ReceivableChange.FACTORED else None  # what Buffer held, or nothing
        cause = causes[(client_id, party, number)]
        writer.change(streams[client_id], before, now, change, cause, names.get((client_id, party)))
    await repo.save_streams(streams.values())
