"""SQLite back-end of the quota ledger: one WAL database file shared by the kiosk's threads and processes.

Each instance owns one connection guarded by a lock, so web threads and the checkpoint thread can share
it; several instances (or processes) on the same file coordinate through SQLite's own write lock, taken
up front with ``BEGIN IMMEDIATE`` around every check-and-record. Every sqlite3 error is wrapped into a
LedgerError naming the file, so the kiosk fails closed.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from kiosk.declaration import (
    Declaration,
    HoldResult,
    Status,
    StoredDeclaration,
    VoidRecord,
    lines_from_json,
    lines_to_json,
)
from kiosk.errors import LedgerError
from kiosk.ledger import GRACE, as_utc, beijing_day, check_ttl, check_void_args, void_refusal
from kiosk.ledger.migrate import apply_migrations

_COLUMNS = (
    "id, kiosk_id, resident_key, masked_id, day, created_at, lines_json, total_fen, limit_fen,"
    " rule_version, status, reasons_json, recorded_at, expires_at, resolved_at, hold_used_fen"
)
_INSERT = f"INSERT INTO declarations ({_COLUMNS}) VALUES ({', '.join('?' * 16)})"
_READ_COLUMNS = f"{_COLUMNS}, voided_by, void_reason, voided_at"
_SELECT_ONE = f"SELECT {_READ_COLUMNS} FROM declarations WHERE id = ?"
# The quota rule (see kiosk.ledger): committed, plus held or expired holds until expires_at + GRACE.
_USED = (
    "SELECT COALESCE(SUM(total_fen), 0) FROM declarations"
    " WHERE resident_key = ? AND day = ?"
    " AND (status = 'committed' OR (status IN ('held', 'expired') AND expires_at > ?))"
)
_RESOLVE = "UPDATE declarations SET status = ?, reasons_json = ?, resolved_at = ? WHERE id = ?"
_EXPIRE_DUE = (
    "UPDATE declarations SET status = 'expired', reasons_json = ?, resolved_at = ?"
    " WHERE status = 'held' AND expires_at <= ?"
)
_VOID = (
    "UPDATE declarations SET status = 'voided', voided_by = ?, void_reason = ?, voided_at = ?"
    " WHERE id = ? AND status = 'committed'"
)
_EXPIRED_REASONS = json.dumps(["hold_expired"])
_WAL_RETRY_S = 0.01


def _ts(moment: datetime) -> str:
    """Fixed-width ISO-8601 UTC text, so that text order in SQL is time order."""
    return as_utc(moment).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_ts(text: str) -> datetime:
    """Inverse of ``_ts``."""
    return datetime.fromisoformat(text).astimezone(UTC)


def _parse_optional_ts(text: str | None) -> datetime | None:
    """Inverse of ``_ts`` for a nullable column."""
    return None if text is None else _parse_ts(text)


@contextmanager
def transaction(lock: AbstractContextManager[Any], conn: sqlite3.Connection | None, *, what: str,
                path: str | Path, op: str, begin: str) -> Iterator[sqlite3.Connection]:
    """One SQLite transaction under ``lock``: ``begin``, the body, COMMIT, or ROLLBACK on any error.

    sqlite3 errors become LedgerError naming ``what`` (ledger, offline journal, audit log), the
    operation and the file, with a plain reason (disk full, read-only, ...).  Shared by every
    SQLite store of the kiosk so they fail the same way.
    """
    with lock:
        if conn is None:
            raise LedgerError(f"{what} {path} is closed ({op})")
        try:
            conn.execute(begin)
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.rollback()
                raise
        except sqlite3.Error as exc:
            raise LedgerError(f"{what} {op} failed on {path}: {explain(exc, Path(path))}") from exc


class SqliteLedger:
    """The quota ledger in one SQLite file (WAL); thread-safe, one connection per instance."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        busy_timeout_s: float = 5.0,
        migrations_dir: Path | None = None,
    ) -> None:
        self._path = Path(path)
        self._lock = threading.Lock()
        if str(path) == ":memory:" or "mode=memory" in str(path):
            raise LedgerError("an in-memory SQLite ledger is not allowed: connections must share the data")
        conn = self._connect(busy_timeout_s)
        try:
            apply_migrations(conn, self._path, migrations_dir)
        except BaseException:
            conn.close()
            raise
        self._conn: sqlite3.Connection | None = conn

    @property
    def path(self) -> Path:
        """The database file."""
        return self._path

    def _connect(self, busy_timeout_s: float) -> sqlite3.Connection:
        """Open and configure the connection; LedgerError naming the path if that fails."""
        return connect(self._path, busy_timeout_s)

    @contextmanager
    def _transaction(self, op: str, *, write: bool) -> Iterator[sqlite3.Connection]:
        """Run the body in one transaction under the instance lock; wrap sqlite3 errors."""
        # IMMEDIATE takes the write lock before reading, so the quota sum cannot go stale
        # between the check and the insert (no other writer, in any process, gets in between).
        with transaction(self._lock, self._conn, what="ledger", path=self._path, op=op,
                         begin="BEGIN IMMEDIATE" if write else "BEGIN") as conn:
            yield conn

    def hold(self, decl: Declaration, *, now: datetime, ttl_s: float) -> HoldResult:
        """Check the quota and record ``decl`` as held, atomically; a retry returns the first result."""
        stamp = _ts(now)
        expires_at = _ts(as_utc(now) + check_ttl(ttl_s))
        with self._transaction("hold", write=True) as conn:
            row = conn.execute(_SELECT_ONE, (decl.id,)).fetchone()
            if row is not None:
                return self._replay_hold(conn, row, decl, now)
            used = self._used(conn, decl.resident_key, decl.day, now)
            total = decl.total_fen
            if used + total > decl.limit_fen:
                return HoldResult(False, used, max(0, decl.limit_fen - used))
            used += total
            conn.execute(_INSERT, _row(decl, Status.held, (), stamp, expires_at, None, used))
            return HoldResult(True, used, max(0, decl.limit_fen - used))

    def _replay_hold(
        self, conn: sqlite3.Connection, row: sqlite3.Row, decl: Declaration, now: datetime
    ) -> HoldResult:
        """The result of a hold retried with a known id; nothing is changed."""
        _check_same(row, decl)
        hold_used = row["hold_used_fen"]
        if hold_used is not None:  # the first call was accepted: return exactly what it returned
            return HoldResult(True, hold_used, max(0, row["limit_fen"] - hold_used))
        used = self._used(conn, decl.resident_key, decl.day, now)  # recorded by refer, never held
        return HoldResult(False, used, max(0, decl.limit_fen - used))

    def commit(self, declaration_id: str, *, now: datetime) -> Status:
        """Commit a live hold; an expired hold becomes ``expired`` (the caller then refers)."""
        stamp = _ts(now)
        with self._transaction("commit", write=True) as conn:
            status, expires_at = self._status(conn, declaration_id)
            if status is not Status.held:
                return status  # committed: idempotent; released/expired/referred: not ours to commit
            if expires_at is not None and expires_at > stamp:  # NULL cannot occur (schema CHECK)
                conn.execute(_RESOLVE, (Status.committed.value, "[]", stamp, declaration_id))
                return Status.committed
            conn.execute(_RESOLVE, (Status.expired.value, _EXPIRED_REASONS, stamp, declaration_id))
            return Status.expired

    def release(self, declaration_id: str, *, now: datetime, reason: str) -> Status:
        """Give a hold's quota back; LedgerError if it is already committed."""
        stamp = _ts(now)
        if not isinstance(reason, str) or not reason:
            raise ValueError(f"release needs a reason, got {reason!r}")
        with self._transaction("release", write=True) as conn:
            status, _ = self._status(conn, declaration_id)
            if status is Status.committed:
                raise LedgerError(f"declaration {declaration_id} is committed and cannot be released")
            if status is Status.held:
                conn.execute(_RESOLVE, (Status.released.value, json.dumps([reason]), stamp, declaration_id))
                return Status.released
            return status

    def refer(self, decl: Declaration, *, now: datetime, reasons: Sequence[str]) -> None:
        """Record ``decl`` as referred to an officer (no quota used); idempotent."""
        stamp = _ts(now)
        if isinstance(reasons, str) or not reasons or not all(isinstance(r, str) and r for r in reasons):
            raise ValueError(f"refer needs a non-empty list of reason keys, got {reasons!r}")
        reasons_json = json.dumps(list(reasons))
        with self._transaction("refer", write=True) as conn:
            row = conn.execute(_SELECT_ONE, (decl.id,)).fetchone()
            if row is None:
                conn.execute(_INSERT, _row(decl, Status.referred, reasons, stamp, None, stamp, None))
                return
            _check_same(row, decl)
            status = Status(row["status"])
            if status in (Status.committed, Status.voided):
                raise LedgerError(f"declaration {decl.id} is {status.value} and cannot be referred")
            if status is not Status.referred:
                # A hold that expired, was released or must not go ahead: the officer decides now,
                # so its quota is given back at once, as a release would.
                conn.execute(_RESOLVE, (Status.referred.value, reasons_json, stamp, decl.id))

    def void(self, declaration_id: str, *, officer: str, reason: str, now: datetime) -> Status:
        """An officer voids a committed declaration of today (Beijing day of ``now``): its quota returns at once."""
        stamp = _ts(now)
        today = beijing_day(now)
        check_void_args(officer, reason)
        with self._transaction("void", write=True) as conn:
            row = conn.execute("SELECT status, day FROM declarations WHERE id = ?", (declaration_id,)).fetchone()
            if row is None:
                raise LedgerError(f"unknown declaration {declaration_id!r}")
            status, day = Status(row["status"]), date.fromisoformat(row["day"])
            if status is Status.voided:
                return status  # idempotent: the first void's officer, reason and time stay
            if status is not Status.committed or day != today:
                raise void_refusal(declaration_id, status, day, today)
            conn.execute(_VOID, (officer, reason, stamp, declaration_id))
            return Status.voided

    def used(self, resident_key: str, day: date, *, now: datetime) -> int:
        """Fen counted against the resident-day at ``now``."""
        with self._transaction("used", write=False) as conn:
            return self._used(conn, resident_key, day, now)

    def remaining(self, resident_key: str, day: date, *, limit_fen: int, now: datetime) -> int:
        """Fen still available to the resident-day at ``now`` under ``limit_fen`` (never below 0)."""
        return max(0, limit_fen - self.used(resident_key, day, now=now))

    def expire_holds(self, *, now: datetime) -> int:
        """Mark held declarations with ``expires_at <= now`` as expired; return how many."""
        stamp = _ts(now)
        with self._transaction("expire_holds", write=True) as conn:
            return conn.execute(_EXPIRE_DUE, (_EXPIRED_REASONS, stamp, stamp)).rowcount

    def get(self, declaration_id: str) -> StoredDeclaration | None:
        """The recorded declaration, or None if the id is unknown."""
        with self._transaction("get", write=False) as conn:
            row = conn.execute(_SELECT_ONE, (declaration_id,)).fetchone()
        return None if row is None else self._stored(row)

    def list_day(self, day: date) -> list[StoredDeclaration]:
        """Every declaration recorded for ``day``, oldest first (exports, officers)."""
        query = f"SELECT {_READ_COLUMNS} FROM declarations WHERE day = ? ORDER BY recorded_at, id"
        with self._transaction("list_day", write=False) as conn:
            rows = conn.execute(query, (day.isoformat(),)).fetchall()
        return [self._stored(row) for row in rows]

    def close(self) -> None:
        """Close the connection; further calls raise LedgerError. Idempotent."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    @staticmethod
    def _used(conn: sqlite3.Connection, resident_key: str, day: date, now: datetime) -> int:
        """The quota rule's sum for one resident-day at ``now``, inside the caller's transaction."""
        cutoff = _ts(as_utc(now) - GRACE)  # expires_at + GRACE > now  <=>  expires_at > now - GRACE
        value = conn.execute(_USED, (resident_key, day.isoformat(), cutoff)).fetchone()[0]
        return int(value)

    @staticmethod
    def _status(conn: sqlite3.Connection, declaration_id: str) -> tuple[Status, str | None]:
        """Status and expires_at text of a declaration; LedgerError if the id is unknown."""
        row = conn.execute(
            "SELECT status, expires_at FROM declarations WHERE id = ?", (declaration_id,)
        ).fetchone()
        if row is None:
            raise LedgerError(f"unknown declaration {declaration_id!r}")
        return Status(row["status"]), row["expires_at"]

    def _stored(self, row: sqlite3.Row) -> StoredDeclaration:
        """Rebuild a StoredDeclaration from a row; LedgerError if the row does not decode."""
        try:
            decl = Declaration(
                id=row["id"],
                kiosk_id=row["kiosk_id"],
                resident_key=row["resident_key"],
                masked_id=row["masked_id"],
                day=date.fromisoformat(row["day"]),
                created_at=datetime.fromisoformat(row["created_at"]),
                lines=lines_from_json(row["lines_json"]),
                limit_fen=row["limit_fen"],
                rule_version=row["rule_version"],
            )
            return StoredDeclaration(
                declaration=decl,
                status=Status(row["status"]),
                reasons=tuple(json.loads(row["reasons_json"])),
                recorded_at=_parse_ts(row["recorded_at"]),
                expires_at=_parse_optional_ts(row["expires_at"]),
                resolved_at=_parse_optional_ts(row["resolved_at"]),
                void=None if row["voided_at"] is None else VoidRecord(
                    row["voided_by"], row["void_reason"], _parse_ts(row["voided_at"])
                ),
            )
        except (ValueError, TypeError) as exc:
            problem = f"ledger {self._path}: declaration {row['id']!r} does not decode: {exc}"
            raise LedgerError(problem) from exc


def connect(path: Path, busy_timeout_s: float = 5.0) -> sqlite3.Connection:
    """A connection to the ledger file in WAL with FULL sync and a busy timeout; LedgerError naming the path."""
    parent = path.parent
    if not parent.is_dir():
        raise LedgerError(f"cannot open ledger {path}: directory {parent} does not exist")
    if path.is_dir():
        raise LedgerError(f"cannot open ledger {path}: it is a directory")
    try:
        # isolation_level=None: no implicit transactions; every transaction below is explicit.
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise LedgerError(f"cannot open ledger {path}: {explain(exc, path)}") from exc
    try:
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
        _enable_wal(conn, path, busy_timeout_s)
        # FULL fsyncs the WAL on every commit: an accepted declaration opened the gate, so it must
        # survive a power cut, not only a process crash (NORMAL may lose the last commits).
        conn.execute("PRAGMA synchronous = FULL")
    except sqlite3.Error as exc:
        conn.close()
        raise LedgerError(f"cannot open ledger {path}: {explain(exc, path)}") from exc
    except BaseException:
        conn.close()
        raise
    return conn


# What the kiosk's operator should read first, by SQLite's primary result code (extended codes share it).
_REASONS = {
    "SQLITE_FULL": "the disk is full",
    "SQLITE_READONLY": "the ledger file is read-only",
    "SQLITE_IOERR": "disk I/O error (a failing disk, or a file system gone read-only)",
    "SQLITE_BUSY": "another process kept the ledger locked beyond the busy timeout",
    "SQLITE_CORRUPT": "the file is damaged",
    "SQLITE_NOTADB": "the file is not a ledger database",
    "SQLITE_CANTOPEN": "the file cannot be opened",
}


def explain(exc: sqlite3.Error, path: Path) -> str:
    """A clear reason for a SQLite failure, then SQLite's own code and words."""
    name = getattr(exc, "sqlite_errorname", None) or ""
    reason = next((text for code, text in _REASONS.items() if name == code or name.startswith(code + "_")), "")
    if name.startswith(("SQLITE_CANTOPEN", "SQLITE_IOERR", "SQLITE_READONLY")) and not os.access(path.parent, os.W_OK):
        # access(2) reports EROFS even to root: the usual cause is a file system remounted read-only.
        reason = f"{reason}; its directory is not writable (a read-only file system?)"
    detail = f"{name}: {exc}" if name else str(exc)
    return f"{reason} ({detail})" if reason else detail


