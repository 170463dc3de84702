"""The SQLite files of a kiosk: how each is opened (WAL, FULL sync, busy timeout) and how a transaction runs.

Shared by every SQLite store of the kiosk (the ledger, kiosk.ledger.sqlite; the offline journal,
kiosk.ledger.offline; the audit log, kiosk.audit), so they lock, roll back and fail the same way: every sqlite3
error becomes a LedgerError naming the file and a plain reason (disk full, read-only, ...).
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from kiosk.errors import LedgerError

__all__ = ["connect", "explain", "transaction"]

_WAL_RETRY_S = 0.01


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
