"""A broker that is away must not flood the logs: aiokafka's repeated connection errors are let through once per
window, with a count of what was held back; every other line is untouched."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from servicekit.logging import RepeatFilter

REFUSED = "Unable connect to node with id %s: %s"


@pytest.fixture
def written() -> Iterator[tuple[io.StringIO, RepeatFilter]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    repeats = RepeatFilter(window=10.0)
    handler.addFilter(repeats)
    loggers = [logging.getLogger(name) for name in ("aiokafka.client", "aiokafka.consumer.fetcher", "ledger.test")]
    for logger in loggers:
        logger.addHandler(handler)
        logger.propagate = False
    yield stream, repeats
    for logger in loggers:
        logger.removeHandler(handler)
        logger.propagate = True


def test_a_burst_of_one_aiokafka_error_is_written_once_and_other_lines_all(
    written: tuple[io.StringIO, RepeatFilter],
) -> None:
    stream, _ = written
    for _ in range(1500):  # about one second of a broker that is away, as measured
        logging.getLogger("aiokafka.client").error(REFUSED, 1, "[Errno 111] Connection refused")
    logging.getLogger("aiokafka.consumer.fetcher").error("Failed fetch messages from %s: %s", 1, "NodeNotReady")
    for n in range(3):
        logging.getLogger("ledger.test").error("our own line %s", n)
    assert stream.getvalue().splitlines() == [
        "Unable connect to node with id 1: [Errno 111] Connection refused",
        "Failed fetch messages from 1: NodeNotReady",
        "our own line 0",
        "our own line 1",
        "our own line 2",
    ]


def test_after_the_window_the_next_one_is_written_with_how_many_were_held_back() -> None:
    repeats = RepeatFilter(window=10.0)

    def record(at: float) -> logging.LogRecord:
        made = logging.LogRecord("aiokafka.client", logging.ERROR, __file__, 1, REFUSED, (1, "refused"), None)
        made.created = at
        return made

    passed = [(at, r.getMessage()) for at in (0.0, 1.0, 2.0, 9.9, 10.5, 11.0, 30.0) if repeats.filter(r := record(at))]
    assert passed == [
        (0.0, "Unable connect to node with id 1: refused"),
        (10.5, "Unable connect to node with id 1: refused [3 more like it since the last one shown]"),
        (30.0, "Unable connect to node with id 1: refused [1 more like it since the last one shown]"),
    ]
