"""The goods-rules CSV: dated rule versions by HS prefix, every row checked.

Columns (any order)::

    version,hs_prefix,kind,rule,cap,unit
    2026-01-01,24,excluded,tobacco,,
    2026-01-01,1701,capped,sugar,1,kg
    2026-01-01,1512,capped,edible_oil,6,piece
    2026-01-01,7323,exempt,household_ware,,

- ``version``: the Beijing day the version takes effect; every row of one version forms the complete
  rule set in force from that day (an import replaces the versions it contains, whole);
- ``hs_prefix``: 2-10 digits, once per version; the longest matching prefix decides;
- ``kind``: ``excluded``, ``capped`` or ``exempt``; ``rule``: a short name (``a-z``, ``0-9``, ``_``), the
  goods the rule is about, as officers and the ledger see it (``sugar@goods-2026-01-01``); prefixes
  sharing a name within a version share one cap and must agree on it;
- ``cap`` and ``unit`` for ``capped`` only: a per-person-per-day quantity in ``kg`` (up to 3 decimals)
  or whole ``piece`` s.

A rule version already in force (dated today or earlier) cannot be changed: a correction is a new version.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import date

from kiosk.catalog import Product
from kiosk.csvrows import CsvRow, RowProblem, StrPath
from kiosk.data_rows import Checked, parse_day, parse_rows, repeated_keys, show, split_checked
from kiosk.goods_rules import KINDS, GoodsRule, RuleBook, unit_conflicts, version_name
from kiosk.money import parse_units

COLUMNS = ("version", "hs_prefix", "kind", "rule", "cap", "unit")
_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
_PREFIX = re.compile(r"[0-9]{2,10}")
MAX_CAP_GRAMS = 10_000_000     # 10 t
MAX_CAP_PIECES = 100_000


def _cap(kind: str, cap_text: str, unit: str) -> tuple[int | None, list[str]]:
    """The cap in base units (grams or pieces) and the problems of the cap and unit cells."""
    if kind != "capped":
        extra = [f"{name} must be empty for a {kind} rule" for name, text in (("cap", cap_text), ("unit", unit))
                 if text]
        return None, extra
    if unit not in ("kg", "piece"):
        return None, [f"unit {show(unit)} is not kg or piece"]
    places = 3 if unit == "kg" else 0
    try:
        cap = parse_units(cap_text, places)
    except ValueError as exc:
        what = "a whole number of pieces" if unit == "piece" else "kilograms with at most 3 decimals"
        return None, [f"cap {exc}" if str(exc) != "empty" else f"cap is empty (want {what})"]
    limit = MAX_CAP_GRAMS if unit == "kg" else MAX_CAP_PIECES
    if not 1 <= cap <= limit:
        return None, [f"cap {show(cap_text)} is not above 0 and at most {limit if unit == 'piece' else '10000'} "
                      f"{unit}"]
    return cap, []


def parse_rule_row(row: CsvRow) -> tuple[GoodsRule | None, list[str]]:
    """The rule of one CSV row, or None with every problem of the row."""
    v = row.values
    version, problem = parse_day(v["version"], "version")
    problems = [problem] if problem else []
    if not _PREFIX.fullmatch(v["hs_prefix"]):
        problems.append(f"hs_prefix {show(v['hs_prefix'])} is not 2-10 digits")
    kind = v["kind"]
    if kind not in KINDS:
        problems.append(f"kind {show(kind)} is not one of {', '.join(KINDS)}")
    if not _NAME.fullmatch(v["rule"]):
        problems.append(f"rule {show(v['rule'])} is not a short name (a-z, 0-9 and _, starting with a letter)")
    cap, cap_problems = _cap(kind, v["cap"], v["unit"]) if kind in KINDS else (None, [])
    problems += cap_problems
    if problems or version is None:
        return None, problems
    return GoodsRule(version, v["hs_prefix"], kind, v["rule"], cap, v["unit"] if cap is not None else None), []


def _disagreements(items: Sequence[tuple[int, GoodsRule]]) -> list[RowProblem]:
    """Rows naming one rule within a version must agree on kind, cap and unit (they share one cap)."""
    first: dict[tuple[date, str], tuple[int, GoodsRule]] = {}
    problems: list[RowProblem] = []
    for line, rule in items:
        seen = first.setdefault((rule.version, rule.rule), (line, rule))
        other = seen[1]
        if (other.kind, other.cap, other.unit) != (rule.kind, rule.cap, rule.unit):
            problems.append((line, f"rule {rule.rule} is {rule.describe()} here but {other.describe()} on "
                                   f"line {seen[0]}"))
    return problems


def _frozen(items: Sequence[tuple[int, GoodsRule]], stored: RuleBook, today: date) -> list[RowProblem]:
    """Rows that would change a stored version already in force on ``today``."""
    stored_sets = {s.version: {(r.hs_prefix, r.kind, r.rule, r.cap, r.unit) for r in s} for s in stored.sets()}
    incoming: dict[date, set[tuple[object, ...]]] = {}
    for _, r in items:
        incoming.setdefault(r.version, set()).add((r.hs_prefix, r.kind, r.rule, r.cap, r.unit))
    problems: list[RowProblem] = []
    for line, rule in items:
        old = stored_sets.get(rule.version)
        if old is not None and rule.version <= today and old != incoming[rule.version]:
            problems.append((line, f"{version_name(rule.version)} is already in force and differs from this file: "
                                   "import the change as a new version (a later date)"))
    return problems


def _unit_problems(items: Sequence[tuple[int, GoodsRule]], stored: RuleBook,
                   products: Iterable[Product]) -> list[RowProblem]:
    versions = {rule.version for _, rule in items}
    book = RuleBook([r for r in stored if r.version not in versions] + [r for _, r in items])
    line_of = {(r.version, r.hs_prefix): line for line, r in items}
    problems: list[RowProblem] = []
    for product, rule in unit_conflicts(products, book):
        line = line_of.get((rule.version, rule.hs_prefix))
        if line is not None:
            problems.append((line, f"capped rule {rule.rule} counts {'kilograms' if rule.unit == 'kg' else 'pieces'} "
                                   f"but catalog code {product.code} (HS {product.hs_code}, from "
                                   f"{product.price_from.isoformat()}) is sold by {product.unit}"))
    return problems


def check_rules_file(path: StrPath, *, stored: RuleBook | None = None, products: Iterable[Product] = (),
                     today: date | None = None) -> Checked[GoodsRule]:
    """Every row of a goods-rules CSV checked, against each other, the stored versions and the catalog."""
    items, problems = parse_rows(path, COLUMNS, parse_rule_row)
    problems += repeated_keys((line, (r.version, r.hs_prefix),
                               f"HS prefix {r.hs_prefix} in version {r.version.isoformat()}") for line, r in items)
    problems += _disagreements(items)
    book = stored or RuleBook()
    if today is not None:
        problems += _frozen(items, book, today)
    bad = {line for line, _ in problems}
    problems += _unit_problems([(line, rule) for line, rule in items if line not in bad], book, products)
    return split_checked(items, problems)