def _enable_wal(conn: sqlite3.Connection, path: Path, busy_timeout_s: float) -> None:
    """Switch the file to WAL, retrying while another connection holds the lock that needs."""
    # Changing the journal mode returns SQLITE_BUSY at once, without the busy handler, when another
    # connection is opening the same new file (seen with 4 kiosks starting together): retry here.
    for _ in range(max(1, int(busy_timeout_s / _WAL_RETRY_S))):
        try:
            mode = str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]).lower()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            time.sleep(_WAL_RETRY_S)
            continue
        if mode != "wal":
            raise LedgerError(f"ledger {path}: WAL mode refused (journal_mode={mode})")
        return
    raise LedgerError(f"ledger {path}: still locked by another connection after {busy_timeout_s} s")


def _row(
    decl: Declaration,
    status: Status,
    reasons: Sequence[str],
    recorded_at: str,
    expires_at: str | None,
    resolved_at: str | None,
    hold_used_fen: int | None,
) -> tuple[object, ...]:
    """Insert parameters in ``_COLUMNS`` order."""
    return (
        decl.id,
        decl.kiosk_id,
        decl.resident_key,
        decl.masked_id,
        decl.day.isoformat(),
        _ts(decl.created_at),
        lines_to_json(decl.lines),
        decl.total_fen,
        decl.limit_fen,
        decl.rule_version,
        status.value,
        json.dumps(list(reasons)),
        recorded_at,
        expires_at,
        resolved_at,
        hold_used_fen,
    )


def _check_same(row: sqlite3.Row, decl: Declaration) -> None:
    """LedgerError if a known id comes back with another resident, day or amount (an id reused)."""
    stored = (row["resident_key"], row["day"], row["total_fen"])
    if stored != (decl.resident_key, decl.day.isoformat(), decl.total_fen):
        raise LedgerError(f"declaration id {decl.id!r} is already recorded with different content")

