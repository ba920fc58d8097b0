"""What a provider needs to make the invoice document: KIDs, check digits, lines, totals per VAT rate, the channel.

Pure domain and contract tests (no I/O), then the send handler with the fake unit of work: the delivery carries
every part of a Norwegian invoice.
"""

from __future__ import annotations

import uuid
from datetime import date

import pytest
from pydantic import ValidationError

from invoicing.domain import kid as kids
from invoicing.domain import rules
from invoicing.domain.model import CustomerCard
from ledgerline_contracts.invoicing import (
    Address,
    ChangeClientSettings,
    CreateClient,
    CreateInvoiceDraft,
    CustomerData,
    DeliveryMethod,
    InvoiceDelivery,
    InvoiceLine,
    SendInvoice,
    UpsertCustomerCard,
    VatCode,
    line_net,
)
from ledgerline_contracts.norway import (
    KidScheme,
    account_number_problem,
    kid_problem,
    mod10_check_digit,
    mod11_check_digit,
    organisation_number_problem,
    seller_registration,
)
from ledgerline_contracts.samples import COMPANY, PERSON

from .test_handlers import ADMIN, CLIENT, Invoicing, with_factoring


# --- check digits -------------------------------------------------------------------------------------------------
def test_mod10_is_luhn_on_known_numbers() -> None:
    assert mod10_check_digit("7992739871") == "3"  # 79927398713, the textbook Luhn example
    assert mod10_check_digit("0") == "0"
    assert kid_problem("79927398713", KidScheme.MOD10) is None
    assert kid_problem("79927398713", KidScheme.MOD11) == "KID 79927398713 fails its MOD11 check digit"


@pytest.mark.parametrize("number", ["86011117947", "15032080119", "12064532012"])
def test_mod11_accepts_real_norwegian_account_numbers(number: str) -> None:
    assert account_number_problem(number) is None
    assert kid_problem(number, KidScheme.MOD11) is None  # a KID uses the same MOD11


def test_mod11_on_a_known_organisation_number_and_where_it_has_no_check_digit() -> None:
    assert organisation_number_problem("974760673") is None  # Brønnøysundregistrene
    assert organisation_number_problem("974760672") == "organisation number 974760672 fails its MOD11 check digit"
    assert mod11_check_digit("97476067") == "3"
    # 9 1 2 3 4 5 6 7 weighted 3 2 7 6 5 4 3 2 is 133, remainder 1: the check digit would be 10, «-»
    assert mod11_check_digit("91234567") is None
    assert kid_problem("91234567-", KidScheme.MOD11) == "KID '91234567-' is not 2 to 25 digits"


@pytest.mark.parametrize(
    ("kid", "scheme", "problem"),
    [
        ("86011117948", KidScheme.MOD11, "KID 86011117948 fails its MOD11 check digit"),
        ("1", KidScheme.MOD10, "KID '1' is not 2 to 25 digits"),
        ("12345678901234567890123456", KidScheme.MOD10, "is not 2 to 25 digits"),
        ("", KidScheme.MOD10, "no KID"),
        ("79927398713", None, "names no check-digit scheme"),
        ("79927398713", "MOD97", "neither MOD10 nor MOD11"),
    ],
)
def test_a_kid_that_its_bank_would_refuse_is_named(kid: str, scheme: KidScheme | str | None, problem: str) -> None:
    assert problem in (kid_problem(kid, scheme) or "")


# --- the KID of an invoice ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("scheme", list(KidScheme))
def test_a_kid_names_customer_and_invoice_and_is_valid_under_the_clients_scheme(scheme: KidScheme) -> None:
    seen = set()
    for customer in (10001, 10002, 19999):
        for number in ("1001", "1002", "1003", "99999999"):
            kid = kids.kid_for(customer, number, scheme)
            assert len(kid) == kids.KID_LENGTH == 15 and kid.isdigit()
            assert kid_problem(kid, scheme) is None
            assert kids.parts(kid) == (customer, number)
            seen.add(kid)
    assert len(seen) == 12  # one per invoice
    one = kids.kid_for(10001, "1002", scheme)
    for position in range(len(one)):  # any single wrong digit is caught
        wrong = one[:position] + str((int(one[position]) + 1) % 10) + one[position + 1 :]
        assert kid_problem(wrong, scheme) is not None


