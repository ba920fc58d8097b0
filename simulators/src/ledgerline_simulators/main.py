"""`ledgerline-simulator <name>`: runs one provider simulator (Buffer's, or an installed factoring provider's)."""

from __future__ import annotations

import importlib
import sys

from ledgerline_contracts.providers import factoring_providers


def simulators() -> dict[str, str]:
    """Simulator modules by provider: every installed factoring provider that ships one, and Buffer."""
    found = {slug: p.simulator for slug, p in factoring_providers().items() if p.simulator is not None}
    return {**found, "buffer": "ledgerline_simulators.buffer"}


def main() -> None:
    known = simulators()
    if len(sys.argv) != 2 or sys.argv[1] not in known:
        sys.exit(f"usage: ledgerline-simulator {{{'|'.join(known)}}}")
    importlib.import_module(known[sys.argv[1]]).run()
