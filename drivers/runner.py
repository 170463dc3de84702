"""DeviceRunner: one thread per device that opens it, reads it, reconnects it, reports health.

The runner owns the thread; the driver owns the bytes.  Readings go to ``on_reading``,
health changes to ``on_health``.  Output commands (a gate pulse) are handed to the
runner with ``call`` and run on the device's own thread between reads, so a driver is
never used from two threads at once.

Health states: ``connecting`` (opening), ``connected``, ``error`` (open, but the last
exchange failed; back to ``connected`` after the next clean read) and ``disconnected``
(lost, absent or refusing to open, retrying with capped exponential backoff; the last
error says why).  Only an open device takes commands: a command is never queued for a
device that is not open, so a gate pulse can never fire late after a reconnect.
"""

from __future__ import annotations

import collections
import enum
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from . import frames as frame_capture
from .base import Device, Reading
from .errors import DeviceGone, DriverError

log = logging.getLogger(__name__)

T = TypeVar("T")


class _Clock(Protocol):
    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...


class HealthState(enum.Enum):
    """How a device is doing, as the technician page shows it."""

    CONNECTING = "connecting"
    CONNECTED = "connected"
    ERROR = "error"
    DISCONNECTED = "disconnected"


@dataclass(frozen=True)
class Health:
    """One device's health at a moment: state, last error text and reconnect count."""

    device: str
    state: HealthState
    last_error: str | None = None
    reconnects: int = 0

    @property
    def usable(self) -> bool:
        """True when the device can take commands now."""
        return self.state in (HealthState.CONNECTED, HealthState.ERROR)


def backoff_delays(first: float = 0.2, factor: float = 2.0, cap: float = 5.0) -> Callable[[int], float]:
    """Return attempt -> delay: first, first*factor, ... capped at ``cap`` seconds."""

    def delay(attempt: int) -> float:
        return min(cap, first * factor ** max(0, attempt))

    return delay


class DeviceRunner:
    """Run one device on its own thread until ``stop``."""

    def __init__(
        self,
        device: Device,
        *,
        on_reading: Callable[[str, Reading, datetime], None],
        on_health: Callable[[Health], None],
        clock: _Clock,
        poll_s: float = 0.2,
        backoff: Callable[[int], float] | None = None,
        frames: frame_capture.FrameRing | None = None,
    ) -> None:
        self.device = device
        self._on_reading = on_reading
        self._on_health = on_health
        self._clock = clock
        self._poll_s = poll_s
        self._backoff = backoff or backoff_delays()
        self._stop = threading.Event()
        self._calls: queue.Queue[tuple[Callable[[Any], Any], Future[Any]]] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._health = Health(device.name, HealthState.DISCONNECTED)
        self._opened_once = False
        self.frames = frames
        """The device's last frames on the wire, masked (drivers/frames.py); None: not captured."""
        self.last_reading_at: datetime | None = None
        """When the device last delivered a reading (clock time), for /diag."""
        self.command_results: collections.Counter[str] = collections.Counter()
        """Commands run by ``call``, by result type name (``GatePulsed``, ...) or ``error``, for metrics."""

    @property
    def health(self) -> Health:
        """The last health reported."""
        return self._health

    def start(self) -> None:
        """Start the thread (returns at once; the first open happens on the thread)."""
        self._thread = threading.Thread(target=self._run, name=f"device-{self.device.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the thread to end, wait for it, and close the device."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._set_health(HealthState.DISCONNECTED, "stopped", self._health.reconnects)
        self._fail_pending(DeviceGone("runner stopped", device=self.device.name))

    def call(self, fn: Callable[[Any], T]) -> Future[T]:
        """Run ``fn(device)`` on the device thread; the future holds its result or error."""
        fut: Future[T] = Future()
        if self._stop.is_set() or not self._health.usable:
            fut.set_exception(DeviceGone(self._health.last_error or "device not connected",
                                         device=self.device.name, url=self.device.url))
            return fut
        self._calls.put((fn, fut))
        wake = getattr(self.device, "wake", None)
        if wake is not None:      # a driver that can cut its blocking read short runs the command now
            wake()
        return fut

    # -- the thread -------------------------------------------------------------

    def _run(self) -> None:
        frame_capture.bind(self.frames)     # ports this thread opens are captured into the ring
        attempt = 0
        while not self._stop.is_set():
            if not self._open():
                self._stop.wait(self._backoff(attempt))
                attempt += 1
                continue
            attempt = 0
            self._serve()
            self._close()
        self._close()

    def _open(self) -> bool:
        self._set_health(HealthState.CONNECTING, self._health.last_error, self._health.reconnects)
        try:
            self.device.open()
        except DriverError as exc:
            self._set_health(HealthState.DISCONNECTED, str(exc), self._health.reconnects)
            self._close()
            return False
        except Exception as exc:  # a driver bug must not kill the thread
            log.exception("device %s: unexpected error on open", self.device.name)
            self._set_health(HealthState.DISCONNECTED, f"{type(exc).__name__}: {exc}", self._health.reconnects)
            self._close()
            return False
        # Commands asked for before this connection existed are stale: never run them late.
        self._fail_pending(DeviceGone("device was not open when asked", device=self.device.name))
        # count successful re-opens only, not the failed attempts while the device was away
        reconnects = self._health.reconnects + (1 if self._opened_once else 0)
        if self._opened_once:
            log.info("device %s reconnected", self.device.name)
        self._opened_once = True
        self._set_health(HealthState.CONNECTED, None, reconnects)
        return True

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                self._run_calls()
                reading = self.device.read(self._poll_s)
            except DeviceGone as exc:
                log.warning("device %s lost: %s", self.device.name, exc)
                self._set_health(HealthState.DISCONNECTED, str(exc), self._health.reconnects)
                return
            except DriverError as exc:
                self._set_health(HealthState.ERROR, str(exc), self._health.reconnects)
                self._stop.wait(min(self._poll_s, 0.05))   # a device failing at once must not spin a core
                continue
            except Exception as exc:
                log.exception("device %s: unexpected error", self.device.name)
                self._set_health(HealthState.ERROR, f"{type(exc).__name__}: {exc}", self._health.reconnects)
                self._stop.wait(self._poll_s)
                continue
            if self._health.state is HealthState.ERROR:   # a clean exchange: healthy again
                self._set_health(HealthState.CONNECTED, self._health.last_error, self._health.reconnects)
            if reading is not None:
                self.last_reading_at = at = self._clock.now()
                self._on_reading(self.device.name, reading, at)

    def _run_calls(self) -> None:
        while True:
            try:
                fn, fut = self._calls.get_nowait()
            except queue.Empty:
                return
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                result = fn(self.device)
            except DeviceGone as exc:
                self.command_results["error"] += 1
                fut.set_exception(exc)
                raise
            except BaseException as exc:  # the caller gets every failure
                self.command_results["error"] += 1
                fut.set_exception(exc)
            else:
                self.command_results[type(result).__name__] += 1
                fut.set_result(result)

    def _close(self) -> None:
        try:
            self.device.close()
        except Exception:
            log.exception("device %s: error on close", self.device.name)
        self._fail_pending(DeviceGone("device closed", device=self.device.name, url=self.device.url))

    def _fail_pending(self, exc: DriverError) -> None:
        while True:
            try:
                _fn, fut = self._calls.get_nowait()
            except queue.Empty:
                return
            if fut.set_running_or_notify_cancel():
                fut.set_exception(exc)

    def _set_health(self, state: HealthState, error: str | None, reconnects: int) -> None:
        new = Health(self.device.name, state, error, reconnects)
        if new != self._health:
            self._health = new
            self._on_health(new)