def test_the_schemes_give_different_check_digits() -> None:
    assert kids.kid_for(10001, "1002", KidScheme.MOD10) == "100010000100204"
    assert kids.kid_for(10001, "1002", KidScheme.MOD11) == "100010000100202"


def test_where_mod11_has_no_check_digit_the_variant_digit_is_1() -> None:
    # customer 10001, invoice 1003, variant 0: the weighted sum leaves remainder 1 (the check digit would be «-»)
    assert mod11_check_digit("10001000010030") is None
    kid = kids.kid_for(10001, "1003", KidScheme.MOD11)
    assert kid == "100010000100318" and kid_problem(kid, KidScheme.MOD11) is None
    assert kids.kid_for(10001, "1003", KidScheme.MOD10)[13] == "0"  # MOD10 always has its variant 0


def test_numbers_outside_the_layout_are_refused() -> None:
    with pytest.raises(kids.KidImpossible):
        kids.kid_for(10001, "123456789", KidScheme.MOD10)
    with pytest.raises(kids.KidImpossible):
        kids.kid_for(100001, "1001", KidScheme.MOD10)


# --- lines: quantity × unit price ---------------------------------------------------------------------------------
def test_quantity_times_unit_price_rounded_half_up_is_the_net_amount() -> None:
    line = InvoiceLine(description="Hours", quantity="2.5", unit_price_ore=99_99, net_ore=249_98)  # 249.975 → 249.98
    assert line.net_ore == line_net("2.5", 99_99) == 24998
    assert line_net("0.125", 4) == 1  # 0.5 øre rounds up
    assert line_net("0.125", 3) == 0  # 0.375 øre rounds down
    with pytest.raises(ValidationError, match=r"is 24998 øre .* not net_ore 24997"):
        InvoiceLine(description="Hours", quantity="2.5", unit_price_ore=99_99, net_ore=249_97)


def test_a_line_without_quantity_is_one_unit_at_its_net_amount() -> None:
    old = InvoiceLine.model_validate({"description": "Consulting", "net_ore": 1_000_000})  # as stored before
    assert (old.quantity, old.unit_price_ore) == ("1", 1_000_000)
    with pytest.raises(ValidationError, match="unit_price_ore is needed"):
        InvoiceLine(description="Hours", quantity="3", net_ore=300)
    for bad in ("0", "1.2345", "-1", "1e3", "1,5"):
        with pytest.raises(ValidationError):
            InvoiceLine(description="x", quantity=bad, unit_price_ore=100, net_ore=100)
    with pytest.raises(ValidationError):
        InvoiceLine.model_validate({"description": "x", "quantity": 2.5, "unit_price_ore": 100, "net_ore": 250})


LINES = [
    InvoiceLine(description="Consulting", quantity="7.5", unit_price_ore=1_250_00, net_ore=9_375_00),
    InvoiceLine(description="Book", quantity="3", unit_price_ore=333, net_ore=999, vat_code=VatCode.EXEMPT),
    InvoiceLine(description="Food", unit_price_ore=1_01, net_ore=1_01, vat_code=VatCode.MEDIUM),
    InvoiceLine(description="Licence", quantity="1", unit_price_ore=3, net_ore=3),
    InvoiceLine(description="Cinema", quantity="2", unit_price_ore=1_05, net_ore=2_10, vat_code=VatCode.LOW),
]


def test_totals_per_vat_rate_add_up_to_the_invoice() -> None:
    totals = rules.vat_totals(LINES)
    assert [(t.vat_percent, t.net_ore, t.vat_ore) for t in totals] == [
        (25, 9_375_03, 2_343_76),  # 234375 + round(0.75) = 1
        (15, 1_01, 15),  # 15.15 → 15
        (12, 2_10, 25),  # 25.2 → 25
        (0, 999, 0),
    ]
    net, vat, _ = rules.totals(LINES)
    assert (sum(t.net_ore for t in totals), sum(t.vat_ore for t in totals)) == (net, vat)


