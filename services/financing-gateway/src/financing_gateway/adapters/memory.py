"""The gateway's repository in memory, for the handlers' unit tests: the same methods and the same semantics as
`FinancingRepository`, over a `FinancingStore` that outlives units of work as the tables do.

Reads hand out copies of what can change (streams, onboardings), so a handler that changes one without saving
it is caught by a test, as with PostgreSQL. Unlike a transaction, a failed batch is not rolled back here: the
unit tests look at batches that succeed. Row locks are not needed: one test runs one batch at a time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from uuid import UUID

from ledgerline_contracts.ledger import AccountType, PartyKind

from ..domain.access import UserAccess
from ..domain.factored import FactoredInvoice
from ..domain.limits import CreditFigures
from ..domain.onboarding import Onboarding
from ..domain.postings import KnownAccount, KnownChart, KnownParty, PostingAccounts
from ..domain.stream import OpenItem, ReceivableStream
from .repository import Company, PostingSettings


@dataclass(frozen=True, slots=True)
class StoredAccount:
    account_type: str
    control_role: str | None


@dataclass(frozen=True, slots=True)
class StoredParty:
    name: str
    kind: str
    control_account: str


@dataclass(frozen=True, slots=True)
class StoredPostingSettings:
    enabled: bool
    accounts: PostingAccounts | None
    changed_by: str
    changed_at: datetime


@dataclass(frozen=True, slots=True)
class StoredTransaction:
    amount_ore: int
    transaction_date: date
    idempotency_key: str | None


@dataclass
class FinancingStore:
    """The gateway's tables, one dict (or list) each, keyed by their primary keys."""

    streams: dict[str, ReceivableStream] = field(default_factory=dict)
    companies: dict[str, Company] = field(default_factory=dict)
    users: dict[tuple[str, str], UserAccess] = field(default_factory=dict)
    accounts: dict[tuple[str, str], StoredAccount] = field(default_factory=dict)
    parties: dict[tuple[str, int], StoredParty] = field(default_factory=dict)
    open_items: dict[tuple[str, int, str], OpenItem] = field(default_factory=dict)
    """Only open items: a settled one is removed, as the table's check constraint demands."""
    factored_invoices: dict[tuple[str, UUID], FactoredInvoice] = field(default_factory=dict)
    """By (client, invoice id)."""
    onboardings: dict[UUID, Onboarding] = field(default_factory=dict)
    credit_limits: list[tuple[str, CreditFigures]] = field(default_factory=list)
    """(client, figures) in the order they were added (the table's identity column)."""
    posting_settings: dict[str, StoredPostingSettings] = field(default_factory=dict)
    transactions: dict[tuple[str, str, str], StoredTransaction] = field(default_factory=dict)
    """By (client, kind, transaction id)."""

    def repository(self, uow: Any = None) -> InMemoryFinancingRepository:
        """The repository factory the service layer takes (`consumers(repository=store.repository)`)."""
        return InMemoryFinancingRepository(self)


