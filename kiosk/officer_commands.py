"""OfficerCommands: what the checkpoint does with an officer's commands, on its own thread.

The checkpoint stays the single writer: an officer's decision on a referral, a void and a manual gate
release arrive on its inbox like a card or a confirm (``kiosk.events.OfficerDecided``, ``OfficerVoid``,
``ManualRelease``), so an override can never race a card tap.  Each message carries a ``reply`` future
that gets the outcome (a ``DecisionOutcome`` / ``VoidOutcome`` / the pulse's result) or an
``OfficerError`` with a stable key.

- **Decide** (``ledger.decide``): approved, taxed or rejected, for a referred declaration of today.  A
  repeat of the same decision answers the recorded one (nothing written, nothing audited again); a
  different decision on a decided declaration is refused.  When the resident still stands on that
  referral at this kiosk, the screen follows: approved pulses the gate for them through ``HandRelease``
  (no hold or commit: the quota was counted by ``decide``) and shows the approved, then the gate screen;
  taxed and rejected show where to go (reason keys ``officer_taxed`` / ``officer_rejected``).
- **Void** (``ledger.void``) a committed declaration of today: its quota returns at once.
- **Manual release**: one bounded pulse, never the ledger, refused while a resident's declaration is in
  flight at this kiosk (confirming, approved, gate) or another hand release runs.

Every action is audited with the officer as actor (``officer:NAME``), masked ID numbers and resident keys
only, and announced on the bus (``officer.queue``) so every open console refreshes its queue.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .declaration import StoredDeclaration
from .errors import LedgerError
from .events import ManualRelease, OfficerDecided, OfficerVoid
from .officer_codes import OfficerError, mask_note
from .officer_release import HandOutcome, HandPulse, HandRelease
from .policy import trade_day
from .session import Phase

if TYPE_CHECKING:
    from .checkpoint import Checkpoint

log = logging.getLogger(__name__)

QUEUE_TOPIC = "officer.queue"
IN_FLIGHT = frozenset({Phase.CONFIRMING, Phase.APPROVED, Phase.GATE})
"""Phases in which a resident's declaration is being released: no manual release then."""
OFFICER_MESSAGES = (OfficerDecided, OfficerVoid, ManualRelease)


@dataclass(frozen=True)
class Show:
    """A screen for the checkpoint to enter; ``hold`` keeps it until the passage window decides."""

    phase: Phase
    reasons: tuple[str, ...] = ()
    hold: bool = False


@dataclass(frozen=True)
class DecisionOutcome:
    """A decision as recorded; ``repeat`` when it had been made before, ``gate`` ``pulsing`` when the
    resident was still at this kiosk and the gate opens for them."""

    stored: StoredDeclaration
    repeat: bool
    at_kiosk: bool
    gate: str | None = None


@dataclass(frozen=True)
class VoidOutcome:
    """A void as recorded (``repeat`` when the declaration was already voided)."""

    stored: StoredDeclaration
    repeat: bool


