"""The checkpoint: the one state machine and the single writer of decisions.

Everything that changes a resident's session arrives on one inbox (card and scan
readings, device health, screen commands, gate results) and is handled on one thread,
so a card tap, a confirm and a gate result can never race.  Phases::

    idle ─card ok→ identified ─scan→ scanning ─confirm→ confirming ─┬→ approved ─pulse ok→ gate ─→ idle
      ├─card refused→ rejected ─→ idle                              └→ referred ─→ idle
      └─visitor's passport (identified, no resident quota)→ referred ─→ idle

Time comes from the injected clock; ``tick`` fires the timers (idle warning, reset,
outcome screens).  Tests call ``handle`` and ``tick`` directly; ``start`` runs them on a
thread for the real kiosk.
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from drivers.base import CardFailed, CardRead, IdCard, PassageSeen, ScanRead

from . import screen
from .audit_trail import AuditTrail
from .basket import GoodsData, add_line, assess, hold_refusal_reasons, line_flags, scan_line
from .clock import Clock
from .declaration import Declaration
from .errors import LedgerError
from .events import Cancel, Confirm, DeviceHealth, DeviceReading, EventBus, GateResult, RemoveLine, Touch
from .gate import ANSWER_S as GATE_ANSWER_S
from .gate import GateControl, withdraw_unanswered
from .identity import mask_id, resident_key
from .ledger import Ledger
from .officer_commands import OFFICER_MESSAGES, OfficerCommands, Show
from .policy import Decision, decide, rule_for, trade_day
from .printing import SlipPrinting, SlipResult
from .release_flow import Outcome, ReleaseFlow, record_referral
from .residents import REFERRAL_REASONS, check_eligibility
from .session import OUTCOMES, SHOPPING, Phase, Rules, Session
from .slip import slip_key

log = logging.getLogger(__name__)


__all__ = ["OUTCOMES", "SHOPPING", "Checkpoint", "Phase", "Rules", "Session"]

STATE_TOPIC = "checkpoint.state"
ALERT_TOPIC = "checkpoint.alert"
EXPIRE_EVERY_S = 30.0


class Checkpoint:
    """The kiosk's state machine: feed it messages, read its snapshot."""

    def __init__(self, *, rules: Rules, ledger: Ledger, gate: GateControl, bus: EventBus, clock: Clock,
                 printer: SlipPrinting | None = None, audit: AuditTrail | None = None,
                 new_id: Callable[[], str] = lambda: uuid.uuid4().hex, goods: GoodsData | None = None) -> None:
        self.rules = rules
        self.goods = goods or GoodsData(rules.catalog)
        self.ledger = ledger
        self.gate = gate
        self.bus = bus
        self.clock = clock
        self.alerts: collections.deque[dict[str, Any]] = collections.deque(maxlen=50)
        self.audit = audit or AuditTrail(None, kiosk_id=rules.kiosk_id, clock=clock)
        self.release = ReleaseFlow(gate=gate, ledger=ledger, clock=clock, config=rules.release, post=self.post,
                                   printer=printer, slip_key=slip_key(rules.site_secret), alert=self._alert)
        self.officer = OfficerCommands(self, alert=self._alert)   # decisions, voids, releases by hand
        self._new_id = new_id
        self.phase = Phase.IDLE
        self.session: Session | None = None
        self.reasons: tuple[str, ...] = ()
        self.notice: dict[str, str] | None = None
        self.health: dict[str, str] = {}
        self._activity = clock.monotonic()
        self._phase_until: float | None = None
        self._notice_until: float | None = None
        self._inbox: queue.Queue[tuple[Any, Future[dict[str, Any]] | None]] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.last_tick = clock.monotonic()
        self._next_expiry = self.last_tick
        self._tick_hooks: list[Callable[[], None]] = []
        self._snapshot: dict[str, Any] = {}
        self._publish()

    # -- the inbox and the thread --------------------------------------------------------

    def submit(self, message: Any) -> Future[dict[str, Any]]:
        """Queue a message from any thread; the future resolves to the snapshot after it."""
        fut: Future[dict[str, Any]] = Future()
        self._inbox.put((message, fut))
        return fut

    def post(self, message: Any) -> None:
        """Queue a message without waiting for it (device threads use this)."""
        self._inbox.put((message, None))

    def start(self) -> None:
        """Run the loop on its own thread."""
        self._thread = threading.Thread(target=self._run, name="checkpoint", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """End the loop thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                message, fut = self._inbox.get(timeout=0.1)
            except queue.Empty:
                message, fut = None, None
            self._process(message, fut)
        # Drain what arrived before the stop: the devices were stopped first, so a gate result
        # for a resident already through the turnstile is committed, not left to expire.
        while True:
            try:
                message, fut = self._inbox.get_nowait()
            except queue.Empty:
                return
            self._process(message, fut)

    def _process(self, message: Any, fut: Future[dict[str, Any]] | None) -> None:
        if message is not None:
            try:
                self.handle(message)
            except Exception as exc:  # one bad message must not stop the kiosk
                log.exception("checkpoint failed on %s", type(message).__name__)
                if fut is not None:
                    fut.set_exception(exc)
                    fut = None
        try:
            self.tick()
        except Exception:  # a failing timer must not stop the kiosk either
            log.exception("checkpoint tick failed")
        if fut is not None:
            fut.set_result(self._snapshot)

    def idle_seconds(self, now: float) -> float:
        """Seconds since the resident last did anything."""
        return now - self._activity

    def snapshot(self) -> dict[str, Any]:
        """The latest state as the screens see it (safe to call from any thread)."""
        return self._snapshot

    # -- handling ---------------------------------------------------------------------

    def handle(self, message: Any) -> None:
        """Apply one message to the state machine (on the checkpoint thread only)."""
        if isinstance(message, DeviceReading):
            self._on_reading(message)
        elif isinstance(message, DeviceHealth):
            self.health[message.role] = message.health.state.value
        elif isinstance(message, Confirm):
            self._confirm()
        elif isinstance(message, Cancel):
            if self.phase in SHOPPING or self.phase in (Phase.REFERRED, Phase.REJECTED):
                self._reset("cancelled")
        elif isinstance(message, RemoveLine):
            self._remove_line(message.index)
        elif isinstance(message, Touch):
            self._activity = self.clock.monotonic()
        elif isinstance(message, GateResult):
            self._gate_result(message)
        elif isinstance(message, OFFICER_MESSAGES):
            self._show(self.officer.handle(message))
        elif isinstance(message, SlipResult):
            self.release.on_slip(message)
        else:
            raise TypeError(f"unknown message {type(message).__name__}")
        self._publish()

    def add_tick_hook(self, hook: Callable[[], None]) -> None:
        """Call ``hook`` on the loop thread after every tick (the systemd watchdog feeds from here,
        so a hung decision loop stops the pings and gets restarted)."""
        self._tick_hooks.append(hook)

    def tick(self) -> None:
        """Fire due timers; called by the loop about ten times a second."""
        now = self.clock.monotonic()
        self.last_tick = now
        for hook in self._tick_hooks:
            hook()
        changed = False
        if self._notice_until is not None and now >= self._notice_until:
            self.notice, self._notice_until = None, None
            changed = True
        if self.phase in SHOPPING:
            s = self.rules.session
            if now >= self._activity + s.idle_warning_after_s + s.idle_warning_s:
                self._reset("session_timeout")
                changed = True
            elif now >= self._activity + s.idle_warning_after_s and not self._snapshot.get("warning"):
                changed = True
        elif self._phase_until is not None and now >= self._phase_until:
            if self.phase is Phase.APPROVED and self.session and self.session.declaration:
                decl_id = self.session.declaration.id
                unanswered = withdraw_unanswered(self.gate, decl_id)
                if unanswered is not None:
                    self._gate_result(unanswered)
                else:
                    log.warning("gate pulse for declaration %s still running; waiting for it", decl_id)
                    self._phase_until = now + GATE_ANSWER_S
            else:
                self._reset(None)
            changed = True
        outcome = self.release.tick()
        if outcome is not None:
            self._after_release(outcome)
            changed = True
        if self._show(self.officer.tick()):
            changed = True
        if now >= self._next_expiry:
            self._next_expiry = now + EXPIRE_EVERY_S
            self._expire_holds()
        if changed:
            self._publish()

    def _expire_holds(self) -> None:
        # Stale holds (a kiosk that died between hold and commit) stop counting after their
        # grace period anyway; marking them keeps the records honest for officers.
        try:
            expired = self.ledger.expire_holds(now=self.clock.now())
        except LedgerError as exc:
            log.warning("could not expire stale holds: %s", exc)
            return
        if expired:
            log.info("expired %d stale holds", expired)

    def _on_reading(self, msg: DeviceReading) -> None:
        reading = msg.reading
        self._activity = self.clock.monotonic()
        if isinstance(reading, CardRead):
            self._on_card(reading.card)
        elif isinstance(reading, CardFailed):
            if self.phase is Phase.IDLE or self.phase in OUTCOMES - {Phase.GATE}:
                self._set_notice(reading.reason)
        elif isinstance(reading, ScanRead):
            self._on_scan(reading)
        elif isinstance(reading, PassageSeen):
            if self.officer.takes_passage():
                self._show(self.officer.on_passage(reading.direction))
            else:
                self._after_release(self.release.on_passage(reading.direction))

    def _on_card(self, card: IdCard) -> None:
        if self.phase in (Phase.CONFIRMING, Phase.APPROVED, Phase.GATE):
            return
        if self.phase in SHOPPING and self.session is not None:
            if self.session.card.id_number == card.id_number:
                return
            if self.session.lines:
                self._set_notice("session_in_progress")
                return
        self._identify(card)

    def _identify(self, card: IdCard) -> None:
        self._clear()
        now = self.clock.now()
        day = trade_day(now, self.rules.timezone)
        refusal = check_eligibility(card, self.rules.registry, day)
        masked = mask_id(card.id_number)
        if refusal is not None:
            # a foreign visitor is identified but has no quota: the officer takes over (issue #3)
            referred = refusal in REFERRAL_REASONS
            log.info("identity %s kiosk=%s reason=%s", "referred" if referred else "refused",
                     self.rules.kiosk_id, refusal)
            self.audit.refusal(masked, refusal, "referred" if referred else "rejected")
            self._enter(Phase.REFERRED if referred else Phase.REJECTED, (refusal,))
            return
        key = resident_key(card.id_number, self.rules.site_secret)
        rule = rule_for(self.rules.quota, day)
        try:
            used = self.ledger.used(key, day, now=now)
        except LedgerError as exc:
            log.error("ledger unavailable at identification: %s", exc)
            self._enter(Phase.REFERRED, ("ledger_unavailable",))
            return
        self.session = Session(card=card, key=key, masked_id=masked, rule=rule, day=day, used_fen=used)
        log.info("identified kiosk=%s resident=%s used_fen=%d", self.rules.kiosk_id, key[:12], used)
        self._enter(Phase.IDENTIFIED)

    def _on_scan(self, scan: ScanRead) -> None:
        if self.phase is Phase.IDLE:
            self._set_notice("identify_first")
            return
        if self.phase not in SHOPPING or self.session is None:
            return
        scanned = scan_line(self.goods, scan.text, scan.symbology, self.session.day)   # kiosk.basket
        if scanned.notice is not None:
            self._set_notice(scanned.notice, code=scan.text)
        if scanned.line is not None:
            add_line(self.session.lines, scanned)
            self.phase = Phase.SCANNING

    def _remove_line(self, index: int) -> None:
        if self.phase in SHOPPING and self.session is not None and 0 <= index < len(self.session.lines):
            del self.session.lines[index]
            self._activity = self.clock.monotonic()

    # -- the decision ------------------------------------------------------------------

    def _confirm(self) -> None:
        s = self.session
        if self.phase is not Phase.SCANNING or s is None or not s.lines:
            return
        now = self.clock.now()
        goods = assess(self.goods, s.lines, s.day)       # goods rules, rates (kiosk.basket)
        decl = Declaration(
            id=self._new_id(), kiosk_id=self.rules.kiosk_id, resident_key=s.key, masked_id=s.masked_id,
            day=s.day, created_at=now, lines=tuple(s.lines), limit_fen=s.rule.daily_limit_fen,
            rule_version=goods.version(s.rule.version), rule_uses=goods.rule_uses,
        )
        s.declaration = decl
        self.phase = Phase.CONFIRMING
        self._publish()
        unknown = goods.unknown
        # Goods priced at zero still pass through the gate on a (zero) hold.
        decision = (decide(decl.total_fen, max(0, s.rule.daily_limit_fen - s.used_fen), unknown)
                    if decl.total_fen or unknown else Decision(True, (), 0))
        if goods.details:
            log.info("goods declaration=%s %s", decl.id, "; ".join(goods.details))
            s.flags = line_flags(self.goods, s.lines, s.day)
        if not decision.approve or goods.reasons:
            self._refer(decl, decision.reasons + goods.reasons)
        elif not self.gate.usable():
            self._refer(decl, ("gate_unavailable",))
        else:
            self._hold(decl)

    def _hold(self, decl: Declaration) -> None:
        try:
            result = self.ledger.hold(decl, now=self.clock.now(), ttl_s=self.rules.hold_ttl_s)
        except LedgerError as exc:
            log.error("ledger hold failed declaration=%s: %s", decl.id, exc)
            self._refer(decl, ("ledger_unavailable",), record=False)
            return
        assert self.session is not None
        self.session.used_fen = result.used_fen
        if not result.accepted:
            if result.over_cap:
                log.info("over cap declaration=%s rules=%s", decl.id, ",".join(result.over_cap))
                self.session.flags = line_flags(self.goods, self.session.lines, self.session.day, result.over_cap)
            self._refer(decl, hold_refusal_reasons(decl, result))
            return
        self._log_decision(decl, "approved", ())
        self._enter(Phase.APPROVED)
        self.release.start(decl)

    def _after_release(self, outcome: Outcome | None) -> None:
        """Show what the release flow decided: walk through, done, or referred."""
        s = self.session
        if outcome is None or s is None or s.declaration is None or s.declaration.id != outcome.declaration.id:
            return
        if outcome.kind == "waiting":
            self._enter(Phase.GATE)
            self._phase_until = None          # the passage window decides, not a screen timer
        elif outcome.kind == "committed":
            self.audit.release(outcome.declaration, "committed", ())
            if outcome.used_fen is not None:      # read by the release flow right after the commit
                s.used_fen = outcome.used_fen
            self._enter(Phase.GATE)
        else:
            self.audit.release(outcome.declaration, "released", outcome.reasons)
            self._log_decision(outcome.declaration, "referred", outcome.reasons)
            self._enter(Phase.REFERRED, outcome.reasons)

    def _gate_result(self, result: GateResult) -> None:
        """A pulse ended: an officer's hand release (kiosk.officer_commands) or the resident release flow's."""
        mine, show = self.officer.on_gate_result(result)
        if mine:
            self._show(show)
        else:
            self._after_release(self.release.on_gate_result(result))

    def _show(self, show: Show | None) -> bool:
        """Enter the screen an officer's command asked for (``hold``: no timer, the passage window decides)."""
        if show is None:
            return False
        self._enter(show.phase, show.reasons)
        if show.hold:
            self._phase_until = None
        return True

    def _alert(self, kind: str, data: dict[str, Any]) -> None:
        """Something an officer must see (tailgating, a passage with no release)."""
        alert = {"kind": kind, "at": self.clock.now().isoformat(), **data}
        self.alerts.append(alert)
        self.bus.publish(ALERT_TOPIC, alert)
        self.audit.alert(kind, data)

    def _refer(self, decl: Declaration, reasons: tuple[str, ...], *, record: bool = True) -> None:
        if record:
            reasons = record_referral(self.ledger, decl, self.clock.now(), reasons)
        self._log_decision(decl, "referred", reasons)
        self._enter(Phase.REFERRED, reasons)

    def _log_decision(self, decl: Declaration, outcome: str, reasons: tuple[str, ...]) -> None:
        self.audit.decision(decl, outcome, reasons)
        log.info("decision kiosk=%s declaration=%s resident=%s outcome=%s reasons=%s total_fen=%d",
                 decl.kiosk_id, decl.id, decl.resident_key[:12], outcome, ",".join(reasons) or "-",
                 decl.total_fen)

    # -- phases ------------------------------------------------------------------------

    def _enter(self, phase: Phase, reasons: tuple[str, ...] = ()) -> None:
        self.phase = phase
        self.reasons = reasons
        self._activity = self.clock.monotonic()
        if phase in OUTCOMES:
            self._phase_until = self._activity + self.rules.session.result_s
        elif phase is Phase.APPROVED:
            self._phase_until = self._activity + GATE_ANSWER_S
        else:
            self._phase_until = None

    def _reset(self, reason: str | None) -> None:
        s = self.session
        if reason is not None and s is not None and s.lines:
            log.info("session ended kiosk=%s reason=%s", self.rules.kiosk_id, reason)
        self._clear()
        self.phase = Phase.IDLE

    def _clear(self) -> None:
        self.session = None
        self.reasons = ()
        self.notice, self._notice_until = None, None
        self._phase_until = None

    def _set_notice(self, reason: str, **extra: str) -> None:
        self.notice = {"reason": reason, **extra}
        self._notice_until = self.clock.monotonic() + self.rules.session.result_s

    def _publish(self) -> None:
        snap = screen.snapshot(self, self.clock.monotonic())
        if snap != {k: v for k, v in self._snapshot.items() if k != "version"}:
            snap["version"] = self._snapshot.get("version", 0) + 1
            self._snapshot = snap
            self.bus.publish(STATE_TOPIC, snap)
