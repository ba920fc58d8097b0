"""The gateway's repository and the ledger's chart in memory, for the handlers' unit tests.

`InMemoryGatewayRepository` has the same methods and the same semantics as `GatewayRepository` (upserts, «do
nothing» on a conflict, reads ordered as the SQL orders them, an empty mapping read as none), over a
`GatewayStore` that outlives units of work as the tables do. Reads hand out copies, so a handler that changes a
case without saving it is caught by a test. Like a transaction, a repository works on its own copy of the tables
and writes it back only when its unit of work commits: a batch that fails leaves the store as it was.

`FakeLedger` answers the chart query with the accounts and parties a test gives it (or, while `away`, does not).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from uuid import UUID

from ledgerline_contracts.chart import ChartAccount
from ledgerline_contracts.factoring import AccountRef
from ledgerline_contracts.invoicing import FactoringActivationRequested
from ledgerline_contracts.ledger import PartyKind
from servicekit.unit_of_work import UnitOfWork

from ..domain.lifecycle import Case
from ..domain.mapping import KnownLedger
from ..domain.providers.base import ClientInfo
from .ledger_client import LedgerUnavailable
from .repository import CaseOfAnotherClient, Origin, Parked


@dataclass
class Integration:
    client: ClientInfo
    provider: str
    display_name: str
    active: bool


@dataclass(frozen=True)
class ParkedRow:
    id: int
    provider: str
    event_key: str
    client_id: str
    invoice_ids: tuple[UUID, ...]
    origin: Origin
    reason: str


@dataclass
class Tables:
    integrations: dict[tuple[str, str], Integration] = field(default_factory=dict)
    mappings: dict[tuple[str, str], dict[str, AccountRef]] = field(default_factory=dict)
    cases: dict[UUID, Case] = field(default_factory=dict)
    parked: dict[int, ParkedRow] = field(default_factory=dict)
    next_parked_id: int = 1
    deferred: dict[str, tuple[FactoringActivationRequested, str, int]] = field(default_factory=dict)
    """Activation requests waiting for the ledger, by client: the request, why, and how often it was tried."""


@dataclass
class GatewayStore:
    """The gateway's tables: integrations, account mappings, cases and parked events."""

    tables: Tables = field(default_factory=Tables)

    def repository(self, uow: UnitOfWork) -> InMemoryGatewayRepository:
        """The repository factory the service layer takes (`consumers(..., repository=store.repository)`)."""
        return InMemoryGatewayRepository(self, uow)

    # --- for tests to look at -------------------------------------------------------------------------------------
    def case(self, invoice_id: UUID) -> Case:
        return copy.deepcopy(self.tables.cases[invoice_id])

    def parked(self, provider: str | None = None) -> list[ParkedRow]:
        return [p for p in self.tables.parked.values() if provider is None or p.provider == provider]

    def active(self, client_id: str) -> list[str]:
        return [i.provider for (c, _), i in self.tables.integrations.items() if c == client_id and i.active]


