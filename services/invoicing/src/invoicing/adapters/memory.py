"""Invoicing's repository in memory, for the handlers' unit tests: the same methods and the same semantics as
`InvoicingRepository`, over an `InvoicingStore` that outlives units of work as the tables do.

Reads hand out copies and clients and invoices are written back by `flush()`, as with PostgreSQL, so a handler
that changes an aggregate without saving it is caught by a test. Unlike a transaction, a failed batch is not
rolled back here: the unit tests look at batches that succeed.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from uuid import UUID

from ..domain.model import Client, CustomerCard, Invoice
from .ledger_chart import LedgerUnavailable
from .repository import InvoiceIdTaken


@dataclass
class InvoicingStore:
    clients: dict[str, Client] = field(default_factory=dict)
    cards: dict[tuple[str, int], CustomerCard] = field(default_factory=dict)
    invoices: dict[UUID, tuple[str, Invoice]] = field(default_factory=dict)
    status_history: list[tuple[str, UUID, int, str, str, str | None, bool]] = field(default_factory=list)
    booking_problems: dict[tuple[str, str], tuple[UUID, str | None, str, str]] = field(default_factory=dict)
    """(client, idempotency key) → (invoice, event type, code, reason): the ledger's keys are per client."""

    def repository(self, uow: Any = None) -> InMemoryInvoicingRepository:
        """The repository factory the service layer takes (`consumers(repository=store.repository)`)."""
        return InMemoryInvoicingRepository(self)


