"""The kiosk as a systemd service (STYLE.md B7, issue 8): what it tells the service manager, and when.

- ``READY=1`` once the config is valid, the ledger is open and migrated, every device's first
  open attempt has ended (connected or not, bounded by ``DEVICE_WAIT_S``) and the HTTP socket is
  served; the server decides that moment and calls ``ready``.
- ``WATCHDOG=1`` from the checkpoint loop's own tick (``WatchdogFeed``), never from a side timer:
  a hung decision loop stops the pings and systemd restarts the kiosk.
- ``STATUS=`` with every device's health, sent again whenever it changes.
- ``STOPPING=1`` when shutdown begins.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping

from drivers.runner import Health, HealthState

from .runtime import Kiosk
from .sdnotify import Notifier, watchdog_period

log = logging.getLogger(__name__)

DEVICE_WAIT_S = 10.0
"""Longest wait for the devices' first open attempts before READY (a hung open must not block it)."""
ERROR_CHARS = 60
"""Longest device error text in the status line."""


class WatchdogFeed:
    """A checkpoint tick hook that sends WATCHDOG=1 every half watchdog period, no more often."""

    def __init__(self, notifier: Notifier, period_s: float,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.notifier = notifier
        self.interval_s = period_s / 2
        self._monotonic = monotonic
        self._next = float("-inf")

    def __call__(self) -> None:
        now = self._monotonic()
        if now >= self._next - 0.001:     # tolerance: ticks 0.1 s apart land on 0.2 s, not 0.3 s
            self._next = now + self.interval_s
            self.notifier.watchdog()


def describe_devices(roles: Iterable[str], health: Mapping[str, Health]) -> str:
    """One line of device health: ``idcard connected, scanner disconnected (why), gate connected``."""
    parts = []
    for role in roles:
        h = health.get(role)
        if h is None:
            parts.append(f"{role} not loaded (see log)")
            continue
        text = f"{role} {h.state.value}"
        if h.state is not HealthState.CONNECTED and h.last_error:
            error = " ".join(h.last_error.split())
            text += f" ({error[:ERROR_CHARS - 1] + '…' if len(error) > ERROR_CHARS else error})"
        parts.append(text)
    return ", ".join(parts) if parts else "no devices configured"


class ServiceNotifications:
    """Keeps the service manager told about one kiosk: watchdog, status, ready, stopping."""

    def __init__(self, kiosk: Kiosk, notifier: Notifier, env: Mapping[str, str] | None = None) -> None:
        self.kiosk = kiosk
        self.notifier = notifier
        self.period_s = watchdog_period(env)
        # Reentrant: SIGTERM's handler calls stopping() on the main thread, maybe inside ready().
        self._lock = threading.RLock()
        self._phase = "starting"
        self._settled: dict[str, Health] = {}
        self._latest: dict[str, Health] = {}
        self._sent = ""

    def attach(self) -> None:
        """Feed the watchdog from the checkpoint's tick and follow device health (before ``start``)."""
        if self.notifier.enabled and self.period_s:
            self.kiosk.checkpoint.add_tick_hook(WatchdogFeed(self.notifier, self.period_s))
            log.info("systemd watchdog: %.1f s, pinged from the checkpoint loop", self.period_s)
        self.kiosk.add_health_listener(self._on_health)

    def ready(self, url: str) -> None:
        """Tell systemd the kiosk serves ``url`` with its devices' state in the status line."""
        with self._lock:
            self._phase = "ready"
            self._sent = self._status_text()
            self.notifier.ready(self._sent)
        log.info("kiosk serving on %s: %s", url, self._sent)

    def stopping(self, why: str) -> None:
        """Tell systemd shutdown began; later health changes no longer touch the status line."""
        with self._lock:
            self._phase = "stopping"
            self._sent = f"stopping ({why}): driving relays off, closing devices"
            self.notifier.stopping(self._sent)

    def status_text(self) -> str:
        """The current status line."""
        with self._lock:
            return self._status_text()

    def _status_text(self) -> str:
        shown = {role: self._settled.get(role) or self._latest.get(role) or Health(role, HealthState.CONNECTING)
                 for role in self.kiosk.runners}
        roles = [*self.kiosk.config.devices, *(r for r in self.kiosk.runners if r not in self.kiosk.config.devices)]
        devices = describe_devices(roles, shown)
        return devices if self._phase == "ready" else f"{self._phase}: {devices}"

    def _on_health(self, role: str, health: Health) -> None:
        # A retry passes through "connecting" every few seconds; the line keeps the last settled
        # state (and its error) instead of flickering, and is sent only when its text changes.
        with self._lock:
            if self._phase == "stopping":
                return
            self._latest[role] = health
            if health.state is HealthState.CONNECTING and role in self._settled:
                return
            if health.state is not HealthState.CONNECTING:
                self._settled[role] = health
            text = self._status_text()
            if text != self._sent:
                self._sent = text
                self.notifier.status(text)
