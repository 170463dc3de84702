"""PostgreSQL back-end of the quota ledger: one port database shared by every kiosk of the port.

Design: a row lock per resident-day, taken inside one server-side function. ``hold`` is a single call of
the plpgsql function ``ledger_hold`` (migrations/postgres/0001_init.sql) in one autocommit transaction at
READ COMMITTED: it upserts the (resident_key, day) row of ``resident_days``, locks it ``FOR UPDATE``, sums
the quota rule and inserts the hold. Holds of the same resident-day queue on that row; everyone else runs in
parallel. commit, release and refer are one function call each and take no lock row: they never add quota
(held and committed both count; release and refer give it back), and a commit racing an expiry is covered by
GRACE because every statement is bounded by ``statement_timeout``, far below it.

The goods caps (``Declaration.rule_uses``) are per resident-day too, so the same lock row covers them: inside the
same call, under the lock, ``ledger_hold`` sums each capped rule's quantity over the declarations that count
(table ``rule_uses``, migration 0004) and refuses the hold with ``over_cap`` if any would pass its cap, or inserts
the declaration and its rule uses together. An officer's approval (``ledger_decide``, migration 0003) takes the
same lock row before it sums the quota and records the duty-free part, so holds and approvals of one resident-day
never spend the same quota twice. The hold stays one round trip.

Why not SERIALIZABLE with retries, nor the same lock taken from the client: measured on these 2-core machines
(the team's LEDGER-BENCH notes, 2026-11-25, durable, 32 clients; anchors quoted from that file, not measured by
this module): this one-round-trip design reached 2,451 decisions/s closed loop and p99 4.8 ms open loop at
1,000/s; the same row lock from the client (6 round trips) 1,206/s and p99 624 ms; SERIALIZABLE with retries
996/s, 0.24 retries per decision and p99 4.5 s. The hot residents make serializable abort and retry, and a
client-side lock is held across network round trips; here the lock is held only for the function's own
microseconds, and a hold never aborts.

Connection: one per instance, guarded by a lock (as sqlite.py), autocommit, ``statement_timeout`` 5 s and
UTC. With ``lazy=True`` (what a kiosk uses) a database that cannot be reached at construction is not an error:
the kiosk starts, each call tries to connect once (no retry window while the server is known to be down, so a
resident waits at most one connect attempt before the checkpoint refers), and the first call after the server
is back connects, checks the schema and runs. When the connection is lost (a database restart), the call
reconnects within ``retry_window_s`` and runs again once: every call is idempotent by declaration id, and each
is a single statement, so the first attempt either committed entirely or not at all, and the retry returns the
recorded result. If that does not succeed the call raises LedgerError (the checkpoint refers). A call therefore
ends within ``worst_call_s`` (about 16 s by default), well inside GRACE: a commit applied that late with its
caller's ``now`` still cannot overspend.
Every psycopg error reaches the caller as LedgerError naming the database (never its password).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict, make_conninfo

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
    as_utc,
    beijing_day,
    check_decide_args,
    check_decision,
    check_ttl,
    check_void_args,
    void_refusal,
)
from kiosk.ledger.pg_schema import PgConnection, check_schema

__all__ = ["SWEEP_DAYS", "PostgresLedger", "connect", "describe_url", "first_line", "unreachable"]

T = TypeVar("T")
log = logging.getLogger(__name__)

_NAMES = (
    "id", "kiosk_id", "resident_key", "masked_id", "day", "created_at", "lines_json", "total_fen", "limit_fen",
    "rule_version", "status", "reasons_json", "recorded_at", "expires_at", "resolved_at", "voided_by", "void_reason",
    "voided_at", "decision", "decided_by", "decision_reason", "decision_note", "decided_at", "duty_free_fen",
)
# The rule uses come with the row, in the declaration's order, as a JSON array of [rule_id, unit, quantity, cap].
_USES = (
    "(SELECT json_agg(json_build_array(u.rule_id, u.unit, u.quantity, u.cap) ORDER BY u.ordinal)"
    " FROM rule_uses u WHERE u.declaration_id = declarations.id)"
)
_SELECT = f"SELECT {', '.join(_NAMES)}, {_USES} FROM declarations"
_DECL_ARGS = "%s, %s, %s, %s, %s::date, %s::timestamptz, %s, %s::bigint, %s::bigint, %s"
_USE_ARGS = "%s::text[], %s::text[], %s::bigint[], %s::bigint[]"
_HOLD = (
    "SELECT o_outcome, o_used_fen, o_limit_fen, o_over_cap FROM ledger_hold("
    f"{_DECL_ARGS}, %s::timestamptz, %s::timestamptz, %s::timestamptz, {_USE_ARGS})"
)
_REFER = f"SELECT ledger_refer({_DECL_ARGS}, %s::timestamptz, %s, {_USE_ARGS})"
_COMMIT = "SELECT ledger_commit(%s, %s::timestamptz)"
_RELEASE = "SELECT ledger_release(%s, %s::timestamptz, %s)"
_VOID = "SELECT o_status, o_day FROM ledger_void(%s, %s::timestamptz, %s::date, %s, %s)"
_DECIDE = (
    "SELECT o_outcome, o_status, o_day, o_decision"
    " FROM ledger_decide(%s, %s::timestamptz, %s::date, %s, %s, %s, %s, %s::timestamptz)"
)
# Referrals by the time they were referred (resolved_at: a direct referral's recording, a hold's referral).
_REFERRALS = f"{_SELECT} WHERE day = %s::date AND {{which}} ORDER BY resolved_at, id"
_PENDING = "status = 'referred'"
_EVER_REFERRED = "(status = 'referred' OR decision IS NOT NULL)"
_USED = "SELECT ledger_used(%s, %s::date, %s::timestamptz)"
# The sweep finds held rows through declarations_day (an index that never stops commit and release from being HOT
# updates; see migrations/postgres/0005_hot_updates.sql), over the last SWEEP_DAYS days and any later one.
_EXPIRE_DUE = (
    "UPDATE declarations SET status = 'expired', reasons_json = '[\"hold_expired\"]', resolved_at = %s"
    " WHERE day >= %s::date AND status = 'held' AND expires_at <= %s"
)
SWEEP_DAYS = 2
"""How many days before today (Beijing) ``expire_holds`` looks back. A hold lives at most an hour (hold_ttl_s) and
every kiosk sweeps every 30 s, so a held row is marked minutes after it expires. Only if no kiosk of the port ran
for SWEEP_DAYS days while a hold was live would it stay 'held' on record; it counts nothing after GRACE anyway (the
quota rule is time-based), and a late commit of it still answers ``expired``."""
# Errors that mean the session is gone (the server restarted, the network dropped), not that the call failed.
_LOST_STATES = ("57P01", "57P02", "57P03")
_RECONNECT_PAUSE_S = 0.1


def describe_url(url: str) -> str:
    """The URL as shown in messages: user, host, port and database, never the password."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.Error:  # libpq's text echoes the URL, password included: neither shown nor chained
        raise LedgerError("malformed PostgreSQL ledger URL (not shown: it may hold a password)") from None
    user = f"{params['user']}@" if params.get("user") else ""
    port = f":{params['port']}" if params.get("port") else ""
    return f"postgresql://{user}{params.get('host', '')}{port}/{params.get('dbname', '')}"


