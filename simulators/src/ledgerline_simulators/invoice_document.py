"""What a simulated provider checks before it makes the invoice document the debtor sees.

The provider's document is the only invoice the debtor gets, so a provider refuses a delivery it could not print
as a Norwegian invoice: lines whose quantity × unit price or VAT is not their amount, totals that do not add up,
totals per VAT rate that are not the lines', a KID its bank would refuse, an account for payment that is not the
provider's own, or a delivery channel without the address it needs. Each provider's simulator reads its own wire
format into these plain figures (whole øre) and declines with the problems found as its reason.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ledgerline_contracts.invoicing import DeliveryMethod, line_net, line_vat
from ledgerline_contracts.norway import account_number_problem, kid_problem


@dataclass(frozen=True)
class Line:
    description: str
    quantity: str
    unit_price_ore: int
    net_ore: int
    vat_percent: int
    vat_ore: int


@dataclass(frozen=True)
class Document:
    """An invoice as a provider received it, in whole øre."""

    lines: Sequence[Line]
    vat_totals: Sequence[tuple[int, int, int]]  # (VAT percent, net, VAT)
    net_ore: int | None
    vat_ore: int
    gross_ore: int
    kid: str | None
    kid_scheme: str | None
    payment_account: str | None
    channel: str | None
    peppol_id: str | None
    email: str | None
    seller_named: bool


def problems(document: Document, own_account: str) -> list[str]:
    """Everything that keeps the document from being a complete, consistent Norwegian invoice."""
    found: list[str] = []
    if not document.lines:
        found.append("no invoice lines")
    for number, line in enumerate(document.lines, start=1):
        expected = line_net(line.quantity, line.unit_price_ore)
        if expected != line.net_ore:
            found.append(
                f"line {number}: {line.quantity} × {line.unit_price_ore} øre is {expected}, not {line.net_ore}"
            )
        vat = line_vat(line.net_ore, line.vat_percent)
        if vat != line.vat_ore:
            found.append(f"line {number}: {line.vat_percent} % VAT of {line.net_ore} øre is {vat}, not {line.vat_ore}")
    net, vat = sum(line.net_ore for line in document.lines), sum(line.vat_ore for line in document.lines)
    if document.net_ore is not None and net != document.net_ore:
        found.append(f"the lines' net amounts add up to {net} øre, not {document.net_ore}")
    if vat != document.vat_ore:
        found.append(f"the lines' VAT adds up to {vat} øre, not {document.vat_ore}")
    if net + vat != document.gross_ore:
        found.append(f"net {net} + VAT {vat} øre is not the total {document.gross_ore}")
    per_rate = _per_rate(document.lines)
    given = {percent: (n, v) for percent, n, v in document.vat_totals}
    if len(given) != len(document.vat_totals) or given != per_rate:
        found.append(f"the totals per VAT rate ({_rates(given)}) are not the lines' ({_rates(per_rate)})")
    if problem := kid_problem(document.kid, document.kid_scheme):
        found.append(problem)
    if problem := account_number_problem(document.payment_account):
        found.append(f"payment {problem}")
    elif document.payment_account != own_account:
        found.append(f"account {document.payment_account} for payment is not ours ({own_account})")
    if not document.seller_named:
        found.append("no seller")
    if document.channel == DeliveryMethod.E_INVOICE and not document.peppol_id:
        found.append("EHF delivery to a debtor without a PEPPOL id")
    elif document.channel == DeliveryMethod.EMAIL and not document.email:
        found.append("e-mail delivery to a debtor without an e-mail address")
    elif document.channel not in {m.value for m in DeliveryMethod}:
        found.append(f"no delivery channel we know ({document.channel!r})")
    return found


def refusal(found: list[str], limit: int = 300) -> str:
    """The problems as one reason, within `limit` characters."""
    text = "Cannot make the invoice document: " + "; ".join(found)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _per_rate(lines: Iterable[Line]) -> dict[int, tuple[int, int]]:
    sums: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for line in lines:
        sums[line.vat_percent][0] += line.net_ore
        sums[line.vat_percent][1] += line.vat_ore
    return {percent: (n, v) for percent, (n, v) in sums.items()}


def _rates(totals: dict[int, tuple[int, int]]) -> str:
    return ", ".join(f"{p} %: {n} + {v}" for p, (n, v) in sorted(totals.items(), reverse=True)) or "none"
