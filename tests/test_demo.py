"""The demo's story (`make demo`), run against the test stack: every check it makes must pass."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from ledgerline_cli.demo import story
from ledgerline_cli.operator import Operator

pytestmark = pytest.mark.integration


async def test_the_demo_story_passes_every_check(operator: Operator) -> None:
    out = io.StringIO()
    told = await story(operator, Console(file=out, width=160))
    assert told.failures == [], out.getvalue()
    assert len(told.checks) >= 15
    text = out.getvalue()
    assert "Trial balance" in text and "Reconciliation with abc-factoring" in text and "Invoice financing" in text
    # The widget, while ABC Factoring holds an invoice, says why Buffer is not offered it.
    assert "1 receivable (12 500,00 NOK) excluded: held by a factoring provider" in text
    # Rule 7 reaches the ledger's reports too: the aged receivables' header carries the factoring columns.
    assert any("over–90" in line and "factoring status" in line for line in text.splitlines())