class OfficerCommands:
    """Decide, void and release by hand, for the checkpoint that owns this object."""

    def __init__(self, cp: Checkpoint, *, alert: Callable[[str, dict[str, Any]], None]) -> None:
        self.cp = cp
        self._alert = alert
        self.hand = HandRelease(gate=cp.gate, clock=cp.clock, config=cp.rules.release, post=cp.post, alert=alert)

    # -- messages ---------------------------------------------------------------------------------------

    def handle(self, message: Any) -> Show | None:
        """Apply one officer message; its reply gets the outcome or the OfficerError."""
        reply = message.reply
        message = dataclasses.replace(message, note=mask_note(message.note))     # whatever sent it
        try:
            if isinstance(message, OfficerDecided):
                return self._decide(message)
            if isinstance(message, OfficerVoid):
                self._void(message)
                return None
            if isinstance(message, ManualRelease):
                self._manual(message)
                return None
            raise TypeError(f"not an officer message: {type(message).__name__}")
        except OfficerError as exc:
            log.info("officer command refused kind=%s officer=%s key=%s", type(message).__name__,
                     message.officer, exc.key)
            reply.set_exception(exc)
        except LedgerError as exc:
            log.error("officer command failed on the ledger kind=%s: %s", type(message).__name__, exc)
            reply.set_exception(OfficerError("ledger_unavailable", f"the ledger could not answer: {exc}"))
        except Exception as exc:
            if not reply.done():
                reply.set_exception(exc)
            raise
        return None

    def _decide(self, msg: OfficerDecided) -> Show | None:
        cp = self.cp
        now = cp.clock.now()
        before = self._known(msg.declaration_id)
        done = before.decision
        if done is not None:
            if done.decision != msg.decision:
                raise OfficerError("already_decided", f"declaration {msg.declaration_id} was already decided "
                                                      f"({done.decision} by {done.officer})")
            msg.reply.set_result(DecisionOutcome(before, repeat=True, at_kiosk=False))
            return None
        if before.status.value != "referred":
            raise OfficerError("not_referred", f"declaration {msg.declaration_id} is {before.status.value}, "
                                               "not referred: only a referral can be decided")
        if before.declaration.day != trade_day(now, cp.rules.timezone):
            raise OfficerError("not_today", f"declaration {msg.declaration_id} is of "
                                            f"{before.declaration.day.isoformat()}: only today's referrals are decided")
        at_kiosk = self._on_screen(msg.declaration_id) and cp.phase is Phase.REFERRED
        if at_kiosk and msg.decision == "approved" and self.hand.busy():
            raise OfficerError("gate_busy", "the gate is being released by hand right now; decide again in a moment")
        stored = cp.ledger.decide(msg.declaration_id, officer=msg.officer, decision=msg.decision,
                                  reason=msg.reason, note=msg.note, now=now)
        decl = stored.declaration
        record = stored.decision
        cp.audit.officer_action("officer_decision", msg.officer, {
            "declaration_id": decl.id, "masked_id": decl.masked_id, "resident": decl.resident_key[:16],
            "decision": msg.decision, "reason": msg.reason, "note": msg.note, "total_fen": decl.total_fen,
            "duty_free_fen": record.duty_free_fen if record is not None else 0})
        log.info("officer decision declaration=%s officer=%s decision=%s reason=%s at_kiosk=%s", decl.id,
                 msg.officer, msg.decision, msg.reason, at_kiosk)
        self._announce("decided", decl.id)
        show = self._screen_after(msg, stored) if at_kiosk else None
        gate = "pulsing" if show is not None and show.phase is Phase.APPROVED else None
        msg.reply.set_result(DecisionOutcome(stored, repeat=False, at_kiosk=at_kiosk, gate=gate))
        return show

    def _screen_after(self, msg: OfficerDecided, stored: StoredDeclaration) -> Show:
        """The resident is still on this referral: show the decision (and open the gate on approval)."""
        if msg.decision == "taxed":
            return Show(Phase.REFERRED, ("officer_taxed",))
        if msg.decision != "approved":
            return Show(Phase.REJECTED, ("officer_rejected",))
        self._refresh_quota(stored.declaration.resident_key)
        decl_id = stored.declaration.id
        self._start(HandPulse(decl_id, msg.officer, msg.reason, msg.note, declaration_id=decl_id))
        return Show(Phase.APPROVED, ("officer_approved",))

    def _void(self, msg: OfficerVoid) -> None:
        cp = self.cp
        now = cp.clock.now()
        before = self._known(msg.declaration_id)
        status = before.status.value
        if status == "voided":
            msg.reply.set_result(VoidOutcome(before, repeat=True))
            return
        if status not in ("committed", "approved"):
            raise OfficerError("not_voidable", f"declaration {msg.declaration_id} is {status}: only a committed "
                                               "declaration can be voided")
        if before.declaration.day != trade_day(now, cp.rules.timezone):
            raise OfficerError("not_today", f"declaration {msg.declaration_id} is of "
                                            f"{before.declaration.day.isoformat()}: only today's can be voided")
        reason = f"{msg.reason}: {msg.note}" if msg.note else msg.reason
        try:
            cp.ledger.void(msg.declaration_id, officer=msg.officer, reason=reason, now=now)
        except LedgerError as exc:
            if status != "committed":         # the ledger's own rule (e.g. an officer-approved declaration)
                raise OfficerError("not_voidable", str(exc)) from exc
            raise
        stored = cp.ledger.get(msg.declaration_id) or before
        decl = stored.declaration
        cp.audit.officer_action("void", msg.officer, {
            "declaration_id": decl.id, "masked_id": decl.masked_id, "resident": decl.resident_key[:16],
            "reason": msg.reason, "note": msg.note, "total_fen": decl.total_fen})
        log.info("officer void declaration=%s officer=%s reason=%s", decl.id, msg.officer, msg.reason)
        self._refresh_quota(decl.resident_key)
        self._announce("voided", decl.id)
        msg.reply.set_result(VoidOutcome(stored, repeat=False))

    def _manual(self, msg: ManualRelease) -> None:
        cp = self.cp
        if cp.phase in IN_FLIGHT or cp.release.busy():
            raise OfficerError("declaration_in_flight", "a resident's declaration is being released at this kiosk "
                                                        f"({cp.phase.value}): release by hand once it is done")
        if self.hand.busy():
            raise OfficerError("gate_busy", "the gate is already being released by hand")
        if not cp.gate.usable():
            raise OfficerError("gate_unavailable", "the gate relay is not connected: nothing can be released")
        pulse_id = "manual-" + uuid.uuid4().hex[:16]
        cp.audit.officer_action("manual_release", msg.officer, {
            "pulse_id": pulse_id, "reason": msg.reason, "note": msg.note, "phase": cp.phase.value})
        self._start(HandPulse(pulse_id, msg.officer, msg.reason, msg.note, reply=msg.reply))

    # -- the gate's answers -------------------------------------------------------------------------------

    def on_gate_result(self, result: Any) -> tuple[bool, Show | None]:
        """(True, screen) when the GateResult is a hand release's; (False, None) for the release flow's."""
        if not self.hand.owns(result.declaration_id):
            return False, None
        return True, self._after_hand(self.hand.on_gate_result(result))

    def takes_passage(self) -> bool:
        """True when a passage now belongs to a hand release (the resident release flow has no window open)."""
        return self.hand.watching() and self.cp.release.watch is None

    def on_passage(self, direction: str | None) -> Show | None:
        """A passage in a hand release's window."""
        return self._after_hand(self.hand.on_passage(direction))

    def tick(self) -> Show | None:
        """Time moved on for the hand release."""
        return self._after_hand(self.hand.tick())

    def _after_hand(self, outcome: HandOutcome | None) -> Show | None:
        if outcome is None:
            return None
        pulse = outcome.pulse
        data: dict[str, Any] = {"pulse_id": pulse.pulse_id, "outcome": outcome.kind}
        if outcome.detail:
            data["error" if outcome.kind == "fault" else "detail"] = outcome.detail
        if pulse.declaration_id is not None:
            data["declaration_id"] = pulse.declaration_id
            self.cp.audit.officer_action("gate_release", pulse.officer, data)
        elif outcome.kind != "passed":
            self.cp.audit.officer_action("manual_release_done", pulse.officer, data)
        if outcome.kind in ("fault", "not_passed"):
            self._alert(f"hand_release_{outcome.kind}", data)
        if pulse.declaration_id is None:
            # answered after the audit, so the officer's "released" is already on record
            HandRelease.answer(pulse, released=outcome.kind != "fault",
                               error=outcome.detail if outcome.kind == "fault" else None)
            return None
        if not self._on_screen(pulse.declaration_id):
            return None
        return {
            "waiting": Show(Phase.GATE, ("officer_approved",), hold=True),
            "released": Show(Phase.GATE, ("officer_approved",)),
            "passed": Show(Phase.GATE, ("officer_approved",)),
            "not_passed": Show(Phase.REFERRED, ("not_passed",)),
            "fault": Show(Phase.REFERRED, ("gate_fault",)),
        }[outcome.kind]

    # -- helpers -------------------------------------------------------------------------------------------

    def _start(self, pulse: HandPulse) -> None:
        self.hand.config = self.cp.release.config      # one release config: the resident flow's, as it is now
        self.hand.start(pulse)

    def _known(self, declaration_id: str) -> StoredDeclaration:
        stored = self.cp.ledger.get(declaration_id)
        if stored is None:
            raise OfficerError("unknown_declaration", f"no declaration {declaration_id!r} in the ledger")
        return stored

    def _on_screen(self, declaration_id: str) -> bool:
        """True when the resident of ``declaration_id`` is the one at this kiosk now."""
        s = self.cp.session
        return s is not None and s.declaration is not None and s.declaration.id == declaration_id

    def _refresh_quota(self, resident_key: str) -> None:
        """The quota shown to the resident at the kiosk, if it is theirs, after an officer changed it."""
        s = self.cp.session
        if s is None or s.key != resident_key:
            return
        try:
            s.used_fen = self.cp.ledger.used(s.key, s.day, now=self.cp.clock.now())
        except LedgerError as exc:
            log.warning("could not refresh the quota on screen: %s", exc)

    def _announce(self, change: str, declaration_id: str) -> None:
        self.cp.bus.publish(QUEUE_TOPIC, {"change": change, "declaration_id": declaration_id})