class InMemoryFinancingRepository:
    def __init__(self, store: FinancingStore) -> None:
        self._store = store

    # --- the per-client stream, which is also the per-client lock -------------------------------------------------
    async def lock_streams(self, client_ids: Iterable[str]) -> dict[str, ReceivableStream]:
        """The clients' streams (created when missing), as copies to be saved with `save_streams`."""
        streams = self._store.streams
        result = {}
        for client_id in sorted(set(client_ids)):
            stored = streams.setdefault(client_id, ReceivableStream(client_id))
            result[client_id] = dataclasses.replace(stored)
        return result

    async def save_streams(self, streams: Iterable[ReceivableStream]) -> None:
        for stream in streams:
            if stream.client_id in self._store.streams:  # an UPDATE: only rows that exist
                self._store.streams[stream.client_id] = dataclasses.replace(stream)

    # --- what invoicing told us -----------------------------------------------------------------------------------
    async def save_company(self, client_id: str, company: Company) -> None:
        self._store.companies[client_id] = company

    async def company(self, client_id: str) -> Company | None:
        return self._store.companies.get(client_id)

    async def user_access(self, client_id: str, user_id: str) -> UserAccess | None:
        return self._store.users.get((client_id, user_id))

    async def save_user_access(self, client_id: str, access: UserAccess) -> None:
        """Stores the announcement unless a newer one (or the same) is already there."""
        key = (client_id, access.user_id)
        current = self._store.users.get(key)
        if current is None or current.sequence < access.sequence:
            self._store.users[key] = access

    # --- what the ledger told us ----------------------------------------------------------------------------------
    async def save_accounts(self, rows: Sequence[tuple[str, str, str, str | None]]) -> None:
        """(client, number, account type, control role) rows."""
        for client_id, number, account_type, control_role in rows:
            self._store.accounts[(client_id, number)] = StoredAccount(account_type, control_role)

    async def save_parties(self, rows: Sequence[tuple[str, int, str, str, str]]) -> None:
        """(client, number, name, kind, control account) rows."""
        for client_id, number, name, kind, control_account in rows:
            self._store.parties[(client_id, number)] = StoredParty(name, kind, control_account)

    async def chart(self, client_id: str) -> KnownChart:
        return KnownChart(
            accounts={
                number: KnownAccount(AccountType(a.account_type), a.control_role is not None)
                for (owner, number), a in self._store.accounts.items()
                if owner == client_id
            },
            parties={
                number: KnownParty(PartyKind(p.kind), p.control_account)
                for (owner, number), p in self._store.parties.items()
                if owner == client_id
            },
        )

    async def party_names(self, keys: Iterable[tuple[str, int]]) -> dict[tuple[str, int], str]:
        parties = self._store.parties
        return {key: parties[key].name for key in sorted(set(keys)) if key in parties}

    async def pledgeable_open_items(self, client_id: str) -> list[OpenItem]:
        """The client's open items that no factoring provider holds: what Buffer may have."""
        found = sorted((party, item) for (owner, party, item) in self._store.open_items if owner == client_id)
        held = await self.held_items((client_id, party, item) for party, item in found)
        return [self._store.open_items[(client_id, p, i)] for p, i in found if (client_id, p, i) not in held]

    async def open_items_by_key(self, keys: Iterable[tuple[str, int, str]]) -> dict[tuple[str, int, str], OpenItem]:
        items = self._store.open_items
        return {key: items[key] for key in sorted(set(keys)) if key in items}

    async def save_open_items(self, items: dict[tuple[str, int, str], OpenItem]) -> None:
        """Writes each item's latest state: open ones are upserted, settled ones (balance 0) removed."""
        for key, item in items.items():
            if item.balance_ore != 0:
                self._store.open_items[key] = item
            else:
                self._store.open_items.pop(key, None)

    # --- invoices a factoring provider holds -----------------------------------------------------------------------
    async def factored_invoices(self, keys: Iterable[tuple[str, UUID]]) -> dict[tuple[str, UUID], FactoredInvoice]:
        """The invoices known by (client, invoice id) among `keys`, as copies to be saved."""
        stored = self._store.factored_invoices
        return {key: dataclasses.replace(stored[key]) for key in sorted(set(keys)) if key in stored}

    async def save_factored_invoices(self, invoices: Mapping[tuple[str, UUID], FactoredInvoice]) -> None:
        """Writes each invoice's latest state, with whether it holds its open item now."""
        for key, invoice in invoices.items():
            self._store.factored_invoices[key] = dataclasses.replace(invoice)

    async def held_items(self, keys: Iterable[tuple[str, int, str]]) -> set[tuple[str, int, str]]:
        """Which of these open items (client, party, invoice number) a factoring provider holds."""
        held: set[tuple[str, int, str]] = set()
        for (client, _), invoice in self._store.factored_invoices.items():
            if invoice.held and (item := invoice.item) is not None:
                held.add((client, item[0], item[1]))
        return set(keys) & held

    # --- onboardings ----------------------------------------------------------------------------------------------
    async def onboarding(self, onboarding_id: UUID) -> Onboarding | None:
        stored = self._store.onboardings.get(onboarding_id)
        return dataclasses.replace(stored) if stored else None

    async def save_onboarding(self, onboarding: Onboarding) -> None:
        """Inserts a new onboarding; of an existing one only its state, refusal and withdrawal change."""
        stored = self._store.onboardings.get(onboarding.onboarding_id)
        if stored is None:
            self._store.onboardings[onboarding.onboarding_id] = dataclasses.replace(onboarding)
            return
        self._store.onboardings[onboarding.onboarding_id] = dataclasses.replace(
            stored,
            state=onboarding.state,
            refusal_code=onboarding.refusal_code,
            refusal_reason=onboarding.refusal_reason,
            withdrawn_by=onboarding.withdrawn_by,
            withdrawn_at=onboarding.withdrawn_at,
            withdrawal_reason=onboarding.withdrawal_reason,
        )

    # --- credit limits --------------------------------------------------------------------------------------------
    async def latest_credit(self, client_id: str) -> CreditFigures | None:
        return next((f for owner, f in reversed(self._store.credit_limits) if owner == client_id), None)

    async def add_credit(self, client_id: str, figures: CreditFigures) -> None:
        self._store.credit_limits.append((client_id, figures))

    async def confirm_credit(self, client_id: str, figures: CreditFigures) -> None:
        """The shown figures still hold at a newer position: move the latest row's basis forward."""
        rows = self._store.credit_limits
        for index in range(len(rows) - 1, -1, -1):
            owner, latest = rows[index]
            if owner == client_id:
                rows[index] = (
                    owner,
                    dataclasses.replace(
                        latest, based_on_sequence=figures.based_on_sequence, calculated_at=figures.calculated_at
                    ),
                )
                return

    # --- postings -------------------------------------------------------------------------------------------------
    async def posting_settings(self, client_id: str) -> PostingSettings:
        stored = self._store.posting_settings.get(client_id)
        if stored is None or not stored.enabled:
            return PostingSettings(False, None)
        return PostingSettings(True, stored.accounts)

    async def save_posting_settings(
        self, client_id: str, accounts: PostingAccounts | None, changed_by: str, changed_at: datetime
    ) -> None:
        """Enabled with `accounts`, disabled without them."""
        self._store.posting_settings[client_id] = StoredPostingSettings(
            accounts is not None, accounts, changed_by, changed_at
        )

    async def record_transaction(
        self, client_id: str, kind: str, transaction_id: str, amount_ore: int, on: date, key: str | None
    ) -> bool:
        """True the first time this transaction is seen; False for a repeat (which must change nothing)."""
        row = (client_id, kind, transaction_id)
        if row in self._store.transactions:
            return False
        self._store.transactions[row] = StoredTransaction(amount_ore, on, key)
        return True
