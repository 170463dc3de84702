"""What the ``kiosk ledger`` commands call: migrate a ledger, one resident-day's quota, and a day's CSV export.

kiosk/cli.py only parses arguments, calls one of these and prints; errors arrive as LedgerError. The CLI turns
an ID number into the resident key (kiosk.identity.resident_key with the site secret) and picks the day; these
functions deal in keys, never in ID numbers, so nothing here can log one.
"""

from __future__ import annotations

import csv
import json
import sqlite3
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TextIO

import psycopg

from kiosk.declaration import StoredDeclaration
from kiosk.errors import LedgerError
from kiosk.ledger import Ledger, backend_of, sqlite_path
from kiosk.money import format_fen

__all__ = ["CSV_COLUMNS", "MigrationResult", "Quota", "export_csv", "migrate", "remaining"]

CSV_COLUMNS = (
    "declaration_id", "day", "kiosk_id", "masked_id", "resident_key", "status", "reasons", "total_fen", "total_cny",
    "limit_fen", "rule_version", "created_at", "recorded_at", "expires_at", "resolved_at", "lines_json",
    # an officer's void (committed or approved declarations), then an officer's decision on a referral
    "voided_by", "void_reason", "voided_at",
    "decision", "decided_by", "decision_reason", "decision_note", "decided_at", "duty_free_fen", "taxed_fen",
    "rule_uses_json",
)
"""The export's columns, in order: the first 16 are unchanged since the first export; later ones are appended."""


@dataclass(frozen=True)
class MigrationResult:
    """Schema versions of a ledger before and after ``migrate`` (equal when nothing was to do)."""

    ledger: str
    before: int
    after: int


@dataclass(frozen=True)
class Quota:
    """One resident-day at one moment: fen used, the limit, and what is left (never below 0)."""

    used_fen: int
    limit_fen: int
    remaining_fen: int


def migrate(url: str, *, migrations_dir: Path | None = None) -> MigrationResult:
    """Apply every pending schema migration to the ledger at ``url`` (``kiosk ledger migrate``)."""
    if backend_of(url) == "sqlite":
        return _migrate_sqlite(Path(sqlite_path(url)), migrations_dir)
    from kiosk.ledger.pg_schema import apply_migrations
    from kiosk.ledger.postgres import connect, describe_url

    shown = describe_url(url)
    try:
        # Migrations can take locks for a while on a big table: no statement timeout here.
        conn = connect(url, statement_timeout_s=0, connect_timeout_s=10)
    except psycopg.Error as exc:
        raise LedgerError(f"cannot reach ledger {shown}: {exc}") from exc
    try:
        before, after = apply_migrations(conn, shown, migrations_dir)
    finally:
        conn.close()
    return MigrationResult(shown, before, after)


def _migrate_sqlite(path: Path, migrations_dir: Path | None) -> MigrationResult:
    """A SQLite ledger migrates when opened: read the version, open it, report."""
    from kiosk.ledger.migrate import load_migrations, schema_version
    from kiosk.ledger.sqlite import SqliteLedger

    before = 0
    if path.is_file():
        try:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                before = schema_version(conn)
            finally:
                conn.close()
        except sqlite3.Error as exc:
            raise LedgerError(f"cannot read the schema version of ledger {path}: {exc}") from exc
    SqliteLedger(path, migrations_dir=migrations_dir).close()
    migrations = load_migrations(migrations_dir, dialect="sqlite")
    return MigrationResult(str(path), before, migrations[-1].version if migrations else 0)


def remaining(ledger: Ledger, resident_key: str, day: date, *, limit_fen: int, now: datetime) -> Quota:
    """The quota of one resident-day at ``now`` (``kiosk ledger remaining``)."""
    used = ledger.used(resident_key, day, now=now)
    return Quota(used, limit_fen, max(0, limit_fen - used))


def export_csv(ledger: Ledger, day: date, out: TextIO) -> int:
    """Write every declaration of ``day`` as CSV rows (header first) to ``out``; return the row count."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    records = ledger.list_day(day)
    for record in records:
        writer.writerow(_csv_row(record))
    return len(records)


def _csv_row(record: StoredDeclaration) -> list[str | int]:
    """One declaration in CSV_COLUMNS order: masked ID and keyed hash only, times in UTC ISO-8601; the void and
    decision columns are empty when there was none."""
    d, void, decided = record.declaration, record.void, record.decision
    return [
        d.id, d.day.isoformat(), d.kiosk_id, d.masked_id, d.resident_key, record.status.value,
        " ".join(record.reasons), d.total_fen, format_fen(d.total_fen), d.limit_fen, d.rule_version,
        d.created_at.isoformat(), record.recorded_at.isoformat(), _iso(record.expires_at),
        _iso(record.resolved_at), json.dumps([line.to_dict() for line in d.lines], ensure_ascii=False),
        *((void.officer, void.reason, _iso(void.at)) if void is not None else ("", "", "")),
        *((decided.decision, decided.officer, decided.reason, decided.note, _iso(decided.at), decided.duty_free_fen,
           record.taxed_fen) if decided is not None else ("",) * 7),
        json.dumps([use.to_dict() for use in d.rule_uses], ensure_ascii=False),
    ]


def _iso(moment: datetime | None) -> str:
    """ISO-8601 text, or empty for a missing time."""
    return "" if moment is None else moment.isoformat()
