"""The provider adapters the gateway ships, by slug."""

from .abc_factoring import AbcFactoring
from .base import ProviderAdapter
from .fjord_invoice_sale import FjordInvoiceSale

_SHIPPED: tuple[ProviderAdapter, ...] = (AbcFactoring(), FjordInvoiceSale())
ADAPTERS: dict[str, ProviderAdapter] = {adapter.slug: adapter for adapter in _SHIPPED}

__all__ = ["ADAPTERS", "ProviderAdapter"]
