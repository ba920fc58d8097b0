"""Building blocks for scenario tests: a client ready for a factoring provider, customers, invoices."""

from __future__ import annotations

from typing import Any

from ledgerline_cli.operator import Operator
from ledgerline_contracts.factoring import AccountRef
from ledgerline_contracts.invoicing import InvoiceLine
from ledgerline_contracts.samples import COMPANY, PERSON, SELLER_ADDRESS

__all__ = ["COMPANY", "PERSON", "ROLES", "TEN_THOUSAND", "client_with_accounts", "factoring_client"]

TEN_THOUSAND = [InvoiceLine(description="Consulting", net_ore=1_000_000)]  # 10 000 + 25 % VAT = 12 500

ROLES = {
    "abc-factoring": {
        "intermediate": AccountRef(account="2400", party=20001),
        "fees": AccountRef(account="7770"),
        "interest_income": AccountRef(account="8050"),
        "bank": AccountRef(account="1920"),
        "receivables": AccountRef(account="1500"),
        "deviation": AccountRef(account="2900"),
    },
    "fjord-invoice-sale": {
        "intermediate": AccountRef(account="1590", party=None),
        "holdback": AccountRef(account="1591"),
        "fees": AccountRef(account="7770"),
        "bank": AccountRef(account="1920"),
        "receivables": AccountRef(account="1500"),
        "deviation": AccountRef(account="2900"),
    },
}


async def client_with_accounts(op: Operator, client_id: str, provider: str, **client: Any) -> dict[str, AccountRef]:
    """A client whose ledger has every account the provider needs, mapped; not yet activated. `client`: what
    `Operator.create_client` takes besides (address, vat_registered, kid_scheme)."""
    client.setdefault("address", SELLER_ADDRESS)  # factoring is activated only with the seller's address
    await op.create_client(client_id, "Demo AS", "912345678", **client)
    if provider == "abc-factoring":
        # The provider as a supplier in the existing supplier series: reconciliation per party.
        await op.add_party(client_id, 20001, "ABC Factoring", "supplier")
    else:
        await op.add_account(client_id, "1590", "Mellomregning Fjord Invoice Sale", "asset")
        await op.add_account(client_id, "1591", "Tilbakeholdt hos Fjord Invoice Sale", "asset")
    mapping = ROLES[provider]
    await op.map_accounts(client_id, provider, mapping)
    return mapping


async def factoring_client(op: Operator, client_id: str, provider: str) -> tuple[int, int]:
    """A client with one person and one company customer, and the provider activated."""
    await client_with_accounts(op, client_id, provider)
    person = (await op.upsert_customer(client_id, PERSON)).details["customer_number"]
    company = (await op.upsert_customer(client_id, COMPANY)).details["customer_number"]
    await op.activate(client_id, provider)
    return person, company
