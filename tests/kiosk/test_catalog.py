"""Goods catalog: GTIN check digits, dated product versions, lookup on a day, the office's CSV format."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from kiosk.catalog import Catalog, Product, code_key, gtin_check_ok
from kiosk.catalog_import import COLUMNS
from kiosk.errors import DataError

HEADER = ",".join(COLUMNS) + "\n"


@pytest.mark.parametrize(
    ("code", "ok"),
    [
        ("4006381333931", True),     # EAN-13, published example
        ("5901234123457", True),     # EAN-13, GS1 / biip example
        ("96385074", True),          # EAN-8
        ("036000291452", True),      # UPC-A
        ("0036000291452", True),     # the same UPC-A as EAN-13
        ("98765432109213", True),    # ITF-14 / GTIN-14
        ("4006381333932", False),
        ("036000291453", False),
        ("", False),
        ("1234567", False),          # 7 digits
        ("123456789012345", False),  # 15 digits
        ("590123412345A", False),
        ("５９０１２３４１２３４５７", False),  # full-width digits
    ],
)
def test_gtin_check_ok(code: str, ok: bool) -> None:
    """Mod-10 check with weights 3/1 from the right, only for GTIN lengths 8/12/13/14."""
    assert gtin_check_ok(code) is ok


@pytest.mark.parametrize(("code", "key"), [
    ("036000291452", "00036000291452"), ("96385074", "00000096385074"), ("2100101", "2100101"),
    ("021234", "021234"), ("210", "210"), ("2", None), ("1234567", None), ("19123", None),
    ("21001011", "00000021001011"),
    ("२१००१०१", None),
])
def test_code_key(code: str, key: str | None) -> None:
    """GTINs compare as GTIN-14; in-store codes (02/20-29 and 1-5 item digits) as themselves; others not at all."""
    assert code_key(code) == key


NAMES = {"zh": "蜂蜜", "en": "Honey", "ru": "Мёд", "kk": "Бал", "ug": "ھەسەل"}


@pytest.mark.parametrize(
    ("names", "lang", "expected"),
    [
        (NAMES, "ru", "Мёд"),
        (NAMES, "ug", "ھەسەل"),
        (NAMES, "fr", "蜂蜜"),
        ({"zh": "", "en": "Honey"}, "kk", "Honey"),
        ({}, "ru", "4870204100020"),
    ],
)
def test_product_name_fallback(names: dict[str, str], lang: str, expected: str) -> None:
    """The requested language, else Chinese, else English, else the code."""
    assert Product("4870204100020", names, price=12000).name(lang) == expected


def test_product_is_frozen_hashable_and_detached() -> None:
    """Products hash, and changing the caller's dict afterwards does not change the product."""
    names = dict(NAMES)
    product = Product("4870204100020", names, price=12000)
    names["zh"] = "changed"
    assert product.name("zh") == "蜂蜜"
    assert hash(product) == hash(Product("4870204100020", NAMES, price=12000))
    with pytest.raises(TypeError):
        product.names["zh"] = "x"  # type: ignore[index]


@pytest.mark.parametrize(("kwargs", "error"), [
    ({"price": -1}, ValueError), ({"price": 1.5}, TypeError), ({"price": True}, TypeError),
    ({"unit": "g"}, ValueError), ({"currency": "USD"}, ValueError), ({"code": "12345"}, ValueError),
])
def test_product_rejects_bad_fields(kwargs: dict[str, object], error: type[Exception]) -> None:
    """Prices are non-negative int minor units; units, currencies and codes are from their lists."""
    fields: dict[str, object] = {"code": "4870204100020", "names": NAMES, "price": 100, **kwargs}
    with pytest.raises(error):
        Product(**fields)  # type: ignore[arg-type]


def test_unit_price_fen_only_for_yuan() -> None:
    """A CNY price is already fen; a KZT price needs the day's rate (kiosk.rates), so none here."""
    assert Product("4870204100020", NAMES, price=12000).unit_price_fen == 12000
    assert Product("4870204100020", NAMES, price=65000, currency="KZT").unit_price_fen is None


