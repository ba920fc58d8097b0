"""SAF-T Financial on the real stack: vouchers booked through the broker, `ledgerline report saft` writes the file,
which validates against Skatteetaten's schema and agrees with the trial balance for the period."""

from __future__ import annotations

import asyncio
from datetime import date
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from lxml import etree
from typer.testing import CliRunner

from ledger.saft import schema_errors
from ledger.saft.builder import NAMESPACE
from ledgerline_cli.main import app
from ledgerline_cli.operator import Operator
from ledgerline_cli.stack import Stack
from ledgerline_contracts import ledger as L
from ledgerline_contracts import topics
from ledgerline_contracts.money import ore_from_decimal

pytestmark = pytest.mark.integration
NS = {"s": NAMESPACE}
SOURCE = L.BookingSource(service="test")
START, END = date(2026, 10, 1), date(2026, 10, 31)


def line(account: str, side: str, ore: int, **kw: object) -> L.VoucherLine:
    return L.VoucherLine(account=account, side=side, amount_ore=ore, **kw)  # type: ignore[arg-type]


async def book(operator: Operator, client: str, day: date, series: str, text: str, *lines: L.VoucherLine) -> None:
    command = L.PostVoucher(
        client_id=client,
        idempotency_key=f"{series}-{text}",
        series=series,
        voucher_date=day,
        text=text,
        lines=list(lines),
        source=SOURCE,
    )
    await operator.bus.command(topics.TOPIC_LEDGER_COMMANDS, command, key=client)


def signed_balance(element: etree._Element, when: str) -> int:
    """An account's Opening/Closing balance as signed øre (debit positive)."""
    (debit_or_credit,) = element.xpath(f"s:{when}DebitBalance | s:{when}CreditBalance", namespaces=NS)
    ore = ore_from_decimal(debit_or_credit.text)
    return ore if etree.QName(debit_or_credit).localname.endswith("DebitBalance") else -ore


