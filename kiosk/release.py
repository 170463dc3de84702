"""ReleaseWatch: one gate release from pulse to passage or timeout, pure (times passed in).

The checkpoint creates one watch per approved declaration, after the hold is in the ledger and
before any relay I/O, and feeds it what comes back on its inbox: the pulse result
(``GateResult``), each ``PassageSeen`` (from the relay board's inputs or a turnstile line),
and its tick.  Each call returns the events to act on (PROTOCOLS.md §4.3 step 5):

- ``passed``: the first passage in the expected direction: commit the declaration;
- ``not_passed``: no passage within ``passage_timeout_s`` of the pulse: release the hold,
  refer to the officer, never pulse again by itself;
- ``gate_fault``: the pulse failed (relay fault): release the hold, fail closed, show the
  technician why (if someone had already passed, ``passed`` stands and the fault is reported);
- ``tailgating``: another passage while the release window is still open: log it and show it
  to the officer (the declaration stays committed);
- ``wrong_direction``: a passage the other way during the window: logged and shown, not counted.

The window is ``passage_timeout_s`` from the end of the pulse: set it just above the turnstile's
own relock time (5 s on common tripods: 8 s).  A passage may arrive before the pulse result
(a separate passage device is faster than the relay thread); it counts.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class ReleaseState(enum.Enum):
    """Where one release stands."""

    PULSING = "pulsing"
    WAITING = "waiting"
    PASSED = "passed"
    NOT_PASSED = "not_passed"
    FAULT = "fault"


OPEN_STATES = frozenset({ReleaseState.PULSING, ReleaseState.WAITING})
"""States in which the declaration is neither committed nor released yet."""


@dataclass(frozen=True)
class ReleaseEvent:
    """Something the checkpoint must act on or record (kind is a stable key, see the module doc)."""

    kind: str
    declaration_id: str
    at: float
    passages: int = 0
    detail: str = ""


class ReleaseWatch:
    """The release of one declaration: pulse result, passages and the timeout, in monotonic seconds."""

    def __init__(self, declaration_id: str, *, started_at: float, passage_timeout_s: float = 8.0,
                 direction: str | None = None) -> None:
        if not passage_timeout_s > 0:
            raise ValueError(f"passage_timeout_s {passage_timeout_s!r} is not above 0")
        self.declaration_id = declaration_id
        self.started_at = started_at
        self.passage_timeout_s = passage_timeout_s
        self.direction = direction
        """The expected passage direction ("A"/"B"); None accepts any (an undirected PASS input)."""
        self.state = ReleaseState.PULSING
        self.passages = 0
        self.window_ends: float | None = None
        """When the passage window closes (monotonic); None until the pulse result is in."""
        self._closed = False

    @property
    def finished(self) -> bool:
        """True once nothing more can happen for this release (the window closed or it failed)."""
        return self.state in (ReleaseState.NOT_PASSED, ReleaseState.FAULT) or self._closed

    def pulse_done(self, error: str | None, at: float) -> list[ReleaseEvent]:
        """The pulse came back (``error`` None) or failed; opens the passage window."""
        if self.state not in (ReleaseState.PULSING, ReleaseState.PASSED) or self.window_ends is not None:
            return []
        if error is not None and self.state is ReleaseState.PULSING:
            self.state = ReleaseState.FAULT
            return [self._event("gate_fault", at, error)]
        self.window_ends = at + self.passage_timeout_s     # someone may have passed already: a window all the same
        if self.state is ReleaseState.PULSING:
            self.state = ReleaseState.WAITING
        return [] if error is None else [self._event("gate_fault", at, error)]

    def passage(self, direction: str | None, at: float) -> list[ReleaseEvent]:
        """A PassageSeen arrived at ``at``."""
        if self.state in (ReleaseState.NOT_PASSED, ReleaseState.FAULT) or self._window_over(at):
            return []
        if self.direction is not None and direction is not None and direction != self.direction:
            return [self._event("wrong_direction", at, f"direction {direction}")]
        self.passages += 1
        if self.state in OPEN_STATES:
            self.state = ReleaseState.PASSED
            return [self._event("passed", at)]
        return [self._event("tailgating", at, f"passage {self.passages} on one release")]

    def tick(self, at: float) -> list[ReleaseEvent]:
        """Time moved on: the timeout while waiting; closes the window after a passage."""
        if self.window_ends is None or at < self.window_ends:
            return []
        if self.state is ReleaseState.WAITING:
            self.state = ReleaseState.NOT_PASSED
            return [self._event("not_passed", at, f"no passage within {self.passage_timeout_s:g} s")]
        if self.state is ReleaseState.PASSED:
            self._closed = True      # later passages are not this release's
        return []

    def _window_over(self, at: float) -> bool:
        return self._closed or (self.window_ends is not None and at >= self.window_ends)

    def _event(self, kind: str, at: float, detail: str = "") -> ReleaseEvent:
        return ReleaseEvent(kind, self.declaration_id, at, self.passages, detail)
