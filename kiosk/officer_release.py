"""HandRelease: gate pulses an officer asked for, with no ledger in them.

Two things pulse the gate for an officer: a manual release (a wheelchair user, a referral settled at
the desk) and the release of a referral the officer approved while the resident still stands at this
kiosk (the quota was counted by ``ledger.decide``, so there is no hold to commit).  Both use the same
bounded pulse as the release flow (``GateControl.pulse`` on the gate's device thread, its
``GateResult`` back through the checkpoint's inbox, a relay fault failing closed) and, with a passage
sensor, the same pure ``ReleaseWatch`` for the passage window, tailgating and wrong-way passages.

One hand release at a time; it runs on the checkpoint thread only.  Each call returns a ``HandOutcome``
for the checkpoint to show, or None when nothing changed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from .clock import Clock
from .config import ReleaseConfig
from .events import GateResult
from .gate import ANSWER_S, GateControl, withdraw_unanswered
from .release import ReleaseEvent, ReleaseWatch

log = logging.getLogger(__name__)


@dataclass
class HandPulse:
    """One pulse an officer asked for: ``declaration_id`` set for an approved referral, None for a manual release."""

    pulse_id: str
    officer: str
    reason: str
    note: str = ""
    declaration_id: str | None = None
    reply: Future[Any] | None = None
    asked_at: float = 0.0
    watch: ReleaseWatch | None = None
    pulsed: bool = False
    passed: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class HandOutcome:
    """What happened: ``waiting`` (pulsed, passage window open), ``released`` (pulsed, no sensor),
    ``passed``, ``not_passed`` or ``fault`` (the relay failed; detail says why)."""

    kind: str
    pulse: HandPulse
    detail: str = ""


class HandRelease:
    """Officer pulses: ask, wait for the relay, watch the passage; never the ledger."""

    def __init__(self, *, gate: GateControl, clock: Clock, config: ReleaseConfig,
                 post: Callable[[Any], None], alert: Callable[[str, dict[str, Any]], None]) -> None:
        self.gate = gate
        self.clock = clock
        self.config = config
        self._post = post
        self._alert = alert
        self.current: HandPulse | None = None

    def busy(self) -> bool:
        """True while a hand release is pulsing or its passage window is open."""
        return self.current is not None

    def watching(self) -> bool:
        """True while this release's passage window takes the passages (not the resident release flow's)."""
        return self.current is not None and self.current.watch is not None

    def start(self, pulse: HandPulse) -> None:
        """Ask for the pulse (its GateResult comes back through the inbox); one at a time."""
        if self.current is not None:
            raise RuntimeError("a hand release is already running")
        now = self.clock.monotonic()
        pulse.asked_at = now
        if self.config.wait_for_passage:
            pulse.watch = ReleaseWatch(pulse.pulse_id, started_at=now,
                                       passage_timeout_s=self.config.passage_timeout_s)
        self.current = pulse
        log.info("hand release asked pulse=%s officer=%s reason=%s declaration=%s", pulse.pulse_id,
                 pulse.officer, pulse.reason, pulse.declaration_id or "-")
        self.gate.pulse(pulse.pulse_id, self._post)

    def owns(self, pulse_id: str) -> bool:
        """True when ``pulse_id`` is the running hand release's."""
        return self.current is not None and self.current.pulse_id == pulse_id

    def on_gate_result(self, result: GateResult) -> HandOutcome | None:
        """The relay finished (or failed) this release's pulse (the caller answers the officer: ``answer``)."""
        pulse = self.current
        if pulse is None or pulse.pulse_id != result.declaration_id or pulse.pulsed:
            return None
        pulse.pulsed = True
        if result.error is not None:
            self.current = None
            return HandOutcome("fault", pulse, result.error)
        if pulse.watch is None:
            self.current = None
            return HandOutcome("released", pulse)
        self._act(pulse, pulse.watch.pulse_done(None, self.clock.monotonic()))
        return HandOutcome("waiting", pulse) if not pulse.passed else HandOutcome("passed", pulse)

    def on_passage(self, direction: str | None) -> HandOutcome | None:
        """A passage while this release's window is open."""
        pulse = self.current
        if pulse is None or pulse.watch is None:
            return None
        return self._act(pulse, pulse.watch.passage(direction, self.clock.monotonic()))

    def tick(self) -> HandOutcome | None:
        """The passage window may have closed; a relay that never answered is given up on."""
        pulse = self.current
        if pulse is None:
            return None
        now = self.clock.monotonic()
        if not pulse.pulsed and now >= pulse.asked_at + ANSWER_S:
            unanswered = withdraw_unanswered(self.gate, pulse.pulse_id)
            if unanswered is not None:
                return self.on_gate_result(unanswered)
            pulse.asked_at = now            # it is pulsing now: its own result will come
            return None
        if pulse.watch is None:
            return None
        outcome = self._act(pulse, pulse.watch.tick(now))
        if pulse.watch.finished:
            self.current = None
        return outcome

    def _act(self, pulse: HandPulse, events: list[ReleaseEvent]) -> HandOutcome | None:
        outcome: HandOutcome | None = None
        for event in events:
            if event.kind == "passed":
                pulse.passed = True
                outcome = HandOutcome("passed", pulse)
            elif event.kind == "not_passed":
                self.current = None
                outcome = HandOutcome("not_passed", pulse, event.detail)
            elif event.kind in ("tailgating", "wrong_direction"):
                log.warning("%s on hand release pulse=%s %s", event.kind, pulse.pulse_id, event.detail)
                self._alert(event.kind, {"pulse_id": pulse.pulse_id, "passages": event.passages,
                                         **({"declaration_id": pulse.declaration_id} if pulse.declaration_id else {})})
        return outcome

    @staticmethod
    def answer(pulse: HandPulse, *, released: bool, error: str | None) -> None:
        """Give the officer who asked the pulse's outcome (once; later calls do nothing)."""
        if pulse.reply is not None and not pulse.reply.done():
            pulse.reply.set_result({"pulse_id": pulse.pulse_id, "released": released, "error": error,
                                    **pulse.extra})
