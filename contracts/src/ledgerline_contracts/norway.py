"""Norwegian check digits: KID payment references, bank account numbers, organisation numbers; the «MVA» mark.

Pure functions, shared by whoever makes or checks a Norwegian invoice: invoicing generates KIDs, the providers'
simulators validate what they receive (a provider refuses an invoice whose KID its bank would refuse).

- MOD10 is the Luhn algorithm: from the right, every second digit doubled (digits of the product summed), the
  check digit makes the sum a multiple of 10.
- MOD11 weights the digits 2, 3, 4, 5, 6, 7, 2, 3 … from the right; the check digit is 11 − (sum mod 11), 0 when
  that is 11. When it is 10 the number has no valid check digit: a KID would need «-» there, which many payers'
  banks refuse, so this module never makes one and refuses it (`kid_problem`). Bank account numbers (11 digits)
  and organisation numbers (9 digits) use the same MOD11 with no «-» either.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, StringConstraints


class KidScheme(StrEnum):
    """How a KID's check digit is computed; the client's choice, agreed with its bank."""

    MOD10 = "MOD10"
    MOD11 = "MOD11"


KID_MIN_LENGTH, KID_MAX_LENGTH = 2, 25
"""A KID is 2 to 25 digits, its last digit the check digit."""

KidText = Annotated[str, StringConstraints(pattern=rf"^[0-9]{{{KID_MIN_LENGTH},{KID_MAX_LENGTH}}}$")]
"""A KID as it travels: digits only (its check digit is checked by whoever accepts it, see `kid_problem`)."""

BankAccountText = Annotated[str, StringConstraints(pattern=r"^[0-9]{11}$")]
"""A Norwegian bank account number as it travels: 11 digits, no dots (`account_number_problem` checks it)."""


def mod10_check_digit(digits: str) -> str:
    """The Luhn check digit for `digits` (the number without its check digit)."""
    _digits_only(digits)
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return str(-total % 10)


def mod11_check_digit(digits: str) -> str | None:
    """The MOD11 check digit for `digits` (weights 2..7 from the right), or None when there is none (remainder 1:
    the check digit would be 10, «-»)."""
    _digits_only(digits)
    total = sum(int(char) * (2 + position % 6) for position, char in enumerate(reversed(digits)))
    check = 11 - total % 11
    if check == 11:
        return "0"
    return None if check == 10 else str(check)


def check_digit(digits: str, scheme: KidScheme) -> str | None:
    return mod10_check_digit(digits) if scheme is KidScheme.MOD10 else mod11_check_digit(digits)


def kid_problem(kid: str | None, scheme: KidScheme | str | None) -> str | None:
    """Why `kid` is not a valid KID under `scheme`, or None if it is."""
    if not kid:
        return "no KID"
    if scheme is None:
        return f"KID {kid} names no check-digit scheme (MOD10 or MOD11)"
    try:
        scheme = KidScheme(scheme)
    except ValueError:
        return f"KID scheme {scheme!r} is neither MOD10 nor MOD11"
    if not kid.isascii() or not kid.isdigit() or not KID_MIN_LENGTH <= len(kid) <= KID_MAX_LENGTH:
        return f"KID {kid!r} is not {KID_MIN_LENGTH} to {KID_MAX_LENGTH} digits"
    if check_digit(kid[:-1], scheme) != kid[-1]:
        return f"KID {kid} fails its {scheme.value} check digit"
    return None


def valid_kid(kid: str, scheme: KidScheme) -> bool:
    return kid_problem(kid, scheme) is None


def account_number_problem(number: str | None) -> str | None:
    """Why `number` is not a Norwegian bank account number (11 digits, MOD11), or None if it is."""
    if not number or not number.isascii() or not number.isdigit() or len(number) != 11:
        return f"account number {number!r} is not 11 digits"
    if mod11_check_digit(number[:-1]) != number[-1]:
        return f"account number {number} fails its MOD11 check digit"
    return None


def organisation_number_problem(number: str) -> str | None:
    """Why `number` is not a Norwegian organisation number (9 digits, MOD11), or None if it is."""
    if not number.isascii() or not number.isdigit() or len(number) != 9:
        return f"organisation number {number!r} is not 9 digits"
    if mod11_check_digit(number[:-1]) != number[-1]:
        return f"organisation number {number} fails its MOD11 check digit"
    return None


def seller_registration(organisation_number: str, vat_registered: bool) -> str:
    """The seller's organisation number as a Norwegian invoice prints it: «Org.nr. 912 345 678 MVA», «MVA» only
    when the seller is registered for VAT (bokføringsforskriften § 5-1-1 nr. 2)."""
    n = organisation_number
    spaced = f"{n[:3]} {n[3:6]} {n[6:]}" if len(n) == 9 else n
    return f"Org.nr. {spaced}" + (" MVA" if vat_registered else "")


def _peppol(value: str) -> str:
    scheme, _, identifier = value.partition(":")
    if scheme == "0192" and (problem := organisation_number_problem(identifier)):
        raise ValueError(f"a PEPPOL id under 0192 is a Norwegian organisation number: {problem}")
    return value


PeppolId = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9]{4}:[A-Za-z0-9._-]{1,50}$"),
    AfterValidator(_peppol),
]
"""An EHF/PEPPOL participant id: a four-digit ICD scheme, a colon and the identifier, e.g. «0192:974760673»
(0192: a Norwegian organisation number, checked with its MOD11 check digit)."""


def _digits_only(digits: str) -> None:
    if not digits.isascii() or not digits.isdigit():
        raise ValueError(f"{digits!r} is not digits")
