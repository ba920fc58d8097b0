"""Fjord Invoice Sale: the invoice is sold, remittance reports pay many invoices at once.

One package holds all of the provider: its wire format (`contract`), its adapter in the factoring gateway
(`adapter`) and its simulator for the local stack (`simulator`). The entry point in pyproject.toml announces
`PROVIDER`; nothing else in Ledgerline names this provider. Keep this module light: the registry imports it to
learn of the provider before anything else of it is needed.
"""

from ledgerline_contracts.providers import FactoringProvider

SLUG = "fjord-invoice-sale"
DISPLAY_NAME = "Fjord Invoice Sale"

PROVIDER = FactoringProvider(
    slug=SLUG,
    display_name=DISPLAY_NAME,
    partitions=4,
    contract="ledgerline_fjord_invoice_sale.contract",
    adapter="ledgerline_fjord_invoice_sale.adapter:FjordInvoiceSale",
    simulator="ledgerline_fjord_invoice_sale.simulator",
)
