"""Ledgerline's financing gateway service."""

SERVICE = "financing-gateway"
"""The service's name: in its settings, logs, metrics, answers and the `source` of the bookings it asks for."""
