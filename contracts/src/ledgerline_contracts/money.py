"""Money on the wire: whole øre in JSON integers, never floats.

A float amount (12500.0) is refused at validation, as is anything beyond ±10^13 øre (100 billion NOK), which
no invoice of this system's clients comes near: such a number is a bug or an attack, not a sale.
"""

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Annotated

from pydantic import Field, Strict

MAX_ORE = 10**13

Ore = Annotated[int, Strict(), Field(ge=-MAX_ORE, le=MAX_ORE)]
"""A signed amount in øre."""

PositiveOre = Annotated[int, Strict(), Field(gt=0, le=MAX_ORE)]
"""An amount in øre that must be above zero (a line, a fee, a payment)."""

NonNegativeOre = Annotated[int, Strict(), Field(ge=0, le=MAX_ORE)]


def ore_from_decimal(amount: Decimal | str) -> int:
    """Converts kroner as a decimal (or its text, e.g. "12500.00") to øre, refusing fractions of an øre."""
    value = Decimal(amount)
    ore = value * 100
    if ore != ore.to_integral_value():
        raise ValueError(f"{amount} has fractions of an øre")
    return int(ore)


def decimal_from_ore(ore: int) -> Decimal:
    """Øre as kroner with two decimals."""
    return (Decimal(ore) / 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)


def format_nok(ore: int) -> str:
    """12 500,00 style, as Norwegian accountants read amounts."""
    sign = "-" if ore < 0 else ""
    kroner, rest = divmod(abs(ore), 100)
    return f"{sign}{kroner:,}".replace(",", " ") + f",{rest:02d}"
