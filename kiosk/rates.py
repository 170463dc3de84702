"""The dated exchange-rate table that converts foreign-currency prices (KZT) to fen.

The market office's file (``kiosk rates import``) has one row per currency and date::

    date,currency,cny_per_100
    2026-11-01,KZT,1.3765

``cny_per_100`` is how many yuan 100 units of the currency cost, as a decimal string (the way China
Customs quotes its monthly rates for collection: yuan per 100 foreign units); it avoids the long runs of
zeros a per-tenge rate would need.  A rate is in force from its date until the currency's next rate,
but never for more than ``MAX_AGE_DAYS``: with no rate, or only a stale one, for the declaration's
day, foreign-priced goods cannot be priced and the declaration is referred (``no_exchange_rate``).
A declaration line records the rate it used per *one* unit of the currency (``Line.rate``) and its date.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from kiosk.catalog import CURRENCIES
from kiosk.csvrows import CsvRow, StrPath
from kiosk.data_rows import Checked, parse_day, parse_rows, repeated_keys, show, split_checked
from kiosk.money import convert_to_fen, decimal_text

COLUMNS = ("date", "currency", "cny_per_100")
FOREIGN = tuple(c for c in CURRENCIES if c != "CNY")
MAX_AGE_DAYS = 35
"""A monthly customs rate plus a few days for a late import; an older rate is not used."""
_RATE = re.compile(r"[0-9]{1,6}(?:\.[0-9]{1,10})?")
MAX_RATE_PER_100 = Decimal(1_000_000)


@dataclass(frozen=True)
class Rate:
    """Yuan per 100 units of ``currency``, in force from ``day``."""

    currency: str
    day: date
    cny_per_100: Decimal

    def __post_init__(self) -> None:
        if self.currency not in FOREIGN:
            raise ValueError(f"currency must be one of {', '.join(FOREIGN)}, got {self.currency!r}")
        if not isinstance(self.cny_per_100, Decimal) or not self.cny_per_100.is_finite() or self.cny_per_100 <= 0:
            raise ValueError(f"cny_per_100 must be a positive Decimal, got {self.cny_per_100!r}")

    @property
    def per_unit(self) -> Decimal:
        """Yuan per one unit of the currency (exact: a shift of the decimal point)."""
        return self.cny_per_100.scaleb(-2)

    @property
    def per_unit_text(self) -> str:
        """``per_unit`` as the decimal text a declaration line records: "0.013765"."""
        return decimal_text(self.per_unit)

    def to_fen(self, minor: int) -> int:
        """Fen for ``minor`` hundredths of the currency (tiyn), rounded half up."""
        return convert_to_fen(minor, self.per_unit)


class RateTable:
    """Rates by currency, in date order."""

    def __init__(self, rates: Iterable[Rate] = (), *, max_age_days: int = MAX_AGE_DAYS) -> None:
        self.max_age_days = max_age_days
        self._by_currency: dict[str, list[Rate]] = {}
        for rate in rates:
            found = self._by_currency.setdefault(rate.currency, [])
            if any(r.day == rate.day for r in found):
                raise ValueError(f"two {rate.currency} rates for {rate.day.isoformat()}")
            bisect.insort(found, rate, key=lambda r: r.day)

    def rate_on(self, currency: str, day: date) -> Rate | None:
        """The rate in force on ``day`` (the latest dated on or before it, if not too old), or None."""
        found = self._by_currency.get(currency, [])
        at = bisect.bisect_right(found, day, key=lambda r: r.day)
        if not at:
            return None
        rate = found[at - 1]
        return rate if (day - rate.day).days <= self.max_age_days else None

    def __iter__(self) -> Iterator[Rate]:
        for currency in sorted(self._by_currency):
            yield from self._by_currency[currency]

    def __len__(self) -> int:
        return sum(len(found) for found in self._by_currency.values())


def parse_rate_row(row: CsvRow) -> tuple[Rate | None, list[str]]:
    """The rate of one CSV row, or None with every problem of the row."""
    v = row.values
    day, problem = parse_day(v["date"], "date")
    problems = [problem] if problem else []
    if v["currency"] not in FOREIGN:
        problems.append(f"currency {show(v['currency'])} is not one of {', '.join(FOREIGN)}")
    text = v["cny_per_100"]
    value = Decimal(text) if _RATE.fullmatch(text) else None
    if value is None:
        problems.append(f"cny_per_100 {show(text)} is not a decimal rate (want e.g. 1.3765: yuan per 100 units)")
    elif not 0 < value < MAX_RATE_PER_100:
        problems.append(f"cny_per_100 {text} is not above 0 and below {MAX_RATE_PER_100}")
    if problems or day is None or value is None:
        return None, problems
    return Rate(v["currency"], day, value), problems


def check_rates_file(path: StrPath) -> Checked[Rate]:
    """Every row of a rates CSV checked; a currency and date given twice rejects both lines."""
    items, problems = parse_rows(path, COLUMNS, parse_rate_row)
    problems += repeated_keys((line, (r.currency, r.day), f"a {r.currency} rate for {r.day.isoformat()}")
                              for line, r in items)
    return split_checked(items, problems)
