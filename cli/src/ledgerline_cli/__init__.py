"""Ledgerline's operator tooling: the `ledgerline` command and the local stack runner."""
