"""Reads and writes of the factoring gateway's tables inside one unit of work."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

import asyncpg

from ledgerline_contracts.factoring import AccountRef
from ledgerline_contracts.invoicing import FactoringActivationRequested, FactoringStatus
from servicekit.consumer import Delivery
from servicekit.db import PostgresUnitOfWork

from ..domain.lifecycle import Case
from ..domain.providers.base import ClientInfo


@dataclass(frozen=True)
class Origin:
    """Where a provider message came from: enough to park it, refuse it to a dead letter, or replay it."""

    raw: bytes
    key: bytes | None
    topic: str
    partition: int
    offset: int

    @classmethod
    def of(cls, delivery: Delivery) -> Origin:
        return cls(delivery.value, delivery.key, delivery.topic, delivery.partition, delivery.offset)

    @property
    def value(self) -> bytes:
        return self.raw


@dataclass(frozen=True)
class Parked:
    id: int
    event_key: str
    invoice_ids: frozenset[UUID]
    origin: Origin


class Repository(Protocol):
    """What the handlers read and write. `GatewayRepository` is the PostgreSQL one; `adapters.memory` keeps the
    same tables in memory for unit tests."""

    async def mapping(self, client_id: str, provider: str) -> dict[str, AccountRef] | None: ...

    async def save_mapping(self, client_id: str, provider: str, accounts: dict[str, AccountRef]) -> None: ...

    async def active_integration(self, client_id: str) -> tuple[str, ClientInfo] | None: ...

    async def set_integration(self, client: ClientInfo, provider: str, display_name: str, active: bool) -> None: ...

    async def cases(self, invoice_ids: Iterable[UUID]) -> dict[UUID, Case]: ...

    async def save_cases(self, cases: Iterable[Case], new: bool = False) -> None: ...

    async def park(
        self, provider: str, key: str, client_id: str, invoice_ids: Iterable[UUID], origin: Origin, reason: str
    ) -> int | None: ...

    async def parked_for(self, provider: str, invoice_ids: Iterable[UUID]) -> list[Parked]: ...

    async def unpark(self, parked_id: int) -> None: ...

    async def defer_activation(self, request: FactoringActivationRequested, reason: str) -> None: ...

    async def deferred_activations(self, limit: int) -> list[FactoringActivationRequested]: ...

    async def forget_deferred_activation(self, client_id: str) -> None: ...


class CaseOfAnotherClient(RuntimeError):
    """New cases whose invoice ids another client's transaction had opened first (committed after this batch read
    them as free). The batch fails and is retried; the retry reads the other client's case and refuses the delivery."""

    def __init__(self, invoice_ids: Iterable[UUID]) -> None:
        self.invoice_ids = sorted(invoice_ids)
        ids = ", ".join(map(str, self.invoice_ids))
        super().__init__(f"invoice ids whose case another client opened meanwhile: {ids}")


_CASE_COLUMNS = {
    "invoice_id": "uuid",
    "client_id": "text",
    "provider": "text",
    "invoice_number": "text",
    "customer_number": "int",
    "gross_ore": "bigint",
    "facts": "jsonb",
    "status": "text",
    "description": "text",
    "status_sequence": "int",
}
_CASE_NAMES = ", ".join(_CASE_COLUMNS)
_OPEN_CASES = (
    # A case is opened once, by its client's delivery; an existing one (that client's or another's) stays as it is.
    f"INSERT INTO cases ({_CASE_NAMES}) SELECT * FROM unnest("
    + ", ".join(f"${n}::{kind}[]" for n, kind in enumerate(_CASE_COLUMNS.values(), 1))
    + ") ON CONFLICT (invoice_id) DO NOTHING RETURNING invoice_id"
)


