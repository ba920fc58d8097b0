"""Encoders for the hottest events: the models' own JSON, built as plain dicts and serialised by orjson.

The ledger publishes a `VoucherPosted` and an `OpenItemChanged` for every voucher. Built as pydantic models and
dumped, each cost 45-50 µs (`../shared/PERF-FACTS.md`); as a dict through orjson, about a fifth of that.
`tests/test_encoders.py` shows with hypothesis that the bytes are exactly the models' own, so consumers cannot
tell the difference. Only for values the caller has validated already (the ledger's own, checked postings).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any
from uuid import UUID, uuid4

import orjson

from .ledger import BookingSource
from .messages import utc_now

PostedLineValues = tuple[int, str, int, int | None, str | None, date | None, str | None, str | None]
"""(line number, account, signed amount in øre: debit positive, party, open item, due date, VAT code, description)"""


def _dumps(value: dict[str, Any]) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_UTC_Z)


def _head(
    kind: str, message_id: UUID | None, occurred_at: datetime | None, correlation_id: str | None
) -> dict[str, Any]:
    return {
        "type": kind,
        "version": 1,
        "message_id": message_id or uuid4(),
        "occurred_at": occurred_at or utc_now(),
        "correlation_id": correlation_id,
    }


def _source(source: BookingSource) -> dict[str, Any]:
    return {
        "service": source.service,
        "provider": source.provider,
        "event_type": source.event_type,
        "provider_event_id": source.provider_event_id,
        "invoice_id": source.invoice_id,
    }


def voucher_posted(
    *,
    client_id: str,
    correlation_id: str | None,
    voucher_id: UUID,
    series: str,
    number: int,
    voucher_date: date,
    text: str,
    lines: Iterable[PostedLineValues],
    source: BookingSource,
    idempotency_key: str,
    reverses_voucher_id: UUID | None,
    message_id: UUID | None = None,
    occurred_at: datetime | None = None,
) -> bytes:
    """A `ledger.VoucherPosted` v1, byte for byte as the model writes it."""
    event = _head("ledger.VoucherPosted", message_id, occurred_at, correlation_id)
    event["client_id"] = client_id
    event["voucher_id"] = voucher_id
    event["series"] = series
    event["number"] = number
    event["voucher_date"] = voucher_date
    event["text"] = text
    event["lines"] = [
        {
            "account": account,
            "side": "debit" if amount > 0 else "credit",
            "amount_ore": abs(amount),
            "party": party,
            "open_item": open_item,
            "due_date": due_date,
            "vat_code": vat_code,
            "description": description,
            "line_number": line_number,
        }
        for line_number, account, amount, party, open_item, due_date, vat_code, description in lines
    ]
    event["source"] = _source(source)
    event["idempotency_key"] = idempotency_key
    event["reverses_voucher_id"] = reverses_voucher_id
    return _dumps(event)


def open_item_changed(
    *,
    client_id: str,
    correlation_id: str | None,
    party: int,
    open_item: str,
    account: str,
    original_ore: int,
    balance_ore: int,
    due_date: date | None,
    voucher_id: UUID,
    cause: str,
    source_service: str | None,
    message_id: UUID | None = None,
    occurred_at: datetime | None = None,
) -> bytes:
    """A `ledger.OpenItemChanged` v1, byte for byte as the model writes it."""
    event = _head("ledger.OpenItemChanged", message_id, occurred_at, correlation_id)
    event["client_id"] = client_id
    event["party"] = party
    event["open_item"] = open_item
    event["account"] = account
    event["original_ore"] = original_ore
    event["balance_ore"] = balance_ore
    event["due_date"] = due_date
    event["voucher_id"] = voucher_id
    event["cause"] = cause
    event["source_service"] = source_service
    return _dumps(event)
