"""The basket: scans become priced lines (GTIN, GS1, scale labels, KZT), and the basket is judged at confirm."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from kiosk.barcodes import VariableMeasureLayout, layouts_by_prefix
from kiosk.basket import GoodsData, Scanned, add_line, assess, hold_refusal_reasons, scan_line
from kiosk.catalog import Catalog, Product
from kiosk.declaration import Declaration, HoldResult, Line, RuleUse
from kiosk.goods_rules import GoodsRule, RuleBook
from kiosk.gtin import check_digit
from kiosk.rates import Rate, RateTable

DAY = date(2026, 11, 25)
V1 = date(2026, 1, 1)
FLOUR = Product("4870204100013", {"zh": "面粉", "en": "Flour"}, "piece", 9800, "CNY", "11010000", "KZ", V1)
FLOUR_DEC = Product("4870204100013", {"zh": "面粉", "en": "Flour"}, "piece", 9900, "CNY", "11010000", "KZ",
                    date(2026, 12, 1))
CHOCOLATE_KZT = Product("4870204100112", {"zh": "巧克力"}, "piece", 65000, "KZT", "18063100", "KZ", V1)
SAUSAGE = Product("2100101", {"zh": "马肠"}, "kg", 12800, "CNY", "16010000", "KZ", V1)
SUGAR_KZT = Product("2100104", {"zh": "白砂糖"}, "kg", 48000, "KZT", "17019900", "KZ", V1)
CHEESE = Product("2200201", {"zh": "奶酪"}, "kg", 8800, "CNY", "04069000", "KZ", V1)
VODKA = Product("4870204100129", {"zh": "伏特加"}, "piece", 3800, "CNY", "22086000", "KZ", V1)
OIL = Product("4607001200031", {"zh": "油"}, "piece", 6500, "CNY", "15121900", "RU", V1)
RATE = Rate("KZT", date(2026, 11, 1), Decimal("1.3765"))
RULES = RuleBook([GoodsRule(V1, "2208", "excluded", "alcohol"), GoodsRule(V1, "1701", "capped", "sugar", 1000, "kg"),
                  GoodsRule(V1, "1601", "capped", "food", 50_000, "kg"),
                  GoodsRule(V1, "1512", "capped", "edible_oil", 6, "piece")])
WEIGHT = VariableMeasureLayout(frozenset({"21"}), "weight", 5, 5, 3)
PRICE = VariableMeasureLayout(frozenset({"22"}), "price", 5, 5, 2, unit="CNY")
PRICE_KZT = VariableMeasureLayout(frozenset({"23"}), "price", 5, 5, 2, unit="KZT")
GOODS = GoodsData(Catalog([FLOUR, FLOUR_DEC, CHOCOLATE_KZT, SAUSAGE, SUGAR_KZT, CHEESE, VODKA, OIL]), RateTable([RATE]),
                  RULES, layouts_by_prefix([WEIGHT, PRICE, PRICE_KZT]))


def label(item: str, value: str) -> str:
    """An EAN-13 scale label: item code (prefix + 5 digits), 5 value digits, check digit."""
    body = item + value
    return body + str(check_digit(body))


def test_a_plain_gtin_gives_one_piece_at_the_price_in_force_with_its_origin() -> None:
    """The line records unit, HS code, currency, catalog price and the day the price took effect; a price
    change dated next month does not change today's line."""
    scanned = scan_line(GOODS, "4870204100013", "]E0", DAY)
    assert scanned == Scanned(Line("4870204100013", "面粉", 9800, 1, unit="piece", hs_code="11010000", currency="CNY",
                                   catalog_price=9800, price_from="2026-01-01"))
    assert scan_line(GOODS, "4870204100013", None, date(2026, 12, 1)).line.unit_price_fen == 9900  # type: ignore[union-attr]


def test_a_kzt_price_is_converted_half_up_and_the_rate_recorded() -> None:
    """650.00 KZT at 1.3765 CNY per 100 KZT is 8.94725 CNY: 895 fen; the line keeps the tiyn, the rate per
    one tenge and its date."""
    line = scan_line(GOODS, "4870204100112", "]E0", DAY).line
    assert line is not None
    assert (line.unit_price_fen, line.currency, line.catalog_price, line.rate, line.rate_date) == (
        895, "KZT", 65000, "0.013765", "2026-11-01")


