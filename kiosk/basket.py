"""The resident's basket: a scan becomes a priced declaration line, and the basket is judged at confirm.

Pure functions over the goods data the kiosk loaded at start (``GoodsData``) and the declaration's
Beijing day, called by the checkpoint:

- ``scan_line``: what a scan adds.  The code is interpreted (``kiosk.barcodes``: GTIN, GS1 element
  string or Digital Link, or an in-store variable-measure label laid out as the market configured);
  the catalog version in force on the day gives name, unit, HS code and price; a KZT price is converted
  at the day's rate (``kiosk.rates``), half up to the fen, and the line records price, currency, rate
  and dates.  Goods sold by ``kg`` take their weight from the label (grams; a price label's amount is
  divided by the price per kg); without one they cannot be priced (``weight_missing``).
- ``assess``: at confirm, the reasons the goods themselves refer the declaration (``no_exchange_rate``,
  ``goods_excluded``, ``goods_over_cap``), the ``RuleUse`` of every capped rule for the ledger, and the
  goods-rule version to record.
- ``hold_refusal_reasons``: why the ledger refused a hold (money, a cap counted over the day, or both).
- ``line_flags``: which lines stop the declaration by themselves (excluded goods, goods over their cap), so the
  resident's screen can name them.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date

from kiosk.barcodes import BarcodeError, Measure, VariableMeasureLayout, interpret
from kiosk.catalog import Catalog, Product
from kiosk.declaration import Declaration, HoldResult, Line, RuleUse
from kiosk.goods_rules import RuleBook, judge
from kiosk.money import half_up
from kiosk.rates import Rate, RateTable


@dataclass(frozen=True)
class GoodsData:
    """What goods are priced and judged with: catalog, rates, goods rules and the market's label layouts."""

    catalog: Catalog
    rates: RateTable = field(default_factory=RateTable)
    rules: RuleBook = field(default_factory=RuleBook)
    layouts: Mapping[str, VariableMeasureLayout] = field(default_factory=dict)


@dataclass(frozen=True)
class Scanned:
    """What one scan does: the line to add (None: nothing) and the notice to show (a reason key or None)."""

    line: Line | None
    notice: str | None = None
    merge: bool = True
    """A plain piece scan adds to a line of the same code; each weighed label is a line of its own."""


def _read(goods: GoodsData, text: str, symbology: str | None) -> tuple[str, Measure | None, str | None]:
    """(the code to look up, the measure the label carries, a refusal reason or None)."""
    try:
        meaning = interpret(text, symbology, goods.layouts)
    except BarcodeError as exc:
        if exc.screen_reason == "bad_check_digit":
            return text, None, "bad_check_digit"
        return text, None, None          # the catalog decides (unknown_barcode)
    if meaning.kind == "variable_measure" and meaning.item_code is not None:
        return meaning.item_code, meaning.measure, None
    return meaning.gtin or text, meaning.measure, None


def scan_line(goods: GoodsData, text: str, symbology: str | None, day: date) -> Scanned:
    """The line a scan adds on ``day``, or only a notice (a misread code adds nothing: scan again)."""
    code, measure, refusal = _read(goods, text, symbology)
    if refusal is not None:
        return Scanned(None, refusal)
    product, reason = goods.catalog.lookup(code, day)
    if product is None:
        if reason == "bad_check_digit":
            return Scanned(None, reason)
        return Scanned(Line(text, None, None, 1), reason or "unknown_barcode")
    return price_line(goods, product, measure, day)


def price_line(goods: GoodsData, product: Product, measure: Measure | None, day: date) -> Scanned:
    """The line of ``product`` (the version in force on ``day``), its quantity from ``measure`` if any."""
    unit_fen, rate = _unit_price(goods.rates, product, day)
    merge = measure is None
    quantity = _quantity(goods.rates, product, measure, unit_fen, day)
    if quantity is None:         # unpriced, and referred at confirm; no HS code: nothing to count
        if unit_fen is None:
            return Scanned(Line(product.code, product.name("zh"), None, 1, currency=product.currency),
                           "no_exchange_rate", merge)
        return Scanned(Line(product.code, product.name("zh"), None, 1), "weight_missing", merge)
    line = Line(product.code, product.name("zh"), unit_fen, quantity, unit=product.unit, hs_code=product.hs_code,
                currency=product.currency, catalog_price=product.price,
                rate=rate.per_unit_text if rate else None, rate_date=rate.day.isoformat() if rate else None,
                price_from=product.price_from.isoformat())
    notice = "no_exchange_rate" if unit_fen is None else _rule_notice(goods, line, day)
    return Scanned(line, notice, merge)


def _unit_price(rates: RateTable, product: Product, day: date) -> tuple[int | None, Rate | None]:
    """The price per unit in fen on ``day`` and the rate used (None, None: no rate for the day)."""
    if product.currency == "CNY":
        return product.price, None
    rate = rates.rate_on(product.currency, day)
    return (rate.to_fen(product.price), rate) if rate is not None else (None, None)


