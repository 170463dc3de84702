"""LcusSimulator: an LCUS USB relay board on a real pty, parsing the real 4-byte frames.

The board (PROTOCOLS.md §4.1) never answers; it switches a relay on each valid frame
``A0 ch state sum``.  The simulator keeps per-channel state and a timeline of every applied
command as ``(time.monotonic(), channel, on)`` so tests can measure a pulse from the board's
side.  Bad checksums are counted and the parser resynchronises on the next 0xA0.

Faults: ``ignore_commands(True)`` models a stuck relay (frames consumed, state unchanged);
``unplug()`` (base class) pulls the cable, which also de-powers the board, so every relay
drops out, as on the real thing.  ``active_high=False`` models a board where 00 energises.
"""

from __future__ import annotations

import time

from ..relay.lcus_frames import STATE_CLOSED, STATE_OPEN, Frame, FrameParser
from .pty import PtySimulator
from .timeline import TimelineEntry, on_periods


class LcusSimulator(PtySimulator):
    """The far end of an LCUS relay board with ``channels`` relays."""

    def __init__(self, name: str = "gate", *, channels: int = 1, active_high: bool = True,
                 link_dir: str | None = None) -> None:
        super().__init__(name, link_dir=link_dir)
        self.channels = channels
        self.active_high = active_high
        self.unknown_frames = 0
        """Valid frames for a channel the board lacks or a state other than 00/01."""
        self.ignored_frames = 0
        """Valid frames swallowed while ``ignore_commands`` is on."""
        self._parser = FrameParser()
        self._states = {channel: False for channel in range(1, channels + 1)}
        self._timeline: list[TimelineEntry] = []
        self._ignore = False

    # -- what tests look at -------------------------------------------------------------

    @property
    def bad_checksums(self) -> int:
        """Frames that started with 0xA0 but carried a wrong sum."""
        return self._parser.bad_checksums

    @property
    def timeline(self) -> list[TimelineEntry]:
        """A copy of every applied command so far, oldest first."""
        with self._lock:
            return list(self._timeline)

    def state(self, channel: int) -> bool:
        """True while ``channel``'s relay is energised."""
        with self._lock:
            return self._states[channel]

    def on_periods(self, channel: int) -> list[tuple[float, float | None]]:
        """(on, off) monotonic times of each energised period of ``channel``; off None while still on."""
        return on_periods(self.timeline, channel)

    # -- faults -------------------------------------------------------------------------

    def ignore_commands(self, ignore: bool = True) -> None:
        """Model a stuck relay: frames are consumed but no relay changes state."""
        self._ignore = ignore

    def unplug(self) -> None:
        """Pull the cable: the board loses power and every energised relay drops out."""
        was_plugged = self.plugged
        super().unplug()
        if not was_plugged:
            return
        now = time.monotonic()
        with self._lock:
            for channel, on in self._states.items():
                if on:
                    self._states[channel] = False
                    self._timeline.append((now, channel, False))

    # -- the board ----------------------------------------------------------------------

    def on_plug(self) -> None:
        """A new connection starts with no partial frame."""
        self._parser.reset()

    def handle(self, data: bytes) -> None:
        """Parse the host's bytes and apply every valid frame."""
        now = time.monotonic()
        for frame in self._parser.feed(data):
            self._apply(frame, now)

    def _apply(self, frame: Frame, at: float) -> None:
        if frame.channel not in self._states or frame.state not in (STATE_OPEN, STATE_CLOSED):
            self.unknown_frames += 1
            return
        if self._ignore:
            self.ignored_frames += 1
            return
        on = (frame.state == STATE_CLOSED) == self.active_high
        with self._lock:
            self._states[frame.channel] = on
            self._timeline.append((at, frame.channel, on))
