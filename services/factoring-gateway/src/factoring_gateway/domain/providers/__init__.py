"""The provider adapters the gateway ships, by slug."""

from .abc_factoring import AbcFactoring
from .base import ProviderAdapter
from .fjord_invoice_sale import FjordInvoiceSale

ADAPTERS: dict[str, ProviderAdapter] = {adapter.slug: adapter for adapter in (AbcFactoring(), FjordInvoiceSale())}
