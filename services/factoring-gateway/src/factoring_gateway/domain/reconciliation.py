"""Reconciliation: the ledger's intermediate balances per invoice against what the provider's events imply."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .lifecycle import Case
from .providers.base import ProviderAdapter


@dataclass(frozen=True)
class LedgerBalance:
    balance_ore: int
    vouchers: list[str] = field(default_factory=list)


def reconcile(
    adapter: ProviderAdapter,
    cases: list[Case],
    ledger: Mapping[str, Mapping[str, LedgerBalance]],
    parked: Mapping[str, int],
) -> dict[str, Any]:
    """`ledger[role][invoice_number]` is the ledger's balance on that role's account for the invoice.

    An invoice is listed as a difference when the ledger disagrees with the provider's view, or when the provider
    is done with it and something is still left on an intermediate account.
    """
    rows, differences = [], []
    for case in sorted(cases, key=lambda c: c.invoice_number):
        expected = adapter.expected_balances(case)
        booked = {role: ledger.get(role, {}).get(case.invoice_number, LedgerBalance(0)) for role in expected}
        finished = adapter.finished(case)
        row = {
            "invoice_id": str(case.invoice_id),
            "invoice_number": case.invoice_number,
            "status": case.status.value,
            "provider_finished": finished,
            "parked_events": parked.get(str(case.invoice_id), 0),
            "accounts": {
                role: {
                    "expected_ore": expected[role],
                    "ledger_ore": booked[role].balance_ore,
                    "difference_ore": booked[role].balance_ore - expected[role],
                    "vouchers": booked[role].vouchers,
                }
                for role in expected
            },
        }
        unexplained = any(booked[role].balance_ore != expected[role] for role in expected)
        left_after_finish = finished and any(b.balance_ore for b in booked.values())
        row["ok"] = not (unexplained or left_after_finish)
        rows.append(row)
        if not row["ok"]:
            differences.append(row)
    return {
        "provider": adapter.slug,
        "invoices": len(rows),
        "differences": differences,
        "rows": rows,
        "finished_with_zero_balance": sum(1 for r in rows if r["ok"] and r["provider_finished"]),
    }
