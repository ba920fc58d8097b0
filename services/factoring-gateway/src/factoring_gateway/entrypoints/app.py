"""Wires the factoring gateway."""

from __future__ import annotations

from servicekit.service import Service

from ..settings import FactoringGatewaySettings


def build(settings: FactoringGatewaySettings | None = None) -> Service:
    settings = settings or FactoringGatewaySettings()
    return Service(
        settings,
        title="Ledgerline factoring gateway",
        description=(
            "Translates invoice deliveries per provider onto each provider's own topics, "
            "and provider events into bookings and factoring status."
        ),
    )
