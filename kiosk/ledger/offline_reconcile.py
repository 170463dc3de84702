"""Reconcile: the offline journal replayed to the port ledger once it is back, and the conflicts that leaves.

Used by kiosk.ledger.offline: the OfflineLedger owns one ``Reconciler``, gives it the journal's transactions and
delegates ``reconcile``, ``maybe_reconcile``, ``conflicts`` and ``pending`` to it.

``reconcile(now)`` replays the journal to the port once it is back: each committed declaration is held then
committed there under its own id (both idempotent by id, so a crash in the middle of a reconcile is safe:
the next run finds the hold and commits it, or finds it committed). A hold the port refuses (the resident
also bought at another kiosk meanwhile) is marked ``conflict`` here, recorded at the port as referred (so
exports show it) and listed by ``conflicts()`` for officers. Referrals journaled offline are replayed with
``refer``. ``maybe_reconcile(now)`` is what the checkpoint's tick calls: rate-limited to one attempt every
``RECONCILE_EVERY`` of the caller's ``now``, run on a background thread (a port that is still down must not
stall the decision loop), never raising.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Protocol

from kiosk.declaration import Status
from kiosk.errors import LedgerError
from kiosk.ledger import Ledger, as_utc, utc_text
from kiosk.ledger import offline_journal as journal

__all__ = ["RECONCILE_EVERY", "RECONCILE_TTL_S", "Conflict", "ReconcileReport", "Reconciler", "port_unavailable"]

log = logging.getLogger("kiosk.ledger.offline")  # one logger for the whole offline allowance: hold and reconcile

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


class JournalTransaction(Protocol):
    """The OfflineLedger's ``_journal``: one journal transaction under its lock, sqlite3 errors as LedgerError."""

    def __call__(self, op: str, *, write: bool) -> AbstractContextManager[sqlite3.Connection]: ...


class Reconciler:
    """Replays an offline journal to the port ledger, one reconcile at a time; lists what the port refused."""

    def __init__(self, port: Ledger, journal_path: Path, transaction: JournalTransaction) -> None:
        self._port = port
        self._path = journal_path
        self._journal = transaction
        self._lock = threading.Lock()
        self._last_attempt: datetime | None = None
        self._worker: threading.Thread | None = None
        self.last_report: ReconcileReport | None = None

    def reconcile(self, now: datetime) -> ReconcileReport:
        """Replay the journal to the port: committed declarations (hold then commit) and referrals.

        Idempotent by declaration id: run twice, or after a crash in the middle, it writes each at most once.
        Stops at the first call that finds the port unavailable (the rest stays pending for the next run).
        """
        with self._lock:
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

    def replay_referral(self, declaration_id: str, now: datetime) -> None:
        """Write a referral journaled offline to the port now (for an officer to decide there), unless a
        reconcile already did; never together with a reconcile replaying the same referral."""
        with self._lock:
            with self._journal("get", write=False) as conn:
                row: sqlite3.Row | None = conn.execute(journal.SELECT_ONE, (declaration_id,)).fetchone()
            if row is not None and row["status"] == "referred":
                self._replay(row, now)
                self._mark(declaration_id, "reconciled", now, None)

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

    def join(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for a background reconcile to end (before the journal closes)."""
        worker = self._worker
        if worker is not None:
            worker.join(timeout=timeout)

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
