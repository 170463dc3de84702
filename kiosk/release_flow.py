"""ReleaseFlow: what happens after a declaration's hold is in the ledger.

The checkpoint hands it the approved declaration; the flow pulses the gate, then either
commits at once (no passage sensor) or waits for the passage sensor through a
``ReleaseWatch``: the passage commits, the timeout releases the hold and refers the resident
without pulsing again, a relay fault releases and refers (fail closed).  After a commit it
asks the printer for the slip; a printer fault never holds anything up.  A second passage on
one release (tailgating), a passage the wrong way, or a passage with no release at all are
reported as alerts for the officer.

It runs on the checkpoint thread only; results of device I/O come back through ``post``
(the checkpoint's inbox) as ``GateResult`` and ``SlipResult``.  Each call returns an
``Outcome`` for the checkpoint to show, or None when nothing changed for the resident.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .clock import Clock
from .config import ReleaseConfig
from .declaration import Declaration, Status
from .errors import LedgerError
from .events import GateResult
from .gate import GateControl
from .ledger import Ledger
from .printing import SlipPrinting, SlipResult
from .release import ReleaseEvent, ReleaseWatch
from .slip import slip_document

log = logging.getLogger(__name__)

COMMIT_RETRY_S = 2.0
"""How often a commit that failed after the gate opened is tried again (while its hold lasts)."""


@dataclass(frozen=True)
class Outcome:
    """What the resident should see next: ``waiting`` (walk through), ``committed`` or ``referred``;
    ``used_fen``: the resident's quota used today as read after a commit (None when not read)."""

    kind: str
    declaration: Declaration
    reasons: tuple[str, ...] = ()
    used_fen: int | None = None


def record_referral(ledger: Ledger, decl: Declaration, now: datetime, reasons: tuple[str, ...]) -> tuple[str, ...]:
    """Record ``decl`` as referred; the reasons to show (``ledger_unavailable`` added when it could not be)."""
    try:
        ledger.refer(decl, now=now, reasons=reasons)
    except LedgerError as exc:
        log.error("could not record referral declaration=%s: %s", decl.id, exc)
        return reasons + ("ledger_unavailable",)
    return reasons


