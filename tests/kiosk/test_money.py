"""Integer fen: formatting for screens and slips, parsing typed yuan amounts."""

from __future__ import annotations

import pytest

from kiosk.money import format_fen, parse_yuan


@pytest.mark.parametrize(
    ("fen", "text"),
    [
        (0, "0.00"),
        (1, "0.01"),
        (10, "0.10"),
        (99, "0.99"),
        (100, "1.00"),
        (800000, "8,000.00"),
        (-1205, "-12.05"),
        (-5, "-0.05"),
        (123456789, "1,234,567.89"),
        (100000000, "1,000,000.00"),
    ],
)
def test_format_fen(fen: int, text: str) -> None:
    """Fen render as yuan with thousands separators and exactly two decimals."""
    assert format_fen(fen) == text


@pytest.mark.parametrize("value", [1.0, 800000.0, True, False, "100", None])
def test_format_fen_rejects_non_int(value: object) -> None:
    """Floats, bools and strings are TypeErrors, never silently rounded."""
    with pytest.raises(TypeError):
        format_fen(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "fen"),
    [
        ("8000", 800000),
        ("8000.5", 800050),
        ("8000.50", 800050),
        ("0.01", 1),
        ("0", 0),
        ("0.1", 10),
        ("12.05", 1205),
        (" 3200.00 ", 320000),
        ("007", 700),
    ],
)
def test_parse_yuan(text: str, fen: int) -> None:
    """Yuan amounts with up to two decimals parse to exact fen."""
    assert parse_yuan(text) == fen


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("-1", "negative"),
        ("-0.01", "negative"),
        ("1.001", "2 decimal"),
        ("8000.555", "2 decimal"),
        ("1e3", "exponent"),
        ("1E3", "exponent"),
        ("8,000.00", "not an amount"),
        ("abc", "not an amount"),
        ("1.", "not an amount"),
        (".5", "not an amount"),
        ("+5", "not an amount"),
        ("nan", "not an amount"),
        ("١٢", "not an amount"),  # Arabic-Indic digits are not accepted
        ("１２", "not an amount"),  # nor full-width ones
    ],
)
def test_parse_yuan_rejects(text: str, problem: str) -> None:
    """Malformed amounts are ValueErrors whose message names the problem."""
    with pytest.raises(ValueError, match=problem):
        parse_yuan(text)


def test_round_trip() -> None:
    """Formatting then parsing (without separators) gives the same fen."""
    for fen in (0, 1, 99, 100, 800000, 123456789):
        assert parse_yuan(format_fen(fen).replace(",", "")) == fen
