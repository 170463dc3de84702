"""GTIN arithmetic, pure: the GS1 mod-10 check digit, GTIN-14 form, UPC-E expansion, price check digits.

The authoritative check-digit functions of the kiosk (GS1 General Specifications 7.9).  Everything
takes and returns digit strings, so leading zeros are never lost.
"""

from __future__ import annotations

import re

GTIN_LENGTHS = frozenset({8, 12, 13, 14})

_DIGITS = re.compile(r"[0-9]+")


def check_digit(body: str) -> int:
    """The GS1 mod-10 check digit of ``body`` (weights 3, 1, 3, ... from the right)."""
    if not _DIGITS.fullmatch(body):
        raise ValueError(f"not a digit string: {body!r}")
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def gtin_check_ok(code: str) -> bool:
    """True for an EAN-8, UPC-A, EAN-13 or GTIN-14 whose last digit is its check digit."""
    return len(code) in GTIN_LENGTHS and bool(_DIGITS.fullmatch(code)) and check_digit(code[:-1]) == int(code[-1])


def to_gtin14(code: str) -> str:
    """The GTIN-14 form (zero-padded on the left) of an 8, 12, 13 or 14 digit GTIN."""
    if len(code) not in GTIN_LENGTHS or not _DIGITS.fullmatch(code):
        raise ValueError(f"not a GTIN: {code!r}")
    return code.zfill(14)


def expand_upce(code: str) -> str:
    """The 12-digit UPC-A that an 8-digit UPC-E (number system 0 or 1, check digit last) stands for."""
    if len(code) != 8 or not _DIGITS.fullmatch(code) or code[0] not in "01":
        raise ValueError(f"not a UPC-E: {code!r}")
    ns, d, check = code[0], code[1:7], code[7]
    last = d[5]
    if last in "012":
        body = d[0:2] + last + "0000" + d[2:5]
    elif last == "3":
        body = d[0:3] + "00000" + d[3:5]
    elif last == "4":
        body = d[0:4] + "00000" + d[4]
    else:
        body = d[0:5] + "0000" + last
    return ns + body + check


def compress_upca(code: str) -> str | None:
    """The UPC-E form of a 12-digit UPC-A, or None when it has none (inverse of expand_upce)."""
    if len(code) != 12 or not _DIGITS.fullmatch(code) or code[0] not in "01":
        return None
    ns, mfr, item, check = code[0], code[1:6], code[6:11], code[11]
    if mfr[2] in "012" and mfr[3:] == "00" and item[:2] == "00":
        six = mfr[0:2] + item[2:5] + mfr[2]
    elif mfr[3:] == "00" and item[:3] == "000":
        six = mfr[0:3] + item[3:5] + "3"
    elif mfr[4] == "0" and item[:4] == "0000":
        six = mfr[0:4] + item[4] + "4"
    elif item[:4] == "0000" and item[4] in "56789":
        six = mfr + item[4]
    else:
        return None
    return ns + six + check


# GS1 General Specifications 7.9.3: weighted products for the price/weight check digit.
_W2 = (0, 2, 4, 6, 8, 9, 1, 3, 5, 7)    # "2-": units minus tens of 2*d
_W3 = (0, 3, 6, 9, 2, 5, 8, 1, 4, 7)    # "3": units of 3*d
_W5P = (0, 5, 1, 6, 2, 7, 3, 8, 4, 9)   # "5+": units plus tens of 5*d
_W5M = (0, 5, 9, 4, 8, 3, 7, 2, 6, 1)   # "5-": units minus tens of 5*d


def price_check_digit(value: str) -> int:
    """The check digit GS1 defines over a 4- or 5-digit price or weight field."""
    if len(value) not in (4, 5) or not _DIGITS.fullmatch(value):
        raise ValueError(f"not a 4 or 5 digit price field: {value!r}")
    d = [int(c) for c in value]
    if len(d) == 4:
        return (3 * (_W2[d[0]] + _W2[d[1]] + _W3[d[2]] + _W5M[d[3]])) % 10
    total = _W5P[d[0]] + _W2[d[1]] + _W5M[d[2]] + _W5P[d[3]] + _W2[d[4]]
    return _W5M.index((10 - total % 10) % 10)
