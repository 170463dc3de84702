"""The resident registry imported from the authority's CSV file, and eligibility on a given day.

``import_registry`` checks the authority's file and reports every rejected row with its line;
by default nothing is imported when any row is bad.  ``write_registry`` installs an imported
registry as the kiosk's residents file, atomically.

Eligibility is a pure function of the card, the registry and the Beijing trade day (passed in):
it returns the first failing stable reason key (``kiosk.reasons.REASONS``) or None.  Foreign
visitors (a passport or a foreign ID card) have no resident quota: their key,
``visitor_no_quota``, is in ``REFERRAL_REASONS`` and sends them to the officer instead of a refusal.
"""

from __future__ import annotations

import csv
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date

from drivers.base import CardType, IdCard
from kiosk.csvrows import CsvRow, RowProblem, StrPath, raise_problems, read_rows
from kiosk.identity import (
    birth_date_from_id,
    gender_from_id,
    mask_id,
    normalise_id_number,
    validate_id_number,
)

COLUMNS = ("id_number", "name", "filing_valid_until", "status", "site")
STATUSES = frozenset({"active", "suspended"})
# Only the resident card may use the quota for now; HMT permits and foreigner cards are refused.
ACCEPTED_CARD_TYPES = frozenset({CardType.RESIDENT})
# Documents of foreign visitors (Kazakh passports and ID cards, read over PC/SC): identified, never
# granted the resident quota, and referred to the officer rather than refused (issue #3).
VISITOR_CARD_TYPES = frozenset({CardType.PASSPORT, CardType.FOREIGN_ID})
REFERRAL_REASONS = frozenset({"visitor_no_quota"})
"""Eligibility keys that refer the holder to the officer (Phase.REFERRED) instead of refusing them."""

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@dataclass(frozen=True)
class RegistryEntry:
    """One registered border resident's filing (备案)."""

    id_number: str
    name: str
    filing_valid_until: date
    status: str            # 'active' | 'suspended'
    site: str


class Registry:
    """Registered border residents by normalised ID number."""

    def __init__(self, entries: Iterable[RegistryEntry]) -> None:
        self._by_id: dict[str, RegistryEntry] = {}
        for entry in entries:
            key = normalise_id_number(entry.id_number)
            if key in self._by_id:
                raise ValueError(f"duplicate registry entry for {mask_id(key)}")
            self._by_id[key] = entry

    @classmethod
    def from_csv(cls, path: StrPath) -> Registry:
        """Load the authority's UTF-8 CSV; every bad row is reported, with its line, in one DataError."""
        checked = _check_file(path)
        raise_problems(path, checked.problems)
        return cls(entry for _line, entry in checked.good)

    def lookup(self, id_number: str) -> RegistryEntry | None:
        """The entry for this ID number (any case of 'x', surrounding spaces ignored), or None."""
        return self._by_id.get(normalise_id_number(id_number))

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[RegistryEntry]:
        return iter(self._by_id.values())


@dataclass
class _Checked:
    """Every good row (line, entry), every problem (line, text), and first lines of repeated IDs."""

    good: list[tuple[int, RegistryEntry]]
    problems: list[RowProblem]
    repeated: dict[int, int]        # line of a first occurrence -> line of its first repeat


def _check_file(path: StrPath) -> _Checked:
    """Check every row; a repeated ID number is a problem on each later line, the first row stays good."""
    rows, problems = read_rows(path, COLUMNS)
    checked = _Checked([], problems, {})
    first_line: dict[str, int] = {}
    for row in rows:
        entry, row_problems = _parse_row(row)
        if entry is not None:
            first = first_line.setdefault(entry.id_number, row.line)
            if first != row.line:
                row_problems.append(f"duplicate id_number {mask_id(entry.id_number)} (first on line {first})")
                checked.repeated.setdefault(first, row.line)
            else:
                checked.good.append((row.line, entry))
        problems.extend((row.line, p) for p in row_problems)
    return checked


@dataclass(frozen=True)
class RejectedRow:
    """One row the import refused: its line in the file and every reason (ID numbers masked)."""

    line: int
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class ImportReport:
    """What an import of the authority's file found, and what it imported."""

    source: str
    accepted: int                   # rows that passed every check
    rejected: tuple[RejectedRow, ...]
    registry: Registry | None = field(default=None, repr=False)   # None: nothing imported

    @property
    def imported(self) -> bool:
        """True when the registry may be installed."""
        return self.registry is not None

    def lines(self) -> list[str]:
        """The report as text: a summary line, then ``line N: reason`` for each rejection."""
        verdict = (f"imported {len(self.registry)} residents" if self.registry is not None
                   else "nothing imported")
        out = [f"{self.source}: {self.accepted} rows accepted, {len(self.rejected)} rejected; {verdict}"]
        out += [f"line {row.line}: {reason}" for row in self.rejected for reason in row.reasons]
        return out


