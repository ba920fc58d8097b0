"""`ledgerline-simulator <name>`: runs one provider simulator."""

from __future__ import annotations

import importlib
import sys

SIMULATORS = {
    "abc-factoring": "ledgerline_simulators.abc_factoring",
    "fjord-invoice-sale": "ledgerline_simulators.fjord_invoice_sale",
    "buffer": "ledgerline_simulators.buffer",
}


def main() -> None:
    if len(sys.argv) != 2 or sys.argv[1] not in SIMULATORS:
        sys.exit(f"usage: ledgerline-simulator {{{'|'.join(SIMULATORS)}}}")
    importlib.import_module(SIMULATORS[sys.argv[1]]).run()
