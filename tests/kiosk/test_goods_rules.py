"""Goods rules: longest HS prefix, dated versions, RuleUse per capped rule, unit conflicts, the rules CSV."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from kiosk.catalog import Product
from kiosk.declaration import Line, RuleUse
from kiosk.goods_rules import GoodsRule, RuleBook, RuleSet, judge, unit_conflicts, version_name
from kiosk.goods_rules_import import check_rules_file

V1, V2 = date(2026, 1, 1), date(2026, 3, 1)
TOBACCO = GoodsRule(V1, "24", "excluded", "tobacco")
CIGARS_OK = GoodsRule(V1, "2402", "exempt", "cigar_samples")       # exempt under a shorter excluded prefix
SUGAR = GoodsRule(V1, "1701", "capped", "sugar", 1000, "kg")
FOOD_CHEESE = GoodsRule(V1, "0406", "capped", "food", 50_000, "kg")
FOOD_SAUSAGE = GoodsRule(V1, "1601", "capped", "food", 50_000, "kg")
OIL = GoodsRule(V1, "1512", "capped", "edible_oil", 6, "piece")
WHITE_SUGAR = GoodsRule(V1, "17019910", "capped", "white_sugar", 2000, "kg")
SET1 = RuleSet(V1, [TOBACCO, CIGARS_OK, SUGAR, FOOD_CHEESE, FOOD_SAUSAGE, OIL, WHITE_SUGAR])


@pytest.mark.parametrize(("hs", "rule"), [
    ("2402200000", CIGARS_OK),      # 2402 beats 24
    ("24031100", TOBACCO),
    ("17019900", SUGAR),
    ("1701991000", WHITE_SUGAR),    # 8 digits beat 4
    ("17019920", SUGAR),
    ("17049000", None),             # sweets: no rule
    ("2", None), ("", None), (None, None),
])
def test_longest_prefix_wins(hs: str | None, rule: GoodsRule | None) -> None:
    """The longest matching prefix decides; no match, no rule."""
    assert SET1.rule_for(hs) == rule


def test_rule_ids_carry_the_version() -> None:
    """A rule id names the goods and the version, so a changed cap in a new version is a new id."""
    assert SUGAR.rule_id == "sugar@goods-2026-01-01"
    assert GoodsRule(V2, "1701", "capped", "sugar", 500, "kg").rule_id == "sugar@goods-2026-03-01"
    assert version_name(V2) == "goods-2026-03-01" and SET1.name == "goods-2026-01-01"
    assert SUGAR.describe() == "sugar (capped 1 kg, HS 1701, goods-2026-01-01)"
    assert OIL.describe() == "edible_oil (capped 6 pieces, HS 1512, goods-2026-01-01)"


@pytest.mark.parametrize("kwargs", [
    {"kind": "banned"}, {"hs_prefix": "1"}, {"hs_prefix": "12345678901"}, {"hs_prefix": "17a1"},
    {"kind": "capped"}, {"cap": 5}, {"kind": "capped", "cap": 0, "unit": "kg"},
    {"kind": "capped", "cap": 5, "unit": "g"},
])
def test_bad_rules_are_refused(kwargs: dict[str, object]) -> None:
    """Kinds, prefixes, caps and units are checked; only capped rules have a cap and unit."""
    fields: dict[str, object] = {"version": V1, "hs_prefix": "1701", "kind": "excluded", "rule": "x", **kwargs}
    with pytest.raises(ValueError):
        GoodsRule(**fields)  # type: ignore[arg-type]


def test_the_version_in_force_is_chosen_by_day() -> None:
    """Each day uses the latest version dated on or before it; before the first there are no rules."""
    later = GoodsRule(V2, "1701", "capped", "sugar", 500, "kg")
    book = RuleBook([later, *SET1])
    assert book.on(date(2025, 12, 31)) is None
    assert book.on(V1).name == "goods-2026-01-01"  # type: ignore[union-attr]
    assert book.on(date(2026, 2, 28)).rule_for("1701") == SUGAR  # type: ignore[union-attr]
    assert book.on(V2).rule_for("1701") == later  # type: ignore[union-attr]
    assert book.on(V2).rule_for("24") is None     # type: ignore[union-attr]   # a version is a whole rule set
    with pytest.raises(ValueError, match="two rules"):
        RuleBook([SUGAR, GoodsRule(V1, "1701", "excluded", "sugar2")])


def line(code: str, hs: str | None, quantity: int, unit: str = "piece", price: int | None = 100) -> Line:
    return Line(code, "x" if hs else None, price, quantity, unit=unit, hs_code=hs)


def test_judge_builds_one_rule_use_per_capped_rule() -> None:
    """GIVEN cheese and sausage (both 'food'), sugar and oil WHEN judged THEN one RuleUse per rule, summed
    in base units (grams, pieces) with the cap, sorted by rule id; exempt and unruled goods count nothing."""
    basket = [line("2100103", "04069000", 400, "kg"), line("2100101", "16010000", 1250, "kg"),
              line("2100104", "17019900", 800, "kg"), line("4607001200031", "15121900", 2),
              line("4607001200031", "15121900", 1), line("4870204100020", "04090000", 3),
              line("2402", "2402100000", 1), line("4879999000119", None, 1, price=None)]
    verdict = judge(SET1, basket)
    assert verdict.uses == (
        RuleUse("edible_oil@goods-2026-01-01", "piece", 3, 6),
        RuleUse("food@goods-2026-01-01", "kg", 1650, 50_000),
        RuleUse("sugar@goods-2026-01-01", "kg", 800, 1000),
    )
    assert verdict.over_cap == () and verdict.excluded == () and verdict.unit_mismatch == ()
    assert verdict.version == "goods-2026-01-01"


def test_judge_finds_excluded_goods_caps_exceeded_in_one_basket_and_unit_mismatches() -> None:
    """Excluded goods are listed; a use above its cap in this basket alone is over; a kg line under a
    piece rule cannot be counted; an unpriced line (no rate) still counts: caps are about quantity."""
    tobacco_line = line("4870204100136", "24031100", 1)
    sugar = line("2100104", "17019900", 1500, "kg", price=None)
    oil_by_kg = line("2100200", "15121100", 900, "kg")
    verdict = judge(SET1, [tobacco_line, sugar, oil_by_kg])
    assert verdict.excluded == ((tobacco_line, TOBACCO),)
    assert verdict.uses == (RuleUse("sugar@goods-2026-01-01", "kg", 1500, 1000),)
    assert verdict.over_cap == ("sugar@goods-2026-01-01",)
    assert verdict.unit_mismatch == ((oil_by_kg, OIL),)


def test_a_use_exactly_at_the_cap_is_not_over() -> None:
    """The cap itself is allowed."""
    assert judge(SET1, [line("2100104", "17019900", 1000, "kg")]).over_cap == ()
    assert judge(SET1, [line("2100104", "17019900", 1001, "kg")]).over_cap == ("sugar@goods-2026-01-01",)


def product(code: str, hs: str, unit: str, day: date) -> Product:
    return Product(code, {"zh": "x"}, unit, 100, "CNY", hs, "KZ", day)


def test_unit_conflicts_only_where_product_and_rule_versions_meet() -> None:
    """A kg product under a piece rule conflicts only if both are in force on some common day."""
    book = RuleBook([OIL, GoodsRule(V2, "1512", "capped", "edible_oil", 5000, "kg")])
    piece_until_v2 = product("4607001200031", "15121900", "piece", date(2025, 6, 1))
    kg_from_v2 = product("4607001200031", "15121900", "kg", V2)
    assert unit_conflicts([piece_until_v2, kg_from_v2], book) == []
    kg_early = product("4607001200031", "15121900", "kg", date(2026, 2, 1))      # meets the piece rule in Feb
    assert unit_conflicts([piece_until_v2, kg_early, kg_from_v2], book) == [(kg_early, OIL)]
    old_piece = product("4607001200048", "15121900", "piece", date(2025, 1, 1))  # still sold after V2
    assert unit_conflicts([old_piece], book) == [(old_piece, book.on(V2).rule_for("1512"))]  # type: ignore[union-attr]


HEADER = "version,hs_prefix,kind,rule,cap,unit\n"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.csv"
    path.write_text(HEADER + text, encoding="utf-8")
    return path


def test_rules_file_loads_every_kind(tmp_path: Path) -> None:
    """Caps in kg take up to 3 decimals (grams); piece caps are whole."""
    checked = check_rules_file(write(tmp_path, "2026-01-01,24,excluded,tobacco,,\n"
                                               "2026-01-01,1701,capped,sugar,1.5,kg\n"
                                               "2026-01-01,1512,capped,edible_oil,6,piece\n"
                                               "2026-01-01,7323,exempt,household_ware,,\n"))
    assert checked.rejected == ()
    assert [r for _, r in checked.good] == [
        TOBACCO, GoodsRule(V1, "1701", "capped", "sugar", 1500, "kg"), OIL,
        GoodsRule(V1, "7323", "exempt", "household_ware")]


def test_rules_file_reports_every_bad_row(tmp_path: Path) -> None:
    """Every problem of every row, with its line."""
    checked = check_rules_file(write(tmp_path, "\n".join([
        "2026-01-01,24,excluded,tobacco,,",            # 2 good
        "2026-01-01,24,excluded,tobacco,,",            # 3 repeats line 2 (so 2 is bad too)
        "2026-01-01,1,excluded,x,,",                   # 4
        "2026-01-01,1701,banned,sugar,,",              # 5
        "2026-01-01,1702,capped,Sugar!,1,kg",          # 6
        "2026-01-01,1703,capped,sugar,1.0001,kg",      # 7
        "2026-01-01,1704,capped,sweets,1.5,piece",     # 8
        "2026-01-01,1705,capped,sweets,,kg",           # 9
        "2026-01-01,1706,excluded,sweets,2,kg",        # 10
        "2026-02-30,1707,excluded,x,,",                # 11
        "2026-01-01,0406,capped,food,50,kg",           # 12 good
        "2026-01-01,1601,capped,food,40,kg",           # 13 disagrees with line 12
        "2026-01-01,1512,capped,oil,0,piece",          # 14
    ]) + "\n"))
    problems = {row.line: row.reasons for row in checked.rejected}
    assert problems == {
        2: ("HS prefix 24 in version 2026-01-01 is also on line 3",),
        3: ("HS prefix 24 in version 2026-01-01 is also on line 2",),
        4: ("hs_prefix '1' is not 2-10 digits",),
        5: ("kind 'banned' is not one of excluded, capped, exempt",),
        6: ("rule 'Sugar!' is not a short name (a-z, 0-9 and _, starting with a letter)",),
        7: ("cap '1.0001' has more than 3 decimal places",),
        8: ("cap '1.5' has more than 0 decimal places",),
        9: ("cap is empty (want kilograms with at most 3 decimals)",),
        10: ("cap must be empty for a excluded rule", "unit must be empty for a excluded rule"),
        11: ("version '2026-02-30' is not a real date",),
        13: ("rule food is food (capped 40 kg, HS 1601, goods-2026-01-01) here but food (capped 50 kg, HS 0406, "
             "goods-2026-01-01) on line 12",),
        14: ("cap '0' is not above 0 and at most 100000 piece",),
    }
    assert [line for line, _ in checked.good] == [12]


def test_a_version_in_force_cannot_change_but_a_future_one_can(tmp_path: Path) -> None:
    """Rules in force on today are history: a correction is a new version; a future version may be replaced."""
    stored = RuleBook([SUGAR, GoodsRule(V2, "1701", "capped", "sugar", 500, "kg")])
    today = date(2026, 2, 1)
    same = check_rules_file(write(tmp_path, "2026-01-01,1701,capped,sugar,1,kg\n"), stored=stored, today=today)
    assert same.rejected == ()
    changed = check_rules_file(write(tmp_path, "2026-01-01,1701,capped,sugar,2,kg\n"), stored=stored, today=today)
    assert changed.rejected[0].reasons == ("goods-2026-01-01 is already in force and differs from this file: import "
                                           "the change as a new version (a later date)",)
    future = check_rules_file(write(tmp_path, "2026-03-01,1701,capped,sugar,0.8,kg\n"), stored=stored, today=today)
    assert future.rejected == ()


def test_a_capped_rule_that_does_not_fit_the_catalog_is_refused(tmp_path: Path) -> None:
    """A piece rule over goods the catalog sells by kg is a data error at import, named with the product."""
    products = [product("2100104", "17019900", "kg", date(2026, 1, 1))]
    checked = check_rules_file(write(tmp_path, "2026-01-01,1701,capped,sugar,3,piece\n"), products=products)
    assert checked.rejected[0].reasons == (
        "capped rule sugar counts pieces but catalog code 2100104 (HS 17019900, from 2026-01-01) is sold by kg",)
