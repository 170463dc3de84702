"""The resident registry imported from the authority's CSV file, and eligibility on a given day.

Eligibility is a pure function of the card, the registry and the Beijing trade day (passed in):
it returns the first failing stable reason key (``kiosk.reasons.REASONS``) or None.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date

from drivers.base import CardType, IdCard
from kiosk.csvrows import CsvRow, StrPath, raise_problems, read_rows
from kiosk.identity import (
    birth_date_from_id,
    gender_from_id,
    mask_id,
    normalise_id_number,
    validate_id_number,
)

COLUMNS = ("id_number", "name", "filing_valid_until", "status", "site")
STATUSES = frozenset({"active", "suspended"})
# Only the resident card may use the quota for now; HMT permits and foreigner cards are referred.
ACCEPTED_CARD_TYPES = frozenset({CardType.RESIDENT})

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
        rows, problems = read_rows(path, COLUMNS)
        entries: list[RegistryEntry] = []
        first_line: dict[str, int] = {}
        for row in rows:
            entry, row_problems = _parse_row(row)
            if entry is not None:
                key = entry.id_number
                if key in first_line:
                    first = first_line[key]
                    row_problems.append(f"duplicate id_number {mask_id(key)} (first on line {first})")
                else:
                    first_line[key] = row.line
                    entries.append(entry)
            problems.extend((row.line, p) for p in row_problems)
        raise_problems(path, problems)
        return cls(entries)

    def lookup(self, id_number: str) -> RegistryEntry | None:
        """The entry for this ID number (any case of 'x', surrounding spaces ignored), or None."""
        return self._by_id.get(normalise_id_number(id_number))

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[RegistryEntry]:
        return iter(self._by_id.values())


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
