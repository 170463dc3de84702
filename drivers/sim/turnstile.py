"""TurnstileLineSimulator: a turnstile controller on a real pty that reports each passage as a line.

``passage("A")`` sends ``PASS A`` + the line end, exactly as the controller would; ``noise``
sends anything else (a status line, a half line, garbage); ``unplug()`` pulls the cable.
"""

from __future__ import annotations

from ..framing import TERMINATORS
from .pty import PtySimulator


class TurnstileLineSimulator(PtySimulator):
    """The far end of a turnstile controller's serial report line."""

    def __init__(self, name: str = "turnstile", *, suffix: str = "crlf", link_dir: str | None = None) -> None:
        super().__init__(name, link_dir=link_dir)
        if suffix not in TERMINATORS:
            raise ValueError(f"suffix {suffix!r} is not one of {', '.join(TERMINATORS)}")
        self.suffix = suffix

    def passage(self, direction: str | None = "A") -> bytes:
        """Report one passage; returns the exact bytes sent."""
        data = (b"PASS" + (b" " + direction.encode("ascii") if direction else b"")) + TERMINATORS[self.suffix]
        self.send(data)
        return data

    def noise(self, data: bytes) -> None:
        """Send raw bytes that are not a PASS report."""
        self.send(data)
