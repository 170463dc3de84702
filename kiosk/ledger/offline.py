"""The offline allowance: a small, per-resident-day cap a kiosk may grant while the port ledger is unreachable.

``OfflineLedger`` wraps the port ledger (kiosk.ledger.postgres) and implements the same Ledger protocol by
delegating every call to it. By default (``cap_fen == 0``) that is all it does: a port that cannot be reached
raises LedgerError and the checkpoint refers the resident to an officer (fail closed), exactly as without it.

With ``cap_fen > 0``, when a port call fails because the port is unavailable (see ``port_unavailable``):

- ``hold`` accepts a declaration locally only if the resident-day's amount already journaled on this kiosk
  plus the new total stays within ``cap_fen`` AND within the declaration's own limit, and records it in a
  local SQLite journal (its own file, WAL, ``synchronous=FULL``: a journaled declaration opened the gate);
- ``commit`` / ``release`` / ``refer`` / ``void`` of a journaled declaration act on the journal only;
- a declaration that uses a capped goods rule (``rule_uses``) is never held offline: the port's quantities are
  unknown and a cap (1 kg of sugar) is small, so the port's error is raised and the checkpoint refers;
- ``decide`` (an officer's decision) goes to the port only, and raises LedgerError while it is unavailable: a
  referral journaled offline is first written to the port, then decided there;
- ``used`` answers the journal's amount for that resident-day. **The port's figure is unknown offline**: the
  resident may already have spent the whole day's quota at another kiosk, so every fen granted offline may be
  an overspend. That is why the cap must be small, and why it is off by default.

``reconcile(now)`` replays the journal to the port once it is back: each committed declaration is held then
committed there under its own id (both idempotent by id, so a crash in the middle of a reconcile is safe:
the next run finds the hold and commits it, or finds it committed). A hold the port refuses (the resident
also bought at another kiosk meanwhile) is marked ``conflict`` here, recorded at the port as referred (so
exports show it) and listed by ``conflicts()`` for officers. Referrals journaled offline are replayed with
``refer``. ``maybe_reconcile(now)`` is what the checkpoint's tick calls: rate-limited to one attempt every
``RECONCILE_EVERY`` of the caller's ``now``, run on a background thread (a port that is still down must not
stall the decision loop), never raising.

While the port is back but the journal not yet replayed, ``used`` adds the journal's pending amount to the
port's figure, and a port ``hold`` whose result plus that pending amount would pass the limit is released at
once and refused: the kiosk never grants twice the same quota because reconcile lags.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from kiosk.declaration import Declaration, HoldResult, Status, StoredDeclaration
from kiosk.errors import LedgerError
from kiosk.ledger import (
    GRACE,
    Ledger,
    as_utc,
    beijing_day,
    check_decide_args,
    check_decision,
    check_ttl,
    check_void_args,
    utc_text,
    void_refusal,
)
from kiosk.ledger import offline_journal as journal
from kiosk.ledger.sqlite_file import connect, explain, transaction

__all__ = ["RECONCILE_EVERY", "Conflict", "OfflineLedger", "ReconcileReport", "port_unavailable"]

log = logging.getLogger(__name__)

RECONCILE_EVERY = timedelta(seconds=30)
"""How often ``maybe_reconcile`` tries the port (by the caller's clock)."""
RECONCILE_TTL_S = 600.0
"""Lifetime of the port hold reconcile places just before committing it (long: a crash in between may
leave it until the next run, which commits it by id)."""

def port_unavailable(exc: LedgerError) -> bool:
    """True when ``exc`` says the port could not be used (network, server, disk), not that it refused a call.

    The back-ends raise a LedgerError *chained* to the driver's error (psycopg, sqlite3, OSError) when the
    store fails, and an unchained one for a refusal by the quota rules (an unknown id, a committed
    declaration released, an id reused with other content, a closed instance): only the former may fall back
    on the offline allowance.
    """
    cause = exc.__cause__
    return cause is not None and not isinstance(cause, (ValueError, TypeError, KeyError, LookupError))


@dataclass(frozen=True)
class Conflict:
    """A declaration granted offline that the port refused on reconcile: an officer must look at it."""

    declaration_id: str
    masked_id: str
    day: date
    amount_fen: int
    reason: str
    recorded_at: datetime


@dataclass(frozen=True)
class ReconcileReport:
    """What one reconcile did: written to the port, found in conflict, still waiting (port down again)."""

    reconciled: int = 0
    conflicts: int = 0
    pending: int = 0
    error: str | None = None

    @property
    def complete(self) -> bool:
        """True when nothing is left to replay."""
        return self.pending == 0 and self.error is None


class OfflineLedger:
    """The port ledger plus an offline allowance of ``cap_fen`` per resident-day (0: fail closed, the default)."""

    def __init__(self, port: Ledger, journal_path: Path, *, cap_fen: int = 0) -> None:
        if isinstance(cap_fen, bool) or not isinstance(cap_fen, int) or cap_fen < 0:
            raise ValueError(f"cap_fen must be an integer of at least 0, got {cap_fen!r}")
        self._port = port
        self._cap = cap_fen
        self._path = Path(journal_path)
        self._lock = threading.Lock()
        self._reconcile_lock = threading.Lock()
        self._last_attempt: datetime | None = None
        self._worker: threading.Thread | None = None
        self.last_report: ReconcileReport | None = None
        conn = connect(self._path)
        try:
            conn.executescript(journal.SCHEMA)
        except sqlite3.Error as exc:
            conn.close()
            raise LedgerError(f"cannot open offline journal {self._path}: {explain(exc, self._path)}") from exc
        self._conn: sqlite3.Connection | None = conn

    @property
    def port(self) -> Ledger:
        """The wrapped port ledger."""
        return self._port

    @property
    def cap_fen(self) -> int:
        """The offline allowance per resident-day, in fen (0: off)."""
        return self._cap

    @property
    def journal_path(self) -> Path:
        """The journal file."""
        return self._path

    # --- the Ledger protocol -----------------------------------------------------------------------------------

    def hold(self, decl: Declaration, *, now: datetime, ttl_s: float) -> HoldResult:
        """Hold at the port; when it is unavailable and the allowance is on, hold within the cap in the journal."""
        ttl = check_ttl(ttl_s)
        replay = self._journaled_hold(decl)
        if replay is not None:
            return replay
        try:
            result = self._port.hold(decl, now=now, ttl_s=ttl_s)
        except LedgerError as exc:
            if not self._may_go_offline(exc):
                raise
            if decl.rule_uses:  # capped goods: the port's quantities are unknown, the caps small: fail closed
                log.warning("port ledger unavailable; declaration %s has capped goods, not held offline", decl.id)
                raise
            log.warning("port ledger unavailable, holding declaration %s on the offline allowance: %s", decl.id, exc)
            return self._hold_offline(decl, now, ttl)
        if result.accepted:
            pending = self._pending(decl.resident_key, decl.day, now)
            if pending and result.used_fen + pending > decl.limit_fen:
                # The port does not count what this kiosk granted offline and has not replayed yet.
                self._port.release(decl.id, now=now, reason="offline_journal_pending")
                used = result.used_fen - decl.total_fen + pending
                return HoldResult(False, used, max(0, decl.limit_fen - used))
        return result

    def commit(self, declaration_id: str, *, now: datetime) -> Status:
        """Commit a hold: in the journal for a journaled declaration, else at the port."""
        if self._in_journal(declaration_id):
            return self._commit_offline(declaration_id, now)
        return self._port.commit(declaration_id, now=now)

    def release(self, declaration_id: str, *, now: datetime, reason: str) -> Status:
        """Give a hold's quota back: in the journal for a journaled declaration, else at the port."""
        if not isinstance(reason, str) or not reason:
            raise ValueError(f"release needs a reason, got {reason!r}")
        if not self._in_journal(declaration_id):
            return self._port.release(declaration_id, now=now, reason=reason)
        with self._journal("release", write=True) as conn:
            status = self._status(conn, declaration_id)
            if status in ("committed", "reconciled", "conflict"):
                raise LedgerError(f"declaration {declaration_id} is committed and cannot be released")
            if status == "held":
                conn.execute(journal.RESOLVE, ("released", json.dumps([reason]), utc_text(now), declaration_id))
                return Status.released
            return Status(status)

    def refer(self, decl: Declaration, *, now: datetime, reasons: Sequence[str]) -> None:
        """Record a referral at the port; journaled (and replayed later) for a journaled declaration or offline."""
        if isinstance(reasons, str) or not reasons or not all(isinstance(r, str) and r for r in reasons):
            raise ValueError(f"refer needs a non-empty list of reason keys, got {reasons!r}")
        if not self._in_journal(decl.id):
            try:
                self._port.refer(decl, now=now, reasons=reasons)
                return
            except LedgerError as exc:
                if not self._may_go_offline(exc):
                    raise
        stamp, reasons_json = utc_text(now), json.dumps(list(reasons))
        with self._journal("refer", write=True) as conn:
            row = conn.execute(journal.SELECT_ONE, (decl.id,)).fetchone()
            if row is None:
                journal.insert(conn, decl, "referred", stamp, reasons_json=reasons_json, resolved_at=stamp)
                return
            journal.check_same(row, decl)
            status = row["status"]
            if status in ("committed", "reconciled", "conflict", "voided"):
                shown = "committed" if status in ("reconciled", "conflict") else status
                raise LedgerError(f"declaration {decl.id} is {shown} and cannot be referred")
            if status != "referred":
                conn.execute(journal.RESOLVE, ("referred", reasons_json, stamp, decl.id))

    def void(self, declaration_id: str, *, officer: str, reason: str, now: datetime) -> Status:
        """Void at the port; a journaled declaration not yet replayed is voided in the journal (never replayed)."""
        check_void_args(officer, reason)
        row = self._journal_row(declaration_id)
        if row is None or row["status"] in ("reconciled", "conflict"):
            return self._port.void(declaration_id, officer=officer, reason=reason, now=now)
        today = beijing_day(now)
        day = date.fromisoformat(row["day"])
        with self._journal("void", write=True) as conn:
            status = self._status(conn, declaration_id)
            if status == "voided":
                return Status.voided
            if status != "committed" or day != today:
                raise void_refusal(declaration_id, Status(status), day, today)
            conn.execute(
                "UPDATE journal SET status = 'voided', voided_by = ?, void_reason = ?, voided_at = ? WHERE id = ?",
                (officer, reason, utc_text(now), declaration_id),
            )
            return Status.voided

    def decide(
        self, declaration_id: str, *, officer: str, decision: str, reason: str, note: str, now: datetime
    ) -> StoredDeclaration:
        """Decide at the port (officers decide against the port ledger only; LedgerError while it is unavailable).

        A referral journaled offline and not replayed yet is written to the port first, then decided there.
        """
        check_decide_args(officer, decision, reason, note)
        row = self._journal_row(declaration_id)
        if row is not None and row["status"] not in ("reconciled", "conflict"):
            if row["status"] != "referred":  # held, committed, ... on the offline allowance: not a referral
                check_decision(declaration_id, Status(row["status"]), None, decision, date.fromisoformat(row["day"]),
                               beijing_day(now))
            with self._reconcile_lock:  # never together with a reconcile replaying the same referral
                row = self._journal_row(declaration_id)
                if row is not None and row["status"] == "referred":
                    self._port.refer(journal.declaration(row, self._path), now=now,
                                     reasons=tuple(json.loads(row["reasons_json"])))
                    self._mark(declaration_id, "reconciled", now, None)
        return self._port.decide(declaration_id, officer=officer, decision=decision, reason=reason, note=note,
                                 now=now)

    def referrals(self, day: date, *, pending_only: bool = True) -> list[StoredDeclaration]:
        """The port's referrals of ``day`` plus those journaled offline and not replayed yet (still waiting);
        LedgerError while the port is unavailable (officers work against the port)."""
        found = self._port.referrals(day, pending_only=pending_only)
        known = {stored.declaration.id for stored in found}
        with self._journal("referrals", write=False) as conn:
            rows = conn.execute(f"SELECT {journal.COLUMNS} FROM journal WHERE day = ? AND status = 'referred'",
                                (day.isoformat(),)).fetchall()
        extra = [journal.stored(row, self._path) for row in rows if row["id"] not in known]
        return sorted(found + extra, key=lambda s: (s.resolved_at or s.recorded_at, s.declaration.id))

    def used(self, resident_key: str, day: date, *, now: datetime) -> int:
        """Fen counted against the resident-day: the port's figure plus what the journal has not replayed yet.

        Offline (port unavailable, allowance on) this is the journal's amount only: the port's figure is
        unknown, so it can be far below the truth. That is why the offline cap must stay small.
        """
        try:
            port_used = self._port.used(resident_key, day, now=now)
        except LedgerError as exc:
            if not self._may_go_offline(exc):
                raise
            return self._journaled(resident_key, day, now)
        return port_used + self._pending(resident_key, day, now)

    def remaining(self, resident_key: str, day: date, *, limit_fen: int, now: datetime) -> int:
        """Fen still available under ``limit_fen`` (never below 0), from ``used``."""
        return max(0, limit_fen - self.used(resident_key, day, now=now))

    def expire_holds(self, *, now: datetime) -> int:
        """Expire due holds in the journal and at the port; offline (allowance on) the journal's only."""
        stamp = utc_text(now)
        with self._journal("expire_holds", write=True) as conn:
            local = conn.execute(journal.EXPIRE_DUE, (journal.EXPIRED_REASONS, stamp, stamp)).rowcount
        try:
            return local + self._port.expire_holds(now=now)
        except LedgerError as exc:
            if not self._may_go_offline(exc):
                raise
            return local

    def get(self, declaration_id: str) -> StoredDeclaration | None:
        """The journal's record until it is replayed, then the port's."""
        row = self._journal_row(declaration_id)
        if row is not None and row["status"] not in ("reconciled", "conflict"):
            return journal.stored(row, self._path)
        try:
            found = self._port.get(declaration_id)
        except LedgerError as exc:
            if row is None or not self._may_go_offline(exc):
                raise
            return journal.stored(row, self._path)
        if found is None and row is not None:
            return journal.stored(row, self._path)
        if found is not None and row is not None and row["status"] == "conflict":
            return journal.stored(row, self._path)  # the port has it as referred; the goods left: the journal says why
        return found

    def list_day(self, day: date) -> list[StoredDeclaration]:
        """The port's declarations of ``day`` plus those only the journal has; LedgerError if the port is down
        (an export must be whole, never silently partial)."""
        found = self._port.list_day(day)
        known = {stored.declaration.id for stored in found}
        with self._journal("list_day", write=False) as conn:
            rows = conn.execute(
                f"SELECT {journal.COLUMNS} FROM journal WHERE day = ? ORDER BY recorded_at, id", (day.isoformat(),)
            ).fetchall()
        extra = [journal.stored(row, self._path) for row in rows if row["id"] not in known]
        return sorted(found + extra, key=lambda s: (s.recorded_at, s.declaration.id))

    def close(self) -> None:
        """Close the journal and the port ledger. Idempotent."""
        worker = self._worker
        if worker is not None:
            worker.join(timeout=30)
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
        self._port.close()

    # --- reconcile -----------------------------------------------------------------------------------------------

    def reconcile(self, now: datetime) -> ReconcileReport:
        """Replay the journal to the port: committed declarations (hold then commit) and referrals.

        Idempotent by declaration id: run twice, or after a crash in the middle, it writes each at most once.
        Stops at the first call that finds the port unavailable (the rest stays pending for the next run).
        """
        with self._reconcile_lock:
            with self._journal("reconcile", write=False) as conn:
                rows = conn.execute(
                    f"SELECT {journal.COLUMNS} FROM journal WHERE status IN ('committed', 'referred')"
                    " ORDER BY recorded_at, id"
                ).fetchall()
            reconciled = conflicts = 0
            for index, row in enumerate(rows):
                try:
                    outcome = self._replay(row, now)
                except LedgerError as exc:
                    if port_unavailable(exc):
                        report = ReconcileReport(reconciled, conflicts, len(rows) - index, str(exc))
                        self.last_report = report
                        return report
                    outcome = f"port refused: {exc}"
                if outcome is None:
                    self._mark(row["id"], "reconciled", now, None)
                    reconciled += 1
                else:
                    self._mark(row["id"], "conflict", now, outcome)
                    conflicts += 1
                    log.warning("offline declaration %s in conflict with the port ledger: %s", row["id"], outcome)
            report = ReconcileReport(reconciled, conflicts, 0, None)
            self.last_report = report
            return report

    def maybe_reconcile(self, now: datetime, *, background: bool = True) -> bool:
        """Start a reconcile if one is due (every RECONCILE_EVERY) and the journal has anything to replay.

        For the checkpoint's tick: never raises, and by default runs the replay on a background thread so
        that a port still down (each attempt may take the port's whole retry window) never stalls the loop.
        Returns True when a reconcile was started.
        """
        try:
            if self._last_attempt is not None and as_utc(now) - self._last_attempt < RECONCILE_EVERY:
                return False
            if self._worker is not None and self._worker.is_alive():
                return False
            self._last_attempt = as_utc(now)
            if not self.pending():
                return False
            if not background:
                self._reconcile_quietly(now)
                return True
            self._worker = threading.Thread(target=self._reconcile_quietly, args=(now,),
                                            name="offline-reconcile", daemon=True)
            self._worker.start()
            return True
        except Exception:
            log.exception("offline reconcile could not start")
            return False

    def conflicts(self) -> list[Conflict]:
        """Declarations granted offline that the port refused, oldest first: for officers."""
        with self._journal("conflicts", write=False) as conn:
            rows = conn.execute(
                "SELECT id, masked_id, day, total_fen, conflict_reason, recorded_at FROM journal"
                " WHERE status = 'conflict' ORDER BY recorded_at, id"
            ).fetchall()
        return [
            Conflict(row["id"], row["masked_id"], date.fromisoformat(row["day"]), row["total_fen"],
                     row["conflict_reason"] or "",
                     journal.parse_ts(row["recorded_at"]) or datetime.min.replace(tzinfo=UTC))
            for row in rows
        ]

    def pending(self) -> int:
        """How many journaled declarations wait to be replayed to the port."""
        with self._journal("pending", write=False) as conn:
            value = conn.execute("SELECT COUNT(*) FROM journal WHERE status IN ('committed', 'referred')").fetchone()
        return int(value[0])

    # --- internals ------------------------------------------------------------------------------------------------

    def _may_go_offline(self, exc: LedgerError) -> bool:
        return self._cap > 0 and port_unavailable(exc)

    def _reconcile_quietly(self, now: datetime) -> None:
        try:
            report = self.reconcile(now)
        except Exception:
            log.exception("offline reconcile failed")
            return
        if report.reconciled or report.conflicts:
            log.info("offline reconcile: %d written to the port, %d conflicts, %d pending",
                     report.reconciled, report.conflicts, report.pending)
        elif report.error:
            log.info("offline reconcile: port still unavailable (%d pending)", report.pending)

    def _replay(self, row: sqlite3.Row, now: datetime) -> str | None:
        """Write one journaled declaration to the port; None when done, else the conflict's reason."""
        decl = journal.declaration(row, self._path)
        if row["status"] == "referred":
            self._port.refer(decl, now=now, reasons=tuple(json.loads(row["reasons_json"])))
            return None
        result = self._port.hold(decl, now=now, ttl_s=RECONCILE_TTL_S)
        if not result.accepted:
            reason = (f"over the limit at the port: {result.used_fen} fen already used of {decl.limit_fen}, "
                      f"{decl.total_fen} more granted offline")
            try:
                self._port.refer(decl, now=now, reasons=("offline_conflict",))
            except LedgerError as exc:
                if port_unavailable(exc):
                    raise
                log.warning("could not record offline conflict %s at the port: %s", decl.id, exc)
            return reason
        status = self._port.commit(decl.id, now=now)
        if status is not Status.committed:
            return f"the port's hold ended {status.value} before reconcile could commit it"
        return None

    def _mark(self, declaration_id: str, status: str, now: datetime, reason: str | None) -> None:
        with self._journal("reconcile", write=True) as conn:
            conn.execute(
                "UPDATE journal SET status = ?, reconciled_at = ?, conflict_reason = ? WHERE id = ?",
                (status, utc_text(now), reason, declaration_id),
            )

    def _hold_offline(self, decl: Declaration, now: datetime, ttl: timedelta) -> HoldResult:
        stamp = utc_text(now)
        ceiling = min(self._cap, decl.limit_fen)
        with self._journal("hold", write=True) as conn:
            row = conn.execute(journal.SELECT_ONE, (decl.id,)).fetchone()
            if row is not None:
                return self._replay_hold(conn, row, decl, now, ceiling)
            used = _journal_sum(conn, journal.JOURNALED, decl.resident_key, decl.day, now)
            if used + decl.total_fen > ceiling:
                return HoldResult(False, used, max(0, ceiling - used))
            used += decl.total_fen
            journal.insert(conn, decl, "held", stamp, hold_used_fen=used, expires_at=utc_text(as_utc(now) + ttl))
            return HoldResult(True, used, max(0, ceiling - used))

    def _journaled_hold(self, decl: Declaration) -> HoldResult | None:
        """A retried hold of a declaration the journal holds: its first result (no port call)."""
        row = self._journal_row(decl.id)
        if row is None:
            return None
        journal.check_same(row, decl)
        ceiling = min(self._cap, decl.limit_fen)
        used = row["hold_used_fen"]
        if used is not None:
            return HoldResult(True, used, max(0, ceiling - used))
        return HoldResult(False, 0, 0)  # journaled by an offline refer: never held

    def _replay_hold(self, conn: sqlite3.Connection, row: sqlite3.Row, decl: Declaration, now: datetime,
                     ceiling: int) -> HoldResult:
        journal.check_same(row, decl)
        if row["hold_used_fen"] is not None:
            return HoldResult(True, row["hold_used_fen"], max(0, ceiling - row["hold_used_fen"]))
        used = _journal_sum(conn, journal.JOURNALED, decl.resident_key, decl.day, now)
        return HoldResult(False, used, max(0, ceiling - used))

    def _commit_offline(self, declaration_id: str, now: datetime) -> Status:
        stamp = utc_text(now)
        with self._journal("commit", write=True) as conn:
            row = conn.execute("SELECT status, expires_at FROM journal WHERE id = ?", (declaration_id,)).fetchone()
            if row is None:
                raise LedgerError(f"unknown declaration {declaration_id!r}")
            status = row["status"]
            if status in ("reconciled", "conflict"):
                return Status.committed
            if status != "held":
                return Status(status)
            if row["expires_at"] is not None and row["expires_at"] > stamp:
                conn.execute(journal.RESOLVE, ("committed", "[]", stamp, declaration_id))
                return Status.committed
            conn.execute(journal.RESOLVE, ("expired", journal.EXPIRED_REASONS, stamp, declaration_id))
            return Status.expired

    def _journaled(self, resident_key: str, day: date, now: datetime) -> int:
        """Fen journaled for the resident-day that count at ``now``, reconciled or not (what offline grants)."""
        with self._journal("used", write=False) as conn:
            return _journal_sum(conn, journal.JOURNALED, resident_key, day, now)

    def _pending(self, resident_key: str, day: date, now: datetime) -> int:
        """Fen journaled for the resident-day that count at ``now`` and the port does not count yet."""
        with self._journal("used", write=False) as conn:
            return _journal_sum(conn, journal.PENDING, resident_key, day, now)

    def _in_journal(self, declaration_id: str) -> bool:
        return self._journal_row(declaration_id) is not None

    def _journal_row(self, declaration_id: str) -> sqlite3.Row | None:
        with self._journal("get", write=False) as conn:
            row: sqlite3.Row | None = conn.execute(journal.SELECT_ONE, (declaration_id,)).fetchone()
        return row

    @staticmethod
    def _status(conn: sqlite3.Connection, declaration_id: str) -> str:
        row = conn.execute("SELECT status FROM journal WHERE id = ?", (declaration_id,)).fetchone()
        if row is None:
            raise LedgerError(f"unknown declaration {declaration_id!r}")
        return str(row["status"])

    @contextmanager
    def _journal(self, op: str, *, write: bool) -> Iterator[sqlite3.Connection]:
        """One journal transaction under the instance lock; sqlite3 errors become LedgerError."""
        with transaction(self._lock, self._conn, what="offline journal", path=str(self._path), op=op,
                         begin="BEGIN IMMEDIATE" if write else "BEGIN") as conn:
            yield conn


def _journal_sum(conn: sqlite3.Connection, query: str, resident_key: str, day: date, now: datetime) -> int:
    """A journal sum (journal.JOURNALED or journal.PENDING) of the resident-day at ``now``, in the caller's
    transaction."""
    cutoff = utc_text(as_utc(now) - GRACE)  # expires_at + GRACE > now, as the port ledger counts
    return int(conn.execute(query, (resident_key, day.isoformat(), cutoff)).fetchone()[0])
