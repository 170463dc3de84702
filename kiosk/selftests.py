"""The technician's self-tests: read one card, take one scan, pulse the gate, print a test slip.

Each runs only while the kiosk is idle (no resident in a session) and one at a time; otherwise it is
refused with a stable key.  How a self-test stays out of the resident flow:

- **card** and **scan** divert the *next* reading of the ID reader (or the scanner) to the test through
  ``ReadingTaps``, which the composition root consults before a reading is posted to the checkpoint:
  the test card never reaches the checkpoint, so it never starts a resident session, and the result
  holds the card's masked number and type only (never the full number, the name or the photo);
- **gate** pulses the relay once, through its runner (the same thread as every release), only when
  the caller confirmed it, and is written to the audit log with the technician's name;
- **slip** prints a fixed test slip on the configured printer.

Results are JSON-ready dicts: ``test``, ``ok``, ``started_at``, ``duration_s``, ``error`` and the
test's own fields.  A refusal raises ``SelfTestRefused`` (a key and a sentence for the page).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from drivers.base import CardFailed, CardRead, Reading, ScanRead
from drivers.frames import mask_id_runs
from drivers.printer.document import Columns, QrCode, Rule, SlipDocument, Text

from .identity import mask_id
from .session import Phase

if TYPE_CHECKING:
    from .runtime import Kiosk

TESTS = ("card", "scan", "gate", "slip")
MAX_WAIT_S = 60.0
COMMAND_SLACK_S = 5.0
"""How much longer than its own duration a device command may take before the test gives up."""


class SelfTestRefused(Exception):
    """A self-test that may not run now: ``key`` is stable, ``status`` the HTTP status that fits."""

    def __init__(self, key: str, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.key = key
        self.status = status


@dataclass
class _Tap:
    kinds: tuple[type, ...]
    done: threading.Event = field(default_factory=threading.Event)
    reading: Reading | None = None


class ReadingTaps:
    """Divert the next reading of one role to a waiting self-test instead of the checkpoint."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._taps: dict[str, _Tap] = {}

    def offer(self, role: str, reading: Reading) -> bool:
        """Called for every reading before the checkpoint gets it: True when a self-test took it."""
        if not self._taps:            # the usual case: no lock on the card-to-screen path
            return False
        with self._lock:
            tap = self._taps.get(role)
            if tap is None or not isinstance(reading, tap.kinds):
                return False
            del self._taps[role]
        tap.reading = reading
        tap.done.set()
        return True

    def next(self, role: str, kinds: tuple[type, ...], timeout_s: float) -> Reading | None:
        """Wait up to ``timeout_s`` for the next reading of ``role`` among ``kinds``; None if none came."""
        tap = _Tap(kinds)
        with self._lock:
            if role in self._taps:
                raise SelfTestRefused("busy", f"a self-test is already waiting for the {role}")
            self._taps[role] = tap
        try:
            tap.done.wait(timeout_s)
        finally:
            with self._lock:
                if self._taps.get(role) is tap:
                    del self._taps[role]
        return tap.reading

    def waiting(self) -> list[str]:
        """Roles a self-test is waiting on."""
        with self._lock:
            return sorted(self._taps)


