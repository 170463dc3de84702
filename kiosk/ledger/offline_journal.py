"""The offline journal's file format: its table, the sums it answers, and its rows as the ledger's records.

Used by kiosk.ledger.offline (OfflineLedger), which owns the journal file and every transaction on it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from kiosk.declaration import Declaration, Status, StoredDeclaration, VoidRecord
from kiosk.errors import LedgerError

# Journal statuses: the real ledger's, plus reconciled (now recorded at the port) and conflict (the port
# refused it: the goods left on the offline allowance, an officer must look).
SCHEMA = """
CREATE TABLE IF NOT EXISTS journal (
    id TEXT PRIMARY KEY,
    resident_key TEXT NOT NULL,
    masked_id TEXT NOT NULL,
    day TEXT NOT NULL,
    total_fen INTEGER NOT NULL,
    limit_fen INTEGER NOT NULL,
    declaration_json TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('held', 'committed', 'released', 'expired', 'referred', 'voided',
                                           'reconciled', 'conflict')),
    reasons_json TEXT NOT NULL DEFAULT '[]',
    hold_used_fen INTEGER,
    recorded_at TEXT NOT NULL,
    expires_at TEXT,
    resolved_at TEXT,
    reconciled_at TEXT,
    conflict_reason TEXT,
    voided_by TEXT,
    void_reason TEXT,
    voided_at TEXT
);
CREATE INDEX IF NOT EXISTS journal_resident_day ON journal (resident_key, day);
CREATE INDEX IF NOT EXISTS journal_status ON journal (status);
"""
# Offline: everything journaled for the resident-day that let goods through (or may still), reconciled or not.
JOURNALED = (
    "SELECT COALESCE(SUM(total_fen), 0) FROM journal WHERE resident_key = ? AND day = ?"
    " AND (status IN ('committed', 'reconciled', 'conflict') OR (status IN ('held', 'expired') AND expires_at > ?))"
)
# Online: what the port does not count yet (not reconciled), conflicts included (the goods left).
PENDING = (
    "SELECT COALESCE(SUM(total_fen), 0) FROM journal WHERE resident_key = ? AND day = ?"
    " AND (status IN ('committed', 'conflict') OR (status IN ('held', 'expired') AND expires_at > ?))"
)
COLUMNS = (
    "id, resident_key, masked_id, day, total_fen, limit_fen, declaration_json, status, reasons_json, hold_used_fen,"
    " recorded_at, expires_at, resolved_at, reconciled_at, conflict_reason, voided_by, void_reason, voided_at"
)
SELECT_ONE = f"SELECT {COLUMNS} FROM journal WHERE id = ?"
RESOLVE = "UPDATE journal SET status = ?, reasons_json = ?, resolved_at = ? WHERE id = ?"
EXPIRED_REASONS = json.dumps(["hold_expired"])
EXPIRE_DUE = (
    "UPDATE journal SET status = 'expired', reasons_json = ?, resolved_at = ? WHERE status = 'held' AND expires_at <= ?"
)


def insert(conn: sqlite3.Connection, decl: Declaration, status: str, recorded_at: str, *, reasons_json: str = "[]",
           hold_used_fen: int | None = None, expires_at: str | None = None, resolved_at: str | None = None) -> None:
    """Journal ``decl`` with ``status`` (``held`` by an offline hold, ``referred`` by an offline refer)."""
    conn.execute(
        "INSERT INTO journal (id, resident_key, masked_id, day, total_fen, limit_fen, declaration_json, status,"
        " reasons_json, hold_used_fen, recorded_at, expires_at, resolved_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (decl.id, decl.resident_key, decl.masked_id, decl.day.isoformat(), decl.total_fen, decl.limit_fen,
         decl.to_json(), status, reasons_json, hold_used_fen, recorded_at, expires_at, resolved_at),
    )


def parse_ts(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text).astimezone(UTC)


def check_same(row: sqlite3.Row, decl: Declaration) -> None:
    stored = (row["resident_key"], row["day"], row["total_fen"])
    if stored != (decl.resident_key, decl.day.isoformat(), decl.total_fen):
        raise LedgerError(f"declaration id {decl.id!r} is already recorded with different content")


def declaration(row: sqlite3.Row, path: Path) -> Declaration:
    try:
        return Declaration.from_json(row["declaration_json"])
    except ValueError as exc:
        raise LedgerError(f"offline journal {path}: declaration {row['id']!r} does not decode: {exc}") from exc


AS_STATUS: dict[str, Callable[[sqlite3.Row], tuple[Status, tuple[str, ...]]]] = {
    "reconciled": lambda row: (Status.committed, ()),
    "conflict": lambda row: (Status.committed, ("offline_conflict", row["conflict_reason"] or "")),
}


def stored(row: sqlite3.Row, path: Path) -> StoredDeclaration:
    """A journal row as the ledger's StoredDeclaration (reconciled and conflict read as committed)."""
    special = AS_STATUS.get(row["status"])
    if special is not None:
        status, reasons = special(row)
    else:
        status, reasons = Status(row["status"]), tuple(json.loads(row["reasons_json"]))
    recorded = parse_ts(row["recorded_at"])
    assert recorded is not None  # NOT NULL column
    voided_at = parse_ts(row["voided_at"])
    return StoredDeclaration(
        declaration=declaration(row, path),
        status=status,
        reasons=reasons,
        recorded_at=recorded,
        expires_at=parse_ts(row["expires_at"]),
        resolved_at=parse_ts(row["resolved_at"]),
        void=None if voided_at is None else VoidRecord(row["voided_by"], row["void_reason"], voided_at),
    )
