"""Ledgerline's invoicing service."""

SERVICE = "invoicing"
"""The service's name: in its settings, logs, metrics, answers and the `source` of the bookings it asks for."""
