"""Attacks with tokens, on the real broker, database and services: each is refused with a reason, and nothing
changes. (What the broker itself refuses — writing or reading another principal's topics — is in
test_kafka_security.py; another client's invoice ids are in test_tenancy.py.)"""

from __future__ import annotations

import time
import uuid
from datetime import date, timedelta

import httpx
import pytest

from ledgerline_cli.operator import Operator
from ledgerline_contracts import auth, factoring, invoicing, ledger, topics
from ledgerline_contracts.factoring import AccountRef
from ledgerline_contracts.samples import COMPANY
from tests.support.scenario import client_with_accounts

pytestmark = pytest.mark.integration

FORGER = auth.Issuer(auth.USERS_ISSUER, auth.new_key())
"""Signs with a key of its own, under the real issuer's name."""


def card(client_id: str, user: str = "admin") -> invoicing.UpsertCustomerCard:
    return invoicing.UpsertCustomerCard(client_id=client_id, acting_user=user, customer=COMPANY)


async def refused(
    op: Operator, topic: topics.Topic, command: invoicing.Command, token: str | None, reason: str
) -> None:
    attempt = command.model_copy(update={"message_id": uuid.uuid4()})  # each attempt is a command of its own
    result = await op.bus.command(topic, attempt, key=command.client_id, token=token, expect_accepted=False)
    assert not result.accepted, result
    assert reason in (result.reason or ""), result.reason


async def test_a_forged_an_expired_or_another_clients_token_is_refused_and_changes_nothing(
    operator: Operator, client_id: str
) -> None:
    await operator.create_client(client_id, "Demo AS", "912345678")
    other = f"{client_id}-b"
    await operator.create_client(other, "Other AS", "998877665")
    users = operator.bus.signer()

    await refused(operator, topics.TOPIC_INVOICING_COMMANDS, card(client_id), None, "unauthenticated: no token")
    forged = FORGER.user(client_id, "admin")
    await refused(operator, topics.TOPIC_INVOICING_COMMANDS, card(client_id), forged, "Signature verification failed")
    expired = users.user(client_id, "admin", seconds=60, now=time.time() - 3600)
    await refused(operator, topics.TOPIC_INVOICING_COMMANDS, card(client_id), expired, "the token expired at")
    # The other client's administrator, naming themselves, on this client's data.
    theirs = users.user(other, "admin")
    await refused(
        operator, topics.TOPIC_INVOICING_COMMANDS, card(client_id), theirs, f"the token is for client {other}"
    )
    # A user of this client claiming to be its administrator in the payload.
    eve = users.user(client_id, "eve")
    await refused(operator, topics.TOPIC_INVOICING_COMMANDS, card(client_id), eve, "acting_user 'admin' is not")

    assert await operator.customers(client_id) == []
    assert await operator.customers(other) == []


async def test_only_a_platform_operator_creates_a_client(operator: Operator, client_id: str) -> None:
    create = invoicing.CreateClient(
        client_id=client_id,
        company_name="Squatter AS",
        organisation_number="912345678",
        administrator="mallory",
        administrator_name="Mallory",
    )
    users = operator.bus.signer()
    await refused(
        operator, topics.TOPIC_INVOICING_COMMANDS, create, users.user(client_id, "mallory"), "needs a platform operator"
    )
    await refused(
        operator,
        topics.TOPIC_INVOICING_COMMANDS,
        create,
        users.operator("ops", [auth.LEDGER_PERIODS]),
        "lacks the clients.create privilege",
    )
    with pytest.raises(Exception, match="no client"):
        await operator.client(client_id)


async def test_closing_or_reopening_a_period_needs_an_operator_with_the_privilege(
    operator: Operator, client_id: str
) -> None:
    await operator.create_client(client_id, "Demo AS", "912345678")
    users = operator.bus.signer()
    close = ledger.ClosePeriod(client_id=client_id, through=date(9999, 12, 31))
    await refused(operator, topics.TOPIC_LEDGER_COMMANDS, close, users.user(client_id, "admin"), "cannot write to")
    await refused(
        operator,
        topics.TOPIC_LEDGER_COMMANDS,
        close,
        users.operator("kari", [auth.LEDGER_CHART]),
        "operator kari lacks the ledger.periods privilege",
    )
    chart = await operator.get(operator.urls.ledger, f"/clients/{client_id}/chart")
    assert chart["books"]["closed_through"] is None

    # With the privilege: closed, then re-opened with a reason; both kept in the record of operator actions.
    periods = users.operator("kari", [auth.LEDGER_PERIODS])
    month_end = date.today().replace(day=1) - timedelta(days=1)
    closing = ledger.ClosePeriod(client_id=client_id, through=month_end)
    await operator.bus.command(topics.TOPIC_LEDGER_COMMANDS, closing, key=client_id, token=periods)
    reopen = ledger.ReopenPeriod(client_id=client_id, reopen_from=month_end.replace(day=1), reason="late invoice")
    result = await operator.bus.command(topics.TOPIC_LEDGER_COMMANDS, reopen, key=client_id, token=periods)
    assert result.details == {"closed_through": str(month_end.replace(day=1) - timedelta(days=1))}
    actions = await operator.get(operator.urls.ledger, f"/clients/{client_id}/operator-actions")
    kari = [(a["command_type"], a["accepted"]) for a in actions if a["operator"] == "kari"]
    assert kari == [("ledger.ClosePeriod", True), ("ledger.ReopenPeriod", True)]


async def test_an_account_mapping_needs_the_clients_administrator(operator: Operator, client_id: str) -> None:
    mapping = await client_with_accounts(operator, client_id, "abc-factoring")
    await operator.add_user(client_id, "acc", "Accountant", ["accountant"])
    redirect = factoring.SetAccountMapping(
        client_id=client_id,
        provider="abc-factoring",
        accounts={**mapping, "intermediate": AccountRef(account="2900")},  # a liability, but not the provider
    )
    users = operator.bus.signer()
    await refused(operator, topics.TOPIC_FACTORING_COMMANDS, redirect, None, "unauthenticated: no token")
    await refused(
        operator,
        topics.TOPIC_FACTORING_COMMANDS,
        redirect,
        users.user(client_id, "acc"),
        f"user acc is not an administrator of {client_id}",
    )
    integrations = await operator.get(operator.urls.factoring, f"/clients/{client_id}/integrations")
    (saved,) = integrations["mappings"]
    assert saved["accounts"]["intermediate"] == mapping["intermediate"].model_dump(mode="json")


async def test_http_queries_need_a_token_of_the_client_they_ask_about(operator: Operator, client_id: str) -> None:
    await operator.create_client(client_id, "Demo AS", "912345678")
    users = operator.bus.signer()
    for url, path in [
        (operator.urls.ledger, "trial-balance"),
        (operator.urls.invoicing, "invoices"),
        (operator.urls.factoring, "integrations"),
        (operator.urls.financing, "widget"),
    ]:
        address = f"{url}/clients/{client_id}/{path}"
        async with httpx.AsyncClient(timeout=10) as http:
            anonymous = await http.get(address)
            assert anonymous.status_code == 401 and "no token" in anonymous.json()["error"], address
            forged = await http.get(address, headers={"authorization": f"Bearer {FORGER.user(client_id, 'admin')}"})
            assert forged.status_code == 401, address
            other = {"authorization": f"Bearer {users.user('someone-else', 'admin')}"}
            foreign = await http.get(address, headers=other)
            assert foreign.status_code == 403 and "not " + client_id in foreign.json()["error"], address
