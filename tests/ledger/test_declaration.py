"""Tests of the declaration value objects: integer-fen amounts, validation, JSON round trips."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest

from kiosk.declaration import Declaration, Line, lines_from_json, lines_to_json

BEIJING = timezone(timedelta(hours=8))
TEA = Line("6901234567892", "茶叶 tea", 12_345, 3)
UNKNOWN = Line("4006381333931", None, None, 2)


def make(**changes: Any) -> Declaration:
    """A valid declaration with ``changes`` applied."""
    fields: dict[str, Any] = {
        "id": "d1",
        "kiosk_id": "k1",
        "resident_key": "hmac:ab12",
        "masked_id": "6501**********123X",
        "day": date(2026, 11, 25),
        "created_at": datetime(2026, 11, 25, 12, 0, tzinfo=BEIJING),
        "lines": (TEA, UNKNOWN),
        "limit_fen": 800_000,
        "rule_version": "2026-11",
    }
    fields.update(changes)
    return Declaration(**fields)


def test_line_amount_and_known() -> None:
    """Known goods cost price x quantity; unknown goods count 0 and are flagged."""
    assert (TEA.amount_fen, TEA.known) == (37_035, True)
    assert (UNKNOWN.amount_fen, UNKNOWN.known) == (0, False)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"unit_price_fen": 1.5},
        {"unit_price_fen": -1},
        {"unit_price_fen": True},
        {"quantity": 0},
        {"quantity": 2.0},
        {"code": ""},
        {"name": 5},
    ],
)
def test_line_rejects_bad_values(kwargs: dict[str, Any]) -> None:
    """Money and quantities are non-negative ints (never float or bool); a code is required."""
    fields: dict[str, Any] = {"code": "690", "name": "x", "unit_price_fen": 100, "quantity": 1, **kwargs}
    with pytest.raises(ValueError):
        Line(**fields)


def test_declaration_total_and_lines_tuple() -> None:
    """The total sums line amounts; a list of lines is frozen into a tuple."""
    d = make(lines=[TEA, UNKNOWN, Line("690", "x", 1, 1)])
    assert d.lines == (TEA, UNKNOWN, Line("690", "x", 1, 1))
    assert d.total_fen == 37_036
    assert make(lines=()).total_fen == 0


@pytest.mark.parametrize(
    "changes",
    [
        {"created_at": datetime(2026, 11, 25, 12, 0)},
        {"day": datetime(2026, 11, 25, 12, 0, tzinfo=BEIJING)},
        {"limit_fen": 800_000.0},
        {"limit_fen": -1},
        {"resident_key": ""},
        {"lines": ("not a line",)},
    ],
)
def test_declaration_rejects_bad_values(changes: dict[str, Any]) -> None:
    """Naive times, a datetime as day, float or negative limits, blanks and non-lines are refused."""
    with pytest.raises(ValueError):
        make(**changes)


def test_declaration_json_round_trip() -> None:
    """to_json/from_json give back an equal declaration, keeping the text as UTF-8."""
    d = make()
    text = d.to_json()
    assert "茶叶" in text
    assert Declaration.from_json(text) == d
    unknown = {"code": "4006381333931", "name": None, "unit_price_fen": None, "quantity": 2}
    assert json.loads(text)["lines"][1] == unknown


def test_lines_json_round_trip() -> None:
    """Lines survive their storage form unchanged."""
    assert lines_from_json(lines_to_json((TEA, UNKNOWN))) == (TEA, UNKNOWN)
    assert lines_from_json(lines_to_json(())) == ()


@pytest.mark.parametrize(
    "text",
    [
        '{"code": "690", "name": null, "unit_price_fen": 1.0, "quantity": 1}',
        '[{"code": "690", "name": null, "unit_price_fen": 100}]',
        '[{"code": "690", "name": null, "unit_price_fen": 100, "quantity": 1.5}]',
        "[1]",
    ],
)
def test_lines_from_json_rejects_malformed(text: str) -> None:
    """Anything but a list of complete, integer-valued lines is a ValueError."""
    with pytest.raises(ValueError):
        lines_from_json(text)


def test_declaration_from_json_rejects_missing_fields() -> None:
    """A declaration JSON without a field is a ValueError, not a KeyError."""
    data = json.loads(make().to_json())
    del data["limit_fen"]
    with pytest.raises(ValueError, match="limit_fen"):
        Declaration.from_json(json.dumps(data))