def test_without_a_rate_for_the_day_a_kzt_line_is_unpriced_and_says_why() -> None:
    """Before the first rate (or with a stale one) the goods cannot be priced: noticed now, referred at confirm."""
    scanned = scan_line(GOODS, "4870204100112", "]E0", date(2026, 10, 31))
    assert scanned.notice == "no_exchange_rate" and scanned.line is not None
    assert scanned.line.unit_price_fen is None and scanned.line.rate is None and not scanned.line.known
    verdict = assess(GOODS, [scanned.line], date(2026, 10, 31))
    assert verdict.reasons == ("no_exchange_rate",) and verdict.unknown == 0


@pytest.mark.parametrize(("value", "grams", "amount"), [
    ("01250", 1250, 16000),        # 1.250 kg x 128.00 = 160.00
    ("00001", 1, 13),              # 1 g: 12.8 fen, half up 13
    ("00333", 333, 4262),          # 42.624 -> 42.62
])
def test_a_weight_label_gives_a_kg_line_in_grams(value: str, grams: int, amount: int) -> None:
    """The scale label's weight becomes the quantity in grams; the catalog's price per kg prices it."""
    line = scan_line(GOODS, label("2100101", value), "]E0", DAY).line
    assert line is not None
    assert (line.code, line.unit, line.quantity, line.unit_price_fen, line.amount_fen) == (
        "2100101", "kg", grams, 12800, amount)


def test_weighed_kzt_goods_convert_the_price_per_kg() -> None:
    """480.00 KZT/kg -> 661 fen/kg (660.72); 0.800 kg -> 528.8 fen -> 529."""
    line = scan_line(GOODS, label("2100104", "00800"), None, DAY).line
    assert line is not None
    assert (line.unit_price_fen, line.quantity, line.amount_fen, line.rate) == (661, 800, 529, "0.013765")


def test_a_price_label_gives_the_weight_by_dividing_by_the_price_per_kg() -> None:
    """30.80 CNY on a label of cheese at 88.00/kg is 350 g, which prices back to 30.80; a KZT label converts
    at the day's rate first (800.00 KZT = 11.012 CNY -> 1101 fen -> 125.1 g -> 125 g -> 11.00 CNY)."""
    line = scan_line(GOODS, label("2200201", "03080"), "]E0", DAY).line
    assert line is not None and (line.unit, line.quantity, line.amount_fen) == ("kg", 350, 3080)
    cheese_kzt = Product("2300201", {"zh": "奶酪"}, "kg", 8800, "CNY", "04069000", "KZ", V1)
    goods = GoodsData(Catalog([cheese_kzt]), GOODS.rates, GOODS.rules, GOODS.layouts)
    line = scan_line(goods, label("2300201", "80000"), "]E0", DAY).line
    assert line is not None and (line.quantity, line.amount_fen) == (125, 1100)


def test_a_kg_item_without_a_weight_cannot_be_priced() -> None:
    """A GS1 code of a kg item without a net weight, or a zero weight: an unpriced line and a notice."""
    gs1 = scan_line(GoodsData(Catalog([Product("4870204100143", {"zh": "散装"}, "kg", 100)])),
                    "0104870204100143", "]C1", DAY)
    assert gs1.notice == "weight_missing" and gs1.line == Line("4870204100143", "散装", None, 1)
    zero = scan_line(GOODS, label("2100101", "00000"), "]E0", DAY)
    assert zero.notice == "weight_missing" and zero.line is not None and not zero.line.known


def test_gs1_net_weight_counts_for_kg_goods_and_not_for_pieces() -> None:
    """AI 3103 (net weight, 3 decimals) is the quantity of a kg item; a fixed-measure piece stays one piece."""
    loose = Product("4870204100143", {"zh": "散装"}, "kg", 1000, "CNY", "16010000", "KZ", V1)
    goods = GoodsData(Catalog([loose, FLOUR]))
    line = scan_line(goods, "0104870204100143" + "3103001500", "]C1", DAY).line
    assert line is not None and (line.unit, line.quantity, line.amount_fen) == ("kg", 1500, 1500)
    flour = scan_line(goods, "0104870204100013" + "3103025000", "]C1", DAY).line
    assert flour is not None and (flour.unit, flour.quantity) == ("piece", 1)


@pytest.mark.parametrize(("text", "symbology", "notice", "line_code"), [
    ("4870204100014", "]E0", "bad_check_digit", None),          # misread: nothing added, scan again
    (label("2100101", "01250")[:-1] + "0", "]E0", "bad_check_digit", None),
    ("4879999000119", "]E0", "unknown_barcode", "4879999000119"),
    ("HELLO", None, "unknown_barcode", "HELLO"),
    (label("2100999", "01250"), "]E0", "unknown_barcode", label("2100999", "01250")),   # item not in the catalog
])
def test_misreads_and_unknown_codes(text: str, symbology: str | None, notice: str, line_code: str | None) -> None:
    """A wrong check digit adds nothing; an unknown code adds an unknown line (referred at confirm)."""
    scanned = scan_line(GOODS, text, symbology, DAY)
    assert scanned.notice == notice
    assert (scanned.line.code if scanned.line else None) == line_code
    assert scanned.line is None or not scanned.line.known


