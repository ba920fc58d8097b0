"""The registry of factoring providers: each is an installed package announcing a `FactoringProvider`."""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from functools import cache
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any

ENTRY_POINT_GROUP = "ledgerline.factoring_providers"
_SLUG = re.compile(r"[a-z0-9][a-z0-9-]*[a-z0-9]")


@dataclass(frozen=True)
class FactoringProvider:
    """What the platform needs to know of a provider before importing any of its code."""

    slug: str
    """Machine name, part of its topic names (`factoring.<slug>.outbound.v1`) and consumer group."""
    display_name: str
    """The delivery method users see on customer cards and invoices, e.g. «ABC Factoring»."""
    partitions: int
    """Partitions of each of its two topics: how many gateway instances can share its events."""
    contract: str
    """The module of its wire format, with the catalogues `OUTBOUND` (what it reads) and `INBOUND` (what it sends)."""
    adapter: str
    """`module:attribute` of its `factoring_gateway.domain.providers.base.ProviderAdapter` (a class or instance)."""
    simulator: str | None = None
    """The module of its simulator for the local stack (a `run()` function), if it ships one."""

    def wire_format(self) -> ModuleType:
        return importlib.import_module(self.contract)

    def load_adapter(self) -> Any:
        module, _, attribute = self.adapter.partition(":")
        found = getattr(importlib.import_module(module), attribute)
        return found() if isinstance(found, type) else found


class ProviderRegistryError(RuntimeError):
    """An installed provider package announces something inconsistent."""


@cache
def factoring_providers() -> dict[str, FactoringProvider]:
    """Every installed factoring provider, by slug (in slug order)."""
    found: dict[str, FactoringProvider] = {}
    for point in entry_points(group=ENTRY_POINT_GROUP):
        provider = point.load()
        if not isinstance(provider, FactoringProvider):
            raise ProviderRegistryError(f"entry point {point.name} ({point.value}) is not a FactoringProvider")
        if provider.slug != point.name:
            raise ProviderRegistryError(f"entry point {point.name} announces provider {provider.slug!r}")
        if provider.slug in found:
            raise ProviderRegistryError(f"two packages announce factoring provider {provider.slug!r}")
        if not _SLUG.fullmatch(provider.slug):
            raise ProviderRegistryError(f"provider slug {provider.slug!r} is not lowercase letters, digits and dashes")
        found[provider.slug] = provider
    return dict(sorted(found.items()))


def provider(slug: str) -> FactoringProvider:
    found = factoring_providers().get(slug)
    if found is None:
        known = ", ".join(factoring_providers()) or "none"
        raise KeyError(f"no factoring provider {slug!r} is installed (installed: {known})")
    return found
