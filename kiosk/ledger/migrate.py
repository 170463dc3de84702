"""Schema migrations: each back-end's numbered SQL files, and how a SQLite ledger applies them at open.

``migrations/<dialect>/NNNN_name.sql`` files (dialect ``sqlite`` or ``postgres``) are loaded here; PostgreSQL
applies its own in kiosk.ledger.pg_schema. SQLite runs them in version order, each in its own transaction
together with a row in ``schema_migrations`` and ``PRAGMA user_version = NNNN``, so the version always matches
the schema. A database whose version is newer than the newest file was written by newer code: it is refused.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from kiosk.errors import LedgerError

_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    """One schema step: version number, name and SQL text."""

    version: int
    name: str
    sql: str


DIALECTS = ("sqlite", "postgres")


def load_migrations(directory: Path | None = None, *, dialect: str = "sqlite") -> tuple[Migration, ...]:
    """The migrations in ``directory`` (default: the packaged ones of ``dialect``), checked to be numbered 1..N."""
    if dialect not in DIALECTS:
        raise ValueError(f"unknown migration dialect {dialect!r}; known: {', '.join(DIALECTS)}")
    packaged = resources.files("kiosk.ledger").joinpath("migrations").joinpath(dialect)
    folder: Traversable = directory if directory is not None else packaged
    found: list[Migration] = []
    for entry in folder.iterdir():
        match = _FILE_NAME.match(entry.name)
        if match and entry.is_file():
            found.append(Migration(int(match.group(1)), match.group(2), entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise LedgerError(f"ledger migrations in {folder} are not numbered 1..N without gaps: {versions}")
    return tuple(found)


def schema_version(conn: sqlite3.Connection) -> int:
    """The schema version recorded in the database header (0 for a new file)."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def apply_migrations(conn: sqlite3.Connection, path: Path, directory: Path | None = None) -> int:
    """Bring the database at ``path`` up to the newest migration; return the resulting version."""
    migrations = load_migrations(directory)
    latest = migrations[-1].version if migrations else 0
    try:
        current = schema_version(conn)
    except sqlite3.Error as exc:
        raise LedgerError(f"cannot read the schema version of ledger {path}: {exc}") from exc
    if current > latest:
        raise LedgerError(
            f"ledger {path} has schema version {current}, newer than this software knows ({latest}); "
            "upgrade the kiosk software instead of opening it with an older one"
        )
    for migration in migrations:
        if migration.version > current:
            _apply(conn, path, migration)
    return latest


def _apply(conn: sqlite3.Connection, path: Path, migration: Migration) -> None:
    """Run one migration in its own transaction, unless another connection already did."""
    label = f"{migration.version:04d}_{migration.name}"
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Re-read under the write lock: another kiosk process may have migrated since we looked.
            if schema_version(conn) < migration.version:
                for statement in _statements(migration.sql):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (?, ?)",
                    (migration.version, migration.name),
                )
                conn.execute(f"PRAGMA user_version = {migration.version:d}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.rollback()
            raise
    except sqlite3.Error as exc:
        raise LedgerError(f"ledger {path}: migration {label} failed: {exc}") from exc


def _statements(sql: str) -> Iterator[str]:
    """Split a script into complete statements (executescript would commit our transaction)."""
    buffer = ""
    for line in sql.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            yield buffer.strip()
            buffer = ""
    rest = "\n".join(ln for ln in buffer.splitlines() if not ln.strip().startswith("--")).strip()
    if rest:
        raise LedgerError(f"unterminated SQL statement at the end of a migration: {rest[:60]!r}")
