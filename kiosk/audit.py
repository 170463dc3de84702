"""The audit chain: every decision, override and gate release, appended to a SHA-256 hash chain per kiosk.

The records live in the ledger's own database (table ``audit``, created by migration 0002 on both back-ends), so
one URL names both, and an audit record can never outlive or predate the ledger it describes. Each kiosk has its
own chain (``kiosk_id``, ``seq`` 1, 2, ...): the kiosks of a port append in parallel and never queue on one head.
Appends of one kiosk are serialised by the back-end's lock: ``BEGIN IMMEDIATE`` on SQLite, a row lock on the
kiosk's ``audit_heads`` row (``SELECT ... FOR UPDATE``) on PostgreSQL.

A record's hash is ``SHA-256(prev_hash + canonical)``, where ``canonical`` is the compact JSON, keys sorted, of
seq, time, kind, kiosk_id, actor and data; the first record of a chain links to ``GENESIS``. ``audit_heads``
keeps each chain's last seq and hash, so records cut from the end are noticed too. ``verify`` recomputes every
chain and names the first record that was altered, deleted or inserted. What it cannot prove: someone with
write access who rewrites a chain from some record to its end and its head (every hash recomputed); only an
anchor kept outside the database (a head hash exported or printed each day) shows that.

No personal data: callers pass masked ids and keyed hashes only. ``append`` refuses a value that is a whole
18-character ID number, as a last guard.

Why a separate ``open_audit(url)`` and not a ``ledger.audit`` property: the Ledger protocol stays the quota
contract every back-end implements; an AuditLog has its own connection, so an append (or a long ``verify``)
never queues behind the holds on the ledger's one guarded connection, and ``kiosk audit verify`` needs only the
URL. An append is not retried after a lost PostgreSQL session (it is not idempotent: the first attempt may have
committed); the call raises LedgerError and the next call reconnects.

A kiosk must start, and keep its records, while the port's PostgreSQL is down: ``open_audit(url, journal=PATH)``
(what kiosk.runtime does) connects lazily and, while the database cannot be reached, keeps each record in a local
SQLite journal (kiosk.ledger.audit_journal) instead; the next append that finds the database back first writes
the journaled records to the chain, oldest first, then its own, so the chain stays in append order and valid
(seq and hashes are given when a record reaches the database; its time is when it happened). Such an append
returns None. An append whose fate is unknown (the session died during its commit) is journaled too; before the
journal's oldest record is written, it is compared with the chain's last record, so it is never written twice.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from kiosk.errors import LedgerError
from kiosk.ledger import TIME_FORMAT, backend_of, sqlite_path, utc_text

if TYPE_CHECKING:  # psycopg is imported only when a PostgreSQL URL is used
    from kiosk.ledger.pg_schema import PgConnection

__all__ = ["GENESIS", "AuditLog", "AuditRecord", "VerifyResult", "open_audit", "record_hash", "verify_audit"]

GENESIS = "0" * 64
_ID_NUMBER = re.compile(r"\d{17}[\dXx]")  # a whole resident ID number: never in the audit


@dataclass(frozen=True)
class AuditRecord:
    """One link of a kiosk's chain, as stored."""

    kiosk_id: str
    seq: int
    time: datetime  # aware UTC, microseconds
    kind: str
    actor: str
    data_json: str  # canonical JSON
    prev_hash: str
    hash: str

    @property
    def data(self) -> Any:
        """The decoded data."""
        return json.loads(self.data_json)


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of ``verify``: the first bad record as (kiosk_id, seq), and why; ``reason`` sums up when ok."""

    ok: bool
    records: int
    first_bad: tuple[str, int] | None
    reason: str


def canonical_json(value: Any) -> str:
    """Compact JSON, keys sorted, non-ASCII kept: the one text form that is hashed."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


format_time = utc_text
"""Fixed-width ISO-8601 UTC text with microseconds, as hashed and as stored on SQLite."""


def record_hash(prev_hash: str, *, kiosk_id: str, seq: int, time: str, kind: str, actor: str, data_json: str) -> str:
    """SHA-256 (hex) of ``prev_hash`` followed by the canonical record."""
    body = canonical_json(
        {"actor": actor, "data": json.loads(data_json), "kind": kind, "kiosk_id": kiosk_id, "seq": seq, "time": time}
    )
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def _check_text(name: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"audit {name} must be a non-empty string, got {value!r}")
    if _ID_NUMBER.fullmatch(value):
        raise ValueError(f"audit {name} looks like a full ID number: pass a masked id or a keyed hash")
    return value


