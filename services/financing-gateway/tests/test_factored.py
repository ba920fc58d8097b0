"""Which open items a factoring provider holds, and what Buffer hears when that changes."""

from __future__ import annotations

from uuid import uuid4

import pytest

from financing_gateway.domain.factored import RELEASED, FactoredInvoice, hold_change
from ledgerline_contracts.invoicing import FactoringStatus
from ledgerline_contracts.providers.buffer import ReceivableChange

S = FactoringStatus


def delivered(status: FactoringStatus | None = None) -> FactoredInvoice:
    invoice = FactoredInvoice(uuid4(), "abc-factoring")
    invoice.delivered("abc-factoring", 10001, "1001")
    if status is not None:
        invoice.apply_status(status, 2)
    return invoice


def test_a_delivered_invoice_is_held_before_any_status_arrives() -> None:
    invoice = delivered()
    assert invoice.item == (10001, "1001") and invoice.held


@pytest.mark.parametrize("status", [s for s in FactoringStatus if s not in RELEASED])
def test_every_status_but_rejected_refused_and_returned_holds_the_item(status: FactoringStatus) -> None:
    assert delivered(status).held


@pytest.mark.parametrize("status", [S.PREPARING, S.PREPARED])
def test_an_invoice_awaiting_the_providers_decision_is_held(status: FactoringStatus) -> None:
    assert delivered(status).held  # the provider has it: pledging it meanwhile would pledge it twice on acceptance


@pytest.mark.parametrize("status", [S.REJECTED, S.DELIVERY_REFUSED, S.RETURNED])
def test_a_rejected_refused_or_returned_invoice_is_the_clients_again(status: FactoringStatus) -> None:
    assert not delivered(status).held


def test_a_status_heard_before_the_delivery_holds_nothing_until_the_open_item_is_known() -> None:
    invoice = FactoredInvoice(uuid4(), "abc-factoring")
    assert invoice.apply_status(S.ADVANCE_PAID, 4)
    assert invoice.item is None and not invoice.held
    invoice.delivered("abc-factoring", 10002, "1007")
    assert invoice.held and invoice.item == (10002, "1007")


def test_a_returned_status_heard_before_the_delivery_keeps_the_item_free() -> None:
    invoice = FactoredInvoice(uuid4(), "abc-factoring")
    invoice.apply_status(S.RETURNED, 7)
    invoice.delivered("abc-factoring", 10002, "1007")
    assert not invoice.held


def test_only_a_newer_status_replaces_the_known_one() -> None:
    invoice = delivered(S.ADVANCE_PAID)  # sequence 2
    assert invoice.apply_status(S.RETURNED, 5)
    assert not invoice.apply_status(S.ACCEPTED, 3)  # late: older than what is known
    assert not invoice.apply_status(S.ACCEPTED, 5)  # the same position again
    assert (invoice.status, invoice.status_sequence, invoice.held) == (S.RETURNED, 5, False)


@pytest.mark.parametrize(
    ("before", "now", "change"),
    [
        (False, True, ReceivableChange.FACTORED),
        (True, False, ReceivableChange.OPENED),
        (True, True, None),
        (False, False, None),
    ],
    ids=["taken over", "given back", "still held", "never held"],
)
def test_buffer_hears_only_when_the_holding_changes(before: bool, now: bool, change: ReceivableChange | None) -> None:
    assert hold_change(before, now) is change
