"""Wires the invoicing."""

from __future__ import annotations

from servicekit.service import Service

from ..settings import InvoicingSettings


def build(settings: InvoicingSettings | None = None) -> Service:
    settings = settings or InvoicingSettings()
    return Service(
        settings,
        title="Ledgerline invoicing",
        description="Clients, users and roles, customer cards and invoices; the accounting system's side of factoring.",
    )
