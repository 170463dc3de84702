"""The audit journal: where a kiosk keeps its audit records while the port's PostgreSQL cannot be reached.

``JournaledStore`` wraps the audit log's PostgreSQL store (kiosk.audit_stores). An append goes to the database when it
answers. When it cannot be reached (a connection error, or a session lost during the append, whose commit may or
may not have happened), the record's content (kiosk, time, kind, actor, canonical data) is kept in a local SQLite
file (WAL, ``synchronous=FULL``: it is the only copy) and None is returned. After a failure the database is not
tried again for a pause (``RETRY_S``, doubling with each failure in a row up to ``RETRY_MAX_S``): a server that is
down costs an append at most one connection attempt per pause, and never more than that.

The next append after that first writes the journal to the database, oldest first, each in its own transaction
under the chain's head lock, then its own record: the chain keeps the order in which the kiosk appended, and
each record gets its seq and hashes when it is written, so ``kiosk audit verify`` still proves it. The oldest
journaled record is written with ``dedupe``: if it equals the chain's last record, its first attempt did commit
and it is not written twice. A record the database refuses for another reason (not a connection problem) stays
first in the journal, logged as an error at every attempt, and everything after it waits behind it: no audit
record is ever dropped.

An idle kiosk makes no appends, so the kiosk also calls ``flush_due`` on its loop (about ten times a second): when
records wait and the pause is over, it writes them. It answers from memory otherwise, so it costs nothing while the
journal is empty, and it tries the database no more often than an append would.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from kiosk.errors import LedgerError
from kiosk.ledger import utc_text
from kiosk.ledger.postgres import unreachable
from kiosk.ledger.sqlite_file import connect, explain, transaction

if TYPE_CHECKING:
    from kiosk.audit import AuditRecord, Builder

__all__ = ["RETRY_MAX_S", "RETRY_S", "JournaledStore"]

log = logging.getLogger(__name__)

RETRY_S = 2.0
"""After a failed attempt, appends go straight to the journal for this long (monotonic seconds) ..."""
RETRY_MAX_S = 60.0
"""... doubled after each failure in a row, up to this."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_journal (
    n          INTEGER PRIMARY KEY AUTOINCREMENT,   -- append order
    kiosk_id   TEXT NOT NULL,
    at         TEXT NOT NULL,                       -- fixed-width ISO-8601 UTC, exactly as it will be hashed
    kind       TEXT NOT NULL,
    actor      TEXT NOT NULL,
    data_json  TEXT NOT NULL                        -- canonical JSON
) STRICT;
"""


class _Database(Protocol):
    """The PostgreSQL audit store, as the journal uses it."""

    def append(self, kiosk_id: str, build: Builder, *, dedupe: bool = False) -> AuditRecord: ...

    def scan(self) -> tuple[Iterator[AuditRecord], dict[str, tuple[int, str]]]: ...

    def snapshot(self) -> AbstractContextManager[None]: ...

    def close(self) -> None: ...


MakeBuilder = Callable[[str, str, str, str, str], "Builder"]
"""kiosk.audit.builder: the Builder of a record from (kiosk_id, time text, kind, actor, canonical data)."""


class JournaledStore:
    """The PostgreSQL audit store plus a local journal for the records it could not take; thread-safe."""

    def __init__(self, database: _Database, path: Path, make_builder: MakeBuilder, *,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._db = database
        self._path = Path(path)
        self._make_builder = make_builder
        self._monotonic = monotonic
        self._lock = threading.RLock()  # one append (with its flush) at a time: the journal's order is the chain's
        self._quiet_until = 0.0
        self._failures = 0  # failed attempts in a row
        self._conn_lock = threading.Lock()
        conn = connect(self._path)
        try:
            conn.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            conn.close()
            raise LedgerError(f"cannot open audit journal {self._path}: {explain(exc, self._path)}") from exc
        self._conn: sqlite3.Connection | None = conn
        self._waits = self.pending() > 0  # records left by an earlier run wait too

    def append(self, kiosk_id: str, build: Builder) -> AuditRecord | None:
        """Append to the database (after the journal, if any is waiting); None when kept in the journal."""
        with self._lock:
            if self._monotonic() >= self._quiet_until and self.flush():
                try:
                    record = self._db.append(kiosk_id, build)
                except LedgerError as exc:
                    if not unreachable(exc):
                        raise
                    self._failed(exc)
                else:
                    self._failures = 0
                    return record
            self._keep(build(0, ""))  # the content only: seq and hashes are given when it reaches the database
            return None

    def flush(self) -> bool:
        """Write the journal to the database, oldest first; True when nothing is left in it."""
        with self._lock:
            for n, kiosk_id, at, kind, actor, data_json in self._waiting():
                try:
                    self._db.append(kiosk_id, self._make_builder(kiosk_id, at, kind, actor, data_json), dedupe=True)
                except LedgerError as exc:
                    if not unreachable(exc):
                        log.error("audit record %d of kiosk %s is refused by the database and stays first in the "
                                  "journal %s (nothing after it is written until it is): %s", n, kiosk_id,
                                  self._path, exc)
                    self._failed(exc)
                    return False
                with self._journal("flush") as conn:
                    conn.execute("DELETE FROM audit_journal WHERE n = ?", (n,))
            self._waits = False
            return True

    def flush_due(self) -> bool:
        """Write the journal if records wait and the pause after the last failure is over; True when nothing is
        left in it. Without waiting records it returns at once, without touching the journal file."""
        if not self._waits:
            return True
        with self._lock:
            if self._monotonic() < self._quiet_until:
                return False
            try:
                return self.flush()
            except LedgerError as exc:   # the journal file itself: say so, the next call tries again
                log.error("audit journal %s could not be written to the database: %s", self._path, exc)
                return False

    def pending(self) -> int:
        """How many records wait in the journal."""
        with self._journal("pending") as conn:
            return int(conn.execute("SELECT COUNT(*) FROM audit_journal").fetchone()[0])

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """The database's read transaction (verify and records read the database only)."""
        with self._db.snapshot():
            yield

    def scan(self) -> tuple[Iterator[AuditRecord], dict[str, tuple[int, str]]]:
        """The database's records and heads."""
        return self._db.scan()

    def close(self) -> None:
        """Close the journal and the database session (the journal's records stay in its file). Idempotent."""
        with self._lock, self._conn_lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
        self._db.close()

    def _failed(self, exc: LedgerError) -> None:
        """Stop trying the database for a while (longer after each failure in a row), and say so."""
        pause = min(RETRY_MAX_S, RETRY_S * 2 ** min(self._failures, 16))
        self._failures += 1
        self._quiet_until = self._monotonic() + pause
        log.warning("audit log database unavailable; records are kept in %s, next attempt in %g s: %s",
                    self._path, pause, exc)

    def _keep(self, record: AuditRecord) -> None:
        """Journal one record's content, after every record already waiting."""
        self._waits = True
        with self._journal("keep") as conn:
            conn.execute("INSERT INTO audit_journal (kiosk_id, at, kind, actor, data_json) VALUES (?, ?, ?, ?, ?)",
                         (record.kiosk_id, utc_text(record.time), record.kind, record.actor,
                          record.data_json))

    def _waiting(self) -> list[tuple[int, str, str, str, str, str]]:
        with self._journal("flush") as conn:
            rows = conn.execute("SELECT n, kiosk_id, at, kind, actor, data_json FROM audit_journal ORDER BY n")
            return [(int(n), str(k), str(at), str(kind), str(actor), str(data)) for n, k, at, kind, actor, data in rows]

    @contextmanager
    def _journal(self, op: str) -> Iterator[sqlite3.Connection]:
        with transaction(self._conn_lock, self._conn, what="audit journal", path=self._path, op=op,
                         begin="BEGIN IMMEDIATE") as conn:
            yield conn
