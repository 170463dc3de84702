"""Money as integer fen (0.01 CNY): formatting, parsing typed amounts, and converting foreign prices.

Amounts are never floats anywhere in the kiosk (DESIGN.md §2).  A price in another currency is an
integer of that currency's minor units (KZT: tiyn, 1/100 tenge); ``convert_to_fen`` turns it into fen
with an exact decimal rate (CNY per one unit of the currency, from ``kiosk.rates``), rounding half up
to the fen, in integer arithmetic only.
"""

from __future__ import annotations

import re
from decimal import Decimal

FEN_PER_YUAN = 100

# ASCII digits only: str.isdigit and \d also accept e.g. Arabic-Indic or full-width digits.
_AMOUNT = re.compile(r"(?P<yuan>[0-9]+)(?:\.(?P<fen>[0-9]{1,2}))?")


def format_fen(fen: int) -> str:
    """Render fen as yuan with thousands separators and two decimals: 800000 -> "8,000.00"."""
    if isinstance(fen, bool) or not isinstance(fen, int):
        raise TypeError(f"fen must be an int, not {type(fen).__name__}")
    sign = "-" if fen < 0 else ""
    yuan, rest = divmod(abs(fen), FEN_PER_YUAN)
    return f"{sign}{yuan:,}.{rest:02d}"


def parse_yuan(text: str) -> int:
    """Parse a non-negative yuan amount with at most two decimals into fen: "8000.5" -> 800050."""
    if not isinstance(text, str):
        raise TypeError(f"amount must be a str, not {type(text).__name__}")
    s = text.strip()
    if not s:
        raise ValueError("empty amount")
    if s.startswith("-"):
        raise ValueError(f"negative amount not allowed: {text!r}")
    if "e" in s.lower():
        raise ValueError(f"exponent notation not allowed: {text!r}")
    match = _AMOUNT.fullmatch(s)
    if match is None:
        if re.fullmatch(r"[0-9]+\.[0-9]{3,}", s):
            raise ValueError(f"more than 2 decimal places: {text!r}")
        raise ValueError(f"not an amount in yuan (want e.g. 8000 or 8000.50): {text!r}")
    fen_text = (match.group("fen") or "").ljust(2, "0")
    return int(match.group("yuan")) * FEN_PER_YUAN + int(fen_text)


def half_up(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded to the nearest integer, halves up: half_up(5, 2) == 3."""
    for name, value in (("numerator", numerator), ("denominator", denominator)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if numerator < 0 or denominator <= 0:
        raise ValueError(f"half_up needs a non-negative numerator and a positive denominator, "
                         f"got {numerator}/{denominator}")
    return (2 * numerator + denominator) // (2 * denominator)


def convert_to_fen(minor: int, cny_per_unit: Decimal) -> int:
    """Fen for ``minor`` hundredths of a foreign currency at ``cny_per_unit`` CNY per whole unit, half up.

    A hundredth of the currency times CNY per unit is exactly fen (1/100 x 100): 12 345 tiyn at
    0.013765 CNY/KZT is 169.928925 fen, so 170.  The rate is used as the exact fraction it writes.
    """
    if not isinstance(cny_per_unit, Decimal) or not cny_per_unit.is_finite() or cny_per_unit <= 0:
        raise ValueError(f"the rate must be a positive finite Decimal, got {cny_per_unit!r}")
    num, den = cny_per_unit.as_integer_ratio()
    if isinstance(minor, bool) or not isinstance(minor, int):
        raise TypeError(f"minor must be an int, not {type(minor).__name__}")
    return half_up(minor * num, den)


def decimal_text(value: Decimal) -> str:
    """Plain decimal text without exponent or trailing zeros: Decimal("1.37650E-2") -> "0.013765"."""
    if not value.is_finite():
        raise ValueError(f"not a finite decimal: {value!r}")
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


_DECIMAL = re.compile(r"(?P<int>[0-9]+)(?:\.(?P<frac>[0-9]+))?")


def parse_units(text: str, places: int) -> int:
    """A non-negative decimal with at most ``places`` decimals, in units of 10**-places: ("98.5", 2) -> 9850.

    Only plain ASCII digits and one point: no sign, exponent, thousands separator or other digits.
    The ValueError says what is wrong (for ``line N: reason`` reports).
    """
    s = text.strip()
    if not s:
        raise ValueError("empty")
    if s.startswith("-"):
        raise ValueError(f"{text!r} is negative")
    if re.fullmatch(r"[0-9.]*[eE][-+0-9.]*", s):
        raise ValueError(f"{text!r} uses exponent notation")
    match = _DECIMAL.fullmatch(s)
    if match is None:
        raise ValueError(f"{text!r} is not a decimal number (want e.g. 98 or 98.50)")
    frac = match.group("frac") or ""
    if len(frac) > places:
        raise ValueError(f"{text!r} has more than {places} decimal place{'s' if places != 1 else ''}")
    return int(match.group("int") + frac.ljust(places, "0"))
