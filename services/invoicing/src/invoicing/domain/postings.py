"""What invoicing asks the ledger to book: the sale, a payment, a credit note. Balanced by construction."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from uuid import UUID

from ledgerline_contracts.invoicing import VatCode
from ledgerline_contracts.ledger import BookingSource, PostVoucher, Side, VoucherLine

from .model import Client, Invoice
from .rules import split_gross, vat_of

SERVICE = "invoicing"


def _line(account: str, side: Side, amount: int, **extra: object) -> VoucherLine:
    return VoucherLine(account=account, side=side, amount_ore=amount, **extra)  # type: ignore[arg-type]


def sale(client: Client, invoice: Invoice) -> PostVoucher:
    """Receivable on the customer's sub-ledger (the invoice is the open item), sales and output VAT (rule 11)."""
    accounts = client.accounts
    net_by_account: dict[str, int] = defaultdict(int)
    vat_by_code: dict[str, int] = defaultdict(int)
    for line in invoice.lines:
        net_by_account[accounts.sales_exempt if line.vat_code is VatCode.EXEMPT else accounts.sales] += line.net_ore
        vat_by_code[line.vat_code.value] += vat_of(line)
    lines = [
        _line(
            accounts.receivables,
            Side.DEBIT,
            invoice.gross_ore,
            party=invoice.customer_number,
            open_item=invoice.number,
            due_date=invoice.due_date,
        )
    ]
    lines += [_line(account, Side.CREDIT, net) for account, net in sorted(net_by_account.items()) if net]
    lines += [
        _line(accounts.output_vat, Side.CREDIT, vat, vat_code=code) for code, vat in sorted(vat_by_code.items()) if vat
    ]
    return PostVoucher(
        reply=False,
        client_id=client.client_id,
        correlation_id=str(invoice.invoice_id),
        idempotency_key=f"sale:{invoice.invoice_id}",
        series="SALES",
        voucher_date=invoice.invoice_date,
        text=f"Invoice {invoice.number}",
        lines=lines,
        source=BookingSource(service=SERVICE, event_type="invoice.sent", invoice_id=invoice.invoice_id),
    )


def payment(client: Client, invoice: Invoice, amount: int, paid_on: date, payment_id: UUID) -> PostVoucher:
    accounts = client.accounts
    return PostVoucher(
        reply=False,
        client_id=client.client_id,
        correlation_id=str(invoice.invoice_id),
        idempotency_key=f"payment:{payment_id}",
        series="BANK",
        voucher_date=paid_on,
        text=f"Payment of invoice {invoice.number}",
        lines=[
            _line(accounts.bank, Side.DEBIT, amount),
            _line(accounts.receivables, Side.CREDIT, amount, party=invoice.customer_number, open_item=invoice.number),
        ],
        source=BookingSource(service=SERVICE, event_type="payment.registered", invoice_id=invoice.invoice_id),
    )


def credit_note(client: Client, invoice: Invoice, gross: int, credited_on: date, credit_note_id: UUID) -> PostVoucher:
    accounts = client.accounts
    net, vat = split_gross(invoice, gross)
    exempt_only = all(line.vat_code is VatCode.EXEMPT for line in invoice.lines)
    lines = [_line(accounts.sales_exempt if exempt_only else accounts.sales, Side.DEBIT, net)] if net else []
    if vat:
        lines.append(_line(accounts.output_vat, Side.DEBIT, vat))
    lines.append(
        _line(accounts.receivables, Side.CREDIT, gross, party=invoice.customer_number, open_item=invoice.number)
    )
    return PostVoucher(
        reply=False,
        client_id=client.client_id,
        correlation_id=str(invoice.invoice_id),
        idempotency_key=f"credit:{credit_note_id}",
        series="SALES",
        voucher_date=credited_on,
        text=f"Credit note on invoice {invoice.number}",
        lines=lines,
        source=BookingSource(service=SERVICE, event_type="credit_note.issued", invoice_id=invoice.invoice_id),
    )