def _check_no_id_numbers(value: Any, where: str) -> None:
    """ValueError if any key or string value in ``value`` is a whole ID number."""
    if isinstance(value, str):
        if _ID_NUMBER.fullmatch(value):
            raise ValueError(f"audit data {where} looks like a full ID number: pass a masked id or a keyed hash")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _check_no_id_numbers(str(key), f"key {where}")
            _check_no_id_numbers(item, f"{where}.{key}")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check_no_id_numbers(item, f"{where}[{index}]")


Builder = Callable[[int, str], AuditRecord]
"""Makes a kiosk's next record from its seq and the previous record's hash (the content is fixed already)."""


def builder(kiosk_id: str, stamp: str, kind: str, actor: str, data_json: str) -> Builder:
    """The Builder of one record: ``stamp`` is its fixed-width time text, ``data_json`` its canonical data."""
    moment = datetime.strptime(stamp, TIME_FORMAT).replace(tzinfo=UTC)

    def build(seq: int, prev_hash: str) -> AuditRecord:
        digest = record_hash(prev_hash, kiosk_id=kiosk_id, seq=seq, time=stamp, kind=kind, actor=actor,
                             data_json=data_json)
        return AuditRecord(kiosk_id, seq, moment, kind, actor, data_json, prev_hash, digest)

    return build


class _Store(Protocol):
    """What a back-end gives the AuditLog."""

    def append(self, kiosk_id: str, build: Builder) -> AuditRecord | None:
        """Under the kiosk's lock: read its head, store ``build(seq, prev_hash)`` and move the head (None: kept
        in a local journal, to be chained later)."""
        ...

    def scan(self) -> tuple[Iterator[AuditRecord], dict[str, tuple[int, str]]]:
        """Every record ordered by (kiosk_id, seq) and every head, from one snapshot (within ``snapshot``)."""
        ...

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """A read transaction around ``scan``."""
        ...

    def close(self) -> None: ...


