"""Ledgerline's ledger service."""

SERVICE = "ledger"
"""The service's name: in its settings, logs, metrics, answers and the `source` of the bookings it asks for."""
