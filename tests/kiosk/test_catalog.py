"""Goods catalog: GTIN check digits, product names, barcode lookup, CSV import."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiosk.catalog import Catalog, Product, gtin_check_ok
from kiosk.errors import DataError

HEADER = "code,name_zh,name_en,name_ru,name_kk,name_ug,unit_price_fen\n"


@pytest.mark.parametrize(
    ("code", "ok"),
    [
        ("4006381333931", True),     # EAN-13, published example
        ("5901234123457", True),     # EAN-13, GS1 / biip example
        ("96385074", True),          # EAN-8
        ("73513537", True),          # EAN-8
        ("036000291452", True),      # UPC-A
        ("0036000291452", True),     # the same UPC-A as EAN-13
        ("98765432109213", True),    # ITF-14 / GTIN-14 (biip example)
        ("00012345600012", True),    # GTIN-14
        ("4006381333932", False),
        ("5901234123458", False),
        ("96385075", False),
        ("036000291453", False),
        ("98765432109214", False),
        ("", False),
        ("1234567", False),          # 7 digits
        ("12345678901", False),      # 11 digits
        ("123456789012345", False),  # 15 digits
        ("590123412345A", False),
        ("590123412345 ", False),
        ("５９０１２３４１２３４５７", False),  # full-width digits
    ],
)
def test_gtin_check_ok(code: str, ok: bool) -> None:
    """Mod-10 check with weights 3/1 from the right, only for GTIN lengths 8/12/13/14."""
    assert gtin_check_ok(code) is ok


def test_every_wrong_last_digit_fails() -> None:
    """Exactly one final digit makes a code valid."""
    body = "590123412345"
    assert [d for d in "0123456789" if gtin_check_ok(body + d)] == ["7"]


NAMES = {"zh": "蜂蜜", "en": "Honey", "ru": "Мёд", "kk": "Бал", "ug": "ھەسەل"}


@pytest.mark.parametrize(
    ("names", "lang", "expected"),
    [
        (NAMES, "ru", "Мёд"),
        (NAMES, "ug", "ھەسەل"),
        (NAMES, "zh", "蜂蜜"),
        (NAMES, "fr", "蜂蜜"),
        ({"zh": "蜂蜜", "en": "Honey"}, "kk", "蜂蜜"),
        ({"zh": "", "en": "Honey"}, "kk", "Honey"),
        ({"en": "Honey"}, "ru", "Honey"),
        ({}, "ru", "4870204100020"),
    ],
)
def test_product_name_fallback(names: dict[str, str], lang: str, expected: str) -> None:
    """The requested language, else Chinese, else English, else the code."""
    assert Product("4870204100020", names, 12000).name(lang) == expected


def test_product_is_frozen_hashable_and_detached() -> None:
    """Products hash, and changing the caller's dict afterwards does not change the product."""
    names = dict(NAMES)
    product = Product("4870204100020", names, 12000)
    names["zh"] = "changed"
    assert product.name("zh") == "蜂蜜"
    assert hash(product) == hash(Product("4870204100020", NAMES, 12000))
    with pytest.raises(TypeError):
        product.names["zh"] = "x"  # type: ignore[index]


@pytest.mark.parametrize(("price", "error"), [(-1, ValueError), (1.5, TypeError), (True, TypeError)])
def test_product_rejects_bad_price(price: object, error: type[Exception]) -> None:
    """Prices are non-negative int fen."""
    with pytest.raises(error):
        Product("4870204100020", NAMES, price)  # type: ignore[arg-type]


HONEY = Product("4870204100020", NAMES, 12000)
UPC_STORED_AS_EAN = Product("0036000291452", {"zh": "美国货"}, 500)
UPC_STORED_AS_UPC = Product("012345678905", {"zh": "十二位"}, 700)
EAN8 = Product("96385074", {"zh": "八位"}, 100)
CATALOG = Catalog([HONEY, UPC_STORED_AS_EAN, UPC_STORED_AS_UPC, EAN8])


