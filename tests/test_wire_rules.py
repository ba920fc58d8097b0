"""What every consumer refuses or derives before a handler sees a message (issue 18, holes 1 and 5)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from ledgerline_abc_factoring import contract as abc
from ledgerline_contracts.ledger import LEDGER_COMMANDS
from ledgerline_contracts.messages import MAX_TEXT_LENGTH, UndecodableMessage
from ledgerline_contracts.providers import buffer
from ledgerline_fjord_invoice_sale import contract as fjord

TODAY = datetime.now(UTC).date()
OFFER = "0b6f3f55-3d36-4c8e-9b1c-2f8d0e0d6a11"


def fjord_payment(**changes: Any) -> dict[str, Any]:
    return {
        "messageType": "fjord.BuyerPayment",
        "schemaVersion": 1,
        "offerRef": OFFER,
        "amount": "125.00",
        "paidOn": TODAY.isoformat(),
    } | changes


def abc_event(**changes: Any) -> dict[str, Any]:
    return {
        "type": "abc.InvoiceEvent",
        "version": 1,
        "event_id": "e-1",
        "submission_id": OFFER,
        "sequence": 1,
        "event_type": "invoice.accepted",
        "occurred_on": TODAY.isoformat(),
    } | changes


# --- hole 1: a message without an id is identified by its content ---------------------------------------------------
def test_the_same_bytes_without_a_message_id_decode_to_the_same_id_every_time() -> None:
    raw = orjson.dumps(fjord_payment())
    first, again = fjord.INBOUND.decode(raw), fjord.INBOUND.decode(raw)
    assert first.message_id == again.message_id


def test_the_derived_id_ignores_key_order_and_whitespace_but_not_content() -> None:
    data = fjord_payment()
    reordered = b"{ " + b", ".join(orjson.dumps({k: v})[1:-1] for k, v in reversed(data.items())) + b" }"
    assert fjord.INBOUND.decode(reordered).message_id == fjord.INBOUND.decode(orjson.dumps(data)).message_id
    other = fjord.INBOUND.decode(orjson.dumps(fjord_payment(amount="125.01")))
    assert other.message_id != fjord.INBOUND.decode(orjson.dumps(data)).message_id


def test_a_message_id_that_is_given_is_kept() -> None:
    given = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
    assert str(fjord.INBOUND.decode(orjson.dumps(fjord_payment(messageId=given))).message_id) == given
    assert str(abc.INBOUND.decode(orjson.dumps(abc_event(message_id=given))).message_id) == given


# --- hole 5: provider dates, NUL characters, over-long text ----------------------------------------------------------
@pytest.mark.parametrize(
    "written",
    [
        f"{TODAY.isoformat()}T00:00:00",  # a timestamp where a date belongs
        int(datetime(TODAY.year, TODAY.month, TODAY.day, tzinfo=UTC).timestamp()),  # epoch seconds
        TODAY.strftime("%d.%m.%Y"),  # the Norwegian way of writing it, still not ISO
        TODAY.strftime("%Y%m%d"),
    ],
)
def test_provider_dates_are_iso_dates_only(written: object) -> None:
    with pytest.raises(UndecodableMessage, match=r"paidOn: .*YYYY-MM-DD"):
        fjord.INBOUND.decode(orjson.dumps(fjord_payment(paidOn=written)))


@pytest.mark.parametrize("days", [-11 * 366, 32, 36500])
def test_provider_dates_far_from_today_are_refused(days: int) -> None:
    when = (TODAY + timedelta(days=days)).isoformat()
    with pytest.raises(UndecodableMessage, match=r"occurred_on: .*not within"):
        abc.INBOUND.decode(orjson.dumps(abc_event(occurred_on=when)))


def test_provider_dates_within_the_window_are_taken() -> None:
    for days in (-9 * 366, -1, 0, 1, 31):
        when = TODAY + timedelta(days=days)
        assert abc.INBOUND.decode(orjson.dumps(abc_event(occurred_on=when.isoformat()))).occurred_on == when


def test_buffer_dates_follow_the_same_rule() -> None:
    repayment = {
        "type": "buffer.RepaymentMade",
        "version": 1,
        "client_id": "c1",
        "repayment_id": "r-1",
        "amount_ore": 100,
        "repaid_on": "2062-01-01",
    }
    with pytest.raises(UndecodableMessage, match="repaid_on"):
        buffer.INBOUND.decode(orjson.dumps(repayment))


def test_a_nul_character_anywhere_is_refused_naming_where() -> None:
    with pytest.raises(UndecodableMessage, match=r"description: text with a NUL character"):
        abc.INBOUND.decode(orjson.dumps(abc_event(description="paid\x00in full")))
    nested = {
        "type": "ledger.OpenBooks",
        "version": 1,
        "client_id": "c1",
        "company_name": "Nul\x00 AS",
    }
    with pytest.raises(UndecodableMessage, match="company_name: text with a NUL"):
        LEDGER_COMMANDS.decode(orjson.dumps(nested))


def test_an_escaped_backslash_before_u0000_is_text_not_a_nul() -> None:
    event = abc.INBOUND.decode(orjson.dumps(abc_event(description="C:\\u0000")))
    assert event.description == "C:\\u0000"  # type: ignore[attr-defined]


def test_over_long_text_is_refused_naming_the_field() -> None:
    too_long = "x" * (MAX_TEXT_LENGTH + 1)
    with pytest.raises(UndecodableMessage, match=r"fjord.RecourseNotice v1: reason: String should have at most"):
        fjord.INBOUND.decode(
            orjson.dumps(
                {
                    "messageType": "fjord.RecourseNotice",
                    "schemaVersion": 1,
                    "offerRef": OFFER,
                    "amount": "1.00",
                    "returnedOn": TODAY.isoformat(),
                    "reason": too_long,
                }
            )
        )
    buyer = {"buyerType": "B2B", "legalName": too_long, "street": "s", "zip": "1", "town": "t", "phoneNumber": "1"}
    with pytest.raises(ValueError, match=r"legalName\n  String should have at most 4000 characters"):
        fjord.Buyer.model_validate(buyer | {"emailAddress": "a@b.no"})
