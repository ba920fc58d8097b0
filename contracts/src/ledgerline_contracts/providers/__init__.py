"""Provider wire formats, and the registry of factoring providers.

A factoring provider is one installable package (see `providers/` in the repository): its wire format, its
adapter in the factoring gateway and, optionally, its simulator. The package announces itself with an entry
point in the group `ledgerline.factoring_providers` whose value is a `FactoringProvider`; topics, consumer
groups, the gateway's subscriptions, the AsyncAPI documents, the local stack and the CLI all come from
`factoring_providers()`, so adding a provider is installing its package.

`buffer` (invoice financing) is not a factoring provider: its wire format lives here, next to the registry.
"""

from .registry import ENTRY_POINT_GROUP, FactoringProvider, ProviderRegistryError, factoring_providers, provider

__all__ = ["ENTRY_POINT_GROUP", "FactoringProvider", "ProviderRegistryError", "factoring_providers", "provider"]
