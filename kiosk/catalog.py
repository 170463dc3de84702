"""The goods catalog: GTIN check digits, multilingual product names, barcode lookup.

Codes are compared as GTIN-14 (zero-padded on the left), as GS1 defines it, so a 12-digit UPC-A
finds the product stored as the 13-digit EAN with a leading 0 and vice versa.  Lookup returns
stable reason keys (``unknown_barcode``, ``bad_check_digit``), never exception text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from kiosk.csvrows import CsvRow, StrPath, raise_problems, read_rows

GTIN_LENGTHS = frozenset({8, 12, 13, 14})
LANGUAGES = ("zh", "en", "ru", "kk", "ug")
COLUMNS = ("code", *(f"name_{lang}" for lang in LANGUAGES), "unit_price_fen")

_DIGITS = re.compile(r"[0-9]+")


def gtin_check_ok(code: str) -> bool:
    """True if ``code`` is an EAN-8, UPC-A, EAN-13 or GTIN-14 with a correct mod-10 check digit."""
    if len(code) not in GTIN_LENGTHS or not _DIGITS.fullmatch(code):
        return False
    # Weights 3, 1, 3, ... from the rightmost data digit (the one left of the check digit).
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(code[:-1])))
    return (10 - total % 10) % 10 == int(code[-1])


def _gtin_key(code: str) -> str:
    """The GTIN-14 form of a digit-only GTIN: the key products are compared by."""
    return code.zfill(14)


@dataclass(frozen=True)
class Product:
    """One catalog item: its GTIN as printed, names by language code, unit price in fen."""

    code: str
    names: Mapping[str, str] = field(hash=False)
    unit_price_fen: int

    def __post_init__(self) -> None:
        if isinstance(self.unit_price_fen, bool) or not isinstance(self.unit_price_fen, int):
            raise TypeError("unit_price_fen must be an int")
        if self.unit_price_fen < 0:
            raise ValueError("unit_price_fen must not be negative")
        # A read-only copy: the caller's dict cannot change a frozen product afterwards.
        object.__setattr__(self, "names", MappingProxyType(dict(self.names)))

    def name(self, lang: str) -> str:
        """The name in ``lang``, else Chinese, else English, else the code itself."""
        for candidate in (lang, "zh", "en"):
            text = self.names.get(candidate)
            if text:
                return text
        return self.code


class Catalog:
    """Products by GTIN-14 key."""

    def __init__(self, products: Iterable[Product]) -> None:
        self._by_key: dict[str, Product] = {}
        for product in products:
            key = _gtin_key(product.code)
            if key in self._by_key:
                raise ValueError(f"duplicate catalog code {product.code}")
            self._by_key[key] = product

    @classmethod
    def from_csv(cls, path: StrPath) -> Catalog:
        """Load the UTF-8 catalog CSV; every bad row is reported, with its line, in one DataError."""
        rows, problems = read_rows(path, COLUMNS)
        products: list[Product] = []
        first_line: dict[str, int] = {}
        for row in rows:
            product, row_problems = _parse_row(row)
            if product is not None:
                key = _gtin_key(product.code)
                if key in first_line:
                    row_problems.append(f"duplicate code {product.code} (first on line {first_line[key]})")
                else:
                    first_line[key] = row.line
                    products.append(product)
            problems.extend((row.line, p) for p in row_problems)
        raise_problems(path, problems)
        return cls(products)

    def lookup(self, code: str) -> tuple[Product | None, str | None]:
        """(product, None) if found, else (None, "bad_check_digit" or "unknown_barcode")."""
        code = code.strip()
        if len(code) in GTIN_LENGTHS and _DIGITS.fullmatch(code):
            if not gtin_check_ok(code):
                return None, "bad_check_digit"
            product = self._by_key.get(_gtin_key(code))
            if product is not None:
                return product, None
        return None, "unknown_barcode"

    def __len__(self) -> int:
        return len(self._by_key)


def _parse_code(code: str) -> str | None:
    """What is wrong with a catalog code, or None."""
    if not _DIGITS.fullmatch(code):
        return f"code {code!r} is not all digits"
    if len(code) not in GTIN_LENGTHS:
        return f"code {code} has {len(code)} digits (want 8, 12, 13 or 14)"
    if not gtin_check_ok(code):
        return f"code {code} has a bad check digit"
    return None


def _parse_row(row: CsvRow) -> tuple[Product | None, list[str]]:
    """The product of one CSV row, or None with the list of what is wrong with it."""
    v = row.values
    problems: list[str] = []
    code_problem = _parse_code(v["code"])
    if code_problem is not None:
        problems.append(code_problem)
    if not v["name_zh"]:
        problems.append("missing Chinese name (name_zh)")
    price_text = v["unit_price_fen"]
    if not _DIGITS.fullmatch(price_text):
        kind = "negative" if price_text.startswith("-") else "not a whole number of fen"
        problems.append(f"unit_price_fen {price_text!r} is {kind}")
    if problems:
        return None, problems
    names = {lang: v[f"name_{lang}"] for lang in LANGUAGES if v[f"name_{lang}"]}
    return Product(v["code"], names, int(price_text)), problems
