"""The provider gets a complete invoice (issue 19, item 2), on the real stack.

With factoring on, the accounting system makes no invoice document: the provider's is the only one the debtor
sees. Each provider must receive every line (quantity, unit price, VAT rate and amount), the totals per VAT rate,
the seller with its address and «MVA», the KID under the client's chosen check-digit scheme, the provider's own
account for payment, and the channel: EHF for a customer with a PEPPOL id, e-mail for one without. The simulated
providers check all of it and accept the invoice (they reject one they could not print, saying why), so the
invoice runs on to «settled».
"""

from __future__ import annotations

from typing import Any

import pytest

from ledgerline_abc_factoring import contract as abc
from ledgerline_cli.operator import Operator
from ledgerline_contracts import topics
from ledgerline_contracts.invoicing import Address, InvoiceLine, VatCode
from ledgerline_contracts.norway import KidScheme, kid_problem
from ledgerline_fjord_invoice_sale import contract as fjord
from tests.support.http import eventually
from tests.support.scenario import COMPANY, PERSON, client_with_accounts

pytestmark = pytest.mark.integration

SELLER = Address(street="Nordlysveien 5", postcode="9008", city="Tromsø")
EHF_COMPANY = COMPANY.model_copy(
    update={"company_name": "Brønnøy Bygg AS", "organisation_number": "974760673", "peppol_id": "0192:974760673"}
)
LINES = [
    InvoiceLine(description="Consulting, hours", quantity="7.5", unit_price_ore=1_250_00, net_ore=9_375_00),
    InvoiceLine(description="Licence", quantity="1", unit_price_ore=3, net_ore=3),  # 0.75 øre VAT: rounds to 1
    InvoiceLine(description="Food", quantity="2.25", unit_price_ore=99_99, net_ore=224_98, vat_code=VatCode.MEDIUM),
    InvoiceLine(description="Book", quantity="3", unit_price_ore=333, net_ore=999, vat_code=VatCode.EXEMPT),
]
LINE_FIGURES = [  # (quantity, unit price, net, VAT %, VAT) in øre, as a Norwegian invoice prints them
    ("7.5", 1_250_00, 9_375_00, 25, 2_343_75),
    ("1", 3, 3, 25, 1),
    ("2.25", 99_99, 224_98, 15, 33_75),  # 2.25 × 99.99 = 224.9775 → 224.98; 15 % of it 33.747 → 33.75
    ("3", 333, 999, 0, 0),
]
PER_RATE = [(25, 9_375_03, 2_343_76), (15, 224_98, 33_75), (0, 999, 0)]
NET, VAT = 9_610_00, 2_377_51


async def sent_invoices(
    op: Operator, client_id: str, provider: str, scheme: str
) -> dict[str, tuple[Any, dict[str, Any]]]:
    """A VAT-registered client with its address and `scheme`, the provider active, an invoice sent to a person
    (e-mail) and to a company with a PEPPOL id; per customer: the invoice id and the send command's answer."""
    await client_with_accounts(op, client_id, provider, address=SELLER, vat_registered=True, kid_scheme=scheme)
    person = (await op.upsert_customer(client_id, PERSON)).details["customer_number"]
    company = (await op.upsert_customer(client_id, EHF_COMPANY)).details["customer_number"]
    await op.activate(client_id, provider)
    sent = {}
    for name, customer in (("person", person), ("company", company)):
        invoice = await op.create_invoice(client_id, customer, LINES)
        answer = await op.send_invoice(client_id, invoice)
        assert answer.details["via_factoring"] and answer.details["lines"] == len(LINES)
        sent[name] = (invoice, {**answer.details, "customer": customer})
    return sent


async def runs_to(op: Operator, client_id: str, invoice: Any, status: str, first: str) -> None:
    """The provider accepted the invoice (its checks passed) and it ran on to `status`, never rejected."""

    async def reached() -> dict[str, Any] | None:
        found = await op.invoice(client_id, invoice)
        return found if found["factoring_status"] in (status, "rejected") else None

    final = await eventually(reached, timeout=60)
    history = [h["status"] for h in final["factoring_history"] if h["applied"]]
    assert final["factoring_status"] == status, (final["factoring_status"], final["factoring_description"])
    assert first in history and "rejected" not in history


