"""Goods rules by HS code prefix, in dated versions: excluded, capped per person per day, or exempt.

Pure.  A rule *version* is a complete rule set in force from its date (a Beijing day) until the next
version; the declaration records its name (``goods-2026-03-01``) next to the quota rule's.  Within a
version the longest matching HS prefix decides; goods that no prefix matches have no rule.

- ``excluded``: the goods cannot go through duty-free; the declaration is referred.
- ``capped``: at most ``cap`` per resident per day, in the rule's unit (grams for ``kg``, pieces for
  ``piece``).  Several prefixes may name one rule (``food``), sharing its cap.  The checkpoint puts a
  ``RuleUse`` per capped rule on the declaration; the ledger sums them over the resident's day.
- ``exempt``: explicitly allowed without a cap (carves goods out of a shorter excluded/capped prefix).

A capped rule counts one unit only: a product sold by ``kg`` under a ``piece`` rule (or the reverse)
cannot be counted, and ``unit_conflicts`` finds such pairs so that the imports can refuse them.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from kiosk.catalog import Product
from kiosk.declaration import Line, RuleUse
from kiosk.money import decimal_text

KINDS = ("excluded", "capped", "exempt")


def version_name(day: date) -> str:
    """The recorded name of the rule version in force from ``day``: "goods-2026-03-01"."""
    return f"goods-{day.isoformat()}"


@dataclass(frozen=True)
class GoodsRule:
    """One row of a rule version: HS prefix, kind, the rule's name and, if capped, its cap and unit."""

    version: date
    hs_prefix: str
    kind: str
    rule: str
    cap: int | None = None      # base units: grams for kg, pieces for piece
    unit: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if not (self.hs_prefix.isascii() and self.hs_prefix.isdigit() and 2 <= len(self.hs_prefix) <= 10):
            raise ValueError(f"hs_prefix must be 2-10 digits, got {self.hs_prefix!r}")
        capped = self.kind == "capped"
        if capped != (self.cap is not None) or capped != (self.unit is not None):
            raise ValueError("a capped rule needs a cap and a unit; other kinds have neither")
        if self.cap is not None and (isinstance(self.cap, bool) or not isinstance(self.cap, int) or self.cap < 1):
            raise ValueError(f"cap must be a positive int, got {self.cap!r}")
        if self.unit is not None and self.unit not in ("kg", "piece"):
            raise ValueError(f"unit must be kg or piece, got {self.unit!r}")

    @property
    def rule_id(self) -> str:
        """The rule and its version, as the ledger counts it: "sugar@goods-2026-03-01"."""
        return f"{self.rule}@{version_name(self.version)}"

    def describe(self) -> str:
        """For reports and logs: "sugar (capped 1 kg, HS 1701, goods-2026-03-01)"."""
        limit = ""
        if self.cap is not None:
            amount = (f"{decimal_text(Decimal(self.cap).scaleb(-3))} kg" if self.unit == "kg"
                      else f"{self.cap} pieces")
            limit = f" {amount}"
        return f"{self.rule} ({self.kind}{limit}, HS {self.hs_prefix}, {version_name(self.version)})"


class RuleSet:
    """One rule version: its rows by HS prefix."""

    def __init__(self, version: date, rules: Iterable[GoodsRule]) -> None:
        self.version = version
        self._by_prefix: dict[str, GoodsRule] = {}
        for rule in rules:
            if rule.version != version:
                raise ValueError(f"rule {rule.rule_id} is not of version {version.isoformat()}")
            if rule.hs_prefix in self._by_prefix:
                raise ValueError(f"two rules for HS prefix {rule.hs_prefix} in {version_name(version)}")
            self._by_prefix[rule.hs_prefix] = rule

    @property
    def name(self) -> str:
        """The version's recorded name."""
        return version_name(self.version)

    def rule_for(self, hs_code: str | None) -> GoodsRule | None:
        """The rule with the longest prefix of ``hs_code``, or None (no rule, or no HS code)."""
        if not hs_code:
            return None
        for length in range(min(len(hs_code), 10), 1, -1):
            rule = self._by_prefix.get(hs_code[:length])
            if rule is not None:
                return rule
        return None

    def __iter__(self) -> Iterator[GoodsRule]:
        return iter(self._by_prefix.values())

    def __len__(self) -> int:
        return len(self._by_prefix)