class AuditLog:
    """Appends to and verifies the audit chains in a ledger database; thread-safe."""

    def __init__(self, store: _Store) -> None:
        self._store = store

    @property
    def pending(self) -> int:
        """Records kept in the local journal, waiting for the database (0 without a journal)."""
        count = getattr(self._store, "pending", None)
        return int(count()) if callable(count) else 0

    def flush_journal(self) -> None:
        """Write the records waiting in the local journal once the database is back (nothing without a journal).
        The kiosk calls this on its loop, so records kept during an outage are chained even if no new record
        follows."""
        flush = getattr(self._store, "flush_due", None)
        if callable(flush):
            flush()

    def append(
        self, kind: str, *, kiosk_id: str, actor: str, data: Mapping[str, Any], now: datetime
    ) -> AuditRecord | None:
        """Append one record to ``kiosk_id``'s chain and return it (seq and hashes filled in); None when it was
        kept in the local journal because the database cannot be reached (it is chained once it can)."""
        _check_text("kind", kind)
        _check_text("kiosk_id", kiosk_id)
        _check_text("actor", actor)
        if not isinstance(data, Mapping):
            raise ValueError(f"audit data must be a mapping, got {type(data).__name__}")
        _check_no_id_numbers(data, "data")
        try:
            data_json = canonical_json(dict(data))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"audit data must be plain JSON (str, int, bool, None, lists, dicts): {exc}") from exc
        return self._store.append(kiosk_id, builder(kiosk_id, format_time(now), kind, actor, data_json))

    def verify(self) -> VerifyResult:
        """Recompute every chain; the first altered, deleted or inserted record, or ok."""
        with self._store.snapshot():
            rows, heads = self._store.scan()
            return _verify(rows, heads)

    def records(self, kiosk_id: str | None = None) -> list[AuditRecord]:
        """The stored records (one kiosk's, or all), ordered by kiosk and seq."""
        with self._store.snapshot():
            rows, _ = self._store.scan()
            return [r for r in rows if kiosk_id is None or r.kiosk_id == kiosk_id]

    def close(self) -> None:
        """Release the connection; further calls raise LedgerError. Idempotent."""
        self._store.close()

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _verify(rows: Iterator[AuditRecord], heads: dict[str, tuple[int, str]]) -> VerifyResult:
    """Walk the chains in (kiosk_id, seq) order; stop at the first bad record."""
    count = 0
    chains: list[str] = []
    kiosk: str | None = None
    expected_seq, prev = 1, GENESIS

    def bad(where: tuple[str, int], why: str) -> VerifyResult:
        return VerifyResult(False, count, where, f"kiosk {where[0]} record {where[1]}: {why}")

    def end_of_chain(name: str, last_seq: int, last_hash: str) -> VerifyResult | None:
        head = heads.get(name)
        if head is None:
            return bad((name, 1), "this chain has no head in audit_heads (inserted chain, or its head deleted)")
        head_seq, head_hash = head
        if head_seq > last_seq:
            return bad((name, last_seq + 1), f"missing: the chain ends at {last_seq} but its head says {head_seq}"
                       " (records deleted from the end)")
        if (head_seq, head_hash) != (last_seq, last_hash):
            return bad((name, head_seq + 1 if head_seq < last_seq else last_seq),
                       "does not match the chain head in audit_heads (record inserted after the head, or head altered)")
        return None

    last_hash = GENESIS
    for row in rows:
        if row.kiosk_id != kiosk:
            if kiosk is not None:
                problem = end_of_chain(kiosk, expected_seq - 1, last_hash)
                if problem:
                    return problem
            kiosk, expected_seq, prev = row.kiosk_id, 1, GENESIS
            chains.append(kiosk)
        where = (row.kiosk_id, row.seq)
        if row.seq != expected_seq:
            missing = (row.kiosk_id, expected_seq)
            return bad(missing, f"missing: the chain jumps from {expected_seq - 1} to {row.seq} (record deleted)")
        if row.prev_hash != prev:
            if row.seq == 1:
                return bad(where, "the first record does not link to GENESIS (inserted or altered)")
            return bad(where, f"does not link to record {row.seq - 1}: prev_hash differs (a record before it "
                              "was deleted, or this one inserted)")
        try:
            decoded = json.loads(row.data_json)
            canonical = canonical_json(decoded)
        except ValueError:
            return bad(where, "data is not valid JSON (altered)")
        if canonical != row.data_json:
            return bad(where, "data is not in canonical form (altered)")
        digest = record_hash(
            row.prev_hash, kiosk_id=row.kiosk_id, seq=row.seq, time=format_time(row.time), kind=row.kind,
            actor=row.actor, data_json=row.data_json,
        )
        if digest != row.hash:
            return bad(where, "hash does not match its content (record altered)")
        count += 1
        expected_seq, prev, last_hash = row.seq + 1, row.hash, row.hash
    if kiosk is not None:
        problem = end_of_chain(kiosk, expected_seq - 1, last_hash)
        if problem:
            return problem
    for name, (head_seq, _) in sorted(heads.items()):
        if name not in chains and head_seq > 0:
            return bad((name, 1), f"missing: the head says {head_seq} records, none is stored (chain deleted)")
    return VerifyResult(True, count, None, f"{count} records in {len(chains)} chains verified")


# --- SQLite --------------------------------------------------------------------------------------------


_SQLITE_COLUMNS = "kiosk_id, seq, at, kind, actor, data_json, prev_hash, hash"


class _SqliteStore:
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


class _PgStore:
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


def open_audit(url: str, *, journal: Path | None = None) -> AuditLog:
    """The audit log in the ledger database named by ``url`` (same URL forms as open_ledger).

    ``journal`` (PostgreSQL only; a SQLite ledger's audit is in the same local file): a local file that keeps the
    records while the database cannot be reached. With it the log opens even when the database is down.
    """
    if backend_of(url) == "sqlite":
        return AuditLog(_SqliteStore(Path(sqlite_path(url))))
    if journal is None:
        return AuditLog(_PgStore(url))
    from kiosk.ledger.audit_journal import JournaledStore

    return AuditLog(JournaledStore(_PgStore(url, lazy=True), journal, builder))


def verify_audit(url: str) -> VerifyResult:
    """What ``kiosk audit verify`` runs: verify every chain in the database at ``url``."""
    with open_audit(url) as log:
        return log.verify()
