"""The provider gets a complete invoice: each adapter translates every part of invoicing's delivery into its
provider's message, and each simulated provider refuses a delivery it could not print as a Norwegian invoice,
saying why (no broker, no database)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import pytest

from factoring_gateway.domain.providers import installed_adapters
from ledgerline_abc_factoring import contract as abc
from ledgerline_abc_factoring.simulator import document_problems as abc_problems
from ledgerline_abc_factoring.simulator import lifecycle
from ledgerline_contracts.invoicing import Address, DeliveryMethod, InvoiceDelivery, InvoiceLine, VatCode
from ledgerline_contracts.norway import KidScheme, account_number_problem, kid_problem
from ledgerline_contracts.samples import COMPANY
from ledgerline_fjord_invoice_sale import contract as fjord
from ledgerline_fjord_invoice_sale.simulator import Fjord
from ledgerline_fjord_invoice_sale.simulator import document_problems as fjord_problems
from ledgerline_simulators.runtime import Script

ADAPTERS = installed_adapters()
KID = "100010000100318"  # customer 10001, invoice 1003, MOD11 (variant digit 1: variant 0 has no check digit)
EHF_CUSTOMER = COMPANY.model_copy(update={"peppol_id": "0192:974760673"})


def delivery(**changes: Any) -> InvoiceDelivery:
    """A delivery as invoicing makes it: two rates, a quantity with decimals, everything the document needs."""
    values: dict[str, Any] = {
        "client_id": "c1",
        "provider": "abc-factoring",
        "invoice_id": uuid.uuid4(),
        "invoice_number": "1003",
        "customer_number": 10001,
        "customer": EHF_CUSTOMER,
        "client_name": "Nordlys Regnskap AS",
        "client_organisation_number": "912345678",
        "invoice_date": date(2026, 11, 23),
        "due_date": date(2026, 12, 7),
        "lines": [
            {**_line("Consulting", "7.5", 1_250_00, 9_375_00, VatCode.HIGH), "vat_percent": 25, "vat_ore": 2_343_75},
            {**_line("Book", "3", 333, 999, VatCode.EXEMPT), "vat_percent": 0, "vat_ore": 0},
        ],
        "net_ore": 9_384_99,
        "vat_ore": 2_343_75,
        "gross_ore": 11_728_74,
        "vat_totals": [
            {"vat_code": "3", "vat_percent": 25, "net_ore": 9_375_00, "vat_ore": 2_343_75},
            {"vat_code": "6", "vat_percent": 0, "net_ore": 999, "vat_ore": 0},
        ],
        "client_address": Address(street="Nordlysveien 5", postcode="9008", city="Tromsø"),
        "client_vat_registered": True,
        "kid": KID,
        "kid_scheme": KidScheme.MOD11,
        "delivery_channel": DeliveryMethod.E_INVOICE,
    }
    return InvoiceDelivery.model_validate({**values, **changes})


def _line(description: str, quantity: str, unit: int, net: int, code: VatCode) -> dict[str, Any]:
    return InvoiceLine(
        description=description, quantity=quantity, unit_price_ore=unit, net_ore=net, vat_code=code
    ).model_dump()


def submission(invoice: InvoiceDelivery) -> abc.AbcInvoiceSubmission:
    message = ADAPTERS["abc-factoring"].delivery(invoice)
    assert isinstance(message, abc.AbcInvoiceSubmission)
    return abc.AbcInvoiceSubmission.model_validate_json(message.model_dump_json())  # as ABC reads it


def offer(invoice: InvoiceDelivery) -> fjord.SaleOffer:
    message = ADAPTERS["fjord-invoice-sale"].delivery(invoice)
    assert isinstance(message, fjord.SaleOffer)
    return fjord.SaleOffer.model_validate_json(message.model_dump_json(by_alias=True))


def test_the_providers_own_accounts_are_valid_norwegian_account_numbers() -> None:
    assert account_number_problem(abc.PAYMENT_ACCOUNT) is None
    assert account_number_problem(fjord.PAYMENT_ACCOUNT) is None
    assert kid_problem(KID, KidScheme.MOD11) is None


# --- the adapters: every part of the delivery reaches the provider --------------------------------------------------
def test_abc_gets_every_part_of_the_invoice() -> None:
    sent = submission(delivery())
    lines = [
        (x.description, x.quantity, x.unit_price_ore, x.net_ore, x.vat_percent, x.vat_ore) for x in sent.lines or []
    ]
    assert lines == [("Consulting", "7.5", 1_250_00, 9_375_00, 25, 2_343_75), ("Book", "3", 333, 999, 0, 0)]
    assert [(t.vat_percent, t.net_ore, t.vat_ore) for t in sent.vat_totals or []] == [
        (25, 9_375_00, 2_343_75),
        (0, 999, 0),
    ]
    assert (sent.net_ore, sent.vat_ore, sent.amount_ore) == (9_384_99, 2_343_75, 11_728_74)
    assert sent.seller is not None
    assert (sent.seller.name, sent.seller.organisation_number, sent.seller.vat_registered) == (
        "Nordlys Regnskap AS",
        "912345678",
        True,
    )
    assert sent.seller.registration_text == "Org.nr. 912 345 678 MVA"
    assert (sent.seller.street, sent.seller.postcode, sent.seller.city) == ("Nordlysveien 5", "9008", "Tromsø")
    assert (sent.debtor.name, sent.debtor.organisation_number, sent.debtor.peppol_id) == (
        "Fjellbygg AS",
        "987654321",
        "0192:974760673",
    )
    assert (sent.invoice_date, sent.due_date) == (date(2026, 11, 23), date(2026, 12, 7))
    assert (sent.kid, sent.kid_scheme, sent.payment_account) == (KID, KidScheme.MOD11, abc.PAYMENT_ACCOUNT)
    assert sent.delivery_channel is DeliveryMethod.E_INVOICE
    assert "assigned to ABC Factoring" in sent.assignment_text
    assert abc_problems(sent) == []


def test_fjord_gets_every_part_of_the_invoice() -> None:
    sent = offer(delivery(provider="fjord-invoice-sale", delivery_channel=DeliveryMethod.EMAIL))
    assert [(x.quantity, x.unit_price, x.net_amount, x.vat_rate, x.vat_amount) for x in sent.invoice_lines or []] == [
        ("7.5", "1250.00", "9375.00", 25, "2343.75"),
        ("3", "3.33", "9.99", 0, "0.00"),
    ]
    assert [(b.vat_rate, b.taxable_amount, b.vat_amount) for b in sent.vat_breakdown or []] == [
        (25, "9375.00", "2343.75"),
        (0, "9.99", "0.00"),
    ]
    assert (sent.net_amount, sent.vat_amount, sent.total_amount) == ("9384.99", "2343.75", "11728.74")
    assert (sent.seller_name, sent.seller_org_no, sent.seller_vat_registered) == (
        "Nordlys Regnskap AS",
        "912345678",
        True,
    )
    assert sent.seller_address == fjord.Address(street="Nordlysveien 5", zip="9008", town="Tromsø")
    assert (sent.kid, sent.kid_algorithm, sent.payee_account) == (KID, KidScheme.MOD11, fjord.PAYMENT_ACCOUNT)
    assert sent.distribution is fjord.Distribution.EMAIL
    assert sent.buyer.peppol_id == "0192:974760673"
    wire = sent.model_dump(mode="json", by_alias=True)
    assert {"invoiceLines", "vatBreakdown", "sellerAddress", "kidAlgorithm", "payeeAccount"} <= wire.keys()
    assert fjord_problems(sent) == []


def test_a_delivery_made_before_the_document_content_is_sent_and_taken_as_before() -> None:
    old = delivery(kid=None, kid_scheme=None, vat_totals=[], delivery_channel=None, client_address=None)
    sent, sale = submission(old), offer(old)
    assert (sent.lines, sent.kid, sent.payment_account, sent.seller) == (None, None, None, None)
    assert (sale.invoice_lines, sale.kid, sale.payee_account) == (None, None, None)
    assert abc_problems(sent) == [] and fjord_problems(sale) == []


# --- the simulated providers refuse what they could not print ------------------------------------------------------
BROKEN = [
    ({"kid": "100010000100317"}, "KID 100010000100317 fails its MOD11 check digit"),
    ({"kid_scheme": KidScheme.MOD10}, "fails its MOD10 check digit"),
    ({"net_ore": 9_384_98, "gross_ore": 11_728_73}, "the lines' net amounts add up to 938499 øre, not 938498"),
    ({"vat_ore": 2_343_76, "gross_ore": 11_728_75}, "the lines' VAT adds up to 234375 øre, not 234376"),
    (
        {"vat_totals": [{"vat_code": "3", "vat_percent": 25, "net_ore": 9_384_99, "vat_ore": 2_343_75}]},
        "the totals per VAT rate (25 %: 938499 + 234375) are not the lines' (25 %: 937500 + 234375, 0 %: 999 + 0)",
    ),
    ({"customer": COMPANY}, "EHF delivery to a debtor without a PEPPOL id"),
]


@pytest.mark.parametrize(("change", "problem"), BROKEN)
def test_abc_rejects_a_broken_invoice_saying_why(change: dict[str, Any], problem: str) -> None:
    sent = submission(delivery(**change))
    assert problem in "; ".join(abc_problems(sent))
    (rejected,) = lifecycle(sent, Script())
    assert rejected.event_type is abc.AbcEventType.REJECTED
    assert rejected.description is not None and rejected.description.startswith("Cannot make the invoice document")
    assert problem[:60] in rejected.description


@pytest.mark.parametrize(("change", "problem"), BROKEN)
def test_fjord_declines_a_broken_invoice_saying_why(change: dict[str, Any], problem: str) -> None:
    sale = offer(delivery(provider="fjord-invoice-sale", **change))
    assert problem in "; ".join(fjord_problems(sale))
    ((decision, key),) = Fjord().offers([sale], {"c1": Script()})
    assert isinstance(decision, fjord.PurchaseDecision) and decision.decision is fjord.Decision.DECLINED
    assert key == str(sale.offer_ref)
    assert decision.reason is not None and problem[:60] in decision.reason


def test_lines_whose_quantity_times_price_is_not_their_amount_and_a_foreign_account_are_refused() -> None:
    sent = submission(delivery()).model_copy(
        update={
            "lines": [
                abc.AbcInvoiceLine(
                    description="Consulting",
                    quantity="7",
                    unit_price_ore=1_250_00,
                    net_ore=9_375_00,
                    vat_percent=25,
                    vat_ore=2_343_75,
                ),
                abc.AbcInvoiceLine(
                    description="Book", quantity="3", unit_price_ore=333, net_ore=999, vat_percent=0, vat_ore=1
                ),
            ],
            "payment_account": "86011117947",
        }
    )
    assert abc_problems(sent) == [
        "line 1: 7 × 125000 øre is 875000, not 937500",
        "line 2: 0 % VAT of 999 øre is 0, not 1",
        "the lines' VAT adds up to 234376 øre, not 234375",
        "net 938499 + VAT 234376 øre is not the total 1172874",
        "the totals per VAT rate (25 %: 937500 + 234375, 0 %: 999 + 0) are not the lines' "
        "(25 %: 937500 + 234375, 0 %: 999 + 1)",
        "account 86011117947 for payment is not ours (15032080119)",
    ]
    sale = offer(delivery(provider="fjord-invoice-sale")).model_copy(update={"payee_account": "12064532013"})
    assert fjord_problems(sale) == ["payment account number 12064532013 fails its MOD11 check digit"]
