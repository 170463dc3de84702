"""Helpers shared by the ledger tests: declarations to hold and the back-end-neutral overspend check."""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import NamedTuple

import psycopg

from kiosk.declaration import Declaration, Line, RuleUse, Status
from kiosk.ledger import Ledger, backend_of, sqlite_path

DAY = date(2026, 11, 25)
LIMIT = 800_000
TTL = 120.0
MIGRATIONS = Path(__file__).resolve().parents[2] / "kiosk" / "ledger" / "migrations" / "sqlite"
PG_MIGRATIONS = MIGRATIONS.parent / "postgres"
APPLIED = [(1, "init"), (2, "void_audit"), (3, "decisions"), (4, "rule_uses"), (5, "hot_updates")]
"""Every schema migration (version, name), the same on both back-ends."""
LATEST = APPLIED[-1][0]


class RawRow(NamedTuple):
    """One declaration row read straight from the store, bypassing the ledger."""

    id: str
    resident_key: str
    day: str
    total_fen: int
    limit_fen: int
    status: str
    hold_used_fen: int | None = None
    duty_free_fen: int | None = None


RawRows = Callable[[], list[RawRow]]
_RAW_COLUMNS = "id, resident_key, {day}, total_fen, limit_fen, status, hold_used_fen, duty_free_fen"


class RawUse(NamedTuple):
    """One rule use joined with its declaration, read straight from the store."""

    declaration_id: str
    resident_key: str
    day: str
    status: str
    rule_id: str
    quantity: int
    cap: int


_RAW_USES = (
    "SELECT d.id, d.resident_key, {day}, d.status, u.rule_id, u.quantity, u.cap"
    " FROM rule_uses u JOIN declarations d ON d.id = u.declaration_id ORDER BY d.id, u.ordinal"
)


def raw_uses(url: str) -> list[RawUse]:
    """Every rule use row with its declaration's resident, day and status, straight from the store at ``url``."""
    if backend_of(url) == "sqlite":
        conn = sqlite3.connect(sqlite_path(url))
        try:
            return [RawUse(*row) for row in conn.execute(_RAW_USES.format(day="d.day")).fetchall()]
        finally:
            conn.close()
    with psycopg.connect(url, autocommit=True) as pg:
        return [RawUse(*row) for row in pg.execute(_RAW_USES.format(day="d.day::text").encode()).fetchall()]


def over_cap(uses: list[RawUse]) -> dict[tuple[str, str, str], int]:
    """(resident, day, rule) whose quantity over held, committed and approved declarations passes its cap."""
    sums: dict[tuple[str, str, str], int] = defaultdict(int)
    caps: dict[tuple[str, str, str], int] = {}
    for use in uses:
        if use.status in ("held", "committed", "approved"):
            key = (use.resident_key, use.day, use.rule_id)
            sums[key] += use.quantity
            caps[key] = min(caps.get(key, use.cap), use.cap)
    return {key: total for key, total in sums.items() if total > caps[key]}


def raw_reader(url: str) -> RawRows:
    """A function reading every declaration row straight from the store at ``url``, bypassing the ledger."""
    if backend_of(url) == "sqlite":
        path = sqlite_path(url)

        def _read_sqlite() -> list[RawRow]:
            conn = sqlite3.connect(path)
            try:
                rows = conn.execute(f"SELECT {_RAW_COLUMNS.format(day='day')} FROM declarations").fetchall()
            finally:
                conn.close()
            return [RawRow(*row) for row in rows]

        return _read_sqlite

    def _read_postgres() -> list[RawRow]:
        with psycopg.connect(url, autocommit=True) as conn:
            query = f"SELECT {_RAW_COLUMNS.format(day='day::text')} FROM declarations"
            return [RawRow(*row) for row in conn.execute(query.encode()).fetchall()]

    return _read_postgres


def overspent(rows: list[RawRow]) -> dict[tuple[str, str], int]:
    """Resident-days whose held + committed + approved duty-free sum exceeds their (smallest) limit, with that sum."""
    sums: dict[tuple[str, str], int] = defaultdict(int)
    limits: dict[tuple[str, str], int] = {}
    for row in rows:
        if row.status in ("held", "committed", "approved"):
            key = (row.resident_key, row.day)
            sums[key] += row.total_fen if row.status != "approved" else (row.duty_free_fen or 0)
            limits[key] = min(limits.get(key, row.limit_fen), row.limit_fen)
    return {key: total for key, total in sums.items() if total > limits[key]}


def decl(
    decl_id: str,
    amount: int,
    *,
    resident: str = "r1",
    day: date = DAY,
    limit: int = LIMIT,
    kiosk: str = "k1",
    uses: tuple[RuleUse, ...] = (),
) -> Declaration:
    """A declaration of ``amount`` fen in two lines, one of them unknown goods (worth 0), using capped rules
    ``uses``."""
    lines = (Line("6901234567892", "茶叶 tea", amount, 1), Line("0000000000000", None, None, 2))
    created = datetime(2026, 11, 25, 12, 0, tzinfo=timezone(timedelta(hours=8)))
    return Declaration(decl_id, kiosk, resident, "6501**********123X", day, created, lines, limit, "2026-11",
                       rule_uses=uses)


SUGAR = "sugar@2026-01-01"
FOOD = "food@2026-01-01"


def sugar(grams: int, cap: int = 1_000) -> RuleUse:
    """``grams`` of sugar under its 1 kg a day cap."""
    return RuleUse(SUGAR, "kg", grams, cap)


def food(grams: int, cap: int = 50_000) -> RuleUse:
    """``grams`` of food under its 50 kg a day cap."""
    return RuleUse(FOOD, "kg", grams, cap)


def status_of(ledger: Ledger, declaration_id: str) -> Status:
    """The recorded status of a declaration that must exist."""
    stored = ledger.get(declaration_id)
    assert stored is not None, f"{declaration_id} is not recorded"
    return stored.status
