"""The goods store: one SQLite file holding the imported catalog versions, exchange rates and goods rules.

It lives in the kiosk's state directory next to the ledger (``[data] goods_db``; by default
``goods.db`` beside a SQLite ledger, else ``/var/lib/kiosk/goods.db``).  ``kiosk catalog|rates|
rules import`` write it, each import in one transaction (all of it or nothing); the kiosk reads it
whole at start.  Catalog rows and rates are merged by key (code and day, currency and day): a row
replaces the stored row with the same key, others stay, so history and scheduled changes are kept.
Rule versions are replaced whole.  Every import that changed something is logged in ``imports``.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from kiosk.catalog import Product
from kiosk.errors import DataError
from kiosk.goods_rules import GoodsRule
from kiosk.rates import Rate

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE products (
    code_key TEXT NOT NULL, price_from TEXT NOT NULL, code TEXT NOT NULL, names_json TEXT NOT NULL,
    unit TEXT NOT NULL, price INTEGER NOT NULL, currency TEXT NOT NULL, hs_code TEXT, origin TEXT,
    imported_at TEXT NOT NULL, PRIMARY KEY (code_key, price_from));
CREATE TABLE rates (
    currency TEXT NOT NULL, rate_date TEXT NOT NULL, cny_per_100 TEXT NOT NULL, imported_at TEXT NOT NULL,
    PRIMARY KEY (currency, rate_date));
CREATE TABLE goods_rules (
    version TEXT NOT NULL, hs_prefix TEXT NOT NULL, kind TEXT NOT NULL, rule TEXT NOT NULL, cap INTEGER,
    unit TEXT, imported_at TEXT NOT NULL, PRIMARY KEY (version, hs_prefix));
CREATE TABLE imports (
    id INTEGER PRIMARY KEY, kind TEXT NOT NULL, source TEXT NOT NULL, at TEXT NOT NULL,
    accepted INTEGER NOT NULL, rejected INTEGER NOT NULL, added INTEGER NOT NULL, replaced INTEGER NOT NULL);
"""


class Changes:
    """Rows an import added, replaced and found unchanged."""

    def __init__(self) -> None:
        self.added = self.replaced = self.unchanged = 0

    def count(self, old: object, new: object) -> bool:
        """Count one incoming row against the stored one; True when it must be written."""
        if old is None:
            self.added += 1
        elif old != new:
            self.replaced += 1
        else:
            self.unchanged += 1
            return False
        return True


