"""The officer badge reader's last tap, waiting for the PIN typed on the sign-in page.

An officer taps the badge on the kiosk's badge reader, then types the PIN on the tablet or screen; the
sign-in takes the tap (once) if it is recent. The UID never leaves this object except to be checked
against the accounts file, and is never logged.
"""

from __future__ import annotations

import threading

TAP_VALID_S = 30.0
"""How long a tap waits for its PIN."""


class BadgeTaps:
    """Holds the most recent badge tap; thread-safe (the device thread records, web threads take)."""

    def __init__(self, valid_s: float = TAP_VALID_S) -> None:
        self.valid_s = valid_s
        self._lock = threading.Lock()
        self._uid: str | None = None
        self._at = 0.0

    def record(self, uid: str, at: float) -> None:
        """A badge with ``uid`` was tapped at monotonic time ``at``."""
        with self._lock:
            self._uid, self._at = uid, at

    def pending(self, now: float) -> bool:
        """True while a recent tap waits for its PIN (the page shows "badge read")."""
        with self._lock:
            return self._uid is not None and now - self._at <= self.valid_s

    def take(self, now: float) -> str | None:
        """The recent tap's UID, consumed (a tap signs in at most once); None if there is none."""
        with self._lock:
            uid, at = self._uid, self._at
            self._uid = None
        return uid if uid is not None and now - at <= self.valid_s else None
