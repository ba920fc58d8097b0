"""The SAF-T code lists the export maps to, as small explicit tables (no I/O).

SAF-T Financial 1.30 dropped the StandardAccountID mapping of 1.10: every account is now mapped to the business
statement with GroupingCategory + GroupingCode from one of Skatteetaten's code lists. We use the list for
companies' business statements, "naeringsspesifikasjon" (`SAF-T_Financial_1.3/Grouping Category Code/` in
Skatteetaten/saf-t), whose codes are NS 4102 account numbers under a category such as `kortsiktigGjeld`.

Simplified: the accounts of our default chart are mapped one by one; any other account falls back to the
catch-all code of its NS 4102 number range ("other current receivables", "other costs", ...). A client with
its own chart would need its own mapping table, which the ledger does not hold yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

GROUPING_BY_ACCOUNT: dict[str, tuple[str, str]] = {
    "1500": ("balanseverdiForOmloepsmiddel", "1500"),
    "1580": ("balanseverdiForOmloepsmiddel", "1500"),  # the bad-debt provision is reported net of receivables
    "1920": ("balanseverdiForOmloepsmiddel", "1920"),
    "2000": ("egenkapital", "2000"),
    "2050": ("egenkapital", "2050"),
    "2400": ("kortsiktigGjeld", "2400"),
    "2700": ("kortsiktigGjeld", "2740"),  # VAT accounts are reported as the net VAT settlement
    "2710": ("kortsiktigGjeld", "2740"),
    "2740": ("kortsiktigGjeld", "2740"),
    "2900": ("kortsiktigGjeld", "2990"),  # our 2900 is "other current liabilities"; the list's 2900 is advances
    "3000": ("salgsinntekt", "3000"),
    "3100": ("salgsinntekt", "3100"),
    "6800": ("annenDriftskostnad", "6995"),
    "7770": ("annenDriftskostnad", "7700"),
    "7830": ("annenDriftskostnad", "7830"),
    "8050": ("finansinntekt", "8050"),
    "8150": ("finanskostnad", "8150"),
}

# (first account in the range, category, catch-all code), by the first four digits of the account number.
_GROUPING_FALLBACK: tuple[tuple[int, str, str], ...] = (
    (1000, "balanseverdiForAnleggsmiddel", "1290"),
    (1400, "balanseverdiForOmloepsmiddel", "1570"),
    (2000, "egenkapital", "2050"),
    (2100, "langsiktigGjeld", "2290"),
    (2300, "kortsiktigGjeld", "2990"),
    (3000, "salgsinntekt", "3000"),
    (3400, "annenDriftsinntekt", "3900"),
    (4000, "varekostnad", "4005"),
    (5000, "loennskostnad", "5900"),
    (6000, "annenDriftskostnad", "7700"),
    (8000, "finansinntekt", "8079"),
    (8100, "finanskostnad", "8179"),
    (8300, "skattekostnad", "8300"),
    (8800, "resultatDisponeringForSAF-T", "8800"),
)


def grouping(account: str) -> tuple[str, str]:
    """GroupingCategory and GroupingCode of an account number ("1500", or up to six digits)."""
    if account in GROUPING_BY_ACCOUNT:
        return GROUPING_BY_ACCOUNT[account]
    head = int(account[:4])
    category, code = _GROUPING_FALLBACK[0][1:]
    for first, fallback_category, fallback_code in _GROUPING_FALLBACK:
        if head >= first:
            category, code = fallback_category, fallback_code
    return category, code


@dataclass(frozen=True, slots=True)
class VatCode:
    standard_code: str
    """Skatteetaten's standard tax code ("Standard Tax Codes" list); "NA" where no mapping is possible."""
    description: str
    percentage: Decimal | None


# The ledger takes a voucher line's vat_code as given; invoicing books Norway's standard codes (3, 31, 33, 6), so
# ours map to themselves. Only the codes this system can book are listed; anything else maps to "NA", as the
# schema prescribes where no mapping is possible.
VAT_CODES: dict[str, VatCode] = {
    "0": VatCode("0", "Ingen merverdiavgiftsbehandling (anskaffelser)", None),
    "1": VatCode("1", "Fradragsberettiget innenlands inngående merverdiavgift, alminnelig sats", Decimal(25)),
    "11": VatCode("11", "Fradragsberettiget innenlands inngående merverdiavgift, middels sats", Decimal(15)),
    "13": VatCode("13", "Fradragsberettiget innenlands inngående merverdiavgift, lav sats", Decimal(12)),
    "3": VatCode("3", "Utgående merverdiavgift, alminnelig sats", Decimal(25)),
    "31": VatCode("31", "Utgående merverdiavgift, middels sats", Decimal(15)),
    "33": VatCode("33", "Utgående merverdiavgift, lav sats", Decimal(12)),
    "5": VatCode("5", "Innenlands omsetning og uttak fritatt for merverdiavgift", Decimal(0)),
    "6": VatCode("6", "Omsetning og uttak utenfor merverdiavgiftsloven", None),
    "7": VatCode("7", "Ingen merverdiavgiftsbehandling (inntekter)", None),
}


def vat_code(code: str) -> VatCode:
    return VAT_CODES.get(code) or VatCode("NA", f"Avgiftskode {code} (ikke tilordnet standard avgiftskode)", None)


def is_vat_account(account: str) -> bool:
    """The NS 4102 accounts that carry the VAT itself (27xx up to the settlement account): a line there is the
    tax of its voucher's lines with the same code, not a base."""
    return 2700 <= int(account[:4]) <= 2739