async def test_the_saft_file_validates_and_agrees_with_the_trial_balance(
    operator: Operator, client_id: str, services: Stack, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    await operator.create_client(client_id, "Fjord Test AS", "987654321")  # invoicing opens the ledger's books
    for number, name, kind in ((10001, "Kunde C", "customer"), (20001, "ABC Factoring", "supplier")):
        await operator.bus.command(
            topics.TOPIC_LEDGER_COMMANDS,
            L.UpsertParty(client_id=client_id, number=number, name=name, kind=kind),  # type: ignore[arg-type]
            key=client_id,
        )
    # Before the period (the opening balances), three vouchers inside it, one after it (not in the file).
    vouchers = [
        (
            date(2026, 9, 15),
            "GENERAL",
            "Innskutt kapital",
            [line("1920", "debit", 1_000_000), line("2050", "credit", 1_000_000)],
        ),
        (
            date(2026, 10, 5),
            "SALES",
            "Faktura 1001",
            [
                line("1500", "debit", 1_250_000, party=10001, open_item="1001", due_date=date(2026, 11, 4)),
                line("3000", "credit", 1_000_000, vat_code="3"),
                line("2700", "credit", 250_000, vat_code="3"),
            ],
        ),
        (
            date(2026, 10, 20),
            "BANK",
            "Innbetaling 1001",
            [line("1920", "debit", 500_000), line("1500", "credit", 500_000, party=10001, open_item="1001")],
        ),
        (
            date(2026, 10, 25),
            "GENERAL",
            "Gebyr ABC",
            [
                line("7770", "debit", 10_000, vat_code="1"),
                line("2710", "debit", 2_500, vat_code="1"),
                line("2400", "credit", 12_500, party=20001),
            ],
        ),
        (date(2026, 11, 3), "GENERAL", "Etter perioden", [line("1920", "debit", 100), line("3000", "credit", 100)]),
    ]
    for day, series, text, lines in vouchers:
        await book(operator, client_id, day, series, text, *lines)

    # The CLI, as an operator runs it (in a thread: the command runs its own event loop).
    monkeypatch.setenv("LEDGERLINE_PORT_BASE", str(services.port_base))
    monkeypatch.setenv("LEDGERLINE_KAFKA", services.bootstrap)
    target = tmp_path / "saft.xml"
    args = ["report", "saft", client_id, "--from", "2026-10-01", "--to", "2026-10-31", "--output", str(target)]
    ran = await asyncio.to_thread(CliRunner().invoke, app, [*args, "--contact", "Kari Nordmann", "--phone", "12345678"])
    assert ran.exit_code == 0, ran.output
    xml = target.read_bytes()
    assert schema_errors(xml) == []
    root = etree.fromstring(xml)

    def texts(path: str) -> list[str]:
        return [e.text or "" for e in root.xpath(path, namespaces=NS)]

    assert texts("s:Header/s:Company/s:RegistrationNumber") == ["987654321"]  # from invoicing, via the CLI
    assert texts("s:Header/s:Company/s:Name") == ["Fjord Test AS"]
    assert texts("s:Header/s:SelectionCriteria/*") == ["2026-10-01", "2026-10-31"]

    # Totals: the period's movements, i.e. the trial balance at the end less the one the day before the start.
    closing = await operator.trial_balance(client_id, END)
    before = await operator.trial_balance(client_id, date(2026, 9, 30))
    period_debit = closing["total_debit_ore"] - before["total_debit_ore"]
    period_credit = closing["total_credit_ore"] - before["total_credit_ore"]
    assert period_debit == period_credit == 1_762_500
    entries = "s:GeneralLedgerEntries"
    assert texts(f"{entries}/s:NumberOfEntries") == ["3"]
    assert [ore_from_decimal(t) for t in texts(f"{entries}/s:TotalDebit")] == [period_debit]
    assert [ore_from_decimal(t) for t in texts(f"{entries}/s:TotalCredit")] == [period_credit]
    debits = sum(Decimal(t) for t in texts(f"{entries}//s:Line/s:DebitAmount/s:Amount"))
    credits = sum(Decimal(t) for t in texts(f"{entries}//s:Line/s:CreditAmount/s:Amount"))
    assert ore_from_decimal(debits) == ore_from_decimal(credits) == period_debit

    # Each account's closing balance is the trial balance's at the end, its opening the one before the start.
    at_end = {a["account"]: a["balance_ore"] for a in closing["accounts"]}
    at_start = {a["account"]: a["balance_ore"] for a in before["accounts"]}
    accounts = root.xpath("s:MasterFiles/s:GeneralLedgerAccounts/s:Account", namespaces=NS)
    in_file = {a.findtext(f"{{{NAMESPACE}}}AccountID"): a for a in accounts}
    assert set(at_end) <= set(in_file)
    for number, account in in_file.items():
        assert signed_balance(account, "Closing") == at_end.get(number, 0), number
        assert signed_balance(account, "Opening") == at_start.get(number, 0), number
    assert at_end["1920"] == 1_500_000  # the voucher after the period is not in it

    # Journals per series, parties on their lines, the sub-ledger balances and the VAT codes used.
    assert texts(f"{entries}/s:Journal/s:JournalID") == ["BANK", "GENERAL", "SALES"]
    assert texts(f"{entries}/s:Journal[s:JournalID='SALES']/s:Transaction/s:Line[1]/s:CustomerID") == ["10001"]
    assert texts(f"{entries}/s:Journal[s:JournalID='GENERAL']//s:Line/s:SupplierID") == ["20001"]
    customer = "s:MasterFiles/s:Customers/s:Customer[s:CustomerID='10001']/s:BalanceAccount"
    assert texts(f"{customer}/s:AccountID") == ["1500"]
    assert texts(f"{customer}/s:ClosingDebitBalance") == ["7500.00"]
    assert texts("s:MasterFiles/s:TaxTable//s:TaxCodeDetails/s:StandardTaxCode") == ["1", "3"]

    # The same bearer-token rules as every other query: a user of another client may not read it.
    async with httpx.AsyncClient(base_url=operator.urls.ledger, timeout=10) as http:
        other = {"authorization": f"Bearer {operator.token('some-other-client')}"}
        params = {"from": "2026-10-01", "to": "2026-10-31"}
        assert (await http.get(f"/clients/{client_id}/saft", params=params, headers=other)).status_code == 403
        assert (await http.get(f"/clients/{client_id}/saft", params=params)).status_code == 401
