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

Once the port is back, ``reconcile(now)`` replays the journal to it (``maybe_reconcile(now)`` from the
checkpoint's tick) and ``conflicts()`` lists what it refused: kiosk.ledger.offline_reconcile, whose
``Reconciler`` the OfflineLedger owns, says how. The journal's table and rows are kiosk.ledger.offline_journal.

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
from datetime import date, datetime, timedelta
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
from kiosk.ledger.offline_reconcile import RECONCILE_EVERY, Conflict, Reconciler, ReconcileReport, port_unavailable
from kiosk.ledger.sqlite_file import connect, explain, transaction

__all__ = ["RECONCILE_EVERY", "Conflict", "OfflineLedger", "ReconcileReport", "port_unavailable"]

log = logging.getLogger(__name__)


class OfflineLedger:
    """The port ledger plus an offline allowance of ``cap_fen`` per resident-day (0: fail closed, the default)."""

    def __init__(self, port: Ledger, journal_path: Path, *, cap_fen: int = 0) -> None:
        if isinstance(cap_fen, bool) or not isinstance(cap_fen, int) or cap_fen < 0:
            raise ValueError(f"cap_fen must be an integer of at least 0, got {cap_fen!r}")
        self._port = port
        self._cap = cap_fen
        self._path = Path(journal_path)
        self._lock = threading.Lock()
        conn = connect(self._path)
        try:
            conn.executescript(journal.SCHEMA)
        except sqlite3.Error as exc:
            conn.close()
            raise LedgerError(f"cannot open offline journal {self._path}: {explain(exc, self._path)}") from exc
        self._conn: sqlite3.Connection | None = conn
        self._reconciler = Reconciler(port, self._path, self._journal)

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

    @property
    def last_report(self) -> ReconcileReport | None:
        """What the last reconcile did (None before the first)."""
        return self._reconciler.last_report

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
            self._reconciler.replay_referral(declaration_id, now)
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
        self._reconciler.join(timeout=30)
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
        self._port.close()

    # --- reconcile -----------------------------------------------------------------------------------------------

    def reconcile(self, now: datetime) -> ReconcileReport:
        """Replay the journal to the port: committed declarations (hold then commit) and referrals; idempotent
        by declaration id, stops at the first call that finds the port unavailable (Reconciler.reconcile)."""
        return self._reconciler.reconcile(now)

    def maybe_reconcile(self, now: datetime, *, background: bool = True) -> bool:
        """For the checkpoint's tick: start a reconcile if one is due (every RECONCILE_EVERY) and anything waits,
        by default on a background thread; never raises (Reconciler.maybe_reconcile). True when one started."""
        return self._reconciler.maybe_reconcile(now, background=background)

    def conflicts(self) -> list[Conflict]:
        """Declarations granted offline that the port refused, oldest first: for officers."""
        return self._reconciler.conflicts()

    def pending(self) -> int:
        """How many journaled declarations wait to be replayed to the port."""
        return self._reconciler.pending()

    # --- internals ------------------------------------------------------------------------------------------------

    def _may_go_offline(self, exc: LedgerError) -> bool:
        return self._cap > 0 and port_unavailable(exc)

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
