"""Every consumer tells a repeat from a reused id (issue 18, hole 6): the routing table's default batch."""

from __future__ import annotations

import uuid
from typing import Any

from prometheus_client import REGISTRY

from ledgerline_contracts import catalogues, topics
from ledgerline_contracts.messages import CommandResult
from ledgerline_contracts.operations import DeadLetter
from servicekit.messagebus import Batch, Consumer
from servicekit.testing import FakeUnitOfWork, deliver

GROUP = "conflict-test"
CONSUMER = Consumer(topics.TOPIC_COMMAND_RESULTS, GROUP, Batch, "results", catalogue=catalogues.COMMAND_RESULTS)


def result(**changes: Any) -> CommandResult:
    values: dict[str, Any] = {"command_id": uuid.uuid4(), "command_type": "t", "client_id": "c", "service": "s"}
    return CommandResult(accepted=True, **values | changes)


async def test_the_default_batch_refuses_a_reused_message_id_with_other_content() -> None:
    handled: list[CommandResult] = []

    async def handle(_: Batch, message: CommandResult) -> None:
        handled.append(message)

    uow = FakeUnitOfWork(service="svc")
    labels = {"service": "svc", "consumer": GROUP}
    before = REGISTRY.get_sample_value("ledgerline_inbox_conflicts_total", labels) or 0
    first = result()
    await deliver(CONSUMER, {CommandResult: handle}, uow, first)
    forged = first.model_copy(update={"accepted": False, "reason": "forged"})
    later = first.model_copy(update={"occurred_at": first.occurred_at.replace(year=2030)})  # only sent later
    await deliver(CONSUMER, {CommandResult: handle}, uow, forged, later)
    assert handled == [first]
    (dead,) = uow.inbox.messages(topics.dead_letters(GROUP), DeadLetter)
    assert dead.error_kind == "conflict" and f"reuses the key {first.message_id}" in dead.error
    assert REGISTRY.get_sample_value("ledgerline_inbox_conflicts_total", labels) == before + 1
