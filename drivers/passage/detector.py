"""Debounced PASS inputs, pure: sampled levels with their times in, PassageSeen out.

The turnstile's PASS dry contact changes when the arms pass 67° and changes back at 112°
(PROTOCOLS.md §4.3), so one passage is one *active* period followed by idle.  A level counts
only once it has held for ``debounce_s`` (contact bounce is ~1–10 ms; 20–50 ms is the usual
filter).  A passage is reported on the debounced return to idle: the arms really went round.
Two complete cycles on one release are two passages (tailgating), never merged.

Times are passed in (monotonic seconds), so the rules are table-tested without a clock.
"""

from __future__ import annotations

from ..gate_events import PassageSeen


class Debouncer:
    """One digital input: a new level counts only after it held for ``debounce_s`` seconds."""

    def __init__(self, debounce_s: float, level: bool = False) -> None:
        if debounce_s < 0:
            raise ValueError(f"debounce_s {debounce_s!r} is below 0")
        self.debounce_s = debounce_s
        self.level = level
        """The debounced level."""
        self._since: float | None = None

    def reset(self, level: bool) -> None:
        """Take ``level`` as the settled state (at open: no edge for what was already there)."""
        self.level = level
        self._since = None

    def update(self, raw: bool, at: float) -> bool | None:
        """Feed one sample; return the new debounced level on an edge, else None."""
        if raw == self.level:
            self._since = None          # a glitch shorter than the filter: forgotten
            return None
        if self._since is None:
            self._since = at
        if at - self._since >= self.debounce_s:
            self.level = raw
            self._since = None
            return raw
        return None


class PassageDetector:
    """One PASS input: debounced edges to PassageSeen on each completed active period."""

    def __init__(self, *, direction: str | None, debounce_s: float, active_low: bool = False) -> None:
        self.direction = direction
        self.active_low = active_low
        self._debouncer = Debouncer(debounce_s)
        self._primed = False
        self._in_period = False
        self.started = 0
        """Active periods that began (a passage in progress counts here before it completes)."""

    @property
    def active(self) -> bool:
        """True while the debounced input says someone is in the turnstile."""
        return self._debouncer.level

    def prime(self, raw: bool) -> None:
        """Take the first sample as the settled state: a contact already active at open is no passage."""
        self._debouncer.reset(raw != self.active_low)
        self._primed = True
        self._in_period = False

    def update(self, raw: bool, at: float) -> PassageSeen | None:
        """Feed the raw input bit sampled at ``at``; return PassageSeen when a passage completes."""
        if not self._primed:
            self.prime(raw)
            return None
        edge = self._debouncer.update(raw != self.active_low, at)
        if edge is True:
            self.started += 1
            self._in_period = True
        elif edge is False and self._in_period:
            self._in_period = False
            return PassageSeen(self.direction)
        return None
