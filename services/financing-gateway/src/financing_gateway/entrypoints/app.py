"""Wires the financing gateway."""

from __future__ import annotations

from servicekit.service import Service

from ..settings import FinancingGatewaySettings


def build(settings: FinancingGatewaySettings | None = None) -> Service:
    settings = settings or FinancingGatewaySettings()
    return Service(
        settings,
        title="Ledgerline financing gateway",
        description="Invoice financing with Buffer: consent, streaming receivables, the credit-limit widget.",
    )
