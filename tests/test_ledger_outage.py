"""A ledger outage seen by the factoring gateway holds back only what needs the ledger (issue 18).

The gateway asks the ledger's HTTP query for a client's chart when it activates a factoring integration. That
activation runs on the same consumer as every client's invoice deliveries: while the ledger is down it waits on
its own (in the gateway's database) and the other clients' deliveries go on to their provider. Once the ledger is
back the activation is answered and every booking that waited is made, once.
"""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from ledgerline_cli.operator import Operator
from ledgerline_cli.stack import Stack
from ledgerline_contracts import invoicing, topics
from tests.support.http import eventually, metric
from tests.support.scenario import PERSON, TEN_THOUSAND, client_with_accounts, factoring_client

pytestmark = pytest.mark.integration

ABC = "abc-factoring"


async def _status(op: Operator, client: str, invoice: uuid.UUID) -> str | None:
    return (await op.invoice(client, invoice))["factoring_status"]  # type: ignore[no-any-return]


async def _deferred(op: Operator) -> float:
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"{op.urls.factoring}/metrics")).text
    return metric(text, "ledgerline_factoring_activations_deferred_total")


async def test_while_the_ledger_is_down_an_activation_waits_and_other_clients_deliveries_go_on(
    services: Stack, operator: Operator
) -> None:
    active, waiting = f"test-{uuid.uuid4().hex[:12]}", f"test-{uuid.uuid4().hex[:12]}"
    person, _ = await factoring_client(operator, active, ABC)
    await operator.simulator_script(operator.urls.abc_simulator, active, mode="manual")  # deliveries stay there
    await client_with_accounts(operator, waiting, ABC)
    await operator.upsert_customer(waiting, PERSON)
    deferred_before = await _deferred(operator)
    patient = Operator(operator.bus, operator.urls, timeout=180)  # the activation is answered after the outage

    await asyncio.to_thread(services.stop, "ledger")
    try:
        activation = asyncio.create_task(patient.activate(waiting, ABC))
        # The request is in the gateway's stream before the other client's invoices.
        await operator.bus.wait_for(
            topics.TOPIC_INVOICING_EVENTS,
            lambda m: isinstance(m, invoicing.FactoringActivationRequested) and m.client_id == waiting,
        )
        invoices = []
        for _ in range(3):
            invoice = await operator.create_invoice(active, person, TEN_THOUSAND)
            await operator.send_invoice(active, invoice)
            invoices.append(invoice)

        # Delivered to ABC Factoring (the gateway's status «prepared») while the ledger is still down.
        async def all_delivered() -> bool:
            return all([await _status(operator, active, i) == "prepared" for i in invoices])

        await eventually(all_delivered, timeout=30)
        assert not activation.done()
        assert await _deferred(operator) > deferred_before  # it waits for the ledger, counted
    finally:
        await asyncio.to_thread(services.start, "ledger")
        await asyncio.to_thread(services.wait_ready, ["ledger"], 60)

    result = await activation
    assert result.accepted and result.details["delivery_method"] == "ABC Factoring"

    async def booked_once() -> bool:
        return all([len(await operator.vouchers(active, i)) == 1 for i in invoices])

    await eventually(booked_once, timeout=60)
    await asyncio.sleep(3.0)  # anything booked twice would show up now
    assert [len(await operator.vouchers(active, i)) for i in invoices] == [1, 1, 1]
