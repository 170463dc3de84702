"""Reading the authority's and the shop's UTF-8 CSV files into rows that keep their line numbers.

Shared by the resident registry and the goods catalog so that both report problems the same way:
``line N: reason``, every bad row at once, in one DataError.  File-level problems (unreadable,
not UTF-8, empty, wrong header, no data rows) raise at once; row-shape problems are returned so
that the caller can add its own and raise a single error.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass

from kiosk.errors import DataError

StrPath = str | os.PathLike[str]


@dataclass(frozen=True)
class CsvRow:
    """One data row: its line number in the file and its stripped values by column name."""

    line: int
    values: dict[str, str]


def _read_text(path: StrPath, source: str) -> str:
    """The whole file as text (a UTF-8 BOM, as Excel writes it, is dropped)."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            return f.read()
    except UnicodeDecodeError as exc:
        raise DataError(source, [f"not UTF-8 text (bad byte at offset {exc.start})"]) from exc
    except OSError as exc:
        raise DataError(source, [f"cannot read file: {exc.strerror or exc}"]) from exc


def _check_header(header: list[str], line: int, columns: Sequence[str], source: str) -> list[str]:
    """The stripped header; DataError naming missing, unexpected or repeated columns."""
    names = [h.strip() for h in header]
    problems: list[str] = []
    missing = [c for c in columns if c not in names]
    unexpected = [n for n in names if n not in columns]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if missing:
        problems.append(f"line {line}: header is missing column(s) " + ", ".join(missing))
    if unexpected:
        listed = ", ".join(repr(u) for u in unexpected)
        problems.append(f"line {line}: header has unexpected column(s) {listed}")
    if repeated:
        problems.append(f"line {line}: header repeats column(s) " + ", ".join(repeated))
    if problems:
        problems.append("expected header: " + ",".join(columns))
        raise DataError(source, problems)
    return names


RowProblem = tuple[int, str]


def read_rows(path: StrPath, columns: Sequence[str]) -> tuple[list[CsvRow], list[RowProblem]]:
    """Rows of a CSV file whose header has exactly ``columns`` (any order), and row-shape problems.

    Blank lines (and rows of empty fields) are skipped.  Raises DataError when the file
    cannot be read, is empty, has the wrong header or has no data rows.
    """
    source = os.fspath(path)
    reader = csv.reader(io.StringIO(_read_text(path, source)), strict=True)
    try:
        header = next((r for r in reader if any(f.strip() for f in r)), None)
        if header is None:
            raise DataError(source, ["empty file (expected header: " + ",".join(columns) + ")"])
        names = _check_header(header, reader.line_num, columns, source)
        rows: list[CsvRow] = []
        problems: list[RowProblem] = []
        for fields in reader:
            if not any(f.strip() for f in fields):
                continue
            line = reader.line_num
            if len(fields) != len(names):
                absent = names[len(fields):]
                detail = f"missing column(s) {', '.join(absent)}" if absent else "too many fields"
                problems.append((line, f"{len(fields)} fields, expected {len(names)} ({detail})"))
                continue
            rows.append(CsvRow(line, {n: f.strip() for n, f in zip(names, fields, strict=False)}))
    except csv.Error as exc:
        raise DataError(source, [f"line {reader.line_num}: malformed CSV ({exc})"]) from exc
    if not rows and not problems:
        raise DataError(source, ["no data rows after the header"])
    return rows, problems


def raise_problems(source: StrPath, problems: list[RowProblem]) -> None:
    """Raise one DataError listing ``line N: reason`` in file order, if there is any problem."""
    if problems:
        ordered = sorted(problems, key=lambda p: p[0])  # stable: a row's own problems keep their order
        raise DataError(os.fspath(source), [f"line {line}: {text}" for line, text in ordered])
