"""Ledgerline's benchmarks: `python -m bench.ledger` (the ledger alone) and `python -m bench.e2e` (the whole stack).

Both run the real services as their own processes on the real Kafka broker and PostgreSQL (port base 48100),
measure from the outside, and compare with a raw ceiling measured in the same run. See bench/README.md.
"""