class SelfTests:
    """Run self-tests against a running kiosk (one at a time, only while it is idle)."""

    def __init__(self, kiosk: Kiosk, *, timer: Callable[[], float] = time.monotonic) -> None:
        self.kiosk = kiosk
        self._busy = threading.Lock()
        self._timer = timer

    def card(self, timeout_s: float, actor: str) -> dict[str, Any]:
        """Wait for the next card on the ID reader; report its type and masked number."""
        with self._running("card", "idcard", actor) as result:
            reading = self.kiosk.taps.next("idcard", (CardRead, CardFailed), _bounded(timeout_s))
            if isinstance(reading, CardRead):
                card = reading.card
                result.update(ok=True, card_type=card.card_type.value, masked_id=mask_id(card.id_number),
                              photo_bytes=len(card.photo))
            elif isinstance(reading, CardFailed):
                result.update(error=reading.reason)
            else:
                result.update(error="timeout")
        return result

    def scan(self, timeout_s: float, actor: str) -> dict[str, Any]:
        """Wait for the next scan; report its symbology and text (long digit runs masked)."""
        with self._running("scan", "scanner", actor) as result:
            reading = self.kiosk.taps.next("scanner", (ScanRead,), _bounded(timeout_s))
            if isinstance(reading, ScanRead):
                result.update(ok=True, symbology=reading.symbology, text=mask_id_runs(reading.text),
                              length=len(reading.text))
            else:
                result.update(error="timeout")
        return result

    def gate(self, *, confirmed: bool, seconds: float | None, actor: str) -> dict[str, Any]:
        """Pulse the gate relay once (only when ``confirmed``); audited with ``actor``."""
        if not confirmed:
            raise SelfTestRefused("confirmation_required", 'the gate opens: send confirm = "pulse"', 400)
        length = seconds if seconds is not None else self._pulse_s()
        with self._running("gate", "gate", actor) as result:
            outcome = self._command("gate", lambda dev: dev.pulse(length), length)
            if isinstance(outcome, str):
                result.update(error=outcome)
            else:
                result.update(ok=True, channel=outcome.channel, seconds=outcome.seconds)
        return result

    def slip(self, actor: str) -> dict[str, Any]:
        """Print a test slip on the configured printer."""
        doc = _test_slip(self.kiosk.config.kiosk_id, datetime.now(UTC))
        with self._running("slip", "printer", actor) as result:
            outcome = self._command("printer", lambda dev: dev.print_document(doc), 10.0)
            if isinstance(outcome, str):
                result.update(error=outcome)
            else:
                result.update(ok=True, bytes_sent=outcome.bytes_sent)
        return result

    # -- the frame of every test ---------------------------------------------------------------------

    @contextmanager
    def _running(self, test: str, role: str, actor: str) -> Iterator[dict[str, Any]]:
        """Refuse unless idle and free and the device is usable; time the test; audit its outcome."""
        if role not in self.kiosk.config.devices:
            raise SelfTestRefused("not_configured", f"no {role} is configured on this kiosk")
        runner = self.kiosk.runners.get(role)
        if runner is None or not runner.health.usable:
            state = runner.health.state.value if runner is not None else "not loaded"
            raise SelfTestRefused("device_unavailable", f"the {role} is {state}")
        if self.kiosk.checkpoint.phase is not Phase.IDLE:
            raise SelfTestRefused("resident_session", "a resident is using the kiosk: wait until it is idle")
        if not self._busy.acquire(blocking=False):
            raise SelfTestRefused("busy", "another self-test is running")
        started, t0 = datetime.now(UTC), self._timer()
        result: dict[str, Any] = {"test": test, "ok": False,
                                  "started_at": started.isoformat(timespec="milliseconds"),
                                  "duration_s": 0.0, "error": None}
        try:
            yield result
        finally:
            self._busy.release()
            result["duration_s"] = round(self._timer() - t0, 3)
            audit = {"test": test, "ok": result["ok"], "error": result["error"]}
            if test == "gate":
                audit["seconds"] = result.get("seconds")
            self.kiosk.checkpoint.audit.officer_action("diag_gate_pulse" if test == "gate" else "diag_selftest",
                                                       actor, audit)

    def _command(self, role: str, fn: Callable[[Any], Any], duration_s: float) -> Any:
        """Run ``fn`` on the device's thread; its result, or the error as text."""
        fut = self.kiosk.runners[role].call(fn)
        try:
            return fut.result(timeout=duration_s + COMMAND_SLACK_S)
        except FutureTimeout:
            fut.cancel()
            return f"the {role} did not answer within {duration_s + COMMAND_SLACK_S:.0f} s"
        except Exception as exc:  # DriverError and friends: the test's result, not a crash
            return mask_id_runs(f"{type(exc).__name__}: {exc}")

    def _pulse_s(self) -> float:
        gate = self.kiosk.config.devices.get("gate")
        return float(gate.options.get("pulse_s", 0.5)) if gate is not None else 0.5


def _bounded(timeout_s: float) -> float:
    return min(max(0.0, timeout_s), MAX_WAIT_S)


def _test_slip(kiosk_id: str, now: datetime) -> SlipDocument:
    """A slip that says it is a test, with the kiosk and the time, and a QR code."""
    return SlipDocument((
        Text("打印机自检 PRINTER TEST", align="center", bold=True),
        Rule(),
        Columns("Kiosk", kiosk_id),
        Columns("Time (UTC)", now.strftime("%Y-%m-%d %H:%M:%S")),
        Text("不是申报单 Not a declaration", align="center"),
        QrCode(f"kiosk-selftest:{kiosk_id}", size=4),
    ))
