"""A SAF-T Financial 1.30 audit file from plain ledger data: a pure function, no I/O (see saft/README.md)."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from itertools import groupby

from lxml import etree

from ledgerline_contracts.money import decimal_from_ore

from . import codes
from .model import Company, Ledger, Line, Party, PartyBalance, Voucher

NAMESPACE = "urn:StandardAuditFile-Taxation-Financial:NO"
AUDIT_FILE_VERSION = "1.30"
SOFTWARE_COMPANY = "Ledgerline"
SOFTWARE_ID = "Ledgerline ledger"

# The schema's text types are length-limited strings; free text from the books is cut to fit.
SHORT, MIDDLE1, MIDDLE2, LONG = 18, 35, 70, 256
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


def nok(ore: int) -> str:
    """Øre as the schema's SAFmonetaryType: decimal kroner with two decimals ("12500.00"), never via a float."""
    return f"{decimal_from_ore(ore):.2f}"


def build_audit_file(ledger: Ledger, created: date, software_version: str) -> bytes:
    """The audit file for `ledger`'s selection (its start to end dates, both included), as UTF-8 XML."""
    root = etree.Element(_tag("AuditFile"), nsmap={None: NAMESPACE})  # type: ignore[dict-item]
    _header(root, ledger, created, software_version)
    _master_files(root, ledger)
    _general_ledger_entries(root, ledger)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


# --- helpers ---------------------------------------------------------------------------------------------------------
def _tag(name: str) -> str:
    return f"{{{NAMESPACE}}}{name}"


def _add(parent: etree._Element, name: str, text: object = None) -> etree._Element:
    element = etree.SubElement(parent, _tag(name))
    if text is not None:
        element.text = str(text)
    return element


def _text(value: str | None, limit: int) -> str:
    return _NOT_XML.sub(" ", value or "")[:limit]


def _balance(parent: etree._Element, when: str, ore: int) -> None:
    """OpeningDebitBalance / OpeningCreditBalance (or Closing...): one of the pair, never negative."""
    _add(parent, f"{when}{'Debit' if ore >= 0 else 'Credit'}Balance", nok(abs(ore)))


def _amount(parent: etree._Element, name: str, ore: int) -> None:
    _add(_add(parent, name), "Amount", nok(abs(ore)))


# --- Header ----------------------------------------------------------------------------------------------------------
def _header(root: etree._Element, ledger: Ledger, created: date, software_version: str) -> None:
    header = _add(root, "Header")
    _add(header, "AuditFileVersion", AUDIT_FILE_VERSION)
    _add(header, "AuditFileCountry", "NO")
    _add(header, "AuditFileDateCreated", created.isoformat())
    _add(header, "SoftwareCompanyName", SOFTWARE_COMPANY)
    _add(header, "SoftwareID", SOFTWARE_ID)
    _add(header, "SoftwareVersion", _text(software_version, SHORT))
    _company(header, ledger.company)
    _add(header, "DefaultCurrencyCode", "NOK")
    selection = _add(header, "SelectionCriteria")
    _add(selection, "SelectionStartDate", ledger.start.isoformat())
    _add(selection, "SelectionEndDate", ledger.end.isoformat())
    missing = _missing_company_data(ledger.company)
    if missing:
        _add(header, "HeaderComment", f"Not known to the ledger and left empty: {', '.join(missing)}.")
    _add(header, "TaxAccountingBasis", "A")


def _company(header: etree._Element, company: Company) -> None:
    # RegistrationNumber, Contact/ContactPerson and Telephone are mandatory in the header; what the caller did not
    # give stays empty (and is named in HeaderComment) rather than being made up.
    element = _add(header, "Company")
    _add(element, "RegistrationNumber", _text(company.organisation_number, MIDDLE1))
    _add(element, "Name", _text(company.name, LONG))
    contact = _add(element, "Contact")
    person = _add(contact, "ContactPerson")
    first, _, last = (company.contact_name or "").strip().rpartition(" ")
    if not first:  # a single name
        first, last = last, ""
    _add(person, "FirstName", _text(first, MIDDLE1))
    _add(person, "LastName", _text(last, MIDDLE2))
    _add(contact, "Telephone", _text(company.contact_phone, SHORT))


