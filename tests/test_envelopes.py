"""Envelopes: a unit of work's messages for one key travel as one record between our services."""

from __future__ import annotations

import uuid
from datetime import date

import orjson
import pytest

from ledgerline_contracts import topics
from ledgerline_contracts.ledger import LEDGER_EVENTS, OpenItemChanged, PeriodClosed
from ledgerline_contracts.messages import MAX_MESSAGE_BYTES, UndecodableMessage, envelope, envelope_types
from servicekit.db import outbox_rows


def closed(client: str, day: int) -> PeriodClosed:
    return PeriodClosed(client_id=client, closed_through=date(2026, 1, day))


def item(
    topic: topics.Topic, message: PeriodClosed, kind: bool = True
) -> tuple[str, bytes, bytes, str | None, str | None]:
    return (topic.name, message.client_id.encode(), message.to_bytes(), message.type if kind else None, None)


def test_an_envelope_holds_its_items_in_order_and_announces_their_types() -> None:
    messages = [closed("c1", 1), closed("c1", 2)]
    raw = envelope([(m.type, m.to_bytes()) for m in messages])
    assert envelope_types(raw) == {"ledger.PeriodClosed"}
    decoded = LEDGER_EVENTS.decode_record(raw)
    assert [d.message for d in decoded] == messages
    assert orjson.loads(decoded[0].original()) == orjson.loads(messages[0].to_bytes())


def test_a_consumer_skips_an_envelope_with_nothing_for_it_and_keeps_the_wanted_items() -> None:
    message = closed("c1", 1)
    raw = envelope([(message.type, message.to_bytes())])
    assert LEDGER_EVENTS.decode_record(raw, frozenset({"ledger.VoucherPosted"})) == []
    assert [d.message for d in LEDGER_EVENTS.decode_record(raw, frozenset({"ledger.PeriodClosed"}))] == [message]


def test_one_bad_item_is_refused_alone() -> None:
    good = closed("c1", 1)
    bad = b'{"type":"ledger.PeriodClosed","version":1,"client_id":"c1","closed_through":"not a date"}'
    decoded = LEDGER_EVENTS.decode_record(envelope([(good.type, good.to_bytes()), ("ledger.PeriodClosed", bad)]))
    assert decoded[0].message == good and decoded[0].error is None
    assert decoded[1].message is None and decoded[1].error is not None and "closed_through" in decoded[1].error
    assert orjson.loads(decoded[1].original())["closed_through"] == "not a date"  # replayable on its own


def test_a_plain_message_still_decodes_and_a_broken_envelope_is_refused_whole() -> None:
    message = closed("c1", 1)
    assert [d.message for d in LEDGER_EVENTS.decode_record(message.to_bytes())] == [message]
    with pytest.raises(UndecodableMessage):
        LEDGER_EVENTS.decode_record(b'{"type":"ledgerline.Envelope","version":1,"types":["x"],"items":[')


def test_the_outbox_puts_one_keys_messages_in_one_row_and_keeps_each_keys_order() -> None:
    events, results = topics.TOPIC_LEDGER_EVENTS, topics.TOPIC_COMMAND_RESULTS
    a1, b1, a2, a3 = closed("a", 1), closed("b", 1), closed("a", 2), closed("a", 3)
    rows = outbox_rows([item(events, a1), item(events, b1), item(results, a2, kind=False), item(events, a3)])
    assert [(topic, key) for topic, key, _, _ in rows] == [
        (events.name, b"a"),
        (events.name, b"b"),
        (results.name, b"a"),
    ]
    assert [d.message for d in LEDGER_EVENTS.decode_record(rows[0][2])] == [a1, a3]
    assert rows[1][2] == b1.to_bytes()  # alone: as itself


def test_envelopes_stay_under_the_size_limit() -> None:
    many = [
        OpenItemChanged(
            client_id="c1",
            party=10001,
            open_item=f"{n:08d}" + "x" * 30,
            account="1500",
            original_ore=n + 1,
            balance_ore=n,
            due_date=date(2026, 1, 1),
            voucher_id=uuid.uuid4(),
            cause="y" * 100,
        )
        for n in range(3000)
    ]
    rows = outbox_rows([(topics.TOPIC_LEDGER_EVENTS.name, b"c1", m.to_bytes(), m.type, None) for m in many])
    assert len(rows) > 1 and all(len(value) <= MAX_MESSAGE_BYTES for _, _, value, _ in rows)
    decoded = [d.message for _, _, value, _ in rows for d in LEDGER_EVENTS.decode_record(value)]
    assert decoded == many
