"""Money as integer fen (0.01 CNY): formatting for screens and slips, parsing typed amounts.

Amounts are never floats anywhere in the kiosk (DESIGN.md §2).  KZT conversion with a dated
rate table belongs here too once prices in tiyn arrive; it is not needed yet.
"""

from __future__ import annotations

import re

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