def _missing_company_data(company: Company) -> list[str]:
    wanted = {
        "organisation number": company.organisation_number,
        "contact person": company.contact_name,
        "telephone": company.contact_phone,
    }
    return [name for name, value in wanted.items() if not value]


# --- MasterFiles -----------------------------------------------------------------------------------------------------
def _master_files(root: etree._Element, ledger: Ledger) -> None:
    master = _add(root, "MasterFiles")
    if ledger.accounts:
        accounts = _add(master, "GeneralLedgerAccounts")
        for account in ledger.accounts:
            element = _add(accounts, "Account")
            _add(element, "AccountID", account.number)
            _add(element, "AccountDescription", _text(account.name, LONG))
            category, code = codes.grouping(account.number)
            _add(element, "GroupingCategory", category)
            _add(element, "GroupingCode", code)
            _add(element, "AccountType", "GL")
            _balance(element, "Opening", account.opening_ore)
            _balance(element, "Closing", account.closing_ore)
    for kind, container, item, id_name in (
        ("customer", "Customers", "Customer", "CustomerID"),
        ("supplier", "Suppliers", "Supplier", "SupplierID"),
    ):
        parties = [p for p in ledger.parties if p.kind == kind]
        if parties:
            element = _add(master, container)
            for party in parties:
                _party(_add(element, item), party, id_name)
    _tax_table(master, ledger.vouchers)


def _party(element: etree._Element, party: Party, id_name: str) -> None:
    _add(element, "Name", _text(party.name, LONG))
    _add(element, id_name, str(party.number))
    balances = party.balances
    if not balances and party.control_account:  # a party without postings: zero under its control account
        balances = (PartyBalance(party.control_account, 0, 0),)
    for balance in balances:
        account = _add(element, "BalanceAccount")
        _add(account, "AccountID", balance.account)
        _balance(account, "Opening", balance.opening_ore)
        _balance(account, "Closing", balance.closing_ore)


def _tax_table(master: etree._Element, vouchers: Iterable[Voucher]) -> None:
    """The VAT codes the selection's lines use (the ledger keeps no table of its own)."""
    used = sorted({line.vat_code for v in vouchers for line in v.lines if line.vat_code}, key=_code_order)
    if not used:
        return
    entry = _add(_add(master, "TaxTable"), "TaxTableEntry")
    _add(entry, "TaxType", "MVA")
    _add(entry, "Description", "Merverdiavgift")
    for code in used:
        vat = codes.vat_code(code)
        details = _add(entry, "TaxCodeDetails")
        _add(details, "TaxCode", _text(code, MIDDLE2))
        _add(details, "Description", _text(vat.description, LONG))
        if vat.percentage is not None:
            _add(details, "TaxPercentage", vat.percentage)
        _add(details, "Country", "NO")
        _add(details, "StandardTaxCode", vat.standard_code)
        _add(details, "BaseRate", 100)  # the whole base is deductible: no partial deduction is booked here


def _code_order(code: str) -> tuple[int, str]:
    return (int(code), code) if code.isdigit() else (10**9, code)


# --- GeneralLedgerEntries --------------------------------------------------------------------------------------------
def _general_ledger_entries(root: etree._Element, ledger: Ledger) -> None:
    vouchers = ledger.vouchers
    # A line names its party by number; the party's kind says whether that is a CustomerID or a SupplierID.
    party_ids = {p.number: "CustomerID" if p.kind == "customer" else "SupplierID" for p in ledger.parties}
    entries = _add(root, "GeneralLedgerEntries")
    _add(entries, "NumberOfEntries", len(vouchers))
    amounts = [line.amount_ore for v in vouchers for line in v.lines]
    _add(entries, "TotalDebit", nok(sum(a for a in amounts if a > 0)))
    _add(entries, "TotalCredit", nok(-sum(a for a in amounts if a < 0)))
    ordered = sorted(vouchers, key=lambda v: (v.series, v.number))
    for series, in_series in groupby(ordered, key=lambda v: v.series):
        journal = _add(entries, "Journal")
        _add(journal, "JournalID", series)
        _add(journal, "Description", f"Voucher series {series}")
        _add(journal, "Type", "GL")  # every series is a general-ledger journal here
        for voucher in in_series:
            _transaction(journal, voucher, party_ids)


