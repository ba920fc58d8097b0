"""The adapters of the installed factoring providers, by slug.

Each provider is a package of its own (`providers/<slug>/` in the repository) whose adapter implements
`base.ProviderAdapter`; the gateway finds them through `ledgerline_contracts.providers.factoring_providers()`.
"""

from functools import cache

from ledgerline_contracts.providers import ProviderRegistryError, factoring_providers

from .base import ProviderAdapter


@cache
def installed_adapters() -> dict[str, ProviderAdapter]:
    adapters: dict[str, ProviderAdapter] = {}
    for slug, provider in factoring_providers().items():
        adapter = provider.load_adapter()
        if adapter.slug != slug or adapter.display_name != provider.display_name:
            raise ProviderRegistryError(f"{provider.adapter} is not the adapter of {slug} ({provider.display_name})")
        adapters[slug] = adapter
    return adapters


__all__ = ["ProviderAdapter", "installed_adapters"]
