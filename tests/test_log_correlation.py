"""One invoice can be followed through the services' logs: every line a consumer writes while handling records
names their client and correlation ids, and an invoice's messages carry the invoice id as correlation id."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from typing import Any
from uuid import uuid4

import pytest
import structlog
from aiokafka.structs import ConsumerRecord
from faststream.kafka import KafkaBroker
from structlog.contextvars import get_contextvars, merge_contextvars
from structlog.testing import capture_logs

from ledgerline_cli.operator import Operator
from ledgerline_cli.stack import Stack
from ledgerline_contracts import topics
from ledgerline_contracts.messages import Catalogue, CommandResult
from servicekit.consumer import (
    MAX_LOGGED_IDS,
    BatchProcessor,
    DeadLetterPublisher,
    Delivery,
    RetryPolicy,
    Subscription,
    log_context,
)
from tests.support.http import eventually
from tests.support.scenario import TEN_THOUSAND, factoring_client


def _message(client_id: str, correlation_id: str | None) -> CommandResult:
    return CommandResult(
        command_id=uuid4(),
        command_type="invoicing.SendInvoice",
        client_id=client_id,
        service="invoicing",
        accepted=True,
        correlation_id=correlation_id,
    )


def _delivery(client_id: str, correlation_id: str | None) -> Delivery:
    message = _message(client_id, correlation_id)
    return Delivery(message, topics.TOPIC_COMMAND_RESULTS.name, 0, 0, None, message.to_bytes(), {})


def test_one_record_names_its_ids() -> None:
    assert log_context([_delivery("client-a", "invoice-1")]) == {"client_id": "client-a", "correlation_id": "invoice-1"}
    assert log_context([_delivery("client-a", None)]) == {"client_id": "client-a"}


def test_a_batch_names_the_ids_its_records_share_and_lists_those_that_differ() -> None:
    batch = [_delivery("client-a", "invoice-1"), _delivery("client-a", "invoice-2"), _delivery("client-a", "invoice-1")]
    assert log_context(batch) == {"client_id": "client-a", "correlation_ids": ["invoice-1", "invoice-2"]}
    mixed = [_delivery("client-a", "invoice-1"), _delivery("client-b", "invoice-1")]
    assert log_context(mixed) == {"client_ids": ["client-a", "client-b"], "correlation_id": "invoice-1"}


def test_a_full_batch_stays_one_short_line() -> None:
    batch = [_delivery("client-a", f"invoice-{n}") for n in range(MAX_LOGGED_IDS + 5)]
    context = log_context(batch)
    assert context["correlation_ids"] == [f"invoice-{n}" for n in range(MAX_LOGGED_IDS)]
    assert context["correlation_ids_omitted"] == 5


class _Batch:
    """The part of FastStream's KafkaMessage the consumer reads: the records of one batch, and ack()."""

    def __init__(self, messages: Sequence[CommandResult]) -> None:
        self.raw_message = tuple(
            ConsumerRecord(topics.TOPIC_COMMAND_RESULTS.name, 0, offset, 0, 0, None, m.to_bytes(), None, 0, 0, [])
            for offset, m in enumerate(messages)
        )
        self.acked = False

    async def ack(self) -> None:
        self.acked = True


@pytest.fixture
def debug_logs() -> Iterator[list[dict[str, Any]]]:
    """Every line logged at DEBUG and above, with the context variables bound when it was written."""
    config = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    with capture_logs(processors=[merge_contextvars]) as lines:
        yield lines
    structlog.configure(**config)


async def test_every_line_written_while_a_batch_is_handled_names_its_records(debug_logs: list[dict[str, Any]]) -> None:
    bound_for_handler: list[dict[str, Any]] = []

    async def handler(deliveries: Sequence[Delivery]) -> None:
        bound_for_handler.append(get_contextvars())
        if len(deliveries) > 1:  # the batch fails as a whole: it is bisected, down to each record alone
            raise ValueError("one of these is bad")
        structlog.get_logger("handler").info("handled one record")

    subscription = Subscription(
        topics.TOPIC_COMMAND_RESULTS, "test-group", Catalogue("results", [CommandResult]), handler, "test"
    )
    processor = BatchProcessor(subscription, DeadLetterPublisher(KafkaBroker(), "test"), "test", RetryPolicy())
    batch = _Batch([_message("client-a", "invoice-1"), _message("client-a", "invoice-2")])
    await processor.process(batch)  # type: ignore[arg-type]

    assert batch.acked
    batch_ids = {"client_id": "client-a", "correlation_ids": ["invoice-1", "invoice-2"]}
    record_ids = [{"client_id": "client-a", "correlation_id": f"invoice-{n}"} for n in (1, 2)]
    assert [{k: v for k, v in bound.items() if k in batch_ids | record_ids[0]} for bound in bound_for_handler] == [
        batch_ids,
        *record_ids,
    ]
    ids = {"client_id", "correlation_id", "client_ids", "correlation_ids"}
    assert [(line["event"], {k: v for k, v in line.items() if k in ids}) for line in debug_logs] == [
        ("handler failed", batch_ids),
        ("batch failed, bisecting it to isolate the failing records", batch_ids),
        ("handled one record", record_ids[0]),
        ("handled one record", record_ids[1]),
        ("batch handled", batch_ids),
        ("record handled", record_ids[0]),
        ("record handled", record_ids[1]),
    ]
    assert [line["log_level"] for line in debug_logs if line["event"].endswith("handled")] == ["info", "debug", "debug"]


def _lines_naming(stack: Stack, process: str, invoice: str) -> list[dict[str, Any]]:
    log = stack.logfile(process)
    text = log.read_text(errors="replace") if log.exists() else ""
    # A line still being written when the file is read is skipped; the next read has it whole.
    return [
        json.loads(line)
        for line in text.splitlines()
        if invoice in line and line.startswith("{") and line.endswith("}")
    ]


@pytest.mark.integration
async def test_one_invoice_can_be_followed_through_invoicing_the_factoring_gateway_and_the_ledger(
    services: Stack, operator: Operator, client_id: str
) -> None:
    person, _ = await factoring_client(operator, client_id, "abc-factoring")
    invoice = await operator.create_invoice(client_id, person, TEN_THOUSAND)
    await operator.send_invoice(client_id, invoice)
    # The message each service handled about this invoice: invoicing hears of its factoring status, the gateway
    # gets the delivery from invoicing, the ledger books the sale and the provider's events.
    path = {
        "invoicing": topics.TOPIC_FACTORING_EVENTS.name,
        "factoring-gateway": topics.TOPIC_INVOICING_EVENTS.name,
        "ledger": topics.TOPIC_LEDGER_COMMANDS.name,
    }

    async def followed() -> dict[str, list[dict[str, Any]]] | None:
        found = {
            process: [
                line
                for line in _lines_naming(services, process, str(invoice))
                if line.get("topic") == topic
                and line.get("correlation_id") == str(invoice)
                and line.get("client_id") == client_id
            ]
            for process, topic in path.items()
        }
        return found if all(found.values()) else None

    try:
        found = await eventually(followed, timeout=30)
    except TimeoutError:
        seen = {process: _lines_naming(services, process, str(invoice)) for process in path}
        pytest.fail(f"invoice {invoice} not followed through {list(path)}; lines naming it: {seen}")
    for process, lines in found.items():
        assert all(line["service"] == process and line["level"] == "info" for line in lines), lines
