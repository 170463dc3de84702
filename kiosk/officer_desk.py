"""OfficerDesk: the officer console's service layer, one method per console action.

The web views parse, call one of these and render.  Writes (decide, void, release by hand) go to the
checkpoint's inbox as officer messages (``kiosk.officer_commands`` applies them on the checkpoint
thread, the single writer) and wait for their reply; reads (queue, lookup, report, export, slip check)
and the slip reprint go to the ledger and the printer directly.  Every failure an officer can cause
or meet is an ``OfficerError`` with a stable key (``web/officer.py`` maps each key to an HTTP status).

Personal data: a looked-up ID number is turned into the resident key at once and never returned,
logged or audited; only the masked number and the key's first characters travel.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import date
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

from .errors import LedgerError
from .events import ManualRelease, OfficerDecided, OfficerVoid
from .identity import mask_id, normalise_id_number, resident_key, validate_id_number
from .ledger.admin import export_csv
from .money import format_fen
from .officer_codes import (
    DECISION_REASONS,
    DECISIONS,
    RELEASE_REASONS,
    VOID_REASONS,
    OfficerError,
    check_code,
    clean_note,
    labelled,
)
from .officer_commands import DecisionOutcome, VoidOutcome
from .officer_labels import reason_label
from .officer_views import RESIDENT_CHARS, alert_view, conflict_view, day_report, declaration_view, label
from .policy import rule_for, trade_day
from .printing import SlipResult
from .slip import slip_document, slip_key
from .techtools import verify_slip_payload

if TYPE_CHECKING:
    from .checkpoint import Checkpoint

log = logging.getLogger(__name__)
T = TypeVar("T")

DECLARATION_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")
PAYLOAD_MAX = 512
PRINTABLE = frozenset({"committed", "approved"})
RELEASE_WAIT_S = 12.0
"""How much longer than a command a manual release may take: the bounded pulse plus the relay's answer."""


