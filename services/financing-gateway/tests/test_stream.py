"""The receivables stream: which changes are told, gap-free numbering, snapshot parts."""

from __future__ import annotations

from datetime import UTC, date, datetime
from uuid import uuid4

import pytest

from financing_gateway.domain.stream import OpenItem, ReceivableStream, classify, snapshot_parts
from ledgerline_contracts.providers.buffer import ReceivableChange

DUE = date(2026, 12, 23)
NOW = datetime(2026, 11, 23, tzinfo=UTC)


def item(balance: int, original: int = 1_250_000, due: date | None = DUE) -> OpenItem:
    return OpenItem(10001, "1001", "1500", original, balance, due)


@pytest.mark.parametrize(
    ("before", "after", "change"),
    [
        (None, item(1_250_000), ReceivableChange.OPENED),
        (item(1_250_000), item(250_000), ReceivableChange.REDUCED),
        (item(250_000), item(0), ReceivableChange.SETTLED),
        (item(250_000), item(300_000), ReceivableChange.INCREASED),
        (item(1_250_000), item(1_250_000, due=date(2027, 1, 31)), ReceivableChange.AMENDED),
        (item(-5_000), item(0), ReceivableChange.SETTLED),
    ],
    ids=["new invoice", "part payment", "paid", "reversed payment", "new due date", "credit balance used"],
)
def test_each_real_change_of_an_open_item_has_a_kind(
    before: OpenItem | None, after: OpenItem, change: ReceivableChange
) -> None:
    assert classify(before, after) is change


@pytest.mark.parametrize(
    ("before", "after"),
    [(None, item(0)), (item(1_250_000), item(1_250_000))],
    ids=["opened and settled at once", "touched but unchanged"],
)
def test_nothing_is_told_when_nothing_the_provider_reads_changed(before: OpenItem | None, after: OpenItem) -> None:
    assert classify(before, after) is None


def test_sequence_numbers_grow_by_one_per_message_and_survive_a_new_onboarding() -> None:
    stream = ReceivableStream("c1")
    stream.start(uuid4())
    assert [stream.take_sequence(NOW) for _ in range(3)] == [1, 2, 3]
    stream.stop()
    assert not stream.streaming
    second = uuid4()
    stream.start(second)
    assert stream.take_sequence(NOW) == 4
    assert (stream.onboarding_id, stream.last_sent_at) == (second, NOW)


def test_a_snapshot_is_split_into_parts_that_together_hold_every_item_once() -> None:
    items = list(range(2_501))
    parts = snapshot_parts(items, part_size=1_000)
    assert [len(p) for p in parts] == [1_000, 1_000, 501]
    assert [i for p in parts for i in p] == items


def test_an_empty_snapshot_is_still_sent_as_one_part() -> None:
    assert snapshot_parts([], part_size=1_000) == [[]]
