"""Issue 19.4 on the real stack: reminder and debt-collection integrations are real settings, and neither lives
beside a factoring integration (rule 3: the provider follows up what it holds)."""

from __future__ import annotations

import pytest

from ledgerline_cli.operator import Operator
from tests.support.scenario import client_with_accounts

pytestmark = pytest.mark.integration


async def test_factoring_and_follow_up_integrations_exclude_each_other_by_name(
    operator: Operator, client_id: str
) -> None:
    op = operator
    await client_with_accounts(op, client_id, "abc-factoring")
    await op.follow_up(client_id, "reminders", "Kredinor")
    await op.follow_up(client_id, "debt_collection", "Intrum")
    assert (await op.client(client_id))["settings"]["follow_up"] == {
        "reminders": "Kredinor",
        "debt_collection": "Intrum",
    }
    refused = await op.activate(client_id, "abc-factoring", expect_accepted=False)
    assert refused.reason == (
        "the debt-collection integration Intrum is connected: invoices delivered via factoring cannot be combined "
        "with reminder and debt-collection integrations; disconnect it before activating abc-factoring"
    )
    await op.follow_up(client_id, "debt_collection", None)
    refused = await op.activate(client_id, "abc-factoring", expect_accepted=False)
    assert refused.reason is not None and "the reminder integration Kredinor is connected" in refused.reason
    await op.follow_up(client_id, "reminders", None)
    await op.activate(client_id, "abc-factoring")

    refused = await op.follow_up(client_id, "reminders", "Kredinor", expect_accepted=False)
    assert refused.reason == (
        "the factoring integration ABC Factoring is active: invoices delivered via factoring cannot be combined "
        "with a reminder integration"
    )
    await op.deactivate(client_id)
    await op.follow_up(client_id, "reminders", "Kredinor")