def connect(url: str, *, statement_timeout_s: float, connect_timeout_s: float) -> PgConnection:
    """Open an autocommit session in UTC with a statement timeout; psycopg errors pass through."""
    params: dict[str, Any] = {
        "application_name": "kiosk-ledger",
        "connect_timeout": str(max(2, round(connect_timeout_s))),
        # A server that vanishes without a FIN (power, network) is noticed in seconds, not hours.
        "keepalives": "1",
        "keepalives_idle": "5",
        "keepalives_interval": "2",
        "keepalives_count": "3",
        "tcp_user_timeout": str(round(1000 * (statement_timeout_s + connect_timeout_s))),
    }
    params.update(conninfo_to_dict(url))
    ours = f"-c statement_timeout={round(statement_timeout_s * 1000)} -c TimeZone=UTC"
    params["options"] = f"{params.get('options', '')} {ours}".strip()
    return psycopg.connect(make_conninfo("", **params), autocommit=True)


class PostgresLedger:
    """The quota ledger in a PostgreSQL database shared by every kiosk of a port; thread-safe."""

    def __init__(
        self,
        url: str,
        *,
        statement_timeout_s: float = 5.0,
        connect_timeout_s: float = 3.0,
        retry_window_s: float = 3.0,
        migrations_dir: Path | None = None,
        lazy: bool = False,
    ) -> None:
        self._url = url
        self._shown = describe_url(url)
        self._statement_timeout_s = statement_timeout_s
        self._connect_timeout_s = connect_timeout_s
        self._retry_window_s = retry_window_s
        self._migrations_dir = migrations_dir
        self._lock = threading.Lock()
        self._closed = False
        self.reconnects = 0  # how often a lost session was replaced (for diagnostics and tests)
        self._conn: PgConnection | None = None
        self._down = False  # the last connection attempt failed: try once per call, without the retry window
        self._connected_once = False
        try:
            self._conn = self._open(time.monotonic())
        except LedgerError as exc:
            if not (lazy and unreachable(exc)):
                raise
            log.warning("ledger %s cannot be reached at start; every call tries again: %s", self._shown, exc)

    @property
    def worst_call_s(self) -> float:
        """The longest one call can take: reconnecting until the retry window ends, then two statements."""
        return self._retry_window_s + self._connect_timeout_s + 2 * self._statement_timeout_s

    @property
    def shown_url(self) -> str:
        """The database, as shown in messages (no password)."""
        return self._shown

    def hold(self, decl: Declaration, *, now: datetime, ttl_s: float) -> HoldResult:
        """Check the quota and the goods caps and record ``decl`` as held, atomically; a retry returns the first
        result."""
        stamp = as_utc(now)
        args = (*_decl_args(decl), stamp, stamp + check_ttl(ttl_s), stamp - GRACE, *_use_args(decl))
        outcome, used, limit, over_cap = self._one("hold", _HOLD, args)
        if outcome == "conflict":
            raise LedgerError(f"declaration id {decl.id!r} is already recorded with different content")
        return HoldResult(outcome == "accepted", int(used), max(0, int(limit) - int(used)), tuple(over_cap or ()))

    def commit(self, declaration_id: str, *, now: datetime) -> Status:
        """Commit a live hold; an expired hold becomes ``expired`` (the caller then refers)."""
        (status,) = self._one("commit", _COMMIT, (declaration_id, as_utc(now)))
        return _known(declaration_id, status)

    def release(self, declaration_id: str, *, now: datetime, reason: str) -> Status:
        """Give a hold's quota back; LedgerError if it is already committed."""
        stamp = as_utc(now)
        if not isinstance(reason, str) or not reason:
            raise ValueError(f"release needs a reason, got {reason!r}")
        (status,) = self._one("release", _RELEASE, (declaration_id, stamp, json.dumps([reason])))
        result = _known(declaration_id, status)
        if result is Status.committed:
            raise LedgerError(f"declaration {declaration_id} is committed and cannot be released")
        return result

    def refer(self, decl: Declaration, *, now: datetime, reasons: Sequence[str]) -> None:
        """Record ``decl`` as referred to an officer (no quota used); idempotent."""
        stamp = as_utc(now)
        if isinstance(reasons, str) or not reasons or not all(isinstance(r, str) and r for r in reasons):
            raise ValueError(f"refer needs a non-empty list of reason keys, got {reasons!r}")
        args = (*_decl_args(decl), stamp, json.dumps(list(reasons)), *_use_args(decl))
        (outcome,) = self._one("refer", _REFER, args)
        if outcome == "conflict":
            raise LedgerError(f"declaration id {decl.id!r} is already recorded with different content")
        if outcome in ("committed", "voided"):
            raise LedgerError(f"declaration {decl.id} is {outcome} and cannot be referred")

    def void(self, declaration_id: str, *, officer: str, reason: str, now: datetime) -> Status:
        """An officer voids a committed or approved declaration of today: its quota returns at once."""
        stamp = as_utc(now)
        today = beijing_day(now)
        check_void_args(officer, reason)
        status_text, day = self._one("void", _VOID, (declaration_id, stamp, today, officer, reason))
        status = _known(declaration_id, status_text)
        if status is not Status.voided:  # the function voids a committed or approved row of today, nothing else
            raise void_refusal(declaration_id, status, day, today)
        return status

    def decide(
        self, declaration_id: str, *, officer: str, decision: str, reason: str, note: str, now: datetime
    ) -> StoredDeclaration:
        """An officer decides a referral of today; ``approved`` counts min(total, remaining) from now on."""
        stamp = as_utc(now)
        today = beijing_day(now)
        check_decide_args(officer, decision, reason, note)
        args = (declaration_id, stamp, today, officer, decision, reason, note, stamp - GRACE)
        outcome, status, day, recorded = self._one("decide", _DECIDE, args)
        if outcome == "unknown":
            raise LedgerError(f"unknown declaration {declaration_id!r}")
        if outcome in ("conflict", "refused"):
            check_decision(declaration_id, Status(status), recorded, decision, day, today)  # raises the reason
            raise LedgerError(f"declaration {declaration_id} cannot be decided ({status})")
        stored = self.get(declaration_id)
        if stored is None:  # cannot happen: declarations are never deleted
            raise LedgerError(f"declaration {declaration_id} vanished after it was decided")
        return stored

    def referrals(self, day: date, *, pending_only: bool = True) -> list[StoredDeclaration]:
        """The referrals of ``day``, oldest referral first; with ``pending_only=False`` the decided ones too."""
        query = _REFERRALS.format(which=_PENDING if pending_only else _EVER_REFERRED)
        rows = self._call("referrals", lambda conn: conn.execute(query, (day,)).fetchall())
        return [self._stored(row) for row in rows]

    def used(self, resident_key: str, day: date, *, now: datetime) -> int:
        """Fen counted against the resident-day at ``now``."""
        (value,) = self._one("used", _USED, (resident_key, day, as_utc(now) - GRACE))
        return int(value)

    def remaining(self, resident_key: str, day: date, *, limit_fen: int, now: datetime) -> int:
        """Fen still available to the resident-day at ``now`` under ``limit_fen`` (never below 0)."""
        return max(0, limit_fen - self.used(resident_key, day, now=now))

    def expire_holds(self, *, now: datetime) -> int:
        """Mark held declarations with ``expires_at <= now`` (of the last SWEEP_DAYS days) as expired; how many."""
        stamp = as_utc(now)
        since = beijing_day(now) - timedelta(days=SWEEP_DAYS)
        return self._call("expire_holds", lambda conn: conn.execute(_EXPIRE_DUE, (stamp, since, stamp)).rowcount)

    def get(self, declaration_id: str) -> StoredDeclaration | None:
        """The recorded declaration, or None if the id is unknown."""
        rows = self._call("get", lambda conn: conn.execute(f"{_SELECT} WHERE id = %s", (declaration_id,)).fetchall())
        return self._stored(rows[0]) if rows else None

    def list_day(self, day: date) -> list[StoredDeclaration]:
        """Every declaration recorded for ``day``, oldest first (exports, officers)."""
        query = f"{_SELECT} WHERE day = %s::date ORDER BY recorded_at, id"
        rows = self._call("list_day", lambda conn: conn.execute(query, (day,)).fetchall())
        return [self._stored(row) for row in rows]

    def close(self) -> None:
        """Close the connection; further calls raise LedgerError. Idempotent."""
        with self._lock:
            self._closed = True
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    # --- the connection: one session, replaced when lost -------------------------------------------------

    def _one(self, op: str, query: str, args: Sequence[object]) -> tuple[Any, ...]:
        """Run a statement that returns exactly one row, and return it."""
        row = self._call(op, lambda conn: conn.execute(query, args).fetchone())
        if row is None:  # cannot happen for the function calls used here
            raise LedgerError(f"ledger {op} on {self._shown} returned no row")
        return row

    def _call(self, op: str, work: Callable[[PgConnection], T]) -> T:
        """Run ``work`` on the live session; after a lost session reconnect and run it once more."""
        with self._lock:
            deadline = time.monotonic() + (0.0 if self._down else self._retry_window_s)
            retried = False
            while True:
                conn = self._live(op, deadline)
                try:
                    return work(conn)
                except psycopg.Error as exc:
                    if not _session_lost(conn, exc):
                        raise LedgerError(f"ledger {op} failed on {self._shown}: {self._explain(exc)}") from exc
                    self._discard()
                    if retried or time.monotonic() >= deadline:
                        raise LedgerError(
                            f"ledger {op} on {self._shown}: the connection was lost and the call could not be "
                            f"completed ({first_line(exc)})"
                        ) from exc
                    retried = True

    def _live(self, op: str, deadline: float) -> PgConnection:
        """The current session, or a new one (retried until ``deadline``); LedgerError when closed or unreachable."""
        if self._closed:
            raise LedgerError(f"ledger {self._shown} is closed ({op})")
        if self._conn is not None and not self._conn.closed and not self._conn.broken:
            return self._conn
        self._discard()
        replacing = self._connected_once
        self._conn = self._open(deadline)
        if replacing:
            self.reconnects += 1
        return self._conn

    def _open(self, deadline: float) -> PgConnection:
        """Connect and check the schema, retrying connection failures until ``deadline``."""
        while True:
            try:
                conn = connect(self._url, statement_timeout_s=self._statement_timeout_s,
                               connect_timeout_s=self._connect_timeout_s)
                break
            except psycopg.OperationalError as exc:
                if time.monotonic() + _RECONNECT_PAUSE_S >= deadline:
                    self._down = True
                    raise LedgerError(f"cannot reach ledger {self._shown}: {first_line(exc)}") from exc
                time.sleep(_RECONNECT_PAUSE_S)
            except psycopg.Error as exc:
                raise LedgerError(f"cannot open ledger {self._shown}: {first_line(exc)}") from exc
        self._down = False
        try:
            check_schema(conn, self._shown, self._migrations_dir)
        except BaseException:
            conn.close()
            raise
        self._connected_once = True
        return conn

    def _discard(self) -> None:
        """Drop the current session, if any, ignoring errors (it is already broken)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _explain(self, exc: psycopg.Error) -> str:
        """A clear reason for a failed statement, then the server's own words."""
        reason = _REASONS.get(type(exc))
        if isinstance(exc, pg_errors.QueryCanceled):
            reason = f"no answer within statement_timeout ({self._statement_timeout_s:g} s)"
        detail = f"{exc.sqlstate or 'client'}: {first_line(exc)}"
        return f"{reason} ({detail})" if reason else detail

    def _stored(self, row: tuple[Any, ...]) -> StoredDeclaration:
        """Rebuild a StoredDeclaration from a row; LedgerError if the row does not decode."""
        r = dict(zip((*_NAMES, "rule_uses"), row, strict=True))
        try:
            decl = Declaration(
                id=r["id"], kiosk_id=r["kiosk_id"], resident_key=r["resident_key"], masked_id=r["masked_id"],
                day=r["day"], created_at=r["created_at"].astimezone(UTC), lines=lines_from_json(r["lines_json"]),
                limit_fen=r["limit_fen"], rule_version=r["rule_version"],
                rule_uses=tuple(RuleUse(*use) for use in r["rule_uses"] or ()),
            )
            return StoredDeclaration(
                declaration=decl, status=Status(r["status"]), reasons=tuple(json.loads(r["reasons_json"])),
                recorded_at=r["recorded_at"].astimezone(UTC), expires_at=_utc_or_none(r["expires_at"]),
                resolved_at=_utc_or_none(r["resolved_at"]),
                void=None if r["voided_at"] is None else VoidRecord(
                    r["voided_by"], r["void_reason"], r["voided_at"].astimezone(UTC)
                ),
                decision=None if r["decision"] is None else DecisionRecord(
                    r["decided_by"], r["decision"], r["decision_reason"], r["decision_note"],
                    r["decided_at"].astimezone(UTC), int(r["duty_free_fen"]),
                ),
            )
        except (ValueError, TypeError, AttributeError) as exc:
            problem = f"ledger {self._shown}: declaration {r['id']!r} does not decode: {exc}"
            raise LedgerError(problem) from exc


