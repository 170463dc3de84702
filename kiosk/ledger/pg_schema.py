"""Schema of the PostgreSQL ledger: apply its numbered migrations, and check the version when a kiosk opens it.

Every kiosk of a port shares the database, and during an upgrade some kiosks still run the older software, so
a kiosk never migrates a port database by itself: the operator runs ``kiosk ledger migrate``
(kiosk.ledger.admin.migrate), and each kiosk refuses, at open, a schema that is older (not migrated yet) or
newer (written for newer software) than the one it was built for. Each migration runs in one transaction that
also records it in ``schema_migrations``, under a transaction-level advisory lock, so two operators (or two
hosts) migrating at once apply each step exactly once.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
from psycopg.rows import TupleRow

from kiosk.errors import LedgerError
from kiosk.ledger.migrate import Migration, load_migrations

__all__ = ["apply_migrations", "check_schema", "latest_version", "schema_version"]

# Any fixed number: the key of the advisory lock that serialises migrators (not a table lock).
_MIGRATE_LOCK_KEY = 0x6B696F736B_4C47  # "kiosk" "LG"

PgConnection = psycopg.Connection[TupleRow]


def latest_version(directory: Path | None = None) -> int:
    """The newest schema version this software knows."""
    migrations = load_migrations(directory, dialect="postgres")
    return migrations[-1].version if migrations else 0


def schema_version(conn: PgConnection) -> int:
    """The schema version recorded in the database (0 for an empty database)."""
    # A catalog query, not to_regclass(): that would answer from this session's name cache, which does not
    # see a table another migrator created while we waited for the advisory lock.
    row = conn.execute(
        "SELECT EXISTS (SELECT FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " WHERE c.relname = 'schema_migrations' AND n.nspname = current_schema())"
    ).fetchone()
    if row is None or not row[0]:
        return 0
    row = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()
    return 0 if row is None else int(row[0])


def check_schema(conn: PgConnection, shown: str, directory: Path | None = None) -> int:
    """Return the schema version if it is exactly the one this software needs; LedgerError otherwise."""
    latest = latest_version(directory)
    try:
        current = schema_version(conn)
    except psycopg.Error as exc:
        raise LedgerError(f"cannot read the schema version of ledger {shown}: {exc}") from exc
    _refuse_newer(current, latest, shown)
    if current < latest:
        raise LedgerError(
            f"ledger {shown} has schema version {current}, this software needs {latest}: "
            "run `kiosk ledger migrate` (with the database owner's URL) first"
        )
    return current


def apply_migrations(conn: PgConnection, shown: str, directory: Path | None = None) -> tuple[int, int]:
    """Bring the database up to the newest migration; return (version before, version after)."""
    migrations = load_migrations(directory, dialect="postgres")
    latest = migrations[-1].version if migrations else 0
    try:
        before = schema_version(conn)
    except psycopg.Error as exc:
        raise LedgerError(f"cannot read the schema version of ledger {shown}: {exc}") from exc
    _refuse_newer(before, latest, shown)
    for migration in migrations:
        if migration.version > before:
            _apply(conn, shown, migration)
    return before, latest


def _refuse_newer(current: int, latest: int, shown: str) -> None:
    """LedgerError if the database was migrated by newer software than this one."""
    if current > latest:
        raise LedgerError(
            f"ledger {shown} has schema version {current}, newer than this software knows ({latest}); "
            "upgrade the kiosk software instead of opening it with an older one"
        )


def _apply(conn: PgConnection, shown: str, migration: Migration) -> None:
    """Run one migration in its own transaction, unless another migrator already did."""
    label = f"{migration.version:04d}_{migration.name}"
    try:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATE_LOCK_KEY,))
            # Re-read under the lock: another migrator may have applied this step since we looked.
            if schema_version(conn) < migration.version:
                conn.execute(migration.sql.encode())  # no parameters: the whole script in one go
                conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                    (migration.version, migration.name),
                )
    except psycopg.Error as exc:
        raise LedgerError(f"ledger {shown}: migration {label} failed: {exc}") from exc