def _transaction(journal: etree._Element, voucher: Voucher, party_ids: dict[int, str]) -> None:
    element = _add(journal, "Transaction")
    _add(element, "TransactionID", f"{voucher.series}-{voucher.number}")
    _add(element, "Period", voucher.voucher_date.month)  # calendar months are the accounting periods
    _add(element, "PeriodYear", voucher.voucher_date.year)
    _add(element, "TransactionDate", voucher.voucher_date.isoformat())
    _add(element, "VoucherType", _text(voucher.series, MIDDLE2))
    _add(element, "Description", _text(voucher.text, LONG))
    _add(element, "SystemEntryDate", voucher.entered_on.isoformat())
    _add(element, "GLPostingDate", voucher.entered_on.isoformat())
    taxes = tax_per_base_line(voucher.lines)
    for line in voucher.lines:
        _line(element, voucher, line, party_ids, taxes.get(line.line_number))


def _line(
    transaction: etree._Element, voucher: Voucher, line: Line, party_ids: dict[int, str], tax_ore: int | None
) -> None:
    element = _add(transaction, "Line")
    _add(element, "RecordID", line.line_number)
    _add(element, "AccountID", line.account)
    if line.party is not None and line.party in party_ids:
        _add(element, party_ids[line.party], line.party)
    _add(element, "Description", _text(line.description or voucher.text, LONG))
    _amount(element, "DebitAmount" if line.amount_ore > 0 else "CreditAmount", line.amount_ore)
    if tax_ore is not None and line.vat_code:
        vat = codes.vat_code(line.vat_code)
        info = _add(element, "TaxInformation")
        _add(info, "TaxType", "MVA")
        _add(info, "TaxCode", _text(line.vat_code, MIDDLE2))
        if vat.percentage is not None:
            _add(info, "TaxPercentage", vat.percentage)
        _add(info, "TaxBase", nok(abs(line.amount_ore)))
        debit = tax_ore > 0 or (tax_ore == 0 and line.amount_ore > 0)  # no tax: on the base's side
        _amount(info, "DebitTaxAmount" if debit else "CreditTaxAmount", tax_ore)
    if line.due_date is not None:
        _add(element, "DueDate", line.due_date.isoformat())


def tax_per_base_line(lines: Iterable[Line]) -> dict[int, int]:
    """The VAT (signed øre) that belongs to each base line of a voucher, by line number.

    The ledger books the tax as a line of its own on a VAT account with the same code as its base; SAF-T wants it
    on the base line (TaxBase, Debit/CreditTaxAmount). A code's tax is shared among its base lines in proportion
    to their amounts, the øre left by rounding going to the last, so the shares add up to the booked tax exactly.
    """
    by_code: dict[str, list[Line]] = defaultdict(list)
    for line in lines:
        if line.vat_code:
            by_code[line.vat_code].append(line)
    shares: dict[int, int] = {}
    for in_code in by_code.values():
        tax = sum(line.amount_ore for line in in_code if codes.is_vat_account(line.account))
        bases = [line for line in in_code if not codes.is_vat_account(line.account)]
        weight = sum(abs(line.amount_ore) for line in bases)
        if not bases or weight == 0:
            continue
        sign, left = (1 if tax >= 0 else -1), abs(tax)
        for index, line in enumerate(bases):
            share = left if index == len(bases) - 1 else abs(tax) * abs(line.amount_ore) // weight
            left -= share
            shares[line.line_number] = sign * share
    return shares
