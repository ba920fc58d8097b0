"""Receivables a factoring provider holds: not the client's to pledge to the financing provider.

An invoice handed to a factoring provider is assigned to it (ABC advances on it, Fjord buys it): the provider's
invoice document tells the debtor to pay the provider. Offering the same receivable to Buffer as collateral would
pledge it twice, so the receivables stream leaves it out for as long as the provider holds it.

Two events tell the gateway, on two topics: invoicing's `InvoiceDelivery` (invoicing.events.v1) says which open
item (customer number and invoice number, the ledger's party and open item) went to which provider, and the
factoring gateway's `FactoringStatusChanged` (factoring.events.v1, newest per-invoice `sequence` wins) says where
the provider's decision stands. They may arrive in either order: a status heard before its delivery is kept, and
the invoice holds its open item from the moment the delivery names it, unless a status has already released it.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from ledgerline_contracts.invoicing import FactoringStatus
from ledgerline_contracts.providers.buffer import ReceivableChange

RELEASED: frozenset[FactoringStatus] = frozenset(
    {FactoringStatus.REJECTED, FactoringStatus.DELIVERY_REFUSED, FactoringStatus.RETURNED}
)
"""The statuses in which the invoice is the client's again (as invoicing's `rules._held_by_provider` has it).

Every other status holds it, also `preparing` and `prepared`, while the provider has not decided yet: the invoice
is already in the provider's hands (its document, with the assignment text and the provider's bank account, goes
to the debtor), and a provider that accepts finances it from that moment on. Letting Buffer lend on it during the
wait would pledge it twice whenever the provider accepts, which is the usual outcome; leaving it out costs only a
lower limit for the moments until a rejection or refused delivery, which brings it back into the stream at once.
"""


@dataclass(slots=True)
class FactoredInvoice:
    """One invoice handed to a factoring provider, as far as the gateway has heard of it."""

    invoice_id: UUID
    provider: str
    party: int | None = None
    """The customer number (the ledger's party), known once invoicing's delivery is seen."""
    open_item: str | None = None
    """The invoice number (the ledger's open item), known once invoicing's delivery is seen."""
    status: FactoringStatus | None = None
    """The newest status the factoring gateway announced; None before its first (the delivery alone holds it)."""
    status_sequence: int = 0

    @property
    def item(self) -> tuple[int, str] | None:
        """The open item it is, (party, invoice number), or None while only its status is known."""
        return (self.party, self.open_item) if self.party is not None and self.open_item is not None else None

    @property
    def held(self) -> bool:
        """Whether the provider holds the open item now (so Buffer may not have it)."""
        return self.item is not None and self.status not in RELEASED

    def delivered(self, provider: str, party: int, open_item: str) -> None:
        """Invoicing handed the invoice to `provider`: which open item it is."""
        self.provider, self.party, self.open_item = provider, party, open_item

    def apply_status(self, status: FactoringStatus, sequence: int) -> bool:
        """A newer status than the one known replaces it; an older or repeated one changes nothing."""
        if sequence <= self.status_sequence:
            return False
        self.status, self.status_sequence = status, sequence
        return True


def hold_change(held_before: bool, held_now: bool) -> ReceivableChange | None:
    """What Buffer hears of an open item whose holding changed: `factored` (drop it) when a provider took it over,
    `opened` (it is the client's again, at what is open now) when the provider let it go; None if nothing changed."""
    if held_before == held_now:
        return None
    return ReceivableChange.FACTORED if held_now else ReceivableChange.OPENED