class ReleaseFlow:
    """Pulse, passage, commit or release, slip: one declaration at a time."""

    def __init__(self, *, gate: GateControl, ledger: Ledger, clock: Clock, config: ReleaseConfig,
                 post: Callable[[Any], None], printer: SlipPrinting | None = None, slip_key: bytes | None = None,
                 alert: Callable[[str, dict[str, Any]], None] = lambda kind, data: None) -> None:
        self.gate = gate
        self.ledger = ledger
        self.clock = clock
        self.config = config
        self.printer = printer
        self._post = post
        self._slip_key = slip_key
        self._alert = alert
        self.declaration: Declaration | None = None
        self.watch: ReleaseWatch | None = None
        self.last_slip: SlipResult | None = None
        self._uncommitted: dict[str, Declaration] = {}
        self._next_retry = 0.0

    def busy(self) -> bool:
        """True while a declaration is being released (its pulse asked for, or its passage window open)."""
        return self.declaration is not None or self.watch is not None

    def start(self, decl: Declaration) -> None:
        """The hold is placed: ask for the pulse (the result arrives as a GateResult)."""
        self.declaration = decl
        if self.config.wait_for_passage:
            self.watch = ReleaseWatch(decl.id, started_at=self.clock.monotonic(),
                                      passage_timeout_s=self.config.passage_timeout_s)
        self.gate.pulse(decl.id, self._post)

    def on_gate_result(self, result: GateResult) -> Outcome | None:
        """The relay finished (or failed) the pulse."""
        decl = self.declaration
        if decl is None or decl.id != result.declaration_id:
            if self.watch is not None and self.watch.declaration_id == result.declaration_id:
                # the passage came before the pulse result: the watch still needs it to open its window
                return self._act(self.watch.pulse_done(result.error, self.clock.monotonic()))
            log.warning("gate result for declaration %s that is not being released", result.declaration_id)
            return None
        if self.watch is None:
            if result.error is not None:
                return self._release(decl, "gate_fault", result.error)
            return self._commit(decl)
        return self._act(self.watch.pulse_done(result.error, self.clock.monotonic()), waiting=result.error is None)

    def on_passage(self, direction: str | None) -> Outcome | None:
        """The passage sensor saw someone go through."""
        if self.watch is None:
            self._alert("passage_without_release", {"direction": direction})
            log.warning("passage seen with no release open direction=%s", direction or "-")
            return None
        return self._act(self.watch.passage(direction, self.clock.monotonic()))

    def tick(self) -> Outcome | None:
        """Time moved on: retry failed commits; the passage window may have closed."""
        self._retry_commits()
        if self.watch is None:
            return None
        outcome = self._act(self.watch.tick(self.clock.monotonic()))
        if self.watch is not None and self.watch.finished:
            self.watch = None
        return outcome

    def _retry_commits(self) -> None:
        mono = self.clock.monotonic()
        if not self._uncommitted or mono < self._next_retry:
            return
        self._next_retry = mono + COMMIT_RETRY_S
        for decl_id, decl in list(self._uncommitted.items()):
            try:
                status = self.ledger.commit(decl_id, now=self.clock.now())
            except LedgerError:
                continue
            del self._uncommitted[decl_id]
            if status is Status.committed:
                log.info("late commit succeeded declaration=%s", decl_id)
                self._print(decl, self.clock.now())
            else:
                log.error("late commit impossible declaration=%s status=%s", decl_id, status.value)
                self._alert("commit_lost", {"declaration_id": decl_id, "status": status.value})

    def on_slip(self, result: SlipResult) -> None:
        """The printer finished (or failed) a slip; a failure is logged and shown on /diag."""
        self.last_slip = result
        if result.error is not None:
            log.warning("slip not printed declaration=%s: %s", result.declaration_id, result.error)

    # -- acting on the watch's events ---------------------------------------------------------

    def _act(self, events: list[ReleaseEvent], *, waiting: bool = False) -> Outcome | None:
        outcome: Outcome | None = None
        for event in events:
            decl = self.declaration
            if event.kind == "passed" and decl is not None:
                outcome = self._commit(decl)
            elif event.kind in ("not_passed", "gate_fault") and decl is not None:
                outcome = self._release(decl, event.kind, event.detail)
            elif event.kind in ("tailgating", "wrong_direction"):
                log.warning("%s declaration=%s %s", event.kind, event.declaration_id, event.detail)
                self._alert(event.kind, {"declaration_id": event.declaration_id, "passages": event.passages})
        if outcome is None and waiting and self.declaration is not None:
            outcome = Outcome("waiting", self.declaration)
        return outcome

    def _commit(self, decl: Declaration) -> Outcome:
        now = self.clock.now()
        self.declaration = None
        try:
            status = self.ledger.commit(decl.id, now=now)
        except LedgerError as exc:
            # The resident is already through the gate: keep the declaration and retry the commit
            # from the tick while the hold lasts, rather than letting the hold expire and the goods
            # that left go uncounted.
            log.error("commit failed declaration=%s, will retry: %s", decl.id, exc)
            self._uncommitted[decl.id] = decl
            self._alert("commit_pending", {"declaration_id": decl.id})
            return Outcome("committed", decl, used_fen=self._used(decl, now))
        if status is not Status.committed:
            return self._refer(decl, ("hold_expired",))
        used = self._used(decl, now)          # read once: for the slip and for the screen
        if used is not None:
            self._print(decl, now, used)
        return Outcome("committed", decl, used_fen=used)

    def _used(self, decl: Declaration, now: Any) -> int | None:
        """The resident's quota used today, read after the commit (None, logged, when the ledger cannot say)."""
        try:
            return self.ledger.used(decl.resident_key, decl.day, now=now)
        except LedgerError as exc:
            log.warning("could not read the quota used after commit declaration=%s: %s", decl.id, exc)
            return None

    def _release(self, decl: Declaration, reason: str, detail: str) -> Outcome:
        log.error("release ended without passage declaration=%s reason=%s %s", decl.id, reason, detail)
        self.declaration = None
        try:
            self.ledger.release(decl.id, now=self.clock.now(), reason=reason)
        except LedgerError as exc:
            log.error("release failed declaration=%s: %s", decl.id, exc)
        return self._refer(decl, (reason,))

    def _refer(self, decl: Declaration, reasons: tuple[str, ...]) -> Outcome:
        return Outcome("referred", decl, record_referral(self.ledger, decl, self.clock.now(), reasons))

    def _print(self, decl: Declaration, now: Any, used: int | None = None) -> None:
        if self.printer is None or self._slip_key is None:
            return
        try:
            if used is None:
                used = self.ledger.used(decl.resident_key, decl.day, now=now)
            doc = slip_document(decl, remaining_fen=max(0, decl.limit_fen - used), key=self._slip_key, issued_at=now)
        except Exception:  # the slip must never stand between the resident and the gate
            log.exception("could not prepare the slip for declaration %s", decl.id)
            return
        self.printer.print_slip(decl.id, doc, self._post)