class GoodsStore:
    """The goods store in one SQLite file; created and migrated on open."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._conn.row_factory = sqlite3.Row
            self._conn.execute("PRAGMA busy_timeout = 5000")
            with self._write():
                if self._conn.execute("PRAGMA user_version").fetchone()[0] == 0:
                    for statement in _SCHEMA.split(";"):
                        if statement.strip():
                            self._conn.execute(statement)
                    self._conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        except (OSError, sqlite3.Error) as exc:
            raise DataError(str(self.path), [f"cannot open the goods store: {exc}"]) from exc
        if version != SCHEMA_VERSION:
            self._conn.close()
            raise DataError(str(self.path), [f"goods store schema {version}, this kiosk knows {SCHEMA_VERSION}"])

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.rollback()
            raise

    def _query(self, sql: str) -> list[sqlite3.Row]:
        try:
            return list(self._conn.execute(sql))
        except sqlite3.Error as exc:
            raise DataError(str(self.path), [f"cannot read the goods store: {exc}"]) from exc

    # -- reading -------------------------------------------------------------------------

    def products(self) -> list[Product]:
        """Every stored product version."""
        return [Product(r["code"], json.loads(r["names_json"]), r["unit"], r["price"], r["currency"], r["hs_code"],
                        r["origin"], date.fromisoformat(r["price_from"]))
                for r in self._query("SELECT * FROM products ORDER BY code_key, price_from")]

    def rates(self) -> list[Rate]:
        """Every stored exchange rate."""
        return [Rate(r["currency"], date.fromisoformat(r["rate_date"]), Decimal(r["cny_per_100"]))
                for r in self._query("SELECT * FROM rates ORDER BY currency, rate_date")]

    def goods_rules(self) -> list[GoodsRule]:
        """Every stored goods rule of every version."""
        return [GoodsRule(date.fromisoformat(r["version"]), r["hs_prefix"], r["kind"], r["rule"], r["cap"], r["unit"])
                for r in self._query("SELECT * FROM goods_rules ORDER BY version, hs_prefix")]

    # -- writing (each call one transaction) -----------------------------------------------

    def put_products(self, products: Sequence[Product], *, log: ImportLog, now: datetime) -> Changes:
        """Insert or replace product versions by (code, price_from)."""
        changes = Changes()
        stored = {(p.key, p.price_from): p for p in self.products()}
        with self._guard() as conn:
            for p in products:
                if changes.count(_product_row(stored.get((p.key, p.price_from))), _product_row(p)):
                    conn.execute("INSERT OR REPLACE INTO products VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                 (p.key, p.price_from.isoformat(), p.code,
                                  json.dumps(dict(p.names), ensure_ascii=False, sort_keys=True), p.unit, p.price,
                                  p.currency, p.hs_code, p.origin, now.isoformat()))
            self._log(conn, log, changes, now)
        return changes

    def put_rates(self, rates: Sequence[Rate], *, log: ImportLog, now: datetime) -> Changes:
        """Insert or replace rates by (currency, date)."""
        changes = Changes()
        stored = {(r.currency, r.day): r for r in self.rates()}
        with self._guard() as conn:
            for r in rates:
                if changes.count(stored.get((r.currency, r.day)), r):
                    conn.execute("INSERT OR REPLACE INTO rates VALUES (?, ?, ?, ?)",
                                 (r.currency, r.day.isoformat(), str(r.cny_per_100), now.isoformat()))
            self._log(conn, log, changes, now)
        return changes

    def replace_rule_versions(self, rules: Sequence[GoodsRule], *, log: ImportLog, now: datetime) -> Changes:
        """Replace, whole, every rule version that ``rules`` contains (rows are counted by version)."""
        changes = Changes()
        stored: dict[date, set[GoodsRule]] = {}
        for rule in self.goods_rules():
            stored.setdefault(rule.version, set()).add(rule)
        incoming: dict[date, set[GoodsRule]] = {}
        for rule in rules:
            incoming.setdefault(rule.version, set()).add(rule)
        with self._guard() as conn:
            for version, new in sorted(incoming.items()):
                if not changes.count(stored.get(version), new):
                    continue
                conn.execute("DELETE FROM goods_rules WHERE version = ?", (version.isoformat(),))
                conn.executemany("INSERT INTO goods_rules VALUES (?, ?, ?, ?, ?, ?, ?)",
                                 [(r.version.isoformat(), r.hs_prefix, r.kind, r.rule, r.cap, r.unit, now.isoformat())
                                  for r in sorted(new, key=lambda r: r.hs_prefix)])
            self._log(conn, log, changes, now)
        return changes

    @contextmanager
    def _guard(self) -> Iterator[sqlite3.Connection]:
        try:
            with self._write() as conn:
                yield conn
        except sqlite3.Error as exc:
            raise DataError(str(self.path), [f"cannot write the goods store (nothing was changed): {exc}"]) from exc

    @staticmethod
    def _log(conn: sqlite3.Connection, log: ImportLog, changes: Changes, now: datetime) -> None:
        if changes.added or changes.replaced:
            conn.execute("INSERT INTO imports (kind, source, at, accepted, rejected, added, replaced)"
                         " VALUES (?, ?, ?, ?, ?, ?, ?)",
                         (log.kind, log.source, now.isoformat(), log.accepted, log.rejected, changes.added,
                          changes.replaced))

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()


@dataclass(frozen=True)
class ImportLog:
    """What the ``imports`` table records of one import besides its changes."""

    kind: str
    source: str
    accepted: int
    rejected: int


def _product_row(p: Product | None) -> tuple[object, ...] | None:
    if p is None:
        return None
    return (p.code, tuple(sorted(p.names.items())), p.unit, p.price, p.currency, p.hs_code, p.origin, p.price_from)