def test_delivery_lines_carry_their_vat_rate_and_amount() -> None:
    printed = rules.delivery_lines(LINES)
    assert [(p.description, p.quantity, p.unit_price_ore, p.vat_percent, p.vat_ore) for p in printed] == [
        ("Consulting", "7.5", 1_250_00, 25, 2_343_75),
        ("Book", "3", 333, 0, 0),
        ("Food", "1", 1_01, 15, 15),
        ("Licence", "1", 3, 25, 1),
        ("Cinema", "2", 1_05, 12, 25),
    ]
    assert printed[0].model_dump(mode="json")["vat_ore"] == 2_343_75


# --- the channel and the customer's PEPPOL id ----------------------------------------------------------------------
def test_the_channel_is_ehf_with_a_peppol_id_else_email_else_print() -> None:
    ehf = COMPANY.model_copy(update={"peppol_id": "0192:974760673"})
    no_mail = COMPANY.model_copy(update={"email": None})
    assert rules.delivery_channel(CustomerCard(10001, ehf, True, "ABC")) is DeliveryMethod.E_INVOICE
    assert rules.delivery_channel(CustomerCard(10001, COMPANY, True, "ABC")) is DeliveryMethod.EMAIL
    assert rules.delivery_channel(CustomerCard(10001, no_mail, True, "ABC")) is DeliveryMethod.PRINT


@pytest.mark.parametrize(
    ("peppol_id", "ok"),
    [("0192:974760673", True), ("9908:974760673", True), ("0088:7080000000007", True), ("0192:912345678", False)],
)
def test_a_peppol_id_is_checked(peppol_id: str, ok: bool) -> None:
    data = {**COMPANY.model_dump(), "peppol_id": peppol_id}
    if ok:
        assert CustomerData.model_validate(data).peppol_id == peppol_id
    else:  # 912345678 fails the organisation number's MOD11
        with pytest.raises(ValidationError, match="MOD11"):
            CustomerData.model_validate(data)
    for bad in ("974760673", "192:974760673", "0192:"):
        with pytest.raises(ValidationError):
            CustomerData.model_validate({**data, "peppol_id": bad})


def test_the_seller_is_printed_with_mva_only_when_registered() -> None:
    assert seller_registration("912345678", True) == "Org.nr. 912 345 678 MVA"
    assert seller_registration("912345678", False) == "Org.nr. 912 345 678"


# --- the send handler ------------------------------------------------------------------------------------------------
SELLER_ADDRESS = Address(street="Nordlysveien 5", postcode="9008", city="Tromsø")


async def send_to(app: Invoicing, customer: int, lines: list[InvoiceLine]) -> InvoiceDelivery:
    invoice_id = uuid.uuid4()
    await app.accepted(
        CreateInvoiceDraft(
            client_id=CLIENT,
            acting_user=ADMIN,
            invoice_id=invoice_id,
            customer_number=customer,
            invoice_date=date(2026, 11, 23),
            due_date=date(2026, 12, 7),
            lines=lines,
        )
    )
    sent = await app.accepted(SendInvoice(client_id=CLIENT, acting_user=ADMIN, invoice_id=invoice_id))
    delivery: InvoiceDelivery = app.events(InvoiceDelivery)[-1]
    assert delivery.invoice_id == invoice_id
    assert (sent["kid"], sent["lines"]) == (delivery.kid, len(lines))
    return delivery


