"""Scaling one provider alone: a second factoring-gateway instance that consumes only ABC Factoring's topic."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from ledgerline_cli.operator import Operator
from ledgerline_cli.stack import Stack
from tests.support.http import eventually, metric
from tests.support.stream import prepare, publish, verify, wait_until_done

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ABC_GROUP = "factoring-gateway.abc-factoring"


async def handled(url: str, consumer: str) -> float:
    async with httpx.AsyncClient(timeout=5) as http:
        return metric((await http.get(f"{url}/metrics")).text, "ledgerline_messages_handled_total", consumer=consumer)


async def test_a_second_instance_for_one_provider_takes_a_share_and_nothing_is_lost(
    services: Stack, operator: Operator
) -> None:
    stream = await prepare(operator, clients=4)
    extra = services.sibling(
        600, "abc-2", {"FACTORING_CORE": "false", "FACTORING_PROVIDERS": json.dumps(["abc-factoring"])}
    )
    extra.up(["factoring-gateway"], infra=False)
    try:
        main_url, extra_url = services.url("factoring-gateway"), extra.url("factoring-gateway")
        async with httpx.AsyncClient(timeout=5) as http:

            async def joined() -> bool:  # the rebalance gave the new member some of ABC's partitions
                return "consumer_lag" in (await http.get(f"{extra_url}/metrics")).text

            await eventually(joined, timeout=30)
        before_main = await handled(main_url, ABC_GROUP)
        await publish(operator, stream, 1000)
        await wait_until_done(operator, stream, timeout=300)
        verdict = await verify(operator, stream)
        print(f"\n{verdict.line()}")
        assert verdict.ok(), verdict.line()
        share_main = await handled(main_url, ABC_GROUP) - before_main
        share_extra = await handled(extra_url, ABC_GROUP)
        print(f"ABC events handled: first instance {share_main:.0f}, second (ABC only) {share_extra:.0f}")
        assert share_main > 0 and share_extra > 0, "the load did not split"
        for other in (
            "factoring-gateway",
            "factoring-gateway.commands",
            "factoring-gateway.fjord-invoice-sale",
        ):
            assert await handled(extra_url, other) == 0, f"the ABC-only instance consumed {other}"
    finally:
        extra.down(["factoring-gateway"], infra=False)
        await asyncio.sleep(0)
