"""What the catalog, rates and goods-rules imports share: cell checks, repeated keys and the report.

Each import checks every row of a CSV file (``kiosk.csvrows`` keeps the line numbers) and ends in one
``ImportReport``: how many rows were accepted, every rejected row with its line and reasons, and
whether anything was imported.  An import changes nothing when any row is rejected, unless it was
asked for a partial import, which takes the accepted rows and still reports the others.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Generic, TypeVar

from kiosk.csvrows import CsvRow, RowProblem, StrPath, read_rows

T = TypeVar("T")

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2099, 12, 31)
"""Dates in data files must fall in this range: anything else is a typo (0206-01-01, 2206-01-01)."""
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""A cell starting with one of these runs as a formula when a spreadsheet opens an export of it."""
MAX_TEXT = 120
"""Longest name or label accepted, in characters."""


def parse_day(text: str, column: str) -> tuple[date | None, str | None]:
    """(the ISO date, None), or (None, what is wrong with it)."""
    if not _ISO_DATE.fullmatch(text):
        return None, f"{column} {show(text)} is not a date (want YYYY-MM-DD)"
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return None, f"{column} {show(text)} is not a real date"
    if not FIRST_DAY <= day <= LAST_DAY:
        return None, f"{column} {text} is outside {FIRST_DAY.year}-{LAST_DAY.year}"
    return day, None


def text_problem(text: str, column: str) -> str | None:
    """What is wrong with a free-text cell (a name or label), or None: too long, control characters,
    or a start that a spreadsheet would run as a formula ("=cmd|' /c calc'!A1")."""
    if len(text) > MAX_TEXT:
        return f"{column} is {len(text)} characters long (at most {MAX_TEXT})"
    if text.startswith(FORMULA_STARTS):
        return f"{column} {show(text)} starts with {text[0]!r}, which spreadsheets run as a formula"
    if any(unicodedata.category(ch) == "Cc" for ch in text):
        return f"{column} contains control characters"
    return None


def show(text: str, limit: int = 40) -> str:
    """A cell quoted for a report (repr), cut short when long."""
    return repr(text if len(text) <= limit else text[:limit] + "…")


@dataclass(frozen=True)
class RejectedRow:
    """One row an import refused: its line in the file and every reason."""

    line: int
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Checked(Generic[T]):
    """The rows of a file that passed every check (with their lines) and the rejected ones, by line."""

    good: tuple[tuple[int, T], ...]
    rejected: tuple[RejectedRow, ...]


def parse_rows(path: StrPath, columns: Sequence[str],
               parse: Callable[[CsvRow], tuple[T | None, list[str]]]) -> tuple[list[tuple[int, T]], list[RowProblem]]:
    """Read a CSV file (``read_rows``) and ``parse`` each row: the parsed items with their lines, and every
    problem so far (row shape and each row's own); callers add their cross-row checks, then ``split_checked``."""
    rows, problems = read_rows(path, columns)
    items: list[tuple[int, T]] = []
    for row in rows:
        item, row_problems = parse(row)
        if item is not None:
            items.append((row.line, item))
        problems.extend((row.line, p) for p in row_problems)
    return items, problems


def split_checked(items: Iterable[tuple[int, T]], problems: Iterable[RowProblem]) -> Checked[T]:
    """Group problems by line; a line with any problem is rejected, the others are good."""
    by_line: dict[int, list[str]] = {}
    for line, text in problems:
        by_line.setdefault(line, []).append(text)
    good = tuple((line, item) for line, item in items if line not in by_line)
    rejected = tuple(RejectedRow(line, tuple(texts)) for line, texts in sorted(by_line.items()))
    return Checked(good, rejected)


def repeated_keys(rows: Iterable[tuple[int, Hashable, str]]) -> list[RowProblem]:
    """A problem on every line whose key appears on more than one line: which of them is right cannot be
    told, so none is taken.  ``rows`` are (line, key, label), the label naming the key in the report
    ("code 4870204100013 for price_from 2026-01-01")."""
    lines: dict[Hashable, list[tuple[int, str]]] = {}
    for line, key, label in rows:
        lines.setdefault(key, []).append((line, label))
    problems: list[RowProblem] = []
    for found in lines.values():
        if len(found) > 1:
            for line, label in found:
                others = ", ".join(str(n) for n, _ in found if n != line)
                problems.append((line, f"{label} is also on line {others}"))
    return problems


@dataclass(frozen=True)
class ImportReport:
    """What one import found and did: accepted and rejected rows, and the changes written, if any."""

    kind: str                        # "catalog" | "rates" | "goods rules"
    source: str
    accepted: int
    rejected: tuple[RejectedRow, ...]
    imported: bool
    added: int = 0
    replaced: int = 0
    unchanged: int = 0

    def lines(self) -> list[str]:
        """A summary line, then ``line N: reason`` for every reason of every rejected row."""
        if self.imported:
            verdict = f"imported: {self.added} added, {self.replaced} replaced, {self.unchanged} unchanged"
        elif self.rejected and self.accepted and self.kind != "goods rules":
            verdict = "nothing imported (fix the rows below, or import the good ones with --partial)"
        else:
            verdict = "nothing imported (fix the rows below)" if self.rejected else "nothing imported"
        out = [f"{self.source}: {self.kind}: {self.accepted} rows accepted, {len(self.rejected)} rejected; {verdict}"]
        out += [f"line {row.line}: {reason}" for row in self.rejected for reason in row.reasons]
        return out