HONEY = Product("4870204100020", NAMES, price=12000)
UPC_STORED_AS_EAN = Product("0036000291452", {"zh": "美国货"}, price=500)
UPC_STORED_AS_UPC = Product("012345678905", {"zh": "十二位"}, price=700)
EAN8 = Product("96385074", {"zh": "八位"}, price=100)
SAUSAGE = Product("2100101", {"zh": "马肠"}, unit="kg", price=12800)
CATALOG = Catalog([HONEY, UPC_STORED_AS_EAN, UPC_STORED_AS_UPC, EAN8, SAUSAGE])


@pytest.mark.parametrize(
    ("code", "product", "reason"),
    [
        ("4870204100020", HONEY, None),
        (" 4870204100020\r\n", HONEY, None),
        ("04870204100020", HONEY, None),          # GTIN-14 with indicator 0
        ("036000291452", UPC_STORED_AS_EAN, None),  # UPC-A finds the EAN-13 with a leading 0
        ("0012345678905", UPC_STORED_AS_UPC, None),  # EAN-13 with leading 0 finds the UPC-A
        ("96385074", EAN8, None),
        ("2100101", SAUSAGE, None),                 # an in-store item code
        ("4870204100021", None, "bad_check_digit"),
        ("14870204100028", None, "bad_check_digit"),
        ("14870204100027", None, "unknown_barcode"),  # indicator 1: a case of honey, another item
        ("4879999000119", None, "unknown_barcode"),   # valid check digit, not in the catalog
        ("2100102", None, "unknown_barcode"),         # in-store code not in the catalog
        ("1234567", None, "unknown_barcode"),
        ("HELLO", None, "unknown_barcode"),
        ("", None, "unknown_barcode"),
    ],
)
def test_lookup(code: str, product: Product | None, reason: str | None) -> None:
    """Found, misread (bad check digit) or unknown; UPC-A and EAN-13 with a leading 0 are one code."""
    assert CATALOG.lookup(code) == (product, reason)


def test_lookup_picks_the_version_in_force_on_the_day() -> None:
    """GIVEN a price from 2026-01-01 and a change from 2026-12-01 THEN each day sees its own price;
    before the first version the product is not sold yet."""
    old = Product("4870204100020", NAMES, price=12000, price_from=date(2026, 1, 1))
    new = Product("4870204100020", NAMES, price=12500, price_from=date(2026, 12, 1))
    catalog = Catalog([new, old])               # any order in, date order inside
    assert catalog.lookup("4870204100020", date(2025, 12, 31)) == (None, "unknown_barcode")
    assert catalog.lookup("4870204100020", date(2026, 1, 1))[0] is old
    assert catalog.lookup("4870204100020", date(2026, 11, 30))[0] is old
    assert catalog.lookup("4870204100020", date(2026, 12, 1))[0] is new
    assert catalog.lookup("4870204100020")[0] is new          # no day: the newest (names for screens)
    assert len(catalog) == 1 and list(catalog.versions()) == [old, new]


def test_constructor_rejects_the_same_code_and_day_twice() -> None:
    """A UPC-A and its EAN-13 form are the same product code; one version per day."""
    with pytest.raises(ValueError, match="duplicate"):
        Catalog([UPC_STORED_AS_EAN, Product("036000291452", {"zh": "重复"}, price=1)])
    Catalog([UPC_STORED_AS_EAN, Product("036000291452", {"zh": "新价"}, price=1, price_from=date(2026, 1, 1))])


def write(tmp_path: Path, text: str) -> Path:
    """Write a catalog CSV for one test."""
    path = tmp_path / "catalog.csv"
    path.write_text(text, encoding="utf-8")
    return path


def row(code: str = "4870204100020", zh: str = "蜂蜜", en: str = "Honey", unit: str = "piece", price: str = "120.00",
        currency: str = "CNY", hs: str = "04090000", origin: str = "KZ", day: str = "2026-01-01") -> str:
    """One CSV line in COLUMNS order (ug, kk, ru empty unless given in zh/en)."""
    return ",".join([code, zh, "", "", "", en, unit, price, currency, hs, origin, day]) + "\n"