_REASONS: dict[type[psycopg.Error], str] = {
    pg_errors.ReadOnlySqlTransaction: "the database is read-only (a standby, or default_transaction_read_only)",
    pg_errors.DiskFull: "the database server's disk is full",
    pg_errors.OutOfMemory: "the database server is out of memory",
    pg_errors.TooManyConnections: "the database server has no free connection",
    pg_errors.UndefinedTable: "the ledger schema is missing: run `kiosk ledger migrate`",
    pg_errors.UndefinedFunction: "the ledger schema is missing: run `kiosk ledger migrate`",
    pg_errors.InsufficientPrivilege: "the database role lacks a privilege on the ledger tables",
}


def _session_lost(conn: PgConnection, exc: psycopg.Error) -> bool:
    """True when ``exc`` means the session is gone, so the call may be run again on a new one."""
    if conn.closed or conn.broken:
        return True
    if not isinstance(exc, psycopg.OperationalError):
        return False
    state = exc.sqlstate
    return state is None or state.startswith("08") or state in _LOST_STATES


def _decl_args(decl: Declaration) -> tuple[object, ...]:
    """The declaration's parameters in ``_DECL_ARGS`` order."""
    return (
        decl.id, decl.kiosk_id, decl.resident_key, decl.masked_id, decl.day, as_utc(decl.created_at, "created_at"),
        lines_to_json(decl.lines), decl.total_fen, decl.limit_fen, decl.rule_version,
    )


def _use_args(decl: Declaration) -> tuple[list[str], list[str], list[int], list[int]]:
    """The declaration's rule uses as the parallel arrays of ``_USE_ARGS``."""
    uses = decl.rule_uses
    return [u.rule_id for u in uses], [u.unit for u in uses], [u.quantity for u in uses], [u.cap for u in uses]


def unreachable(exc: LedgerError) -> bool:
    """True when ``exc`` says the server could not be reached or the session was lost (connection refused, lost,
    timed out), not that it refused the call (a schema, a URL or a data problem)."""
    return isinstance(exc.__cause__, psycopg.OperationalError)


def _known(declaration_id: str, status: str | None) -> Status:
    """The status a function returned; LedgerError for an unknown id (NULL)."""
    if status is None:
        raise LedgerError(f"unknown declaration {declaration_id!r}")
    return Status(status)


def _utc_or_none(moment: datetime | None) -> datetime | None:
    """A nullable timestamptz in UTC."""
    return None if moment is None else moment.astimezone(UTC)


def first_line(exc: BaseException) -> str:
    """The first line of an exception's text (server errors add DETAIL and HINT lines)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