def test_excluded_goods_are_noticed_at_once_and_refer_at_confirm() -> None:
    """Vodka (2208) is excluded: the resident is told on the scan; the declaration is referred."""
    scanned = scan_line(GOODS, "4870204100129", "]E0", DAY)
    assert scanned.notice == "goods_excluded" and scanned.line is not None and scanned.line.known
    verdict = assess(GOODS, [scanned.line], DAY)
    assert verdict.reasons == ("goods_excluded",)
    assert verdict.details == ("excluded alcohol (excluded, HS 2208, goods-2026-01-01): 4870204100129",)


def test_add_line_merges_plain_pieces_and_keeps_every_label_apart() -> None:
    """Two scans of one GTIN are quantity 2 (every field kept); two scale labels are two lines."""
    lines: list[Line] = []
    for _ in range(2):
        add_line(lines, scan_line(GOODS, "4870204100112", "]E0", DAY))
        add_line(lines, scan_line(GOODS, label("2100101", "00500"), "]E0", DAY))
    add_line(lines, Scanned(None, "bad_check_digit"))
    assert [(line.code, line.quantity) for line in lines] == [("4870204100112", 2), ("2100101", 500), ("2100101", 500)]
    assert lines[0].rate == "0.013765" and lines[0].catalog_price == 65000


def test_assess_counts_caps_and_names_the_rule_version() -> None:
    """RuleUses per capped rule in base units; over a cap within one basket refers with goods_over_cap; the
    version is appended to the quota rule's."""
    lines = [scan_line(GOODS, label("2100104", "00700"), "]E0", DAY).line,
             scan_line(GOODS, label("2100104", "00400"), "]E0", DAY).line,
             scan_line(GOODS, label("2100101", "01250"), "]E0", DAY).line,
             scan_line(GOODS, "4607001200031", "]E0", DAY).line]
    verdict = assess(GOODS, [line for line in lines if line is not None], DAY)
    assert verdict.rule_uses == (RuleUse("edible_oil@goods-2026-01-01", "piece", 1, 6),
                                 RuleUse("food@goods-2026-01-01", "kg", 1250, 50_000),
                                 RuleUse("sugar@goods-2026-01-01", "kg", 1100, 1000))
    assert verdict.reasons == ("goods_over_cap",)
    assert verdict.details == ("over cap sugar@goods-2026-01-01: 1100 of 1000 g",)
    assert verdict.version("quota-2026-01-01") == "quota-2026-01-01+goods-2026-01-01"


def test_without_goods_rules_nothing_is_capped_and_the_version_is_the_quota_s() -> None:
    """No rule version in force (before the first, or none imported): no uses, no goods reasons."""
    line = scan_line(GOODS, "4870204100129", "]E0", DAY).line
    assert line is not None
    verdict = assess(GOODS, [line, Line("x1", None, None, 2)], date(2025, 6, 1))
    assert (verdict.reasons, verdict.rule_uses, verdict.unknown) == ((), (), 1)
    assert verdict.version("quota-2020-01-01") == "quota-2020-01-01"


def _decl(total_fen: int) -> Declaration:
    from datetime import UTC, datetime
    return Declaration("d1", "k1", "r" * 64, "6542**********0046", DAY, datetime(2026, 11, 25, tzinfo=UTC),
                       (Line("4870204100013", "面粉", total_fen, 1),), 800000, "quota-2020-01-01")


@pytest.mark.parametrize(("result", "total", "reasons"), [
    (HoldResult(False, 790000, 10000), 20000, ("over_quota",)),
    (HoldResult(False, 0, 800000, ("sugar@goods-2026-01-01",)), 20000, ("goods_over_cap",)),
    (HoldResult(False, 790000, 10000, ("sugar@goods-2026-01-01",)), 20000, ("over_quota", "goods_over_cap")),
])
def test_hold_refusal_reasons(result: HoldResult, total: int, reasons: tuple[str, ...]) -> None:
    """The ledger's refusal: money, a cap counted over the resident's day, or both."""
    assert hold_refusal_reasons(_decl(total), result) == reasons
