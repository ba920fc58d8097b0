"""Issue 19.5 on the real stack: accounts are checked against the ledger's chart and the NS 4102 classes, a
dedicated sub-ledger series for the provider carries its balance end to end, and invoicing's own posting accounts
are per client and agree with the provider's receivables role."""

from __future__ import annotations

from collections import defaultdict

import pytest

from ledgerline_cli.operator import Operator
from ledgerline_contracts.factoring import AccountRef
from ledgerline_contracts.samples import SELLER_ADDRESS
from tests.support.scenario import COMPANY, PERSON, ROLES, TEN_THOUSAND
from tests.test_factoring import balances, settled_books, status_of

pytestmark = pytest.mark.integration


async def test_abc_in_a_dedicated_supplier_series_books_the_domain_example_to_settlement(
    operator: Operator, client_id: str
) -> None:
    op = operator
    await op.create_client(client_id, "Demo AS", "912345678", address=SELLER_ADDRESS)
    # The accountant gives ABC a series of its own, on a payables account of its own.
    await op.add_account(client_id, "2410", "Leverandørgjeld factoring", "liability", "accounts_payable")
    await op.add_series(client_id, "FACTORING", "Factoring companies", "supplier", "2410", 30000, 30099)
    await op.add_party(client_id, 30001, "ABC Factoring", "supplier")
    accounts = {**ROLES["abc-factoring"], "intermediate": AccountRef(account="2410", party=30001)}

    wrong = await op.map_accounts(
        client_id, "abc-factoring", {**accounts, "fees": AccountRef(account="3000")}, expect_accepted=False
    )
    assert wrong.reason == (
        "ABC Factoring's accounts are not right: fees: account 3000 (income) is not an expense (NS 4102 classes "
        "4-7, or 81 financial expenses)"
    )
    await op.map_accounts(client_id, "abc-factoring", accounts)
    person = (await op.upsert_customer(client_id, PERSON)).details["customer_number"]
    await op.activate(client_id, "abc-factoring")
    await op.simulator_script(op.urls.abc_simulator, client_id, late_percent=100)
    invoice = await op.create_invoice(client_id, person, TEN_THOUSAND)
    await op.send_invoice(client_id, invoice)
    await status_of(op, client_id, invoice, "settled")

    expected = {"1920": 1_243_000, "2700": -250_000, "3000": -1_000_000, "7770": 15_000, "8050": -8_000}
    assert await settled_books(op, client_id, expected) == expected  # 2410 and 1500 back to zero
    on_2410: dict[int | None, int] = defaultdict(int)
    moves = 0
    for voucher in await op.vouchers(client_id, invoice):
        for line in voucher["lines"]:
            if line["account"] == "2410":
                on_2410[line["party"]] += line["amount_ore"]
                moves += 1
    assert moves >= 2 and dict(on_2410) == {30001: 0}  # every line on ABC's party, and it nets to zero
    report = await op.reconciliation(client_id, "abc-factoring")
    assert report["differences"] == [] and report["finished_with_zero_balance"] == 1


async def test_posting_accounts_are_the_clients_own_and_the_receivables_role_must_agree(
    operator: Operator, client_id: str
) -> None:
    op = operator
    await op.create_client(client_id, "Demo AS", "912345678", address=SELLER_ADDRESS)
    await op.add_account(client_id, "1921", "Driftskonto 2", "asset")
    await op.add_account(client_id, "3010", "Salgsinntekt tjenester", "income")
    refused = await op.posting_accounts(client_id, {"bank": "7770", "sales": "3011"}, expect_accepted=False)
    assert refused.reason == (
        "sales: account 3011 does not exist in the ledger; bank: account 7770 (expense) is not a bank account "
        "(NS 4102 19xx)"
    )
    await op.posting_accounts(client_id, {"bank": "1921", "sales": "3010"})
    company = (await op.upsert_customer(client_id, COMPANY)).details["customer_number"]
    invoice = await op.create_invoice(client_id, company, TEN_THOUSAND)
    await op.send_invoice(client_id, invoice)
    await op.register_payment(client_id, invoice, 1_250_000)
    expected = {"1921": 1_250_000, "2700": -250_000, "3010": -1_000_000}
    assert await settled_books(op, client_id, expected) == expected

    # A second receivables account with a customer sub-ledger of its own: a valid receivables account for ABC,
    # but not the one invoicing books this client's customers on, so activation names the disagreement.
    await op.add_party(client_id, 20001, "ABC Factoring", "supplier")
    await op.add_account(client_id, "1510", "Kundefordringer, annen reskontro", "asset", "accounts_receivable")
    await op.map_accounts(
        client_id, "abc-factoring", {**ROLES["abc-factoring"], "receivables": AccountRef(account="1510")}
    )
    activation = await op.activate(client_id, "abc-factoring", expect_accepted=False)
    assert activation.details["missing"] == [
        "receivables: mapped to 1510, but invoicing books this client's customer receivables on 1500"
    ]
    await op.map_accounts(client_id, "abc-factoring", ROLES["abc-factoring"])
    await op.activate(client_id, "abc-factoring")
    assert balances(await op.trial_balance(client_id)) == expected