class RuleBook:
    """Every rule version, by date."""

    def __init__(self, rules: Iterable[GoodsRule] = ()) -> None:
        grouped: dict[date, list[GoodsRule]] = {}
        for rule in rules:
            grouped.setdefault(rule.version, []).append(rule)
        self._sets = [RuleSet(version, grouped[version]) for version in sorted(grouped)]

    def on(self, day: date) -> RuleSet | None:
        """The version in force on ``day`` (the latest dated on or before it), or None."""
        at = bisect.bisect_right(self._sets, day, key=lambda s: s.version)
        return self._sets[at - 1] if at else None

    def sets(self) -> list[RuleSet]:
        """Every version, oldest first."""
        return list(self._sets)

    def __iter__(self) -> Iterator[GoodsRule]:
        for rule_set in self._sets:
            yield from rule_set

    def __len__(self) -> int:
        return len(self._sets)


@dataclass(frozen=True)
class Verdict:
    """What one version's rules say of a basket: excluded lines, capped uses, and which uses are over."""

    version: str
    excluded: tuple[tuple[Line, GoodsRule], ...]
    uses: tuple[RuleUse, ...]
    over_cap: tuple[str, ...]          # rule ids whose use in this one basket already exceeds the cap
    unit_mismatch: tuple[tuple[Line, GoodsRule], ...]
    line_rules: tuple[GoodsRule | None, ...] = ()   # per line, the rule it falls under (None: no rule, or exempt)


def judge(rule_set: RuleSet, lines: Sequence[Line]) -> Verdict:
    """Apply one rule version to a basket (pure); lines without an HS code (unknown goods) have no rule.
    Priced or not (a KZT line without a rate), goods count: a cap is about quantity, not money."""
    excluded: list[tuple[Line, GoodsRule]] = []
    mismatch: list[tuple[Line, GoodsRule]] = []
    totals: dict[str, tuple[GoodsRule, int]] = {}
    line_rules: list[GoodsRule | None] = []
    for line in lines:
        rule = rule_set.rule_for(line.hs_code)
        line_rules.append(None if rule is None or rule.kind == "exempt" else rule)
        if rule is None or rule.kind == "exempt":
            continue
        if rule.kind == "excluded":
            excluded.append((line, rule))
        elif rule.unit != line.unit:
            mismatch.append((line, rule))
        else:
            _, before = totals.get(rule.rule_id, (rule, 0))
            totals[rule.rule_id] = (rule, before + line.quantity)
    uses = tuple(RuleUse(rule_id, rule.unit or "piece", quantity, rule.cap or 0)
                 for rule_id, (rule, quantity) in sorted(totals.items()))
    over = tuple(use.rule_id for use in uses if use.quantity > use.cap)
    return Verdict(rule_set.name, tuple(excluded), uses, over, tuple(mismatch), tuple(line_rules))


def unit_conflicts(products: Iterable[Product], book: RuleBook) -> list[tuple[Product, GoodsRule]]:
    """Every (product version, capped rule) pair in force on a common day whose units differ.

    A product version is in force from its ``price_from`` until the next version of its code, a rule
    version until the next rule version; only pairs whose periods overlap can ever meet at the kiosk."""
    by_key: dict[str, list[Product]] = {}
    for product in products:
        by_key.setdefault(product.key, []).append(product)
    sets = book.sets()
    conflicts: list[tuple[Product, GoodsRule]] = []
    for versions in by_key.values():
        versions.sort(key=lambda v: v.price_from)
        for i, product in enumerate(versions):
            until = versions[i + 1].price_from if i + 1 < len(versions) else date.max
            for j, rule_set in enumerate(sets):
                set_until = sets[j + 1].version if j + 1 < len(sets) else date.max
                if not (product.price_from < set_until and rule_set.version < until):
                    continue
                rule = rule_set.rule_for(product.hs_code)
                if rule is not None and rule.kind == "capped" and rule.unit != product.unit:
                    conflicts.append((product, rule))
    return conflicts