async def test_abc_gets_a_complete_invoice_with_a_mod11_kid(operator: Operator, client_id: str) -> None:
    sent = await sent_invoices(operator, client_id, "abc-factoring", "MOD11")
    for name, (invoice, answer) in sent.items():
        await runs_to(operator, client_id, invoice, "settled", "accepted")
        (submission,) = operator.bus.seen(
            topics.factoring_outbound("abc-factoring"),
            abc.AbcInvoiceSubmission,
            lambda m, i=invoice: m.submission_id == i,
        )
        lines = [(x.quantity, x.unit_price_ore, x.net_ore, x.vat_percent, x.vat_ore) for x in submission.lines or []]
        assert lines == LINE_FIGURES
        assert [x.description for x in submission.lines or []] == [line.description for line in LINES]
        assert [(t.vat_percent, t.net_ore, t.vat_ore) for t in submission.vat_totals or []] == PER_RATE
        assert (submission.net_ore, submission.vat_ore, submission.amount_ore) == (NET, VAT, NET + VAT)
        seller = submission.seller
        assert seller is not None and seller.registration_text == "Org.nr. 912 345 678 MVA" and seller.vat_registered
        assert (seller.name, seller.street, seller.postcode, seller.city) == ("Demo AS", *SELLER_PARTS)
        assert submission.kid == answer["kid"] and submission.kid_scheme is KidScheme.MOD11
        assert kid_problem(submission.kid, KidScheme.MOD11) is None
        assert (int(submission.kid[:5]), int(submission.kid[5:13])) == (
            answer["customer"],
            int(answer["invoice_number"]),
        )
        assert submission.payment_account == abc.PAYMENT_ACCOUNT
        assert (submission.invoice_number, submission.due_date > submission.invoice_date) == (
            answer["invoice_number"],
            True,
        )
        if name == "company":
            assert submission.delivery_channel == "e_invoice" and submission.debtor.peppol_id == "0192:974760673"
            assert submission.debtor.organisation_number == "974760673"
        else:
            assert submission.delivery_channel == "email" and submission.debtor.peppol_id is None
            assert submission.debtor.email == "kari@example.no"


async def test_fjord_gets_a_complete_invoice_with_a_mod10_kid(operator: Operator, client_id: str) -> None:
    sent = await sent_invoices(operator, client_id, "fjord-invoice-sale", "MOD10")
    for name, (invoice, answer) in sent.items():
        await runs_to(operator, client_id, invoice, "settled", "purchased")
        (offer,) = operator.bus.seen(
            topics.factoring_outbound("fjord-invoice-sale"), fjord.SaleOffer, lambda m, i=invoice: m.offer_ref == i
        )
        lines = [(x.quantity, x.unit_price, x.net_amount, x.vat_rate, x.vat_amount) for x in offer.invoice_lines or []]
        assert lines == [(q, _nok(u), _nok(n), r, _nok(v)) for q, u, n, r, v in LINE_FIGURES]
        assert [(b.vat_rate, b.taxable_amount, b.vat_amount) for b in offer.vat_breakdown or []] == [
            (rate, _nok(net), _nok(vat)) for rate, net, vat in PER_RATE
        ]
        assert (offer.net_amount, offer.vat_amount, offer.total_amount) == (_nok(NET), _nok(VAT), _nok(NET + VAT))
        assert (offer.seller_name, offer.seller_org_no, offer.seller_vat_registered) == ("Demo AS", "912345678", True)
        assert offer.seller_address == fjord.Address(street="Nordlysveien 5", zip="9008", town="Tromsø")
        assert offer.kid == answer["kid"] and offer.kid_algorithm is KidScheme.MOD10
        assert kid_problem(offer.kid, KidScheme.MOD10) is None
        assert offer.payee_account == fjord.PAYMENT_ACCOUNT
        expected = fjord.Distribution.EHF if name == "company" else fjord.Distribution.EMAIL
        assert offer.distribution is expected
        assert offer.buyer.peppol_id == ("0192:974760673" if name == "company" else None)


SELLER_PARTS = (SELLER.street, SELLER.postcode, SELLER.city)


def _nok(ore: int) -> str:
    return f"{ore // 100}.{ore % 100:02d}"
