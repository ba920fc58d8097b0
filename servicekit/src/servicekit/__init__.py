"""Shared plumbing for Ledgerline's services, written once: each service brings only its domain and handlers."""
