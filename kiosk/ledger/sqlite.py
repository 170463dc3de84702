"""SQLite back-end of the quota ledger: one WAL database file shared by the kiosk's threads and processes.

Each instance owns one connection guarded by a lock, so web threads and the checkpoint thread can share
it; several instances (or processes) on the same file coordinate through SQLite's own write lock, taken
up front with ``BEGIN IMMEDIATE`` around every check-and-record (a hold's money and goods caps, an officer's
approval). Every sqlite3 error is wrapped into a LedgerError naming the file, so the kiosk fails closed.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path

from kiosk.declaration import (
    DecisionRecord,
    Declaration,
    HoldResult,
    RuleUse,
    Status,
    StoredDeclaration,
    VoidRecord,
    lines_from_json,
    lines_to_json,
)
from kiosk.errors import LedgerError
from kiosk.ledger import (
    GRACE,
    VOIDABLE,
    as_utc,
    beijing_day,
    check_decide_args,
    check_decision,
    check_ttl,
    check_void_args,
    over_caps,
    utc_text,
    void_refusal,
)
from kiosk.ledger.migrate import apply_migrations
from kiosk.ledger.sqlite_file import connect, explain, transaction

__all__ = ["SqliteLedger", "connect", "explain", "transaction"]

_COLUMNS = (
    "id, kiosk_id, resident_key, masked_id, day, created_at, lines_json, total_fen, limit_fen,"
    " rule_version, status, reasons_json, recorded_at, expires_at, resolved_at, hold_used_fen"
)
_INSERT = f"INSERT INTO declarations ({_COLUMNS}) VALUES ({', '.join('?' * 16)})"
_INSERT_USE = "INSERT INTO rule_uses (declaration_id, ordinal, rule_id, unit, quantity, cap) VALUES (?, ?, ?, ?, ?, ?)"
_READ_COLUMNS = (
    f"{_COLUMNS}, voided_by, void_reason, voided_at, decision, decided_by, decision_reason, decision_note,"
    " decided_at, duty_free_fen"
)
_SELECT_ONE = f"SELECT {_READ_COLUMNS} FROM declarations WHERE id = ?"
# Which declarations count for their resident-day at a cutoff (now - GRACE): see kiosk.ledger.
_COUNTS = "(status IN ('committed', 'approved') OR (status IN ('held', 'expired') AND expires_at > ?))"
# The quota rule (see kiosk.ledger): an approved referral counts its duty-free part, the others their total.
_USED = (
    "SELECT COALESCE(SUM(CASE WHEN status = 'approved' THEN duty_free_fen ELSE total_fen END), 0)"
    f" FROM declarations WHERE resident_key = ? AND day = ? AND {_COUNTS}"
)
# The goods caps: quantities per rule over the same declarations (the resident-day's few rows, by index).
_RULES_USED = (
    "SELECT u.rule_id, SUM(u.quantity) FROM declarations JOIN rule_uses u ON u.declaration_id = declarations.id"
    f" WHERE resident_key = ? AND day = ? AND {_COUNTS} GROUP BY u.rule_id"
)
_USES_OF = (
    "SELECT declaration_id, rule_id, unit, quantity, cap FROM rule_uses WHERE declaration_id = ? ORDER BY ordinal"
)
_USES_OF_DAY = (
    "SELECT u.declaration_id, u.rule_id, u.unit, u.quantity, u.cap FROM rule_uses u"
    " JOIN declarations d ON d.id = u.declaration_id WHERE d.day = ? ORDER BY u.declaration_id, u.ordinal"
)
_RESOLVE = "UPDATE declarations SET status = ?, reasons_json = ?, resolved_at = ? WHERE id = ?"
_EXPIRE_DUE = (
    "UPDATE declarations SET status = 'expired', reasons_json = ?, resolved_at = ?"
    " WHERE status = 'held' AND expires_at <= ?"
)
_VOID = (
    "UPDATE declarations SET status = 'voided', voided_by = ?, void_reason = ?, voided_at = ?"
    " WHERE id = ? AND status IN ('committed', 'approved')"
)
_DECIDE = (
    "UPDATE declarations SET status = ?, decision = ?, decided_by = ?, decision_reason = ?, decision_note = ?,"
    " decided_at = ?, duty_free_fen = ? WHERE id = ? AND status = 'referred' AND decision IS NULL"
)
# Referrals by the time they were referred (resolved_at: a direct referral's recording, a hold's referral).
_REFERRALS = f"SELECT {_READ_COLUMNS} FROM declarations WHERE day = ? AND {{which}} ORDER BY resolved_at, id"
_PENDING = "status = 'referred'"
_EVER_REFERRED = "(status = 'referred' OR decision IS NOT NULL)"
_EXPIRED_REASONS = json.dumps(["hold_expired"])
_DECIDED = frozenset({Status.approved, Status.taxed, Status.rejected})


def _parse_ts(text: str) -> datetime:
    """Inverse of ``utc_text``."""
    return datetime.fromisoformat(text).astimezone(UTC)


def _parse_optional_ts(text: str | None) -> datetime | None:
    """Inverse of ``utc_text`` for a nullable column."""
    return None if text is None else _parse_ts(text)


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
        """Check the quota and the goods caps and record ``decl`` as held, atomically; a retry returns the first
        result."""
        stamp = utc_text(now)
        expires_at = utc_text(as_utc(now) + check_ttl(ttl_s))
        with self._transaction("hold", write=True) as conn:
            row = conn.execute(_SELECT_ONE, (decl.id,)).fetchone()
            if row is not None:
                return self._replay_hold(conn, row, decl, now)
            used = self._used(conn, decl.resident_key, decl.day, now)
            over = over_caps(decl.rule_uses, self._rules_used(conn, decl, now)) if decl.rule_uses else ()
            if used + decl.total_fen > decl.limit_fen or over:
                return HoldResult(False, used, max(0, decl.limit_fen - used), over)
            used += decl.total_fen
            conn.execute(_INSERT, _row(decl, Status.held, (), stamp, expires_at, None, used))
            _insert_uses(conn, decl)
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
        stamp = utc_text(now)
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
        stamp = utc_text(now)
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
        stamp = utc_text(now)
        if isinstance(reasons, str) or not reasons or not all(isinstance(r, str) and r for r in reasons):
            raise ValueError(f"refer needs a non-empty list of reason keys, got {reasons!r}")
        reasons_json = json.dumps(list(reasons))
        with self._transaction("refer", write=True) as conn:
            row = conn.execute(_SELECT_ONE, (decl.id,)).fetchone()
            if row is None:
                conn.execute(_INSERT, _row(decl, Status.referred, reasons, stamp, None, stamp, None))
                _insert_uses(conn, decl)
                return
            _check_same(row, decl)
            status = Status(row["status"])
            if status in (Status.committed, Status.voided):
                raise LedgerError(f"declaration {decl.id} is {status.value} and cannot be referred")
            if status is not Status.referred and status not in _DECIDED:  # a decided referral stays decided
                # A hold that expired, was released or must not go ahead: the officer decides now,
                # so its quota is given back at once, as a release would.
                conn.execute(_RESOLVE, (Status.referred.value, reasons_json, stamp, decl.id))

    def void(self, declaration_id: str, *, officer: str, reason: str, now: datetime) -> Status:
        """An officer voids a committed or approved declaration of today: its quota returns at once."""
        stamp = utc_text(now)
        today = beijing_day(now)
        check_void_args(officer, reason)
        with self._transaction("void", write=True) as conn:
            row = conn.execute("SELECT status, day FROM declarations WHERE id = ?", (declaration_id,)).fetchone()
            if row is None:
                raise LedgerError(f"unknown declaration {declaration_id!r}")
            status, day = Status(row["status"]), date.fromisoformat(row["day"])
            if status is Status.voided:
                return status  # idempotent: the first void's officer, reason and time stay
            if status not in VOIDABLE or day != today:
                raise void_refusal(declaration_id, status, day, today)
            conn.execute(_VOID, (officer, reason, stamp, declaration_id))
            return Status.voided

    def decide(
        self, declaration_id: str, *, officer: str, decision: str, reason: str, note: str, now: datetime
    ) -> StoredDeclaration:
        """An officer decides a referral of today; ``approved`` counts min(total, remaining) from now on."""
        stamp = utc_text(now)
        today = beijing_day(now)
        check_decide_args(officer, decision, reason, note)
        # BEGIN IMMEDIATE, as a hold: the remaining quota cannot change between the sum and the approval.
        with self._transaction("decide", write=True) as conn:
            row = conn.execute(_SELECT_ONE, (declaration_id,)).fetchone()
            if row is None:
                raise LedgerError(f"unknown declaration {declaration_id!r}")
            day = date.fromisoformat(row["day"])
            if not check_decision(declaration_id, Status(row["status"]), row["decision"], decision, day, today):
                duty_free = 0
                if decision == "approved":
                    # The caps are not checked: the officer judged the goods; their quantities count from now on.
                    used = self._used(conn, row["resident_key"], day, now)
                    duty_free = min(row["total_fen"], max(0, row["limit_fen"] - used))
                conn.execute(_DECIDE, (decision, decision, officer, reason, note, stamp, duty_free, declaration_id))
                row = conn.execute(_SELECT_ONE, (declaration_id,)).fetchone()
            uses = self._uses(conn, _USES_OF, declaration_id)
        return self._stored(row, uses.get(declaration_id, ()))

    def referrals(self, day: date, *, pending_only: bool = True) -> list[StoredDeclaration]:
        """The referrals of ``day``, oldest referral first; with ``pending_only=False`` the decided ones too."""
        query = _REFERRALS.format(which=_PENDING if pending_only else _EVER_REFERRED)
        return self._list("referrals", query, day)

    def used(self, resident_key: str, day: date, *, now: datetime) -> int:
        """Fen counted against the resident-day at ``now``."""
        with self._transaction("used", write=False) as conn:
            return self._used(conn, resident_key, day, now)

    def remaining(self, resident_key: str, day: date, *, limit_fen: int, now: datetime) -> int:
        """Fen still available to the resident-day at ``now`` under ``limit_fen`` (never below 0)."""
        return max(0, limit_fen - self.used(resident_key, day, now=now))

    def expire_holds(self, *, now: datetime) -> int:
        """Mark held declarations with ``expires_at <= now`` as expired; return how many."""
        stamp = utc_text(now)
        with self._transaction("expire_holds", write=True) as conn:
            return conn.execute(_EXPIRE_DUE, (_EXPIRED_REASONS, stamp, stamp)).rowcount

    def get(self, declaration_id: str) -> StoredDeclaration | None:
        """The recorded declaration, or None if the id is unknown."""
        with self._transaction("get", write=False) as conn:
            row = conn.execute(_SELECT_ONE, (declaration_id,)).fetchone()
            uses = self._uses(conn, _USES_OF, declaration_id) if row is not None else {}
        return None if row is None else self._stored(row, uses.get(declaration_id, ()))

    def list_day(self, day: date) -> list[StoredDeclaration]:
        """Every declaration recorded for ``day``, oldest first (exports, officers)."""
        query = f"SELECT {_READ_COLUMNS} FROM declarations WHERE day = ? ORDER BY recorded_at, id"
        return self._list("list_day", query, day)

    def close(self) -> None:
        """Close the connection; further calls raise LedgerError. Idempotent."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _list(self, op: str, query: str, day: date) -> list[StoredDeclaration]:
        """The declarations ``query`` selects for ``day``, with their rule uses, read in one transaction."""
        with self._transaction(op, write=False) as conn:
            rows = conn.execute(query, (day.isoformat(),)).fetchall()
            uses = self._uses(conn, _USES_OF_DAY, day.isoformat()) if rows else {}
        return [self._stored(row, uses.get(row["id"], ())) for row in rows]

    @staticmethod
    def _used(conn: sqlite3.Connection, resident_key: str, day: date, now: datetime) -> int:
        """The quota rule's sum for one resident-day at ``now``, inside the caller's transaction."""
        cutoff = utc_text(as_utc(now) - GRACE)  # expires_at + GRACE > now  <=>  expires_at > now - GRACE
        value = conn.execute(_USED, (resident_key, day.isoformat(), cutoff)).fetchone()[0]
        return int(value)

    @staticmethod
    def _rules_used(conn: sqlite3.Connection, decl: Declaration, now: datetime) -> dict[str, int]:
        """Per capped rule, the quantity the declarations that count at ``now`` already use that resident-day."""
        cutoff = utc_text(as_utc(now) - GRACE)
        rows = conn.execute(_RULES_USED, (decl.resident_key, decl.day.isoformat(), cutoff)).fetchall()
        return {str(rule): int(quantity) for rule, quantity in rows}

    @staticmethod
    def _uses(conn: sqlite3.Connection, query: str, key: str) -> dict[str, list[sqlite3.Row]]:
        """Rule-use rows by declaration id, in each declaration's order."""
        found: dict[str, list[sqlite3.Row]] = defaultdict(list)
        for row in conn.execute(query, (key,)):
            found[row["declaration_id"]].append(row)
        return found

    @staticmethod
    def _status(conn: sqlite3.Connection, declaration_id: str) -> tuple[Status, str | None]:
        """Status and expires_at text of a declaration; LedgerError if the id is unknown."""
        row = conn.execute(
            "SELECT status, expires_at FROM declarations WHERE id = ?", (declaration_id,)
        ).fetchone()
        if row is None:
            raise LedgerError(f"unknown declaration {declaration_id!r}")
        return Status(row["status"]), row["expires_at"]

    def _stored(self, row: sqlite3.Row, uses: Sequence[sqlite3.Row]) -> StoredDeclaration:
        """Rebuild a StoredDeclaration from a row and its rule uses; LedgerError if they do not decode."""
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
                rule_uses=tuple(RuleUse(u["rule_id"], u["unit"], u["quantity"], u["cap"]) for u in uses),
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
                decision=None if row["decision"] is None else DecisionRecord(
                    row["decided_by"], row["decision"], row["decision_reason"], row["decision_note"],
                    _parse_ts(row["decided_at"]), row["duty_free_fen"],
                ),
            )
        except (ValueError, TypeError) as exc:
            problem = f"ledger {self._path}: declaration {row['id']!r} does not decode: {exc}"
            raise LedgerError(problem) from exc


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
        utc_text(decl.created_at),
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


def _insert_uses(conn: sqlite3.Connection, decl: Declaration) -> None:
    """Store the declaration's rule uses, in its order, with the declaration."""
    conn.executemany(_INSERT_USE, [(decl.id, n, u.rule_id, u.unit, u.quantity, u.cap)
                                   for n, u in enumerate(decl.rule_uses)])


def _check_same(row: sqlite3.Row, decl: Declaration) -> None:
    """LedgerError if a known id comes back with another resident, day or amount (an id reused)."""
    stored = (row["resident_key"], row["day"], row["total_fen"])
    if stored != (decl.resident_key, decl.day.isoformat(), decl.total_fen):
        raise LedgerError(f"declaration id {decl.id!r} is already recorded with different content")
