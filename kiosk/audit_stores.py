"""The audit log's stores: the chains kept in the ledger's SQLite file or PostgreSQL database.

Both keep the records in table ``audit`` and each chain's last seq and hash in ``audit_heads`` (created by migration
0002 on both back-ends). Appends of one kiosk are serialised by the back-end's lock: ``BEGIN IMMEDIATE`` on SQLite,
a row lock on the kiosk's ``audit_heads`` row (``SELECT ... FOR UPDATE``) on PostgreSQL. ``scan`` reads every
chain and head from one snapshot, for verify.

An append is not retried after a lost PostgreSQL session (it is not idempotent: the first attempt may have
committed); the call raises LedgerError and the next call reconnects. ``PgStore(url, lazy=True)`` also opens while
the database cannot be reached: kiosk.ledger.audit_journal wraps it to keep records locally meanwhile.

Used by kiosk.audit (``open_audit``), whose AuditLog checks what is appended; the record format is
kiosk.audit_chain.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from kiosk.audit_chain import GENESIS, AuditRecord, Builder, format_time
from kiosk.errors import LedgerError

if TYPE_CHECKING:  # psycopg is imported only when a PostgreSQL URL is used
    from kiosk.ledger.pg_schema import PgConnection

__all__ = ["PgStore", "SqliteStore"]


# --- SQLite --------------------------------------------------------------------------------------------


_SQLITE_COLUMNS = "kiosk_id, seq, at, kind, actor, data_json, prev_hash, hash"


class SqliteStore:
    """One connection per AuditLog; appends of every kiosk on the file serialise on BEGIN IMMEDIATE."""

    def __init__(self, path: Path) -> None:
        from kiosk.ledger.migrate import apply_migrations
        from kiosk.ledger.sqlite_file import connect

        self._path = path
        self._lock = threading.Lock()
        conn = connect(path)
        try:
            apply_migrations(conn, path)
        except BaseException:
            conn.close()
            raise
        self._conn: sqlite3.Connection | None = conn

    @contextmanager
    def _transaction(self, op: str, begin: str) -> Iterator[sqlite3.Connection]:
        from kiosk.ledger.sqlite_file import transaction

        with transaction(self._lock, self._conn, what="audit log", path=str(self._path), op=op,
                         begin=begin) as conn:
            yield conn

    def append(self, kiosk_id: str, build: Builder) -> AuditRecord:
        with self._transaction("append", "BEGIN IMMEDIATE") as conn:
            head = conn.execute("SELECT seq, hash FROM audit_heads WHERE kiosk_id = ?", (kiosk_id,)).fetchone()
            seq, prev = (0, GENESIS) if head is None else (int(head[0]), str(head[1]))
            record = build(seq + 1, prev)
            conn.execute(
                f"INSERT INTO audit ({_SQLITE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (record.kiosk_id, record.seq, format_time(record.time), record.kind, record.actor,
                 record.data_json, record.prev_hash, record.hash),
            )
            conn.execute(
                "INSERT INTO audit_heads (kiosk_id, seq, hash) VALUES (?, ?, ?)"
                " ON CONFLICT (kiosk_id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
                (kiosk_id, record.seq, record.hash),
            )
            return record

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        with self._transaction("verify", "BEGIN"):
            yield

    def scan(self) -> tuple[Iterator[AuditRecord], dict[str, tuple[int, str]]]:
        conn = self._conn
        assert conn is not None  # inside snapshot()
        heads = {str(k): (int(s), str(h)) for k, s, h in conn.execute("SELECT kiosk_id, seq, hash FROM audit_heads")}
        cursor = conn.execute(f"SELECT {_SQLITE_COLUMNS} FROM audit ORDER BY kiosk_id, seq")

        def rows() -> Iterator[AuditRecord]:
            for k, seq, at, kind, actor, data_json, prev, digest in cursor:
                yield AuditRecord(str(k), int(seq), datetime.fromisoformat(str(at)).astimezone(UTC), str(kind),
                                  str(actor), str(data_json), str(prev), str(digest))

        return rows(), heads

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


# --- PostgreSQL ----------------------------------------------------------------------------------------


class PgStore:
    """One session per AuditLog; appends of one kiosk serialise on its audit_heads row.

    ``lazy``: a database that cannot be reached at construction is not an error; every call tries to connect.
    """

    def __init__(self, url: str, *, lazy: bool = False) -> None:
        from kiosk.ledger.postgres import describe_url, unreachable

        self._url = url
        self._shown = describe_url(url)
        self._lock = threading.Lock()
        self._closed = False
        self._conn: PgConnection | None = None
        try:
            self._conn = self._open()
        except LedgerError as exc:
            if not (lazy and unreachable(exc)):
                raise

    def _open(self) -> PgConnection:
        import psycopg

        from kiosk.ledger.pg_schema import check_schema
        from kiosk.ledger.postgres import connect, first_line

        try:
            conn = connect(self._url, statement_timeout_s=5.0, connect_timeout_s=3.0)
        except psycopg.Error as exc:
            raise LedgerError(f"cannot reach audit log {self._shown}: {first_line(exc)}") from exc
        try:
            check_schema(conn, self._shown)
        except BaseException:
            conn.close()
            raise
        return conn

    @contextmanager
    def _session(self, op: str) -> Iterator[PgConnection]:
        """The live session under the lock, in one transaction; a failed one is dropped (the next call reconnects)."""
        import psycopg

        from kiosk.ledger.postgres import first_line

        with self._lock:
            if self._closed:
                raise LedgerError(f"audit log {self._shown} is closed ({op})")
            if self._conn is None or self._conn.closed or self._conn.broken:
                self._conn = self._open()
            conn = self._conn
            try:
                with conn.transaction():
                    yield conn
            except psycopg.Error as exc:
                if conn.closed or conn.broken:
                    conn.close()
                    self._conn = None
                raise LedgerError(
                    f"audit {op} failed on {self._shown}: {exc.sqlstate or 'client'}: {first_line(exc)}"
                ) from exc

    def append(self, kiosk_id: str, build: Builder, *, dedupe: bool = False) -> AuditRecord:
        """Append under the head's row lock; with ``dedupe``, a record equal to the chain's last one (same time,
        kind, actor and data: an earlier attempt that did commit) is not written again, the last one returned."""
        with self._session("append") as conn:
            conn.execute("INSERT INTO audit_heads (kiosk_id, seq, hash) VALUES (%s, 0, %s) ON CONFLICT DO NOTHING",
                         (kiosk_id, GENESIS))
            head = conn.execute("SELECT seq, hash FROM audit_heads WHERE kiosk_id = %s FOR UPDATE",
                                (kiosk_id,)).fetchone()
            if head is None:  # cannot happen: inserted just above, and heads are never deleted by the kiosk
                raise LedgerError(f"audit append on {self._shown}: the head of kiosk {kiosk_id} vanished")
            record = build(int(head[0]) + 1, str(head[1]))
            if dedupe and int(head[0]) > 0:
                last = conn.execute("SELECT at, kind, actor, data_json, prev_hash FROM audit"
                                    " WHERE kiosk_id = %s AND seq = %s", (kiosk_id, int(head[0]))).fetchone()
                if last is not None and tuple(last[:4]) == (record.time, record.kind, record.actor, record.data_json):
                    return AuditRecord(kiosk_id, int(head[0]), record.time, record.kind, record.actor,
                                       record.data_json, str(last[4]), str(head[1]))
            conn.execute(
                "INSERT INTO audit (kiosk_id, seq, at, kind, actor, data_json, prev_hash, hash)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                (record.kiosk_id, record.seq, record.time, record.kind, record.actor, record.data_json,
                 record.prev_hash, record.hash),
            )
            conn.execute("UPDATE audit_heads SET seq = %s, hash = %s WHERE kiosk_id = %s",
                         (record.seq, record.hash, kiosk_id))
            return record

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        with self._session("verify") as conn:
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            conn.execute("SET LOCAL statement_timeout = 0")  # a long chain may take longer than 5 s to read
            yield

    def scan(self) -> tuple[Iterator[AuditRecord], dict[str, tuple[int, str]]]:
        conn = self._conn
        assert conn is not None  # inside snapshot()
        heads = {str(k): (int(s), str(h)) for k, s, h in conn.execute("SELECT kiosk_id, seq, hash FROM audit_heads")}
        cursor = conn.cursor(name="audit_scan")  # server-side: the chains are streamed, not loaded at once
        cursor.execute("SELECT kiosk_id, seq, at, kind, actor, data_json, prev_hash, hash FROM audit"
                       " ORDER BY kiosk_id COLLATE \"C\", seq")

        def rows() -> Iterator[AuditRecord]:
            for k, seq, at, kind, actor, data_json, prev, digest in cursor:
                yield AuditRecord(str(k), int(seq), at.astimezone(UTC), str(kind), str(actor), str(data_json),
                                  str(prev), str(digest))

        return rows(), heads

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._conn is not None:
                self._conn.close()
                self._conn = None
