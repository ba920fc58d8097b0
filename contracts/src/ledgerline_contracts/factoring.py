"""Factoring gateway contracts (our side): account mappings, activation answers, factoring status of invoices."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import Field

from .invoicing import FactoringStatus
from .ledger import AccountNumber
from .messages import Catalogue, ClientMessage, Command, Part, Slug


class AccountRef(Part):
    """A ledger account, optionally a sub-ledger party under it (e.g. the provider as a supplier)."""

    account: AccountNumber
    party: int | None = Field(default=None, ge=1)

    def __str__(self) -> str:
        return self.account if self.party is None else f"{self.account}/{self.party}"


class SetAccountMapping(Command):
    """The accounts a provider's events are booked against, by role (intermediate, fees, interest_income, …).

    Which roles a provider needs is its adapter's declaration; activation is refused until all are mapped and
    exist in the ledger. The mapping is what the provider receives at onboarding.
    """

    type: Literal["factoring.SetAccountMapping"] = "factoring.SetAccountMapping"
    version: Literal[1] = 1
    provider: Slug
    accounts: dict[str, AccountRef]


class FactoringActivated(ClientMessage):
    type: Literal["factoring.FactoringActivated"] = "factoring.FactoringActivated"
    version: Literal[1] = 1
    request_id: UUID
    provider: Slug
    display_name: str = Field(description="Also the name of the delivery method the client gets.")
    accounts: dict[str, AccountRef]


class FactoringActivationRefused(ClientMessage):
    type: Literal["factoring.FactoringActivationRefused"] = "factoring.FactoringActivationRefused"
    version: Literal[1] = 1
    request_id: UUID
    provider: str
    reason: str
    missing: list[str] = Field(default_factory=list)


class FactoringStatusChanged(ClientMessage):
    """An invoice's factoring status and description, as the provider's events move it."""

    type: Literal["factoring.FactoringStatusChanged"] = "factoring.FactoringStatusChanged"
    version: Literal[1] = 1
    invoice_id: UUID
    provider: Slug
    status: FactoringStatus
    description: str
    sequence: int = Field(ge=1, description="Per invoice; a consumer keeps the highest it has seen.")
    provider_event_id: str | None = None


FACTORING_COMMANDS = Catalogue("factoring.commands", [SetAccountMapping])
FACTORING_EVENTS = Catalogue(
    "factoring.events", [FactoringActivated, FactoringActivationRefused, FactoringStatusChanged]
)
