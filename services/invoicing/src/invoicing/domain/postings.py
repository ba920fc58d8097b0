"""What invoicing asks the ledger to book: the sale, a payment, a credit note. Balanced by construction."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from uuid import UUID

from ledgerline_contracts.invoicing import VatCode
from ledgerline_contracts.ledger import BookingSource, PostVoucher, Side, VoucherLine

from .. import SERVICE
from .model import Client, Invoice
from .rules import vat_of


def _line(account: str, side: Side, amount: int, **extra: object) -> VoucherLine:
    return VoucherLine(account=account, side=side, amount_ore=amount, **extra)  # type: ignore[arg-type]


def _sale_components(client: Client, invoice: Invoice) -> list[tuple[str, str, int]]:
    """What the sale credits, as (account, VAT code, øre): net per sales account and code, VAT per code."""
    accounts = client.accounts
    amounts: dict[tuple[str, str], int] = defaultdict(int)
    for line in invoice.lines:
        sales = accounts.sales_exempt if line.vat_code is VatCode.EXEMPT else accounts.sales
        amounts[(sales, line.vat_code.value)] += line.net_ore
        amounts[(accounts.output_vat, line.vat_code.value)] += vat_of(line)
    return [(account, code, amount) for (account, code), amount in sorted(amounts.items()) if amount]


def _share(components: list[tuple[str, str, int]], total: int, part: int) -> list[int]:
    """`part` of `total` spread over the components in proportion, in whole øre (largest remainder), so that
    `_share(c, total, total)` gives every component exactly."""
    if total == 0:
        return [0] * len(components)
    exact = [(part * amount, i) for i, (_, _, amount) in enumerate(components)]
    shares = [numerator // total for numerator, _ in exact]
    left = part - sum(shares)
    for _, i in sorted(exact, key=lambda e: (-(e[0] % total), e[1]))[:left]:
        shares[i] += 1
    return shares


def sale(client: Client, invoice: Invoice) -> PostVoucher:
    """Receivable on the customer's sub-ledger (the invoice is the open item), sales and output VAT (rule 11).

    Every sales and VAT line carries its VAT code, so the VAT return's basis per code comes from the ledger."""
    lines = [
        _line(
            client.accounts.receivables,
            Side.DEBIT,
            invoice.gross_ore,
            party=invoice.customer_number,
            open_item=invoice.number,
            due_date=invoice.due_date,
        )
    ]
    lines += [
        _line(account, Side.CREDIT, amount, vat_code=code)
        for account, code, amount in _sale_components(client, invoice)
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
        idempotency_key=f"payment:{invoice.invoice_id}:{payment_id}",
        series="BANK",
        voucher_date=paid_on,
        text=f"Payment of invoice {invoice.number}",
        lines=[
            _line(accounts.bank, Side.DEBIT, amount),
            _line(accounts.receivables, Side.CREDIT, amount, party=invoice.customer_number, open_item=invoice.number),
        ],
        source=BookingSource(service=SERVICE, event_type="payment.registered", invoice_id=invoice.invoice_id),
    )


def credit_note(
    client: Client, invoice: Invoice, gross: int, credited_on: date, credit_note_id: UUID, credited_before: int
) -> PostVoucher:
    """Reverses `gross` of the sale on the accounts and VAT codes the sale used, in the invoice's proportion.

    Each credit note books the difference between the shares of everything credited after it and before it, so
    credits that add up to the invoice reverse every sales and VAT line exactly, to the øre. Rounding can make
    one component's difference −1 øre; that line is then booked on the other side."""
    components = _sale_components(client, invoice)
    after = _share(components, invoice.gross_ore, credited_before + gross)
    before = _share(components, invoice.gross_ore, credited_before)
    lines = []
    for (account, code, _), now, earlier in zip(components, after, before, strict=True):
        if now != earlier:
            side = Side.DEBIT if now > earlier else Side.CREDIT
            lines.append(_line(account, side, abs(now - earlier), vat_code=code))
    lines.append(
        _line(client.accounts.receivables, Side.CREDIT, gross, party=invoice.customer_number, open_item=invoice.number)
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