class OfficerDesk:
    """The console's actions on one kiosk (its checkpoint, ledger, printer and rules)."""

    def __init__(self, checkpoint: Checkpoint, *, wait_s: float = 5.0) -> None:
        self.cp = checkpoint
        self.ledger = checkpoint.ledger
        self.rules = checkpoint.rules
        self.clock = checkpoint.clock
        self.wait_s = wait_s

    def today(self) -> date:
        """The quota day now (Beijing calendar day)."""
        return trade_day(self.clock.now(), self.rules.timezone)

    # -- reads -------------------------------------------------------------------------------------------

    def codes(self) -> dict[str, Any]:
        """The fixed lists the console offers: decisions and the reason codes of each action."""
        return {"decisions": labelled(DECISIONS), "decision_reasons": labelled(DECISION_REASONS),
                "release_reasons": labelled(RELEASE_REASONS), "void_reasons": labelled(VOID_REASONS)}

    def queue(self) -> dict[str, Any]:
        """Today's referrals waiting for a decision (port-wide on PostgreSQL), alerts, conflicts, the kiosk now."""
        day = self.today()
        snap = self.cp.snapshot()
        here = snap.get("declaration_id") if snap.get("phase") == "referred" else None
        referrals = self._ledger(lambda: self.ledger.referrals(day, pending_only=True))
        conflicts = getattr(self.ledger, "conflicts", None)
        return {
            "day": day.isoformat(),
            "kiosk_id": self.rules.kiosk_id,
            "referrals": [declaration_view(r, at_kiosk=r.declaration.id == here) for r in referrals],
            "alerts": [alert_view(a) for a in reversed(self._alerts())],
            "conflicts": [conflict_view(c) for c in self._ledger(conflicts)] if conflicts is not None else [],
            "offline_allowance": conflicts is not None,
            "kiosk": {"phase": snap.get("phase", "idle"), "service": snap.get("service", "ok"),
                      "reasons": [reason_label(r) for r in snap.get("reasons", [])],
                      "masked_id": (snap.get("resident") or {}).get("masked_id"),
                      "declaration_id": snap.get("declaration_id"),
                      "gate_usable": self.cp.gate.usable(), "hand_release": self.cp.officer.hand.busy()},
        }

    def declaration(self, declaration_id: str) -> dict[str, Any]:
        """One recorded declaration."""
        return declaration_view(self._stored(declaration_id))

    def lookup(self, id_number: object, *, officer: str) -> dict[str, Any]:
        """A resident's use of today's quota, from the ID number the officer typed (never echoed back)."""
        if not isinstance(id_number, str):
            raise OfficerError("bad_id_number", "id_number must be a string")
        number = normalise_id_number(id_number)
        problem = validate_id_number(number)
        if problem is not None:
            raise OfficerError("bad_id_number", f"not a valid resident ID number ({reason_label(problem)['en']})")
        key = resident_key(number, self.rules.site_secret)
        masked = mask_id(number)
        now = self.clock.now()
        day = self.today()
        limit = rule_for(self.rules.quota, day).daily_limit_fen
        used = self._ledger(lambda: self.ledger.used(key, day, now=now))
        records = [r for r in self._ledger(lambda: self.ledger.list_day(day)) if r.declaration.resident_key == key]
        entry = self.rules.registry.lookup(number)
        self.cp.audit.officer_action("resident_lookup", officer, {"masked_id": masked,
                                                                  "resident": key[:RESIDENT_CHARS]})
        remaining = max(0, limit - used)
        return {
            "masked_id": masked, "resident": key[:RESIDENT_CHARS], "day": day.isoformat(),
            "limit_fen": limit, "used_fen": used, "remaining_fen": remaining,
            "limit": format_fen(limit), "used": format_fen(used), "remaining": format_fen(remaining),
            "registry": None if entry is None else {
                "status": entry.status, "filing_valid_until": entry.filing_valid_until.isoformat(),
                "site": entry.site},
            "declarations": [declaration_view(r) for r in records],
        }

    def verify_slip(self, payload: object) -> dict[str, Any]:
        """A scanned slip QR: genuine or not, and the declaration it belongs to as the ledger has it."""
        if not isinstance(payload, str) or not payload.strip() or len(payload) > PAYLOAD_MAX:
            raise OfficerError("bad_payload", f"payload must be the slip's QR text (1-{PAYLOAD_MAX} characters)")
        check = verify_slip_payload(payload, slip_key(self.rules.site_secret))
        stored = None
        if check["genuine"]:
            stored = self._ledger(lambda: self.ledger.get(check["declaration_id"]))
        consistent = (stored is not None and stored.status.value in PRINTABLE
                      and stored.declaration.total_fen == check["total_fen"])
        return {"slip": check, "declaration": declaration_view(stored) if stored is not None else None,
                "consistent": consistent}

    def report(self, day: date) -> dict[str, Any]:
        """Counts by status, reason and decision, with totals, for ``day``."""
        return day_report(day, self._ledger(lambda: self.ledger.list_day(day)))

    def export(self, day: date, out: TextIO) -> int:
        """Write ``day``'s declarations as CSV to ``out``; the number of rows."""
        return self._ledger(lambda: export_csv(self.ledger, day, out))

    # -- writes, through the checkpoint ------------------------------------------------------------------

    def decide(self, declaration_id: str, *, decision: object, reason: object, note: object,
               officer: str) -> dict[str, Any]:
        """Approve the duty-free part, send to taxed declaration, or reject a referral of today."""
        self._check_id(declaration_id)
        msg = OfficerDecided(declaration_id, check_code("decision", decision, DECISIONS), officer,
                             check_code("reason", reason, DECISION_REASONS),
                             clean_note(note, required=reason == "other"))
        outcome: DecisionOutcome = self._submit(msg, msg.reply)
        return {"declaration": declaration_view(outcome.stored), "repeat": outcome.repeat,
                "at_kiosk": outcome.at_kiosk, "gate": outcome.gate}

    def void(self, declaration_id: str, *, reason: object, note: object, officer: str) -> dict[str, Any]:
        """Void a committed declaration of today: its quota returns."""
        self._check_id(declaration_id)
        msg = OfficerVoid(declaration_id, officer, check_code("reason", reason, VOID_REASONS),
                          clean_note(note, required=reason == "other"))
        outcome: VoidOutcome = self._submit(msg, msg.reply)
        stored = outcome.stored
        d = stored.declaration
        remaining = self._ledger(lambda: self.ledger.remaining(d.resident_key, d.day, limit_fen=d.limit_fen,
                                                               now=self.clock.now()))
        return {"declaration": declaration_view(stored), "repeat": outcome.repeat, "remaining_fen": remaining,
                "remaining": format_fen(remaining)}

    def release(self, *, reason: object, note: object, officer: str) -> dict[str, Any]:
        """Release the gate by hand once (no ledger); OfficerError gate_fault when the relay failed."""
        msg = ManualRelease(officer, check_code("reason", reason, RELEASE_REASONS),
                            clean_note(note, required=reason == "other"))
        result: dict[str, Any] = self._submit(msg, msg.reply, extra_s=RELEASE_WAIT_S)
        if not result["released"]:
            raise OfficerError("gate_fault", f"the gate relay failed: {result['error']}")
        return {"pulse_id": result["pulse_id"], "released": True, "reason": label(RELEASE_REASONS, msg.reason)}

    def reprint(self, declaration_id: str, *, officer: str) -> dict[str, Any]:
        """Print a committed or approved declaration's slip again on this kiosk's printer."""
        stored = self._stored(declaration_id)
        if stored.status.value not in PRINTABLE:
            raise OfficerError("not_printable", f"declaration {declaration_id} is {stored.status.value}: only a "
                                                "committed or approved declaration has a slip")
        printer = self.cp.release.printer
        if printer is None:
            raise OfficerError("no_printer", "this kiosk has no slip printer configured")
        d = stored.declaration
        now = self.clock.now()
        used = self._ledger(lambda: self.ledger.used(d.resident_key, d.day, now=now))
        decided = stored.decision
        issued = stored.resolved_at or (decided.at if decided is not None else None) or stored.recorded_at
        doc = slip_document(d, remaining_fen=max(0, d.limit_fen - used), key=slip_key(self.rules.site_secret),
                            issued_at=issued, notes=("重印 Reprint",))
        done: Future[SlipResult] = Future()

        def report(result: SlipResult) -> None:
            done.set_result(result)
            self.cp.post(result)          # the checkpoint keeps the last slip's outcome for /diag

        printer.print_slip(d.id, doc, report)
        try:
            result = done.result(timeout=self.wait_s + RELEASE_WAIT_S)
        except FutureTimeout:
            raise OfficerError("timeout", "the printer did not answer in time") from None
        self.cp.audit.officer_action("slip_reprint", officer, {"declaration_id": d.id, "masked_id": d.masked_id,
                                                               "printed": result.printed, "error": result.error})
        if not result.printed:
            raise OfficerError("printer_fault", f"the slip was not printed: {result.error}")
        return {"declaration_id": d.id, "printed": True, "bytes_sent": result.bytes_sent}

    # -- helpers -------------------------------------------------------------------------------------------

    def _submit(self, message: Any, reply: Future[Any], *, extra_s: float = 0.0) -> Any:
        self.cp.submit(message)
        try:
            return reply.result(timeout=self.wait_s + extra_s)
        except FutureTimeout:
            raise OfficerError("timeout", "the kiosk did not answer in time; look at the queue before "
                                          "trying again") from None

    def _stored(self, declaration_id: str) -> Any:
        self._check_id(declaration_id)
        stored = self._ledger(lambda: self.ledger.get(declaration_id))
        if stored is None:
            raise OfficerError("unknown_declaration", f"no declaration {declaration_id!r} in the ledger")
        return stored

    @staticmethod
    def _check_id(declaration_id: str) -> None:
        if not DECLARATION_ID.fullmatch(declaration_id):
            raise OfficerError("unknown_declaration", "a declaration id is 1-64 characters of 0-9, A-Z, a-z, _ and -")

    @staticmethod
    def _ledger(call: Callable[[], T]) -> T:
        """``call()``, with a ledger that cannot answer reported as ``ledger_unavailable``."""
        try:
            return call()
        except LedgerError as exc:
            log.error("officer desk: ledger unavailable: %s", exc)
            raise OfficerError("ledger_unavailable", f"the ledger could not answer: {exc}") from exc

    def _alerts(self) -> list[dict[str, Any]]:
        for _ in range(3):           # the checkpoint thread may append while we copy
            try:
                return list(self.cp.alerts)
            except RuntimeError:
                continue
        return []