async def test_a_factored_invoice_is_delivered_with_everything_a_norwegian_invoice_needs() -> None:
    app, _ = await with_factoring()  # customer 10001: COMPANY, with e-mail and no PEPPOL id
    await app.accepted(
        ChangeClientSettings(
            client_id=CLIENT, acting_user=ADMIN, vat_registered=True, kid_scheme="MOD11", address=SELLER_ADDRESS
        )
    )
    ehf = PERSON.model_copy(update={"peppol_id": "9908:974760673"})
    person = (await app.accepted(UpsertCustomerCard(client_id=CLIENT, acting_user=ADMIN, customer=ehf)))[
        "customer_number"
    ]

    delivery = await send_to(app, 10001, LINES)
    wire = InvoiceDelivery.model_validate_json(delivery.model_dump_json())  # as the gateway reads it
    assert [line.model_dump() for line in wire.lines] == [line.model_dump() for line in rules.delivery_lines(LINES)]
    first = wire.lines[0]
    assert (first.quantity, first.unit_price_ore, first.vat_percent, first.vat_ore) == (
        "7.5",
        1_250_00,
        25,
        2_343_75,
    )
    assert delivery.vat_totals == rules.vat_totals(LINES)
    assert (delivery.net_ore, delivery.vat_ore) == rules.totals(LINES)[:2]
    assert (delivery.client_address, delivery.client_vat_registered) == (SELLER_ADDRESS, True)
    assert delivery.kid_scheme is KidScheme.MOD11 and delivery.kid == kids.kid_for(10001, "1001", KidScheme.MOD11)
    assert delivery.delivery_channel is DeliveryMethod.EMAIL

    to_person = await send_to(app, person, [InvoiceLine(description="Hour", net_ore=100_00)])
    assert to_person.delivery_channel is DeliveryMethod.E_INVOICE and to_person.customer.peppol_id == ehf.peppol_id
    assert to_person.kid == kids.kid_for(person, "1002", KidScheme.MOD11)

    await app.accepted(ChangeClientSettings(client_id=CLIENT, acting_user=ADMIN, kid_scheme="MOD10"))
    later = await send_to(app, 10001, [InvoiceLine(description="Hour", net_ore=100_00)])
    assert later.kid == kids.kid_for(10001, "1003", KidScheme.MOD10) and later.kid_scheme is KidScheme.MOD10
    assert kid_problem(later.kid, KidScheme.MOD11) is not None  # 1003 is where the schemes differ


async def test_a_client_says_its_address_vat_registration_and_kid_scheme_when_created() -> None:
    app = Invoicing()
    await app.accepted(
        CreateClient(
            client_id=CLIENT,
            company_name="Demo AS",
            organisation_number="912345678",
            administrator=ADMIN,
            administrator_name="Ada",
            address=SELLER_ADDRESS,
            vat_registered=True,
            kid_scheme="MOD11",
        )
    )
    client = app.store.clients[CLIENT]
    assert (client.address, client.vat_registered, client.kid_scheme) == (SELLER_ADDRESS, True, KidScheme.MOD11)
    before = {"company_name": "Old AS", "organisation_number": "998877665", "administrator_name": "A"}
    old = CreateClient.model_validate({"client_id": "c9", "administrator": "a", **before})
    assert (old.address, old.vat_registered, old.kid_scheme) == (None, False, KidScheme.MOD10)
    details = await app.accepted(ChangeClientSettings(client_id=CLIENT, acting_user=ADMIN, vat_registered=False))
    assert (details["vat_registered"], details["kid_scheme"], details["address"]["city"]) == (False, "MOD11", "Tromsø")


def test_a_delivery_made_before_the_document_content_still_decodes() -> None:
    old = {
        "type": "invoicing.InvoiceDelivery",
        "version": 1,
        "client_id": CLIENT,
        "provider": "abc-factoring",
        "invoice_id": str(uuid.uuid4()),
        "invoice_number": "1001",
        "customer_number": 10001,
        "customer": COMPANY.model_dump(mode="json"),
        "client_name": "Demo AS",
        "client_organisation_number": "912345678",
        "invoice_date": "2026-11-23",
        "due_date": "2026-12-07",
        "lines": [{"description": "Consulting", "net_ore": 1_000_000, "vat_code": "3"}],
        "net_ore": 1_000_000,
        "vat_ore": 250_000,
        "gross_ore": 1_250_000,
    }
    delivery = InvoiceDelivery.model_validate(old)
    assert (delivery.kid, delivery.vat_totals, delivery.delivery_channel) == (None, [], None)
    assert (delivery.lines[0].quantity, delivery.lines[0].unit_price_ore, delivery.lines[0].vat_ore) == (
        "1",
        1_000_000,
        None,
    )
