"""The SAF-T Financial builder on its own: plain ledger data in, XML valid against Skatteetaten's schema out."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest
from lxml import etree

from ledger.saft import (
    AccountBalance,
    Company,
    Ledger,
    Line,
    Party,
    PartyBalance,
    Voucher,
    build_audit_file,
    nok,
    schema_errors,
)
from ledger.saft.builder import NAMESPACE, tax_per_base_line
from ledger.saft.codes import grouping

NS = {"s": NAMESPACE}
JAN = date(2026, 1, 1), date(2026, 1, 31)


def small_ledger(company: Company | None = None) -> Ledger:
    """The domain's example: an invoice of 12 500 (10 000 + 25 % VAT) to customer C, paid in part; a supplier
    fee booked with input VAT; an opening balance in the bank from December."""
    sale = Voucher(
        "SALES",
        1,
        date(2026, 1, 5),
        "Faktura 1001",
        date(2026, 1, 5),
        (
            Line(1, "1500", 1_250_000, party=10001, due_date=date(2026, 2, 4)),
            Line(2, "3000", -1_000_000, vat_code="3"),
            Line(3, "2700", -250_000, vat_code="3"),
        ),
    )
    payment = Voucher(
        "BANK",
        7,
        date(2026, 1, 20),
        "Innbetaling 1001",
        date(2026, 1, 21),
        (Line(1, "1920", 500_000), Line(2, "1500", -500_000, party=10001, description="Delbetaling")),
    )
    fee = Voucher(
        "GENERAL",
        3,
        date(2026, 1, 31),
        "Gebyr",
        date(2026, 1, 31),
        (
            Line(1, "7770", 10_000, vat_code="1"),
            Line(2, "2710", 2_500, vat_code="1"),
            Line(3, "2400", -12_500, party=20001),
        ),
    )
    return Ledger(
        client_id="c1",
        company=company or Company("Fjordkraft Regnskap AS", "987654321", "Kari Nordmann", "+47 12345678"),
        start=JAN[0],
        end=JAN[1],
        accounts=(
            AccountBalance("1500", "Kundefordringer", 0, 750_000),
            AccountBalance("1920", "Bankinnskudd", 100_000, 600_000),
            AccountBalance("2050", "Annen egenkapital", -100_000, -100_000),
            AccountBalance("2400", "Leverandørgjeld", 0, -12_500),
            AccountBalance("2700", "Utgående merverdiavgift", 0, -250_000),
            AccountBalance("2710", "Inngående merverdiavgift", 0, 2_500),
            AccountBalance("3000", "Salgsinntekt, avgiftspliktig", 0, -1_000_000),
            AccountBalance("7770", "Bank- og kortgebyrer", 0, 10_000),
            AccountBalance("8050", "Annen renteinntekt", 0, 0),
        ),
        parties=(
            Party(10001, "Kunde C", "customer", "1500", (PartyBalance("1500", 0, 750_000),)),
            Party(10002, "Kunde uten poster", "customer", "1500"),
            Party(20001, "ABC Factoring", "supplier", "2400", (PartyBalance("2400", 0, -12_500),)),
        ),
        vouchers=(sale, payment, fee),
    )


def parsed(ledger: Ledger) -> etree._Element:
    xml = build_audit_file(ledger, date(2026, 2, 1), "1.0.0")
    assert schema_errors(xml) == []
    return etree.fromstring(xml)


def texts(root: etree._Element, path: str) -> list[str]:
    return [e.text or "" for e in root.xpath(path, namespaces=NS)]


def test_a_small_ledger_gives_a_file_valid_against_the_official_schema() -> None:
    root = parsed(small_ledger())
    assert texts(root, "s:Header/s:AuditFileVersion") == ["1.30"]
    assert texts(root, "s:Header/s:AuditFileCountry") == ["NO"]
    assert texts(root, "s:Header/s:DefaultCurrencyCode") == ["NOK"]
    assert texts(root, "s:Header/s:Company/s:RegistrationNumber") == ["987654321"]
    assert texts(root, "s:Header/s:Company/s:Contact/s:ContactPerson/s:LastName") == ["Nordmann"]
    assert texts(root, "s:Header/s:SelectionCriteria/*") == ["2026-01-01", "2026-01-31"]
    assert root.xpath("s:Header/s:HeaderComment", namespaces=NS) == []


def test_totals_are_the_sums_of_the_lines_and_balance() -> None:
    root = parsed(small_ledger())
    entries = "s:GeneralLedgerEntries"
    assert texts(root, f"{entries}/s:NumberOfEntries") == ["3"]
    assert texts(root, f"{entries}/s:TotalDebit") == texts(root, f"{entries}/s:TotalCredit") == ["17625.00"]
    debits = sum(Decimal(t) for t in texts(root, f"{entries}//s:Line/s:DebitAmount/s:Amount"))
    credits = sum(Decimal(t) for t in texts(root, f"{entries}//s:Line/s:CreditAmount/s:Amount"))
    assert debits == credits == Decimal("17625.00")


def test_journals_per_series_transactions_per_voucher_lines_per_posting() -> None:
    root = parsed(small_ledger())
    journals = "s:GeneralLedgerEntries/s:Journal"
    assert texts(root, f"{journals}/s:JournalID") == ["BANK", "GENERAL", "SALES"]
    assert texts(root, f"{journals}/s:Transaction/s:TransactionID") == ["BANK-7", "GENERAL-3", "SALES-1"]
    sale = root.xpath(f"{journals}[s:JournalID='SALES']/s:Transaction", namespaces=NS)[0]
    assert texts(sale, "s:Period") == ["1"] and texts(sale, "s:PeriodYear") == ["2026"]
    assert texts(sale, "s:Line/s:RecordID") == ["1", "2", "3"]
    assert texts(sale, "s:Line[1]/s:CustomerID") == ["10001"]
    assert texts(sale, "s:Line[1]/s:DebitAmount/s:Amount") == ["12500.00"]
    assert texts(sale, "s:Line[1]/s:DueDate") == ["2026-02-04"]
    assert texts(sale, "s:Line[2]/s:CreditAmount/s:Amount") == ["10000.00"]
    fee = root.xpath(f"{journals}[s:JournalID='GENERAL']/s:Transaction", namespaces=NS)[0]
    assert texts(fee, "s:Line[3]/s:SupplierID") == ["20001"]
    payment = root.xpath(f"{journals}[s:JournalID='BANK']/s:Transaction", namespaces=NS)[0]
    assert texts(payment, "s:Line/s:Description") == ["Innbetaling 1001", "Delbetaling"]
    assert texts(payment, "s:SystemEntryDate") == ["2026-01-21"]


def test_accounts_carry_opening_and_closing_balances_on_their_side_and_a_grouping_code() -> None:
    root = parsed(small_ledger())
    bank = root.xpath("s:MasterFiles/s:GeneralLedgerAccounts/s:Account[s:AccountID='1920']", namespaces=NS)[0]
    assert texts(bank, "s:OpeningDebitBalance") == ["1000.00"] and texts(bank, "s:ClosingDebitBalance") == ["6000.00"]
    assert texts(bank, "s:GroupingCategory") == ["balanseverdiForOmloepsmiddel"]
    assert texts(bank, "s:GroupingCode") == ["1920"]
    sales = root.xpath("s:MasterFiles/s:GeneralLedgerAccounts/s:Account[s:AccountID='3000']", namespaces=NS)[0]
    assert texts(sales, "s:OpeningDebitBalance") == ["0.00"]
    assert texts(sales, "s:ClosingCreditBalance") == ["10000.00"]


def test_parties_with_their_sub_ledger_balances() -> None:
    root = parsed(small_ledger())
    customers = "s:MasterFiles/s:Customers/s:Customer"
    assert texts(root, f"{customers}/s:CustomerID") == ["10001", "10002"]
    assert texts(root, f"{customers}[s:CustomerID='10001']/s:BalanceAccount/s:ClosingDebitBalance") == ["7500.00"]
    # a customer without postings still shows, at zero under its series' control account
    assert texts(root, f"{customers}[s:CustomerID='10002']/s:BalanceAccount/s:AccountID") == ["1500"]
    supplier = "s:MasterFiles/s:Suppliers/s:Supplier"
    assert texts(root, f"{supplier}/s:BalanceAccount/s:ClosingCreditBalance") == ["125.00"]


def test_the_tax_table_lists_the_codes_used_and_the_tax_sits_on_the_base_line() -> None:
    root = parsed(small_ledger())
    details = "s:MasterFiles/s:TaxTable/s:TaxTableEntry/s:TaxCodeDetails"
    assert texts(root, f"{details}/s:TaxCode") == ["1", "3"]
    assert texts(root, f"{details}/s:StandardTaxCode") == ["1", "3"]
    assert texts(root, f"{details}/s:TaxPercentage") == ["25", "25"]
    sale = root.xpath("s:GeneralLedgerEntries/s:Journal[s:JournalID='SALES']/s:Transaction", namespaces=NS)[0]
    assert texts(sale, "s:Line[2]/s:TaxInformation/s:TaxBase") == ["10000.00"]
    assert texts(sale, "s:Line[2]/s:TaxInformation/s:CreditTaxAmount/s:Amount") == ["2500.00"]
    assert sale.xpath("s:Line[3]/s:TaxInformation", namespaces=NS) == []  # the VAT line itself
    fee = root.xpath("s:GeneralLedgerEntries/s:Journal[s:JournalID='GENERAL']/s:Transaction", namespaces=NS)[0]
    assert texts(fee, "s:Line[1]/s:TaxInformation/s:DebitTaxAmount/s:Amount") == ["25.00"]


def test_an_unknown_vat_code_maps_to_na() -> None:
    lines = (Line(1, "3000", -100, vat_code="X9"), Line(2, "1920", 100))
    odd = Voucher("GENERAL", 9, date(2026, 1, 9), "x", date(2026, 1, 9), lines)
    root = parsed(replace(small_ledger(), vouchers=(odd,)))
    assert texts(root, "s:MasterFiles/s:TaxTable//s:TaxCodeDetails[s:TaxCode='X9']/s:StandardTaxCode") == ["NA"]


def test_what_the_ledger_does_not_know_stays_empty_and_is_said_in_the_header() -> None:
    root = parsed(small_ledger(Company("Fjordkraft Regnskap AS")))
    assert texts(root, "s:Header/s:Company/s:RegistrationNumber") == [""]
    (comment,) = texts(root, "s:Header/s:HeaderComment")
    assert "organisation number" in comment and "contact person" in comment


def test_an_empty_period_is_still_a_valid_file() -> None:
    root = parsed(replace(small_ledger(), vouchers=()))
    assert texts(root, "s:GeneralLedgerEntries/s:NumberOfEntries") == ["0"]
    assert texts(root, "s:GeneralLedgerEntries/s:TotalDebit") == ["0.00"]
    assert root.xpath("s:MasterFiles/s:TaxTable", namespaces=NS) == []


@pytest.mark.parametrize(
    ("ore", "text"),
    [(0, "0.00"), (1, "0.01"), (99, "0.99"), (100, "1.00"), (1_250_000, "12500.00"), (10**13, "100000000000.00")],
)
def test_ore_become_kroner_with_two_decimals(ore: int, text: str) -> None:
    assert nok(ore) == text


def test_a_code_s_tax_is_shared_among_its_base_lines_to_the_ore() -> None:
    lines = [
        Line(1, "3000", -100, vat_code="3"),
        Line(2, "3000", -200, vat_code="3"),
        Line(3, "2700", -76, vat_code="3"),
        Line(4, "1500", 376),
    ]
    shares = tax_per_base_line(lines)
    assert shares == {1: -25, 2: -51}
    assert sum(shares.values()) == -76


def test_accounts_outside_the_default_chart_fall_back_to_their_range() -> None:
    assert grouping("1500") == ("balanseverdiForOmloepsmiddel", "1500")
    assert grouping("2910") == ("kortsiktigGjeld", "2990")
    assert grouping("6300") == ("annenDriftskostnad", "7700")
    assert grouping("150010") == ("balanseverdiForOmloepsmiddel", "1570")


def test_free_text_is_cut_to_the_schema_s_lengths_and_cleaned_of_control_characters() -> None:
    long_name = "Kunde " + "x" * 300 + "\x01"
    root = parsed(replace(small_ledger(), parties=(Party(10001, long_name, "customer", "1500"),)))
    (name,) = texts(root, "s:MasterFiles/s:Customers/s:Customer/s:Name")
    assert len(name) == 256 and "\x01" not in name
