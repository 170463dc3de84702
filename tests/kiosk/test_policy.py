"""Quota rules: the Beijing trade day, the rule in force, the decision table."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from kiosk.policy import Decision, QuotaRule, decide, rule_for, trade_day

BEIJING = ZoneInfo("Asia/Shanghai")
LIMIT = 800000


@pytest.mark.parametrize(
    ("at", "day"),
    [
        (datetime(2026, 11, 25, 15, 59, 59, tzinfo=UTC), date(2026, 11, 25)),
        (datetime(2026, 11, 25, 16, 0, 0, tzinfo=UTC), date(2026, 11, 26)),
        (datetime(2026, 11, 25, 15, 59, 59, 999999, tzinfo=UTC), date(2026, 11, 25)),
        (datetime(2026, 11, 24, 16, 0, 0, tzinfo=UTC), date(2026, 11, 25)),
        (datetime(2026, 12, 31, 16, 0, 0, tzinfo=UTC), date(2027, 1, 1)),
        (datetime(2026, 11, 25, 23, 59, tzinfo=BEIJING), date(2026, 11, 25)),
        # Kazakhstan (UTC+5) evening is already the next day in Beijing.
        (datetime(2026, 11, 25, 21, 30, tzinfo=timezone(timedelta(hours=5))), date(2026, 11, 26)),
    ],
)
def test_trade_day_is_the_beijing_calendar_day(at: datetime, day: date) -> None:
    """The quota day turns at midnight Beijing time (16:00 UTC)."""
    assert trade_day(at, BEIJING) == day


def test_trade_day_rejects_naive() -> None:
    """A naive datetime is ambiguous and refused."""
    with pytest.raises(ValueError, match="aware"):
        trade_day(datetime(2026, 11, 25, 12, 0), BEIJING)


OLD = QuotaRule(date(2008, 11, 1), 800000)
NEW = QuotaRule(date(2027, 3, 1), 1000000)


@pytest.mark.parametrize(
    ("rules", "day", "expected"),
    [
        ([OLD, NEW], date(2026, 11, 25), OLD),
        ([OLD, NEW], date(2027, 2, 28), OLD),
        ([OLD, NEW], date(2027, 3, 1), NEW),
        ([NEW, OLD], date(2027, 3, 1), NEW),   # order of the list does not matter
        ([NEW, OLD], date(2030, 1, 1), NEW),
        ([OLD], date(2008, 11, 1), OLD),
    ],
)
def test_rule_for(rules: list[QuotaRule], day: date, expected: QuotaRule) -> None:
    """The latest rule effective on or before the day applies."""
    assert rule_for(rules, day) == expected


@pytest.mark.parametrize("rules", [[OLD, NEW], []])
def test_rule_for_before_any_rule(rules: list[QuotaRule]) -> None:
    """A day before every rule has no quota: LookupError."""
    with pytest.raises(LookupError):
        rule_for(rules, date(2008, 10, 31))


def test_rule_for_two_rules_same_day() -> None:
    """Two rules taking effect the same day are ambiguous."""
    with pytest.raises(ValueError, match="2027-03-01"):
        rule_for([OLD, NEW, QuotaRule(date(2027, 3, 1), 900000)], date(2027, 6, 1))


def test_rule_version_and_defaults() -> None:
    """The version names the effective date; the currency defaults to CNY."""
    rule = QuotaRule(date(2026, 1, 1), 800000)
    assert rule.version == "quota-2026-01-01"
    assert rule.currency == "CNY"


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"daily_limit_fen": -1}, ValueError),
        ({"daily_limit_fen": 8000.0}, TypeError),
        ({"daily_limit_fen": 800000, "currency": "cny"}, ValueError),
        ({"daily_limit_fen": 800000, "currency": "YUAN"}, ValueError),
    ],
)
def test_quota_rule_validates(kwargs: dict[str, object], error: type[Exception]) -> None:
    """Limits are non-negative int fen, currencies ISO 4217 codes."""
    with pytest.raises(error):
        QuotaRule(date(2026, 1, 1), **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("total", "remaining", "unknown", "expected"),
    [
        (100, LIMIT, 0, Decision(True, (), 0)),
        (LIMIT, LIMIT, 0, Decision(True, (), 0)),                        # exactly the quota
        (LIMIT + 1, LIMIT, 0, Decision(False, ("over_quota",), 1)),
        (960000, LIMIT, 0, Decision(False, ("over_quota",), 160000)),    # three carpets
        (5000, 4999, 0, Decision(False, ("over_quota",), 1)),
        (5000, 0, 0, Decision(False, ("over_quota",), 5000)),
        (5000, -2000, 0, Decision(False, ("over_quota",), 5000)),        # negative remaining counts as 0
        (100, LIMIT, 1, Decision(False, ("unknown_goods",), 0)),
        (0, LIMIT, 2, Decision(False, ("unknown_goods",), 0)),           # only unknown lines
        (LIMIT + 500, LIMIT, 3, Decision(False, ("unknown_goods", "over_quota"), 500)),
        (0, 0, 1, Decision(False, ("unknown_goods",), 0)),
    ],
)
def test_decide(total: int, remaining: int, unknown: int, expected: Decision) -> None:
    """Approve within the quota; refer with each applicable reason otherwise."""
    assert decide(total, remaining, unknown) == expected


@pytest.mark.parametrize(
    ("total", "remaining", "unknown", "error"),
    [
        (0, LIMIT, 0, ValueError),       # empty declaration
        (0, 0, 0, ValueError),
        (-1, LIMIT, 0, ValueError),
        (100, LIMIT, -1, ValueError),
        (100.0, LIMIT, 0, TypeError),
        (100, LIMIT, True, TypeError),
    ],
)
def test_decide_rejects(total: object, remaining: object, unknown: object, error: type[Exception]) -> None:
    """Empty declarations, negative amounts and non-int values are refused."""
    with pytest.raises(error):
        decide(total, remaining, unknown)  # type: ignore[arg-type]