def import_registry(path: StrPath, *, allow_partial: bool = False) -> ImportReport:
    """Check the authority's CSV and report every rejected row; import nothing if any row is bad,
    unless ``allow_partial``, which imports the good rows.

    File-level problems (unreadable, not UTF-8, wrong header, no rows) raise DataError.  With
    ``allow_partial``, an ID number that appears twice is rejected on every line: which row is
    right cannot be told, and a suspended filing must not hide behind an active one."""
    checked = _check_file(path)
    by_line: dict[int, list[str]] = {}
    for line, text in sorted(checked.problems, key=lambda p: p[0]):
        by_line.setdefault(line, []).append(text)
    for first, again in checked.repeated.items():
        by_line.setdefault(first, []).append(f"id_number repeated on line {again}")
    accepted = [entry for line, entry in checked.good if line not in by_line]
    rejected = tuple(RejectedRow(line, tuple(texts)) for line, texts in sorted(by_line.items()))
    registry = Registry(accepted) if allow_partial or not rejected else None
    return ImportReport(os.fspath(path), len(accepted), rejected, registry)


def write_registry(registry: Registry, path: StrPath) -> None:
    """Write ``registry`` as the kiosk's residents CSV, atomically (a kiosk never sees half a file)."""
    target = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(target))
    fd, tmp = tempfile.mkstemp(prefix=".residents-", suffix=".csv", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            out = csv.writer(f, lineterminator="\n")
            out.writerow(COLUMNS)
            for e in sorted(registry, key=lambda e: e.id_number):
                out.writerow((e.id_number, e.name, e.filing_valid_until.isoformat(), e.status, e.site))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        os.unlink(tmp)
        raise


def _parse_date(text: str) -> date | None:
    """An ISO YYYY-MM-DD date, or None."""
    if not _ISO_DATE.fullmatch(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _parse_row(row: CsvRow) -> tuple[RegistryEntry | None, list[str]]:
    """The entry of one CSV row, or None with the list of what is wrong with it."""
    v = row.values
    problems: list[str] = []
    id_number = normalise_id_number(v["id_number"])
    reason = validate_id_number(id_number)
    if reason is not None:
        problems.append(f"invalid ID number {mask_id(id_number)} ({reason})")
    if not v["name"]:
        problems.append("empty name")
    valid_until = _parse_date(v["filing_valid_until"])
    if valid_until is None:
        problems.append(f"bad filing_valid_until {v['filing_valid_until']!r} (want YYYY-MM-DD)")
    status = v["status"].lower()
    if status not in STATUSES:
        problems.append(f"unknown status {v['status']!r} (want active or suspended)")
    if not v["site"]:
        problems.append("empty site")
    if problems or valid_until is None:
        return None, problems
    return RegistryEntry(id_number, v["name"], valid_until, status, v["site"]), problems


def _card_reason(card: IdCard, today: date) -> str | None:
    """The first problem with the card itself (type, number, consistency, validity dates)."""
    if card.card_type in VISITOR_CARD_TYPES:
        return "visitor_no_quota"
    if card.card_type not in ACCEPTED_CARD_TYPES:
        return "card_type_not_accepted"
    reason = validate_id_number(card.id_number)
    if reason is not None:
        return reason
    if birth_date_from_id(card.id_number) != card.birth_date or gender_from_id(card.id_number) != card.gender:
        return "id_mismatch"
    if today < card.valid_from:
        return "card_not_yet_valid"
    if card.valid_to is not None and today > card.valid_to:
        return "card_expired"
    return None


def check_eligibility(card: IdCard, registry: Registry, today: date) -> str | None:
    """None if the card holder may use the duty-free quota on ``today``, else the first reason key."""
    reason = _card_reason(card, today)
    if reason is not None:
        return reason
    entry = registry.lookup(card.id_number)
    if entry is None:
        return "not_registered"
    if entry.status != "active":
        return "filing_suspended"
    if today > entry.filing_valid_until:
        return "filing_expired"
    return None