class InMemoryGatewayRepository:
    def __init__(self, store: GatewayStore, uow: UnitOfWork) -> None:
        self._store = store
        self._tables = copy.deepcopy(store.tables)
        uow.after_commit(self._commit)

    def _commit(self) -> None:
        self._store.tables = self._tables

    # --- integrations and mappings --------------------------------------------------------------------------------
    async def mapping(self, client_id: str, provider: str) -> dict[str, AccountRef] | None:
        accounts = self._tables.mappings.get((client_id, provider))
        return dict(accounts) if accounts else None

    async def save_mapping(self, client_id: str, provider: str, accounts: dict[str, AccountRef]) -> None:
        self._tables.mappings[(client_id, provider)] = dict(accounts)

    async def active_integration(self, client_id: str) -> tuple[str, ClientInfo] | None:
        for (owner, provider), integration in self._tables.integrations.items():
            if owner == client_id and integration.active:
                return provider, integration.client
        return None

    async def set_integration(self, client: ClientInfo, provider: str, display_name: str, active: bool) -> None:
        self._tables.integrations[(client.client_id, provider)] = Integration(client, provider, display_name, active)

    # --- cases ----------------------------------------------------------------------------------------------------
    async def cases(self, invoice_ids: Iterable[UUID]) -> dict[UUID, Case]:
        return {i: self._tables.cases[i].copy() for i in sorted(set(invoice_ids)) if i in self._tables.cases}

    async def save_cases(self, cases: Iterable[Case], new: bool = False) -> None:
        cases = list(cases)
        if new:  # opened once; under another client's case the batch fails (and its copy of the tables is dropped)
            taken = [c.invoice_id for c in cases if self._owner(c.invoice_id) not in (None, c.client_id)]
            if taken:
                raise CaseOfAnotherClient(taken)
        for case in cases:
            stored = self._tables.cases.get(case.invoice_id)
            if stored is None:
                self._tables.cases[case.invoice_id] = case.copy()
            elif not new:  # the identifying columns stay; the facts, status and description are replaced
                self._tables.cases[case.invoice_id] = replace(
                    case.copy(),
                    client_id=stored.client_id,
                    provider=stored.provider,
                    invoice_number=stored.invoice_number,
                    customer_number=stored.customer_number,
                    gross_ore=stored.gross_ore,
                )

    def _owner(self, invoice_id: UUID) -> str | None:
        """Whose case the invoice has, in this copy or committed meanwhile (as the primary key sees it)."""
        case = self._tables.cases.get(invoice_id) or self._store.tables.cases.get(invoice_id)
        return case.client_id if case else None

    # --- parked events --------------------------------------------------------------------------------------------
    async def park(
        self, provider: str, key: str, client_id: str, invoice_ids: Iterable[UUID], origin: Origin, reason: str
    ) -> int | None:
        if any(p.provider == provider and p.event_key == key for p in self._tables.parked.values()):
            return None
        parked_id = self._tables.next_parked_id
        self._tables.next_parked_id += 1
        self._tables.parked[parked_id] = ParkedRow(
            parked_id, provider, key, client_id, tuple(sorted(set(invoice_ids))), origin, reason
        )
        return parked_id

    async def parked_for(self, provider: str, invoice_ids: Iterable[UUID]) -> list[Parked]:
        wanted = set(invoice_ids)
        return [
            Parked(p.id, p.event_key, frozenset(p.invoice_ids), p.origin)
            for p in sorted(self._tables.parked.values(), key=lambda p: p.id)
            if p.provider == provider and wanted.intersection(p.invoice_ids)
        ]

    async def unpark(self, parked_id: int) -> None:
        self._tables.parked.pop(parked_id, None)

    # --- activations waiting for the ledger -----------------------------------------------------------------------
    async def defer_activation(self, request: FactoringActivationRequested, reason: str) -> None:
        previous = self._tables.deferred.get(request.client_id)  # an update keeps its place, as deferred_at does
        attempts = previous[2] + 1 if previous is not None and previous[0] == request else 1
        self._tables.deferred[request.client_id] = (request, reason, attempts)

    async def deferred_activations(self, limit: int) -> list[FactoringActivationRequested]:
        return [request for request, _, _ in list(self._tables.deferred.values())[:limit]]

    async def forget_deferred_activation(self, client_id: str) -> None:
        self._tables.deferred.pop(client_id, None)


class FakeLedger:
    """The ledger's chart query: each client's accounts and sub-ledger parties (party → control account)."""

    def __init__(self) -> None:
        self.charts: dict[str, KnownLedger] = {}
        self.asked: list[str] = []
        self.away = False

    def add(
        self,
        client_id: str,
        *accounts: str | ChartAccount,
        parties: dict[int, str] | None = None,
        party_kinds: dict[int, PartyKind] | None = None,
    ) -> None:
        """Accounts by number alone (type unknown) or as the chart shows them."""
        known = self.charts.get(client_id, KnownLedger.of([]))
        added = {a.number: a for a in (ChartAccount(a) if isinstance(a, str) else a for a in accounts)}
        self.charts[client_id] = KnownLedger(
            {**known.accounts, **added},
            {**known.parties, **(parties or {})},
            {**known.party_kinds, **(party_kinds or {})},
        )

    async def chart(self, client_id: str) -> KnownLedger:
        self.asked.append(client_id)
        if self.away:
            raise LedgerUnavailable(f"the ledger's query /clients/{client_id}/chart failed: ConnectError()")
        return self.charts.get(client_id, KnownLedger.of([]))


class FakeDirectory:
    """Invoicing's answer about users: each client's users and their roles."""

    def __init__(self) -> None:
        self.users: dict[tuple[str, str], frozenset[str]] = {}

    def add(self, client_id: str, user_id: str, *roles: str) -> None:
        self.users[(client_id, user_id)] = frozenset(roles)

    async def roles(self, client_id: str, user_id: str) -> frozenset[str]:
        return self.users.get((client_id, user_id), frozenset())
