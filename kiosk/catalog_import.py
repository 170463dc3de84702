"""The market office's catalog CSV: every row checked, every rejected row reported with its line.

Columns (any order; UTF-8, a BOM as Excel writes it is fine)::

    code,name_zh,name_ug,name_kk,name_ru,name_en,unit,price,currency,hs_code,origin,price_from

- ``code``: a GTIN (EAN-8, UPC-A, EAN-13, GTIN-14, with a correct check digit) or an in-store code
  (variable-measure prefix 02 or 20-29 and 1-5 item digits, as the market's scale labels carry it);
- ``name_zh`` required; the other names may be empty (the screen falls back to Chinese, then English);
- ``unit``: ``piece`` or ``kg`` (then ``price`` is per kilogram and the scale label gives the weight);
- ``price``: a decimal in yuan or tenge with at most two decimals (``98``, ``98.50``; no sign, no
  exponent, no separators); ``currency``: ``CNY`` or ``KZT``;
- ``hs_code``: 6, 8 or 10 digits; ``origin``: an ISO 3166 alpha-2 country code (``KZ``);
- ``price_from``: the Beijing day this row takes effect (``YYYY-MM-DD``).

A code may have several rows with different ``price_from`` days (its price history and scheduled
changes); the same code and day twice rejects both rows.  Rows whose unit does not fit the capped goods
rule they fall under (``kiosk.goods_rules.unit_conflicts``) are rejected as well.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from kiosk.catalog import CURRENCIES, IN_STORE_CODE, LANGUAGES, UNITS, Product
from kiosk.countries import is_country
from kiosk.csvrows import CsvRow, RowProblem, StrPath, raise_problems
from kiosk.data_rows import Checked, parse_day, parse_rows, repeated_keys, show, split_checked, text_problem
from kiosk.goods_rules import RuleBook, unit_conflicts
from kiosk.gtin import GTIN_LENGTHS, gtin_check_ok
from kiosk.money import parse_units

COLUMNS = ("code", *(f"name_{lang}" for lang in ("zh", "ug", "kk", "ru", "en")), "unit", "price", "currency",
           "hs_code", "origin", "price_from")
HS_LENGTHS = (6, 8, 10)
MAX_PRICE = 10**10 - 1
"""Highest price in minor units (99,999,999.99 yuan or tenge): anything above is a typo."""


def _code_problem(code: str) -> str | None:
    """What is wrong with a catalog code, or None."""
    if not code.isascii() or not code.isdigit():
        return f"code {show(code)} is not all digits"
    if IN_STORE_CODE.fullmatch(code):
        return None
    if len(code) not in GTIN_LENGTHS:
        return (f"code {code} has {len(code)} digits (want a GTIN of 8, 12, 13 or 14 digits, or an in-store "
                "code: prefix 02 or 20-29 and 1-5 item digits)")
    if not gtin_check_ok(code):
        return f"code {code} has a bad check digit"
    return None


def _price(text: str) -> tuple[int | None, str | None]:
    try:
        value = parse_units(text, 2)
    except ValueError as exc:
        return None, f"price {exc}" if str(exc) != "empty" else "price is empty"
    if value > MAX_PRICE:
        return None, f"price {show(text)} is above 99999999.99"
    return value, None


def _hs_problem(hs: str) -> str | None:
    if not hs.isascii() or not hs.isdigit() or len(hs) not in HS_LENGTHS:
        return f"hs_code {show(hs)} is not 6, 8 or 10 digits"
    return None


def parse_row(row: CsvRow) -> tuple[Product | None, list[str]]:
    """The product version of one CSV row, or None with every problem of the row."""
    v = row.values
    code_problem = _code_problem(v["code"])
    problems = [code_problem] if code_problem else []
    if not v["name_zh"]:
        problems.append("missing Chinese name (name_zh)")
    for lang in LANGUAGES:
        problem = text_problem(v[f"name_{lang}"], f"name_{lang}")
        if problem:
            problems.append(problem)
    if v["unit"] not in UNITS:
        problems.append(f"unit {show(v['unit'])} is not piece or kg")
    price, problem = _price(v["price"])
    if problem:
        problems.append(problem)
    if v["currency"] not in CURRENCIES:
        problems.append(f"currency {show(v['currency'])} is not one of {', '.join(CURRENCIES)}")
    hs_problem = _hs_problem(v["hs_code"])
    if hs_problem:
        problems.append(hs_problem)
    if not is_country(v["origin"]):
        problems.append(f"origin {show(v['origin'])} is not an ISO 3166 alpha-2 country code")
    day, problem = parse_day(v["price_from"], "price_from")
    if problem:
        problems.append(problem)
    if problems or price is None or day is None:
        return None, problems
    names = {lang: v[f"name_{lang}"] for lang in LANGUAGES if v[f"name_{lang}"]}
    return Product(v["code"], names, v["unit"], price, v["currency"], v["hs_code"], v["origin"], day), problems


def check_catalog_file(path: StrPath, *, existing: Iterable[Product] = (),
                       rules: RuleBook | None = None) -> Checked[Product]:
    """Every row of a catalog CSV checked, against each other and against the goods rules.

    ``existing`` are the versions already stored: the file's rows replace those with the same code and
    day, and the unit check looks at the catalog as it would be after the import.
    File-level problems (unreadable, not UTF-8, wrong header, no rows) raise DataError."""
    items, problems = parse_rows(path, COLUMNS, parse_row)
    problems += repeated_keys(
        (line, (p.key, p.price_from), f"code {p.code} for price_from {p.price_from.isoformat()}")
        for line, p in items)
    if rules is not None and len(rules):
        problems += _unit_problems(items, existing, rules)
    return split_checked(items, problems)


def _unit_problems(items: Sequence[tuple[int, Product]], existing: Iterable[Product],
                   rules: RuleBook) -> list[RowProblem]:
    line_of = {(p.key, p.price_from): line for line, p in items}
    merged = [p for p in existing if (p.key, p.price_from) not in line_of] + [p for _, p in items]
    problems: list[RowProblem] = []
    for product, rule in unit_conflicts(merged, rules):
        line = line_of.get((product.key, product.price_from))
        if line is not None:
            problems.append((line, f"unit {product.unit} does not fit goods rule {rule.describe()}, which counts "
                                   f"{'kilograms' if rule.unit == 'kg' else 'pieces'}"))
    return problems


def read_catalog_csv(path: StrPath) -> list[Product]:
    """Every product version of a catalog CSV; DataError listing ``line N: reason`` if any row is bad."""
    checked = check_catalog_file(path)
    raise_problems(path, [(row.line, reason) for row in checked.rejected for reason in row.reasons])
    return [product for _, product in checked.good]