def _quantity(rates: RateTable, product: Product, measure: Measure | None, unit_fen: int | None,
              day: date) -> int | None:
    """Pieces, or grams for goods sold by kg; None when the label does not give one."""
    if product.unit == "piece" and (measure is None or measure.kind == "weight"):
        return 1                      # a net weight on a fixed-measure article is not its quantity
    if measure is None:
        return None
    if measure.kind == "weight":
        num, den = measure.value.as_integer_ratio()
        grams = half_up(num * 1000, den) if num >= 0 else 0
        return grams or None
    label_fen = _label_fen(rates, measure, day)
    if label_fen is None or not unit_fen:
        return None
    per = 1000 if product.unit == "kg" else 1
    return half_up(label_fen * per, unit_fen) or None


def _label_fen(rates: RateTable, measure: Measure, day: date) -> int | None:
    """A price label's amount in fen (a label without currency is in yuan, the market's currency)."""
    num, den = measure.value.as_integer_ratio()
    if num < 0:
        return None
    minor = half_up(num * 100, den)
    currency = measure.unit or "CNY"
    if currency == "CNY":
        return minor
    rate = rates.rate_on(currency, day)
    return rate.to_fen(minor) if rate is not None else None


def _rule_notice(goods: GoodsData, line: Line, day: date) -> str | None:
    """Tell the resident at once when goods cannot go through duty-free."""
    rule_set = goods.rules.on(day)
    rule = rule_set.rule_for(line.hs_code) if rule_set is not None else None
    return "goods_excluded" if rule is not None and rule.kind == "excluded" else None


def add_line(lines: list[Line], scanned: Scanned) -> None:
    """Add the scanned line to the basket, or one more piece to the line of the same code."""
    line = scanned.line
    if line is None:
        return
    if scanned.merge and line.unit == "piece":
        for i, old in enumerate(lines):
            if old.code == line.code and old.unit == "piece" and old.unit_price_fen == line.unit_price_fen:
                lines[i] = replace(old, quantity=old.quantity + line.quantity)
                return
    lines.append(line)


@dataclass(frozen=True)
class Assessment:
    """What the goods say at confirm: unknown lines, goods reasons, capped uses, the rule version used."""

    unknown: int
    reasons: tuple[str, ...]
    rule_uses: tuple[RuleUse, ...] = ()
    rule_version: str | None = None
    details: tuple[str, ...] = ()
    """For the log and officers: which goods an excluded or over-cap reason is about."""

    def version(self, quota_version: str) -> str:
        """The declaration's rule version: "quota-2026-01-01+goods-2026-03-01"."""
        return f"{quota_version}+{self.rule_version}" if self.rule_version else quota_version


def _no_rate(line: Line) -> bool:
    return line.unit_price_fen is None and line.name is not None and line.currency != "CNY"


def assess(goods: GoodsData, lines: Sequence[Line], day: date) -> Assessment:
    """Judge the basket on ``day`` (pure): priced or not, excluded goods, caps within this one basket."""
    no_rate = [line for line in lines if _no_rate(line)]
    unknown = sum(1 for line in lines if not line.known) - len(no_rate)
    reasons = ["no_exchange_rate"] if no_rate else []
    rule_set = goods.rules.on(day)
    if rule_set is None:
        return Assessment(unknown, tuple(reasons))
    verdict = judge(rule_set, lines)
    details = [f"excluded {rule.describe()}: {line.code}" for line, rule in verdict.excluded]
    details += [f"over cap {use.rule_id}: {use.quantity} of {use.cap} {'g' if use.unit == 'kg' else 'pieces'}"
                for use in verdict.uses if use.rule_id in verdict.over_cap]
    details += [f"unit {line.unit} cannot count against {rule.describe()}: {line.code}"
                for line, rule in verdict.unit_mismatch]
    if verdict.excluded:
        reasons.append("goods_excluded")
    if verdict.over_cap or verdict.unit_mismatch:
        reasons.append("goods_over_cap")
    return Assessment(unknown, tuple(reasons), verdict.uses, verdict.version, tuple(details))


def hold_refusal_reasons(decl: Declaration, result: HoldResult) -> tuple[str, ...]:
    """Why the ledger refused the hold: ``over_quota`` (money), ``goods_over_cap`` (a capped rule counted
    over the resident's day, ``result.over_cap``), or both."""
    reasons: list[str] = []
    if not result.over_cap or decl.total_fen > result.remaining_fen:
        reasons.append("over_quota")
    if result.over_cap:
        reasons.append("goods_over_cap")
    return tuple(reasons)


def line_flags(goods: GoodsData, lines: Sequence[Line], day: date,
               over_cap: Collection[str] = ()) -> tuple[str | None, ...]:
    """Per line, in order, what stops the declaration because of that line alone: ``"goods_excluded"``,
    ``"goods_over_cap"`` (its capped rule is over, in this basket or in ``over_cap`` as the ledger counted the
    day, or its unit cannot count against the rule), or None. The same rules as ``assess``, line by line."""
    rule_set = goods.rules.on(day)
    if rule_set is None:
        return tuple(None for _ in lines)
    verdict = judge(rule_set, lines)
    over = set(verdict.over_cap) | set(over_cap)
    return tuple(
        None if rule is None
        else "goods_excluded" if rule.kind == "excluded"
        else "goods_over_cap" if rule.unit != line.unit or rule.rule_id in over
        else None
        for line, rule in zip(lines, verdict.line_rules, strict=True)
    )