class GatewayRepository:
    def __init__(self, uow: PostgresUnitOfWork) -> None:
        self._uow = uow

    async def _db(self) -> asyncpg.Connection:
        return await self._uow.driver()

    # --- integrations and mappings --------------------------------------------------------------------------------
    async def mapping(self, client_id: str, provider: str) -> dict[str, AccountRef] | None:
        raw = await (await self._db()).fetchval(
            "SELECT accounts FROM account_mappings WHERE client_id = $1 AND provider = $2", client_id, provider
        )
        return {role: AccountRef.model_validate(ref) for role, ref in raw.items()} if raw else None

    async def save_mapping(self, client_id: str, provider: str, accounts: dict[str, AccountRef]) -> None:
        await (await self._db()).execute(
            "INSERT INTO account_mappings (client_id, provider, accounts) VALUES ($1, $2, $3) "
            "ON CONFLICT (client_id, provider) DO UPDATE SET accounts = EXCLUDED.accounts, changed_at = now()",
            client_id,
            provider,
            json.dumps({role: ref.model_dump() for role, ref in accounts.items()}),
        )

    async def active_integration(self, client_id: str) -> tuple[str, ClientInfo] | None:
        row = await (await self._db()).fetchrow(
            "SELECT provider, client_name, organisation_number FROM integrations WHERE client_id = $1 AND active",
            client_id,
        )
        return (row["provider"], ClientInfo(client_id, row["client_name"], row["organisation_number"])) if row else None

    async def set_integration(self, client: ClientInfo, provider: str, display_name: str, active: bool) -> None:
        await (await self._db()).execute(
            "INSERT INTO integrations (client_id, provider, display_name, client_name, organisation_number, active) "
            "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (client_id, provider) DO UPDATE SET "
            "display_name = EXCLUDED.display_name, client_name = EXCLUDED.client_name, "
            "organisation_number = EXCLUDED.organisation_number, active = EXCLUDED.active, changed_at = now()",
            client.client_id,
            provider,
            display_name,
            client.name,
            client.organisation_number,
            active,
        )

    # --- cases ----------------------------------------------------------------------------------------------------
    async def cases(self, invoice_ids: Iterable[UUID]) -> dict[UUID, Case]:
        """The cases, locked for this transaction (two instances never update one invoice at once)."""
        ids = sorted(set(invoice_ids))
        rows = await (await self._db()).fetch(
            "SELECT * FROM cases WHERE invoice_id = ANY($1::uuid[]) ORDER BY invoice_id FOR UPDATE", ids
        )
        return {r["invoice_id"]: case_from_row(r) for r in rows}

    async def save_cases(self, cases: Iterable[Case], new: bool = False) -> None:
        rows = [
            (
                c.invoice_id,
                c.client_id,
                c.provider,
                c.invoice_number,
                c.customer_number,
                c.gross_ore,
                json.dumps(c.facts()),
                c.status.value,
                c.description,
                c.status_sequence,
            )
            for c in cases
        ]
        if not rows:
            return
        db = await self._db()
        if new:
            columns = (list(column) for column in zip(*rows, strict=True))
            opened = {r["invoice_id"] for r in await db.fetch(_OPEN_CASES, *columns)}
            await self._check_owners({row[0]: row[1] for row in rows if row[0] not in opened})
            return
        # Cases read (and locked) in this transaction: the identifying columns, client included, never change.
        await db.executemany(
            "INSERT INTO cases (invoice_id, client_id, provider, invoice_number, customer_number, gross_ore, facts, "
            "status, description, status_sequence) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
            "ON CONFLICT (invoice_id) DO UPDATE SET facts = EXCLUDED.facts, status = EXCLUDED.status, "
            "description = EXCLUDED.description, status_sequence = EXCLUDED.status_sequence, updated_at = now()",
            rows,
        )

    async def _check_owners(self, clients: dict[UUID, str]) -> None:
        """New cases that were not opened because their invoice already had one: fine if it is the same client's
        (a repeated delivery), not if another client's opened it meanwhile."""
        if clients:
            rows = await (await self._db()).fetch(
                "SELECT invoice_id, client_id FROM cases WHERE invoice_id = ANY($1::uuid[])", sorted(clients)
            )
            taken = [r["invoice_id"] for r in rows if r["client_id"] != clients[r["invoice_id"]]]
            if taken:
                raise CaseOfAnotherClient(taken)

    # --- parked events --------------------------------------------------------------------------------------------
    async def park(
        self, provider: str, key: str, client_id: str, invoice_ids: Iterable[UUID], origin: Origin, reason: str
    ) -> int | None:
        """Parks an event (of the client whose cases it names) until it can apply; returns its id (None if it was
        parked already)."""
        parked_id: int | None = await (await self._db()).fetchval(
            "INSERT INTO parked_events (provider, event_key, client_id, invoice_ids, payload, message_key, topic, "
            'partition, "offset", reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) '
            "ON CONFLICT ON CONSTRAINT parked_events_key DO NOTHING RETURNING id",
            provider,
            key,
            client_id,
            sorted(set(invoice_ids)),
            origin.raw,
            origin.key,
            origin.topic,
            origin.partition,
            origin.offset,
            reason,
        )
        return parked_id

    async def parked_for(self, provider: str, invoice_ids: Iterable[UUID]) -> list[Parked]:
        rows = await (await self._db()).fetch(
            'SELECT id, event_key, invoice_ids, payload, message_key, topic, partition, "offset" FROM parked_events '
            "WHERE provider = $1 AND invoice_ids && $2::uuid[] ORDER BY id FOR UPDATE",
            provider,
            sorted(set(invoice_ids)),
        )
        return [
            Parked(
                r["id"],
                r["event_key"],
                frozenset(r["invoice_ids"]),
                Origin(r["payload"], r["message_key"], r["topic"], r["partition"], r["offset"]),
            )
            for r in rows
        ]

    async def unpark(self, parked_id: int) -> None:
        await (await self._db()).execute("DELETE FROM parked_events WHERE id = $1", parked_id)

    # --- activations waiting for the ledger -----------------------------------------------------------------------
    async def defer_activation(self, request: FactoringActivationRequested, reason: str) -> None:
        """Keeps the client's activation request until the ledger answers (the latest request of a client wins)."""
        await (await self._db()).execute(
            "INSERT INTO deferred_activations (client_id, provider, request, reason) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT (client_id) DO UPDATE SET provider = EXCLUDED.provider, request = EXCLUDED.request, "
            "reason = EXCLUDED.reason, tried_at = now(), attempts = CASE WHEN deferred_activations.request = "
            "EXCLUDED.request THEN deferred_activations.attempts + 1 ELSE 1 END",
            request.client_id,
            request.provider,
            request.to_bytes(),
            reason,
        )

    async def deferred_activations(self, limit: int) -> list[FactoringActivationRequested]:
        """The oldest waiting requests, locked (another instance retrying at the same time skips them)."""
        rows = await (await self._db()).fetch(
            "SELECT request FROM deferred_activations ORDER BY deferred_at LIMIT $1 FOR UPDATE SKIP LOCKED", limit
        )
        return [FactoringActivationRequested.model_validate_json(row["request"]) for row in rows]

    async def forget_deferred_activation(self, client_id: str) -> None:
        await (await self._db()).execute("DELETE FROM deferred_activations WHERE client_id = $1", client_id)


def case_from_row(row: Mapping[str, Any]) -> Case:
    """A case as stored (the repository and the views read it the same way)."""
    return Case(
        invoice_id=row["invoice_id"],
        client_id=row["client_id"],
        provider=row["provider"],
        invoice_number=row["invoice_number"],
        customer_number=row["customer_number"],
        gross_ore=row["gross_ore"],
        status=FactoringStatus(row["status"]),
        description=row["description"],
        status_sequence=row["status_sequence"],
        **row["facts"],
    )