def test_from_csv_loads_every_field(tmp_path: Path) -> None:
    """Rows load with names, unit, price in minor units, currency, HS code, origin and date; a BOM is fine."""
    path = tmp_path / "catalog.csv"
    path.write_bytes(b"\xef\xbb\xbf" + (HEADER + row() + row("2100104", "白砂糖", "Sugar", "kg", "480.5", "KZT",
                                                             "17019900", "KZ", "2026-02-01")
                                        + row(day="2026-12-01", price="125")).encode())
    catalog = Catalog.from_csv(path)
    assert len(catalog) == 2
    sugar, _ = catalog.lookup("2100104", date(2026, 3, 1))
    assert sugar == Product("2100104", {"zh": "白砂糖", "en": "Sugar"}, "kg", 48050, "KZT", "17019900", "KZ",
                            date(2026, 2, 1))
    honey, _ = catalog.lookup("4870204100020", date(2026, 11, 30))
    assert honey is not None and honey.price == 12000 and dict(honey.names) == {"zh": "蜂蜜", "en": "Honey"}
    assert catalog.lookup("4870204100020", date(2026, 12, 1))[0].price == 12500  # type: ignore[union-attr]


BAD_ROWS = [
    (2, row(), None),
    (3, row(code="48702041000A0"), "code '48702041000A0' is not all digits"),
    (4, row(code="4870204100021"), "code 4870204100021 has a bad check digit"),
    (5, row(code="12345678901"), "code 12345678901 has 11 digits"),
    (6, row(code="4607001200031", price="65.001"), "price '65.001' has more than 2 decimal places"),
    (7, row(code="4607001200048", price="-100"), "price '-100' is negative"),
    (8, row(code="4870204100051", zh=""), "missing Chinese name (name_zh)"),
    (9, row(code="04870204100020"), "code 04870204100020 for price_from 2026-01-01 is also on line 2"),
    (10, row(code="4620100300075", unit="g"), "unit 'g' is not piece or kg"),
    (11, row(code="6903214600063", currency="USD"), "currency 'USD' is not one of CNY, KZT"),
    (12, row(code="6932158800086", hs="7323"), "hs_code '7323' is not 6, 8 or 10 digits"),
    (13, row(code="4870204100099", origin="XX"), "origin 'XX' is not an ISO 3166 alpha-2 country code"),
    (14, row(code="4870204100112", day="2026-02-30"), "price_from '2026-02-30' is not a real date"),
    (15, row(code="4870204100129", en="=HYPERLINK(\"x\")"), "starts with '=', which spreadsheets run as a formula"),
    (16, row(code="4607001200062", price="1e3"), "price '1e3' uses exponent notation"),
    (17, "4620100300075,糖果,,,,Sweets,piece,32.00,CNY,17049000,RU\n", "11 fields, expected 12"),
    (18, row(code="6903214600070"), None),
]


def test_from_csv_reports_every_bad_row_with_its_line(tmp_path: Path) -> None:
    """All bad rows are reported at once, in file order, with line numbers (a repeated code and day on
    every line it appears); nothing loads."""
    path = write(tmp_path, HEADER + "".join(text for _, text, _ in BAD_ROWS))
    with pytest.raises(DataError) as info:
        Catalog.from_csv(path)
    expected = {line: problem for line, _, problem in BAD_ROWS if problem}
    expected[2] = "code 4870204100020 for price_from 2026-01-01 is also on line 9"
    problems = info.value.problems
    assert [int(p.split(":")[0][5:]) for p in problems] == sorted(expected)
    for line, problem in expected.items():
        assert any(p.startswith(f"line {line}: ") and problem in p for p in problems), (line, problems)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "empty file"),
        (HEADER, "no data rows"),
        ("code,name_zh,unit_price_fen\n4870204100020,蜂蜜,1\n", "missing column"),
    ],
)
def test_from_csv_file_level_errors(tmp_path: Path, text: str, problem: str) -> None:
    """Empty files and wrong headers (the old three-column format included) are DataErrors."""
    with pytest.raises(DataError, match=problem):
        Catalog.from_csv(write(tmp_path, text))
