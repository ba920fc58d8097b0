"""The KID (customer identification) on an invoice: generated per invoice, checked under the client's scheme.

Layout, 15 digits, the same for both schemes:

    CCCCC IIIIIIII V K
    │     │        │ └ check digit, MOD10 (Luhn) or MOD11 as the client chose
    │     │        └── variant digit: 0, or 1 where MOD11 has no check digit for 0 (below)
    │     └─────────── invoice number, zero-padded to 8 digits
    └───────────────── customer number (10000–19999, 5 digits)

So a payment's KID names its customer and invoice, and two invoices never share one. MOD11 has no check digit
for one number in eleven (the remainder would ask for 10, written «-», which many payers' banks refuse): then the
variant digit is 1 instead of 0. Stepping it by one changes the weighted sum by its weight, 2, which is never a
multiple of 11, so variant 1 always has a check digit when variant 0 has none. MOD10 always has one: its variant
is 0.
"""

from __future__ import annotations

from ledgerline_contracts.norway import KidScheme, check_digit, kid_problem

KID_LENGTH = 15
INVOICE_DIGITS = 8


class KidImpossible(ValueError):
    """The numbers do not fit the layout (a customer number outside 10000–19999, an invoice number over 8 digits)."""


def kid_for(customer_number: int, invoice_number: str, scheme: KidScheme) -> str:
    """The KID of one invoice, valid under `scheme`."""
    if not 10000 <= customer_number <= 99999:
        raise KidImpossible(f"customer number {customer_number} is not 5 digits")
    if not invoice_number.isascii() or not invoice_number.isdigit() or len(invoice_number) > INVOICE_DIGITS:
        raise KidImpossible(f"invoice number {invoice_number!r} is not at most {INVOICE_DIGITS} digits")
    body = f"{customer_number:05d}{int(invoice_number):0{INVOICE_DIGITS}d}"
    for variant in "01":
        check = check_digit(body + variant, scheme)
        if check is not None:
            kid = body + variant + check
            assert kid_problem(kid, scheme) is None and len(kid) == KID_LENGTH
            return kid
    raise AssertionError("MOD11 has a check digit for variant 0 or 1")  # pragma: no cover - see the docstring


def parts(kid: str) -> tuple[int, str]:
    """The customer number and invoice number a KID of this layout names."""
    return int(kid[:5]), str(int(kid[5 : 5 + INVOICE_DIGITS]))
