"""Issue 19.5: each provider role's account must be of the kind its postings make sense on (NS 4102)."""

from __future__ import annotations

import pytest

from factoring_gateway.domain.mapping import KnownLedger, check, problems
from ledgerline_abc_factoring.adapter import AbcFactoring
from ledgerline_contracts import chart
from ledgerline_contracts.chart import ChartAccount
from ledgerline_contracts.factoring import AccountRef, FactoringActivated, FactoringActivationRefused
from ledgerline_contracts.ledger import AccountType, ControlRole, PartyKind
from ledgerline_fjord_invoice_sale.adapter import FjordInvoiceSale

from .test_handlers import ABC, ABC_ACCOUNTS, CLIENT, FJORD, FJORD_ACCOUNTS, Gateway, activation, mapping

A, L, I, X = AccountType.ASSET, AccountType.LIABILITY, AccountType.INCOME, AccountType.EXPENSE
AR, AP = ControlRole.ACCOUNTS_RECEIVABLE, ControlRole.ACCOUNTS_PAYABLE
CHART = KnownLedger(
    {
        a.number: a
        for a in [
            ChartAccount("1500", A, AR),
            ChartAccount("1510", A),
            ChartAccount("1590", A),
            ChartAccount("1591", A),
            ChartAccount("1920", A),
            ChartAccount("2400", L, AP),
            ChartAccount("2410", L, AP),
            ChartAccount("2900", L),
            ChartAccount("2950", A),  # a client's odd account: a class-2 number typed as an asset
            ChartAccount("3000", I),
            ChartAccount("7770", X),
            ChartAccount("8050", I),
            ChartAccount("8150", X),
        ]
    },
    {20001: "2400", 10001: "1500", 30001: "2410"},
    {20001: PartyKind.SUPPLIER, 10001: PartyKind.CUSTOMER, 30001: PartyKind.SUPPLIER},
)


def test_the_mappings_an_accountant_would_make_pass() -> None:
    assert problems(AbcFactoring.roles, ABC_ACCOUNTS, CHART) == []
    assert problems(FjordInvoiceSale.roles, FJORD_ACCOUNTS, CHART) == []
    # A dedicated series for the provider (30001 under 2410) is as good as the default supplier series.
    dedicated = {**ABC_ACCOUNTS, "intermediate": AccountRef(account="2410", party=30001)}
    assert problems(AbcFactoring.roles, dedicated, CHART) == []
    # Fees may be financial expenses too (81xx).
    assert problems(AbcFactoring.roles, {**ABC_ACCOUNTS, "fees": AccountRef(account="8150")}, CHART) == []


@pytest.mark.parametrize(
    ("provider", "role", "ref", "reason"),
    [
        (AbcFactoring, "intermediate", AccountRef(account="1590"), "account 1590 (asset) is not a liability"),
        (AbcFactoring, "intermediate", AccountRef(account="2950"), "account 2950 (asset) is not a liability"),
        (AbcFactoring, "fees", AccountRef(account="3000"), "account 3000 (income) is not an expense"),
        (AbcFactoring, "interest_income", AccountRef(account="3000"), "account 3000 (income) is not financial income"),
        (AbcFactoring, "interest_income", AccountRef(account="8150"), "account 8150 (expense) is not financial income"),
        (AbcFactoring, "bank", AccountRef(account="1500"), "account 1500 (asset) is not a bank account"),
        (AbcFactoring, "receivables", AccountRef(account="1510"), "account 1510 (asset) is not a customer receivables"),
        (AbcFactoring, "deviation", AccountRef(account="7770"), "account 7770 (expense) is not a balance-sheet"),
        (FjordInvoiceSale, "intermediate", AccountRef(account="2900"), "account 2900 (liability) is not an asset"),
        (FjordInvoiceSale, "holdback", AccountRef(account="2900"), "account 2900 (liability) is not an asset"),
    ],
)
def test_an_account_of_the_wrong_kind_is_named_with_the_reason(
    provider: type, role: str, ref: AccountRef, reason: str
) -> None:
    accounts = {**(ABC_ACCOUNTS if provider is AbcFactoring else FJORD_ACCOUNTS), role: ref}
    (found,) = check(provider.roles, accounts, CHART).never_right()
    assert found.startswith(f"{role}: {reason}")


def test_a_customer_party_is_no_provider_to_owe_and_a_missing_account_is_judged_by_its_number() -> None:
    customer = {**ABC_ACCOUNTS, "intermediate": AccountRef(account="1500", party=10001)}
    assert check(AbcFactoring.roles, customer, CHART).never_right() == [
        "intermediate: account 1500 (asset) is not a liability (NS 4102 class 2) or a supplier party"
    ]
    absent = check(AbcFactoring.roles, {**ABC_ACCOUNTS, "fees": AccountRef(account="3999")}, CHART)
    assert absent.all() == [
        "fees: account 3999 does not exist in the ledger",
        "fees: account 3999 is not an expense (NS 4102 classes 4-7, or 81 financial expenses)",
    ]
    assert absent.never_right() == absent.all()[1:]


def test_every_role_of_both_providers_says_what_it_expects() -> None:
    for provider in (AbcFactoring, FjordInvoiceSale):
        assert all(role.expects is not None for role in provider.roles), provider.slug
    assert {r.name: r.expects for r in AbcFactoring.roles}["intermediate"] is chart.LIABILITY_OR_SUPPLIER
    assert {r.name: r.expects for r in FjordInvoiceSale.roles}["intermediate"] is chart.ASSET_OR_SUPPLIER


async def test_a_mapping_with_a_wrong_kind_of_account_is_refused_and_saves_nothing() -> None:
    gw = Gateway()
    result = await gw.command(mapping(ABC, {**ABC_ACCOUNTS, "fees": AccountRef(account="3000")}))
    assert not result.accepted
    assert result.reason == (
        "ABC Factoring's accounts are not right: fees: account 3000 is not an expense (NS 4102 classes 4-7, or 81 "
        "financial expenses)"
    )
    assert gw.store.tables.mappings == {}
    fjord = await gw.command(mapping(FJORD, {**FJORD_ACCOUNTS, "intermediate": AccountRef(account="2900")}))
    assert not fjord.accepted and "intermediate: account 2900 is not an asset" in (fjord.reason or "")
    assert (await gw.command(mapping(FJORD, FJORD_ACCOUNTS))).accepted
    assert gw.store.tables.mappings[(CLIENT, FJORD)] == FJORD_ACCOUNTS


async def test_activation_is_refused_when_the_receivables_role_disagrees_with_invoicings_account() -> None:
    gw = Gateway()
    gw.ledger.add(CLIENT, ChartAccount("1510", A, AR))
    await gw.command(mapping(ABC, {**ABC_ACCOUNTS, "receivables": AccountRef(account="1510")}))
    request = activation(ABC).model_copy(update={"receivables_account": "1500"})
    sent = await gw.invoicing(request)
    (refused,) = sent.messages(kind=FactoringActivationRefused)
    assert refused.missing == [
        "receivables: mapped to 1510, but invoicing books this client's customer receivables on 1500"
    ]
    assert gw.store.active(CLIENT) == []
    await gw.command(mapping(ABC, ABC_ACCOUNTS))
    sent = await gw.invoicing(activation(ABC).model_copy(update={"receivables_account": "1500"}))
    assert sent.messages(kind=FactoringActivated) and gw.store.active(CLIENT) == [ABC]