class InMemoryInvoicingRepository:
    def __init__(self, store: InvoicingStore) -> None:
        self._store = store
        self._clients: dict[str, Client] = {}
        self._invoices: dict[UUID, tuple[str, Invoice] | None] = {}
        self._dirty_clients: set[str] = set()
        self._dirty_invoices: set[UUID] = set()

    async def flush(self) -> None:
        dirty = [found for i in self._dirty_invoices if (found := self._invoices[i]) is not None]
        # As the upsert's WHERE: another client's invoice is never overwritten, and the batch fails (before it has
        # written anything, as a rollback would leave it).
        taken = {i.invoice_id for c, i in dirty if (had := self._store.invoices.get(i.invoice_id)) and had[0] != c}
        if taken:
            raise InvoiceIdTaken(taken)
        for client_id in self._dirty_clients:
            self._store.clients[client_id] = copy.deepcopy(self._clients[client_id])
        for client_id, invoice in dirty:
            self._store.invoices[invoice.invoice_id] = copy.deepcopy((client_id, invoice))
        self._dirty_clients.clear()
        self._dirty_invoices.clear()

    # --- clients --------------------------------------------------------------------------------------------------
    async def client(self, client_id: str) -> Client | None:
        if client_id not in self._clients:
            stored = self._store.clients.get(client_id)
            if stored is None:
                return None
            self._clients[client_id] = copy.deepcopy(stored)
        return self._clients[client_id]

    async def save_client(self, client: Client) -> None:
        self._clients[client.client_id] = client
        self._dirty_clients.add(client.client_id)

    # --- customer cards -------------------------------------------------------------------------------------------
    async def card(self, client_id: str, number: int) -> CustomerCard | None:
        return copy.deepcopy(self._store.cards.get((client_id, number)))

    async def load_cards(self, keys: Iterable[tuple[str, int]]) -> None:
        return None

    async def cards(self, client_id: str) -> list[CustomerCard]:
        found = sorted((number, card) for (owner, number), card in self._store.cards.items() if owner == client_id)
        return [copy.deepcopy(card) for _, card in found]

    async def save_cards(self, client_id: str, cards: list[CustomerCard]) -> None:
        for card in cards:
            self._store.cards[(client_id, card.number)] = copy.deepcopy(card)

    # --- invoices -------------------------------------------------------------------------------------------------
    async def invoice(self, client_id: str, invoice_id: UUID) -> Invoice | None:
        if invoice_id not in self._invoices:
            await self.load_invoices([invoice_id])
        found = self._invoices.get(invoice_id)
        return found[1] if found and found[0] == client_id else None

    async def owner(self, invoice_id: UUID) -> str | None:
        if invoice_id not in self._invoices:
            await self.load_invoices([invoice_id])
        found = self._invoices.get(invoice_id)
        return found[0] if found else None

    async def load_invoices(self, invoice_ids: Iterable[UUID]) -> None:
        for invoice_id in set(invoice_ids) - self._invoices.keys():
            self._invoices[invoice_id] = copy.deepcopy(self._store.invoices.get(invoice_id))

    async def save_invoice(self, client_id: str, invoice: Invoice) -> None:
        self._invoices[invoice.invoice_id] = (client_id, invoice)
        self._dirty_invoices.add(invoice.invoice_id)

    async def record_closed_periods(self, periods: Iterable[tuple[str, date]]) -> None:
        for client_id, through in periods:
            client = self._store.clients.get(client_id)
            if client is not None and (client.closed_through is None or client.closed_through < through):
                client.closed_through = through

    async def reopen_period(self, client_id: str, closed_through: date | None) -> None:
        client = self._store.clients.get(client_id)
        if client is not None:
            client.closed_through = closed_through

    async def record_settlements(self, open_items: Iterable[tuple[str, str, int, int]]) -> None:
        for client_id, number, customer, balance in open_items:
            for owner, invoice in self._store.invoices.values():
                if owner == client_id and invoice.number == number and invoice.customer_number == customer:
                    invoice.paid_ore = max(invoice.gross_ore - invoice.credited_ore - balance, 0)

    async def record_booking_problems(self, problems: Iterable[tuple[str, str, UUID, str | None, str, str]]) -> None:
        for key, client_id, *problem in problems:
            self._store.booking_problems.setdefault((client_id, key), tuple(problem))  # type: ignore[arg-type]

    async def unsent_legacy_count(self, client_id: str) -> int:
        await self.flush()
        return sum(
            1
            for owner, invoice in self._store.invoices.values()
            if owner == client_id and invoice.legacy_transfer == "unsent"
        )

    async def transfer_legacy(self, client_id: str) -> int:
        await self.flush()
        self._invoices.clear()
        moved = 0
        for owner, invoice in self._store.invoices.values():
            if owner == client_id and invoice.legacy_transfer == "unsent":
                invoice.legacy_transfer = "transferred"
                moved += 1
        return moved

    async def record_statuses(self, history: list[tuple[str, UUID, int, str, str, str | None, bool]]) -> None:
        self._store.status_history += history


class FakeChart:
    """The ledger's chart query: a new client's books hold the default accounts and the customer series."""

    def __init__(self) -> None:
        self.accounts: list[dict[str, Any]] = [
            {"number": "1500", "account_type": "asset", "control_role": "accounts_receivable"},
            {"number": "1920", "account_type": "asset", "control_role": None},
            {"number": "2400", "account_type": "liability", "control_role": "accounts_payable"},
            {"number": "2700", "account_type": "liability", "control_role": None},
            {"number": "3000", "account_type": "income", "control_role": None},
            {"number": "3100", "account_type": "income", "control_role": None},
        ]
        self.series: list[dict[str, Any]] = [
            {
                "code": "CUSTOMERS",
                "kind": "customer",
                "control_account": "1500",
                "first_number": 10000,
                "last_number": 19999,
            }
        ]
        self.away = False

    def add(self, number: str, account_type: str, control_role: str | None = None) -> None:
        self.accounts.append({"number": number, "account_type": account_type, "control_role": control_role})

    async def chart(self, client_id: str) -> dict[str, Any]:
        if self.away:
            raise LedgerUnavailable(f"the ledger's query /clients/{client_id}/chart failed: ConnectError()")
        return {"client_id": client_id, "accounts": self.accounts, "series": self.series, "parties": []}
