"""Invoicing's factoring rules (DOMAIN.md rules 1–12) on the pure domain."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from invoicing.domain import postings, rules
from invoicing.domain.model import Client, CustomerCard, Integration, IntegrationState, Invoice, InvoiceState
from invoicing.domain.rules import Refused
from ledgerline_contracts.invoicing import (
    CustomerData,
    CustomerKind,
    DeliveryMethod,
    FactoringStatus,
    InvoiceLine,
    InvoiceOrigin,
    VatCode,
)
from ledgerline_contracts.ledger import PostVoucher
from ledgerline_contracts.samples import COMPANY, PERSON


def active_client() -> Client:
    client = Client("c1", "Demo AS", "912345678")
    client.integration = Integration("abc-factoring", IntegrationState.ACTIVE, uuid.uuid4(), "ABC Factoring")
    return client


def draft(origin: InvoiceOrigin = InvoiceOrigin.CREATED, *lines: InvoiceLine) -> Invoice:
    lines_ = list(lines) or [InvoiceLine(description="Consulting", net_ore=1_000_000)]
    net, vat, gross = rules.totals(lines_)
    return Invoice(uuid.uuid4(), 10001, origin, date(2026, 11, 23), date(2026, 12, 7), lines_, net, vat, gross)


def test_a_person_needs_names_full_address_phone_and_email() -> None:
    assert rules.missing_for_factoring(PERSON) == []
    bare = CustomerData(kind=CustomerKind.PERSON, first_name="Kari")
    assert rules.missing_for_factoring(bare) == ["last name", "street address", "postcode", "city", "phone", "e-mail"]


def test_a_company_needs_its_organisation_number() -> None:
    assert rules.missing_for_factoring(COMPANY) == []
    without = COMPANY.model_copy(update={"organisation_number": None})
    assert rules.missing_for_factoring(without) == ["organisation number"]


def test_activation_is_refused_while_the_old_file_based_factoring_is_on() -> None:
    client = Client("c1", "Demo AS", "912345678", legacy_factoring=True)
    with pytest.raises(Refused, match="old file-based factoring is still on"):
        rules.start_activation(client, "abc-factoring", uuid.uuid4())


def test_old_factoring_cannot_be_turned_off_with_unsent_invoices() -> None:
    with pytest.raises(Refused, match="2 invoice"):
        rules.turn_off_legacy_factoring(Client("c1", "Demo AS", "912345678", legacy_factoring=True), 2)
    rules.turn_off_legacy_factoring(Client("c1", "Demo AS", "912345678", legacy_factoring=True), 0)


def test_only_one_integration_at_a_time() -> None:
    with pytest.raises(Refused, match="ABC Factoring is active"):
        rules.start_activation(active_client(), "fjord-invoice-sale", uuid.uuid4())


def test_activation_flags_every_card_and_deactivation_restores_the_old_method() -> None:
    cards = [CustomerCard(10001, PERSON, False, "email"), CustomerCard(10002, COMPANY, False, "print")]
    flagged = rules.flag_cards_for_factoring(cards, "ABC Factoring")
    assert all(c.use_factoring and c.delivery_method == "ABC Factoring" for c in flagged)
    restored = rules.unflag_cards(flagged, "ABC Factoring")
    assert [(c.use_factoring, c.delivery_method) for c in restored] == [(False, "email"), (False, "print")]


def test_new_cards_use_factoring_by_default_while_an_integration_is_active() -> None:
    card = rules.new_card(active_client(), 10003, PERSON, None, None)
    assert card.use_factoring and card.delivery_method == "ABC Factoring"
    plain = rules.new_card(Client("c2", "Other AS", "912345679"), 10003, PERSON, None, None)
    assert not plain.use_factoring and plain.delivery_method == "email"


def test_saving_a_factoring_card_that_lacks_data_names_what_is_missing() -> None:
    bare = COMPANY.model_copy(update={"organisation_number": None, "phone": None})
    with pytest.raises(Refused, match="lacks what ABC Factoring needs: organisation number, phone"):
        rules.new_card(active_client(), 10004, bare, None, None)
    excluded = rules.new_card(active_client(), 10004, bare, False, "email")  # excluded customers need less
    assert not excluded.use_factoring


def test_imported_invoices_never_go_via_factoring() -> None:
    client = active_client()
    card = CustomerCard(10001, PERSON, True, "ABC Factoring")
    with pytest.raises(Refused, match="imported invoices cannot go via factoring"):
        rules.choose_delivery(client, card, draft(InvoiceOrigin.IMPORTED), None)
    assert rules.choose_delivery(client, card, draft(InvoiceOrigin.IMPORTED), "email") == ("email", False)


def test_an_excluded_customer_is_never_delivered_via_factoring() -> None:
    client = active_client()
    card = rules.exclude_from_factoring(
        client, CustomerCard(10001, PERSON, True, "ABC Factoring"), DeliveryMethod.PRINT
    )
    assert rules.choose_delivery(client, card, draft(), None) == ("print", False)
    with pytest.raises(Refused, match="excluded from factoring"):
        rules.choose_delivery(client, card, draft(), "ABC Factoring")


def test_the_customer_data_check_runs_again_when_sending() -> None:
    card = CustomerCard(10001, PERSON.model_copy(update={"email": None}), True, "ABC Factoring")
    with pytest.raises(Refused, match="lacks what ABC Factoring needs: e-mail"):
        rules.choose_delivery(active_client(), card, draft(), None)


def test_sending_via_factoring_prepares_it_and_switches_off_reminders_and_collection() -> None:
    client = active_client()
    client.debt_collection = True
    invoice = draft()
    method, via = rules.choose_delivery(client, CustomerCard(10001, PERSON, True, "ABC Factoring"), invoice, None)
    rules.send(client, invoice, method, via)
    assert invoice.state is InvoiceState.SENT and invoice.number == "1001"
    assert invoice.factoring_status is FactoringStatus.PREPARING
    assert not invoice.reminders and not invoice.debt_collection
    assert client.next_invoice_number == 1002


def test_an_override_for_one_invoice_skips_factoring_for_that_invoice_only() -> None:
    client = active_client()
    invoice = draft()
    method, via = rules.choose_delivery(client, CustomerCard(10001, PERSON, True, "ABC Factoring"), invoice, "email")
    rules.send(client, invoice, method, via)
    assert (method, via, invoice.factoring_status, invoice.reminders) == ("email", False, None, True)


def test_e_invoice_needs_an_agreement() -> None:
    with pytest.raises(Refused, match="no e-invoice"):
        rules.choose_delivery(active_client(), CustomerCard(10001, PERSON, False, "email"), draft(), "e_invoice")


def test_vat_is_rounded_half_up_per_line_in_whole_ore() -> None:
    assert rules.vat_of(InvoiceLine(description="x", net_ore=1_000_000)) == 250_000
    assert rules.vat_of(InvoiceLine(description="x", net_ore=3, vat_code=VatCode.LOW)) == 0  # 0.36 øre
    assert rules.vat_of(InvoiceLine(description="x", net_ore=5, vat_code=VatCode.HIGH)) == 1  # 1.25 øre
    assert rules.vat_of(InvoiceLine(description="x", net_ore=10, vat_code=VatCode.MEDIUM)) == 2  # 1.5 → 2


def test_the_sale_voucher_balances_and_opens_the_invoice_on_the_customer() -> None:
    client = active_client()
    invoice = draft(
        InvoiceOrigin.CREATED,
        InvoiceLine(description="a", net_ore=1_000_000),
        InvoiceLine(description="b", net_ore=33_333, vat_code=VatCode.LOW),
        InvoiceLine(description="c", net_ore=5_000, vat_code=VatCode.EXEMPT),
    )
    rules.send(client, invoice, "email", False)
    voucher = postings.sale(client, invoice)
    debit = sum(line.amount_ore for line in voucher.lines if line.side == "debit")
    credit = sum(line.amount_ore for line in voucher.lines if line.side == "credit")
    assert debit == credit == invoice.gross_ore == 1_000_000 + 250_000 + 33_333 + 4_000 + 5_000
    receivable = voucher.lines[0]
    assert (receivable.account, receivable.party, receivable.open_item) == ("1500", 10001, "1001")
    assert {line.account for line in voucher.lines} == {"1500", "3000", "3100", "2700"}


def test_a_partial_credit_note_splits_net_and_vat_like_the_invoice() -> None:
    client = active_client()
    invoice = draft()
    rules.send(client, invoice, "email", False)
    voucher = postings.credit_note(client, invoice, 500_000, date(2026, 11, 30), uuid.uuid4(), credited_before=0)
    amounts = {(line.account, line.side, line.vat_code): line.amount_ore for line in voucher.lines}
    assert amounts == {
        ("3000", "debit", "3"): 400_000,
        ("2700", "debit", "3"): 100_000,
        ("1500", "credit", None): 500_000,
    }


def _net_per_account_and_code(vouchers: list[PostVoucher]) -> dict[tuple[str, str | None], int]:
    net: dict[tuple[str, str | None], int] = defaultdict(int)
    for voucher in vouchers:
        for line in voucher.lines:
            net[(line.account, line.vat_code)] += line.amount_ore if line.side == "debit" else -line.amount_ore
    return {key: amount for key, amount in net.items() if amount}


def test_credit_notes_of_a_mixed_vat_invoice_reverse_each_account_and_code() -> None:
    client = active_client()
    invoice = draft(
        InvoiceOrigin.CREATED,
        InvoiceLine(description="taxed", net_ore=1_000_000),
        InvoiceLine(description="exempt", net_ore=1_000_000, vat_code=VatCode.EXEMPT),
    )
    rules.send(client, invoice, "email", False)
    credit = postings.credit_note(client, invoice, invoice.gross_ore, date(2026, 11, 30), uuid.uuid4(), 0)
    assert _net_per_account_and_code([postings.sale(client, invoice), credit]) == {}
    amounts = {(line.account, line.vat_code): line.amount_ore for line in credit.lines if line.side == "debit"}
    assert amounts == {("3000", "3"): 1_000_000, ("2700", "3"): 250_000, ("3100", "6"): 1_000_000}


@settings(max_examples=200, deadline=None)
@given(
    nets=st.lists(st.tuples(st.integers(1, 10_000_000), st.sampled_from(list(VatCode))), min_size=1, max_size=4),
    cuts=st.lists(st.integers(1, 10_000), min_size=0, max_size=5),
)
def test_credit_notes_that_add_up_to_the_invoice_leave_nothing_on_any_account(
    nets: list[tuple[int, VatCode]], cuts: list[int]
) -> None:
    client = active_client()
    invoice = draft(
        InvoiceOrigin.CREATED,
        *(InvoiceLine(description=f"line {i}", net_ore=net, vat_code=code) for i, (net, code) in enumerate(nets)),
    )
    rules.send(client, invoice, "email", False)
    points = sorted({min(cut, invoice.gross_ore - 1) for cut in cuts if invoice.gross_ore > 1} | {0})
    parts = [b - a for a, b in zip(points, [*points[1:], invoice.gross_ore], strict=True) if b > a]
    vouchers, credited = [postings.sale(client, invoice)], 0
    for part in parts:
        credit = postings.credit_note(client, invoice, part, date(2026, 11, 30), uuid.uuid4(), credited)
        debit = sum(line.amount_ore for line in credit.lines if line.side == "debit")
        assert debit == sum(line.amount_ore for line in credit.lines if line.side == "credit")
        vouchers.append(credit)
        credited += part
    assert credited == invoice.gross_ore
    assert _net_per_account_and_code(vouchers) == {}


def test_older_status_updates_never_overwrite_newer_ones() -> None:
    invoice = draft()
    assert rules.apply_status(invoice, FactoringStatus.ACCEPTED, "Accepted", 2)
    assert not rules.apply_status(invoice, FactoringStatus.PREPARED, "Invoice prepared", 1)
    assert invoice.factoring_status is FactoringStatus.ACCEPTED


def test_a_payment_on_a_factored_invoice_is_passed_on_to_the_provider_that_holds_it() -> None:
    invoice = draft()
    rules.send(active_client(), invoice, "ABC Factoring", True)
    with pytest.raises(Refused, match="awaits abc-factoring's decision"):
        rules.check_payment(invoice, 100)
    rules.apply_status(invoice, FactoringStatus.ADVANCE_PAID, "Advance paid", 3)
    assert rules.check_payment(invoice, 100)
    invoice.passed_on_ore = 1_000_000  # an earlier mistaken payment, passed on already
    with pytest.raises(Refused, match="exceeds the 250000 øre the debtor still owes abc-factoring"):
        rules.check_payment(invoice, 250_001)
    rules.apply_status(invoice, FactoringStatus.PAID, "Debtor paid", 4)
    with pytest.raises(Refused, match="the debtor paid twice"):
        rules.check_payment(invoice, 100)


def test_a_payment_on_an_invoice_the_provider_rejected_is_the_clients() -> None:
    invoice = draft()
    rules.send(active_client(), invoice, "ABC Factoring", True)
    rules.apply_status(invoice, FactoringStatus.REJECTED, "Rejected by ABC Factoring", 2)
    assert not rules.check_payment(invoice, invoice.gross_ore)


def test_a_payment_on_an_invoice_sent_by_email_is_the_clients() -> None:
    invoice = draft()
    rules.send(active_client(), invoice, "email", False)
    assert not rules.check_payment(invoice, 100)


def test_an_invoice_returned_by_recourse_is_the_clients_to_collect_again() -> None:
    invoice = draft()
    rules.send(active_client(), invoice, "ABC Factoring", True)
    assert rules.apply_status(invoice, FactoringStatus.RETURNED, "Returned to the client (recourse)", 5)
    assert not rules.check_payment(invoice, invoice.gross_ore)


def test_an_invoice_sold_to_a_provider_can_still_be_credited_for_what_the_debtor_owes() -> None:
    invoice = draft()
    rules.send(active_client(), invoice, "ABC Factoring", True)
    rules.apply_status(invoice, FactoringStatus.PURCHASED, "Sold", 2)
    invoice.paid_ore = invoice.gross_ore  # the sale to the provider closed the receivable
    assert rules.check_credit(invoice, 250_000) == 250_000
    rules.apply_status(invoice, FactoringStatus.SETTLED, "Settled", 3)
    with pytest.raises(Refused, match="more than the 0 øre outstanding"):
        rules.check_credit(invoice, 1)


def test_dates_in_the_ledgers_closed_period_are_refused_before_anything_is_booked() -> None:
    client = active_client()
    rules.check_open_period(client, date(2026, 10, 15), "invoice date")  # nothing closed yet
    client.closed_through = date(2026, 10, 31)
    with pytest.raises(Refused, match=r"invoice date 2026-10-31 is in a closed period \(the books are closed"):
        rules.check_open_period(client, date(2026, 10, 31), "invoice date")
    rules.check_open_period(client, date(2026, 11, 1), "invoice date")
