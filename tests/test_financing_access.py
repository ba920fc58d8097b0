"""Issue 19.5 on the real stack, with invoicing itself (not a test playing it): the «invoice financing» privilege
granted and revoked through invoicing's role management reaches the financing gateway, and onboarding starts from
each of the three reports the help page names."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from ledgerline_cli.operator import Operator
from ledgerline_contracts import financing
from ledgerline_contracts.invoicing import INVOICE_FINANCING
from ledgerline_contracts.messages import CommandResult
from tests.support.http import eventually

pytestmark = pytest.mark.integration


def consent(client_id: str, user: str, context: financing.FinancingContext) -> financing.GiveFinancingConsent:
    return financing.GiveFinancingConsent(
        client_id=client_id,
        acting_user=user,
        context=context,
        agreed=True,
        consent_text=financing.CONSENT_TEXTS["en-1"],
        consent_text_version="en-1",
    )


async def test_role_management_in_invoicing_grants_and_revokes_invoice_financing(
    operator: Operator, client_id: str
) -> None:
    op = operator
    await op.create_client(client_id, "Fjellvik Rør AS", "987654321")
    await op.add_user(client_id, "acc", "Accountant", ["accountant"])
    await eventually(lambda: _widget_status(op, client_id, "admin", 200))  # the administrator holds it by default
    assert await _widget_status(op, client_id, "acc", 403)
    refused = await op.financing(
        consent(client_id, "acc", financing.FinancingContext.OPEN_ITEMS), expect_accepted=False
    )
    assert refused.reason is not None and INVOICE_FINANCING in refused.reason

    await op.grant(client_id, "accountant", INVOICE_FINANCING)  # invoicing's role management, as a user does it
    await eventually(lambda: _widget_status(op, client_id, "acc", 200))
    given = await op.financing(consent(client_id, "acc", financing.FinancingContext.OPEN_ITEMS))
    assert given.accepted
    widget = await op.widget(client_id, user="acc")
    assert widget["onboarding"]["consent"]["given_by"] == "acc"

    await op.grant(client_id, "accountant", INVOICE_FINANCING, revoke=True)
    await eventually(lambda: _widget_status(op, client_id, "acc", 403))
    withdrawal = financing.WithdrawFinancingConsent(client_id=client_id, acting_user="acc", reason="no longer mine")
    refused = await op.financing(withdrawal, expect_accepted=False)
    assert refused.reason is not None and INVOICE_FINANCING in refused.reason


@pytest.mark.parametrize("context", list(financing.FinancingContext))
async def test_onboarding_starts_from_each_report_the_help_page_names(
    operator: Operator, client_id: str, context: financing.FinancingContext
) -> None:
    op = operator
    await op.create_client(client_id, "Fjellvik Rør AS", "987654321")
    await eventually(lambda: _widget_status(op, client_id, "admin", 200))
    result: CommandResult = await op.financing(consent(client_id, "admin", context))
    assert result.accepted
    widget: dict[str, Any] = await op.widget(client_id)
    assert widget["onboarding"]["context"] == context.value
    assert widget["active"] is True  # consent activates the integration at once

    async def buffer_knows() -> dict[str, Any] | None:
        async with httpx.AsyncClient(base_url=op.urls.buffer_simulator, timeout=10) as http:
            response = await http.get(f"/clients/{client_id}")
        return response.json() if response.status_code == 200 else None  # type: ignore[no-any-return]

    seen = await eventually(buffer_knows)
    assert seen["onboarding_id"] == str(widget["onboarding"]["onboarding_id"])


async def _widget_status(op: Operator, client_id: str, user: str, wanted: int) -> bool:
    """Whether the widget answers `user` with the status `wanted` (200 with the privilege, 403 without)."""
    headers = {"authorization": f"Bearer {op.token(client_id, user)}"}
    async with httpx.AsyncClient(base_url=op.urls.financing, timeout=10) as http:
        response = await http.get(f"/clients/{client_id}/widget", headers=headers)
    return response.status_code == wanted