@pytest.mark.parametrize(
    ("code", "product", "reason"),
    [
        ("4870204100020", HONEY, None),
        (" 4870204100020\r\n", HONEY, None),
        ("04870204100020", HONEY, None),          # GTIN-14 with indicator 0
        ("036000291452", UPC_STORED_AS_EAN, None),  # UPC-A finds the EAN-13 with a leading 0
        ("0036000291452", UPC_STORED_AS_EAN, None),
        ("0012345678905", UPC_STORED_AS_UPC, None),  # EAN-13 with leading 0 finds the UPC-A
        ("012345678905", UPC_STORED_AS_UPC, None),
        ("96385074", EAN8, None),
        ("4870204100021", None, "bad_check_digit"),
        ("036000291453", None, "bad_check_digit"),
        ("96385075", None, "bad_check_digit"),
        ("14870204100028", None, "bad_check_digit"),
        ("14870204100027", None, "unknown_barcode"),  # indicator 1: a case of honey, another item
        ("4879999000119", None, "unknown_barcode"),   # valid check digit, not in the catalog
        ("1234567", None, "unknown_barcode"),        # not a GTIN length
        ("123456789012345", None, "unknown_barcode"),
        ("HELLO", None, "unknown_barcode"),
        ("]E04870204100020", None, "unknown_barcode"),
        ("", None, "unknown_barcode"),
    ],
)
def test_lookup(code: str, product: Product | None, reason: str | None) -> None:
    """Found, misread (bad check digit) or unknown; UPC-A and EAN-13 with a leading 0 are one code."""
    assert CATALOG.lookup(code) == (product, reason)


def test_constructor_rejects_equivalent_duplicates() -> None:
    """A UPC-A and its EAN-13 form are the same product code."""
    with pytest.raises(ValueError, match="duplicate"):
        Catalog([UPC_STORED_AS_EAN, Product("036000291452", {"zh": "重复"}, 1)])
    assert len(CATALOG) == 4


def write(tmp_path: Path, text: str) -> Path:
    """Write a catalog CSV for one test."""
    path = tmp_path / "catalog.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_from_csv_loads(tmp_path: Path) -> None:
    """Rows load with their names; empty translations are left out and fall back."""
    catalog = Catalog.from_csv(write(
        tmp_path, HEADER
        + "4870204100020,蜂蜜,Honey,Мёд,Бал,ھەسەل,12000\n"
        + "036000291452,可乐,,,,,350\n"
        + "96385074,样品,Sample,,,,0\n"))
    assert len(catalog) == 3
    honey, _ = catalog.lookup("4870204100020")
    assert honey is not None
    assert dict(honey.names) == NAMES and honey.unit_price_fen == 12000
    cola, _ = catalog.lookup("0036000291452")
    assert cola is not None and cola.code == "036000291452"
    assert dict(cola.names) == {"zh": "可乐"} and cola.name("en") == "可乐"


BAD_ROWS = [
    (2, "4870204100020,蜂蜜,Honey,,,,12000", None),
    (3, "48702041000A0,蜂蜜,Honey,,,,12000", "code '48702041000A0' is not all digits"),
    (4, "4870204100021,蜂蜜,Honey,,,,12000", "code 4870204100021 has a bad check digit"),
    (5, "487020410002,蜂蜜,Honey,,,,12000", "code 487020410002 has a bad check digit"),
    (6, "12345,短,Short,,,,100", "code 12345 has 5 digits (want 8, 12, 13 or 14)"),
    (7, "4607001200031,葵花籽油,Oil,,,,65.00", "unit_price_fen '65.00' is not a whole number of fen"),
    (8, "4607001200048,巧克力,Chocolate,,,,-100", "unit_price_fen '-100' is negative"),
    (9, "4870204100051,,Dried fruit,,,,4500", "missing Chinese name (name_zh)"),
    (10, "04870204100020,蜂蜜,Honey again,,,,12000", "duplicate code 04870204100020 (first on line 2)"),
    (11, "4620100300075,糖果,Sweets,,,", "6 fields, expected 7 (missing column(s) unit_price_fen)"),
    (12, "4620100300075,糖果,Sweets,,,,", "unit_price_fen '' is not a whole number of fen"),
    (13, "6903214600063,茯砖茶,Brick tea,,,,5800", None),
]


def test_from_csv_reports_every_bad_row_with_its_line(tmp_path: Path) -> None:
    """All bad rows are reported at once, in file order, with line numbers."""
    path = write(tmp_path, HEADER + "".join(row + "\n" for _, row, _ in BAD_ROWS))
    with pytest.raises(DataError) as info:
        Catalog.from_csv(path)
    assert info.value.problems == [f"line {line}: {p}" for line, _, p in BAD_ROWS if p]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "empty file"),
        (HEADER, "no data rows"),
        ("code,name_zh,name_en,unit_price_fen\n4870204100020,蜂蜜,Honey,1\n", "missing column"),
        ("code,name,price\n", "missing column"),
    ],
)
def test_from_csv_file_level_errors(tmp_path: Path, text: str, problem: str) -> None:
    """Empty files and wrong headers are DataErrors."""
    with pytest.raises(DataError, match=problem):
        Catalog.from_csv(write(tmp_path, text))
