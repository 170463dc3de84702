"""The goods catalog: dated product versions, multilingual names, barcode lookup on a day.

A product is sold under a GTIN (EAN-8, UPC-A, EAN-13, GTIN-14, compared as GTIN-14 as GS1 defines
it, so a 12-digit UPC-A finds the product stored as the 13-digit EAN with a leading 0 and vice versa)
or under an in-store code: the prefix (02, 20-29) and item digits of the market's variable-measure
labels, 3 to 7 digits in all, so it never looks like a GTIN.  Each row of the catalog is one *version*
of a product, in force from its ``price_from`` day until the next version of the same code: price
changes are dated, so a declaration always uses (and records) the price in force on its day.
Lookup returns stable reason keys (``unknown_barcode``, ``bad_check_digit``), never exception text.
The market office's CSV is read by ``kiosk.catalog_import``.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType

from kiosk.csvrows import StrPath
from kiosk.data_rows import FIRST_DAY
from kiosk.gtin import GTIN_LENGTHS
from kiosk.gtin import gtin_check_ok as gtin_check_ok  # re-exported: the catalog's check-digit test

LANGUAGES = ("zh", "en", "ru", "kk", "ug")
UNITS = ("piece", "kg")
CURRENCIES = ("CNY", "KZT")
"""Currencies a catalog price may be in: yuan (minor unit fen) and tenge (minor unit tiyn)."""

_DIGITS = re.compile(r"[0-9]+")
IN_STORE_CODE = re.compile(r"(?:02|2[0-9])[0-9]{1,5}")
"""An in-store item code: a variable-measure prefix and 1-5 item digits (kiosk.barcodes item_code)."""


def code_key(code: str) -> str | None:
    """The key a code is compared by: GTIN-14 for a GTIN length, the code itself for an in-store code,
    None for anything else.  (Check digits are not looked at here.)"""
    if _DIGITS.fullmatch(code) and len(code) in GTIN_LENGTHS:
        return code.zfill(14)
    if IN_STORE_CODE.fullmatch(code):
        return code
    return None


@dataclass(frozen=True)
class Product:
    """One version of a catalog item: names by language, unit (``piece`` or ``kg``), the price per unit
    in minor units of ``currency`` (fen or tiyn), HS code, origin (ISO 3166 alpha-2) and ``price_from``."""

    code: str
    names: Mapping[str, str] = field(hash=False)
    unit: str = "piece"
    price: int = 0
    currency: str = "CNY"
    hs_code: str | None = None
    origin: str | None = None
    price_from: date = FIRST_DAY

    def __post_init__(self) -> None:
        if isinstance(self.price, bool) or not isinstance(self.price, int):
            raise TypeError("price must be an int of minor units")
        if self.price < 0:
            raise ValueError("price must not be negative")
        if code_key(self.code) is None:
            raise ValueError(f"code {self.code!r} is neither a GTIN nor an in-store code")
        if self.unit not in UNITS:
            raise ValueError(f"unit must be one of {', '.join(UNITS)}, got {self.unit!r}")
        if self.currency not in CURRENCIES:
            raise ValueError(f"currency must be one of {', '.join(CURRENCIES)}, got {self.currency!r}")
        # A read-only copy: the caller's dict cannot change a frozen product afterwards.
        object.__setattr__(self, "names", MappingProxyType(dict(self.names)))

    @property
    def key(self) -> str:
        """The code as products are compared (GTIN-14 or the in-store code)."""
        key = code_key(self.code)
        assert key is not None   # checked in __post_init__
        return key

    @property
    def unit_price_fen(self) -> int | None:
        """The price per unit in fen when it is in CNY; None in another currency (see kiosk.rates)."""
        return self.price if self.currency == "CNY" else None

    def name(self, lang: str) -> str:
        """The name in ``lang``, else Chinese, else English, else the code itself."""
        for candidate in (lang, "zh", "en"):
            text = self.names.get(candidate)
            if text:
                return text
        return self.code


class Catalog:
    """Products by code key, each with its versions in ``price_from`` order."""

    def __init__(self, products: Iterable[Product]) -> None:
        self._by_key: dict[str, list[Product]] = {}
        for product in products:
            versions = self._by_key.setdefault(product.key, [])
            if any(v.price_from == product.price_from for v in versions):
                raise ValueError(f"duplicate catalog code {product.code} for {product.price_from.isoformat()}")
            bisect.insort(versions, product, key=lambda v: v.price_from)

    @classmethod
    def from_csv(cls, path: StrPath) -> Catalog:
        """Load the market office's catalog CSV; every bad row is reported, with its line, in one DataError."""
        from kiosk.catalog_import import read_catalog_csv
        return cls(read_catalog_csv(path))

    def lookup(self, code: str, day: date | None = None) -> tuple[Product | None, str | None]:
        """(the version in force on ``day``, None), or (None, "bad_check_digit" or "unknown_barcode").

        Without a day, the newest version (names for screens).  A product whose first price starts
        after ``day`` is not sold yet: unknown on that day."""
        code = code.strip()
        if len(code) in GTIN_LENGTHS and _DIGITS.fullmatch(code):
            if not gtin_check_ok(code):
                return None, "bad_check_digit"
        key = code_key(code)
        versions = self._by_key.get(key) if key is not None else None
        if versions:
            if day is None:
                return versions[-1], None
            at = bisect.bisect_right(versions, day, key=lambda v: v.price_from)
            if at:
                return versions[at - 1], None
        return None, "unknown_barcode"

    def versions(self) -> Iterator[Product]:
        """Every version of every product, by code key and date."""
        for key in sorted(self._by_key):
            yield from self._by_key[key]

    def __len__(self) -> int:
        """The number of products (codes), whatever their number of versions."""
        return len(self._by_key)
