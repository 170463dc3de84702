"""Tenge to fen: exact half-up rounding at the boundaries, the dated rate table, the rates CSV."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiosk.errors import DataError
from kiosk.money import convert_to_fen, decimal_text, half_up, parse_units
from kiosk.rates import MAX_AGE_DAYS, Rate, RateTable, check_rates_file


@pytest.mark.parametrize(("num", "den", "expected"), [
    (0, 1, 0), (4, 10, 0), (5, 10, 1), (14, 10, 1), (15, 10, 2), (25, 10, 3), (1, 2, 1), (3, 2, 2),
    (4999, 10000, 0), (5000, 10000, 1), (10**30 + 5, 10, 10**29 + 1),
])
def test_half_up(num: int, den: int, expected: int) -> None:
    """Halves round up (2.5 -> 3, not banker's 2); just below a half rounds down."""
    assert half_up(num, den) == expected


@pytest.mark.parametrize(("args", "error"), [((-1, 2), ValueError), ((1, 0), ValueError), ((1.5, 2), TypeError),
                                             ((True, 2), TypeError)])
def test_half_up_refuses_what_is_not_an_amount(args: tuple[object, object], error: type[Exception]) -> None:
    """Negative amounts, zero denominators, floats and bools are errors, never silently rounded."""
    with pytest.raises(error):
        half_up(*args)  # type: ignore[arg-type]


@pytest.mark.parametrize(("tiyn", "rate", "fen"), [
    (100, "0.013765", 1),           # 1 KZT = 1.3765 fen -> 1
    (200, "0.013765", 3),           # 2.753 -> 3
    (5000, "0.0137", 69),           # 68.5 exactly: half up -> 69 (banker's rounding would give 68)
    (15000, "0.0137", 206),         # 205.5 exactly -> 206
    (5000, "0.01369998", 68),       # 68.4999 -> 68: just below the half
    (5000, "0.01370002", 69),       # 68.5001 -> 69
    (65000, "0.013765", 895),       # 650.00 KZT chocolate: 894.725 -> 895
    (0, "0.013765", 0),
    (123456789012, "0.013765", 1699382701), # 1,234,567,890.12 KZT: no float anywhere (1699382700.750...)
])
def test_convert_to_fen_rounds_half_up_exactly(tiyn: int, rate: str, fen: int) -> None:
    """fen = tiyn x (CNY per KZT), rounded half up in integer arithmetic."""
    assert convert_to_fen(tiyn, Decimal(rate)) == fen


@given(st.integers(0, 10**12), st.integers(1, 10**8), st.integers(0, 10))
def test_convert_matches_exact_decimal_half_up(tiyn: int, digits: int, scale: int) -> None:
    """For any amount and rate, the result is the exact product rounded half up (Decimal with enough precision)."""
    from decimal import ROUND_HALF_UP, localcontext
    rate = Decimal(digits).scaleb(-scale)
    with localcontext() as ctx:
        ctx.prec = 100
        expected = int((Decimal(tiyn) * rate).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    assert convert_to_fen(tiyn, rate) == expected


@pytest.mark.parametrize("rate", [Decimal(0), Decimal(-1), Decimal("NaN"), Decimal("Infinity")])
def test_convert_refuses_impossible_rates(rate: Decimal) -> None:
    """A rate must be a positive finite decimal."""
    with pytest.raises(ValueError):
        convert_to_fen(100, rate)


def test_rate_is_recorded_per_one_unit() -> None:
    """The file says yuan per 100 tenge; the line records yuan per one tenge, as plain decimal text."""
    rate = Rate("KZT", date(2026, 11, 1), Decimal("1.3765"))
    assert rate.per_unit == Decimal("0.013765") and rate.per_unit_text == "0.013765"
    assert rate.to_fen(65000) == 895
    assert decimal_text(Decimal("1.50E+2")) == "150" and decimal_text(Decimal("0.0100")) == "0.01"


OCT = Rate("KZT", date(2026, 10, 1), Decimal("1.3712"))
NOV = Rate("KZT", date(2026, 11, 1), Decimal("1.3765"))
DEC = Rate("KZT", date(2026, 12, 1), Decimal("1.4000"))


@pytest.mark.parametrize(("day", "expected"), [
    (date(2026, 9, 30), None),              # before the first rate
    (date(2026, 10, 1), OCT),
    (date(2026, 10, 31), OCT),
    (date(2026, 11, 1), NOV),
    (date(2026, 11, 25), NOV),              # a rate for next month does not change today's
    (date(2026, 12, 1), DEC),
    (date(2027, 1, 5), DEC),                # 35 days old: still in force
    (date(2027, 1, 6), None),               # 36 days: stale, the goods cannot be priced
])
def test_rate_on_picks_the_latest_rate_not_too_old(day: date, expected: Rate | None) -> None:
    """The latest rate dated on or before the day, if at most MAX_AGE_DAYS old."""
    assert MAX_AGE_DAYS == 35
    assert RateTable([DEC, OCT, NOV]).rate_on("KZT", day) == expected


def test_rate_table_refuses_two_rates_for_one_day() -> None:
    """One rate per currency and day."""
    with pytest.raises(ValueError, match="two KZT rates"):
        RateTable([NOV, Rate("KZT", date(2026, 11, 1), Decimal("1.3"))])
    assert RateTable([NOV]).rate_on("USD", date(2026, 11, 2)) is None
    with pytest.raises(ValueError):
        Rate("CNY", date(2026, 11, 1), Decimal(100))


@pytest.mark.parametrize(("text", "places", "value"), [("98", 2, 9800), ("98.5", 2, 9850), ("0.01", 2, 1),
                                                         ("1.250", 3, 1250), ("7", 0, 7)])
def test_parse_units(text: str, places: int, value: int) -> None:
    """Decimals to integer units."""
    assert parse_units(text, places) == value


@pytest.mark.parametrize(("text", "problem"), [("", "empty"), ("-1", "negative"), ("1e3", "exponent"),
                                               ("1.001", "more than 2"), ("1,000", "not a decimal"),
                                               ("١", "not a decimal"), (".5", "not a decimal")])
def test_parse_units_says_what_is_wrong(text: str, problem: str) -> None:
    """Every refusal names its problem."""
    with pytest.raises(ValueError, match=problem):
        parse_units(text, 2)


def test_rates_file_reports_every_bad_row(tmp_path: Path) -> None:
    """Each bad row is named with its line; a repeated currency and day rejects both lines."""
    path = tmp_path / "rates.csv"
    path.write_text("currency,date,cny_per_100\n"          # columns in any order
                    "KZT,2026-11-01,1.3765\n"
                    "KZT,2026-10-01,1.3712\n"
                    "KZT,2026-10-01,1.3700\n"
                    "USD,2026-10-01,720\n"
                    "KZT,2026-02-30,1.3\n"
                    "KZT,2026-09-01,0\n"
                    "KZT,2026-08-01,1e-2\n"
                    "KZT,2026-07-01,-1.3\n", encoding="utf-8")
    checked = check_rates_file(path)
    assert [(line, r) for line, r in checked.good] == [(2, NOV)]
    problems = {row.line: row.reasons for row in checked.rejected}
    assert problems == {
        3: ("a KZT rate for 2026-10-01 is also on line 4",),
        4: ("a KZT rate for 2026-10-01 is also on line 3",),
        5: ("currency 'USD' is not one of KZT",),
        6: ("date '2026-02-30' is not a real date",),
        7: ("cny_per_100 0 is not above 0 and below 1000000",),
        8: ("cny_per_100 '1e-2' is not a decimal rate (want e.g. 1.3765: yuan per 100 units)",),
        9: ("cny_per_100 '-1.3' is not a decimal rate (want e.g. 1.3765: yuan per 100 units)",),
    }


def test_rates_file_with_the_wrong_header_is_refused(tmp_path: Path) -> None:
    """A per-one-tenge column is not silently read as per-100."""
    path = tmp_path / "rates.csv"
    path.write_text("date,currency,rate\n2026-11-01,KZT,0.013765\n", encoding="utf-8")
    with pytest.raises(DataError, match="cny_per_100"):
        check_rates_file(path)
