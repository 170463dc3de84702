"""The last frames each device sent and received, for the technician's page, masked when captured.

A ``FrameRing`` keeps one device's last frames in memory (direction, time, length on the wire, the
bytes that may be shown).  Capture sits where bytes cross the driver boundary and changes nothing on
the wire:

- **serial devices**: the device runner binds its ring to its own thread (``bind``); when a driver on
  that thread opens its port, ``drivers.serialport.open_port`` finds the ring (``current``) and wraps
  ``read``/``write`` of that one port object (``trace_port``).  A device opened anywhere else (the
  CLI tools, driver tests) is not captured and pays nothing.
- **PC/SC readers** record each command APDU and response (``drivers/cardreader/pcsc.py``).

Masking happens before anything is stored, in two steps:

1. a ``FramePolicy`` decides what of each chunk may be shown: the driver's own (SAM-V shows framing
   and status but withholds the data of replies that carry a card's text or photo; PC/SC shows command
   APDUs and status words, never response data), or, when the driver names none, ``SHOW_ALL`` for
   ordinary devices and ``WITHHOLD`` (lengths only) for roles whose bytes are personal;
2. every shown byte then passes the ID-number guard: a run of 17 or more digits (an 18-character
   resident ID number is 17 digits and a digit or X), in ASCII or UTF-16LE, becomes ``*`` characters,
   even when the run is split across reads or frames.  Long GS1 digit strings are masked too: privacy
   wins over a readable trace.

A serial "frame" is one ``write`` (hosts write whole commands), or the bytes read back to back with
less than ``RX_GAP_S`` between them (replies and scanner lines arrive in bursts).
"""

from __future__ import annotations

import collections
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

log = logging.getLogger(__name__)

TX, RX = "tx", "rx"
RING_SIZE = 48
"""Frames kept per device."""
RX_GAP_S = 0.1
"""Bytes read within this long of the previous read belong to the same received frame."""
MAX_SHOWN = 256
"""Bytes of one frame kept for display; the rest is counted only."""
MIN_ID_DIGITS = 17
"""Digit runs this long or longer are masked (a resident ID number has 17 digits and a check character)."""

Segment = bytes | int
"""What a policy returns for a chunk: bytes that may be shown, or a count of withheld bytes."""


class FramePolicy(Protocol):
    """Decides what of each chunk a technician may see (may keep state: one instance per port)."""

    def shown(self, direction: str, data: bytes) -> list[Segment]:
        """The chunk as shown: bytes, and counts of bytes withheld."""
        ...


class ShowAll:
    """Every byte may be shown (the ID-number guard still applies)."""

    def shown(self, direction: str, data: bytes) -> list[Segment]:
        """The whole chunk."""
        return [data]


class Withhold:
    """Only lengths: for devices whose bytes are personal and whose driver names no finer policy."""

    def shown(self, direction: str, data: bytes) -> list[Segment]:
        """Nothing but the count."""
        return [len(data)]


class ApduPolicy:
    """PC/SC: command APDUs in full (no personal data goes to the card), responses as status word only."""

    def shown(self, direction: str, data: bytes) -> list[Segment]:
        """TX as is; RX data withheld, SW1 SW2 shown."""
        if direction == TX or len(data) <= 2:
            return [data]
        return [len(data) - 2, data[-2:]]


SHOW_ALL = ShowAll()
WITHHOLD = Withhold()
APDU = ApduPolicy()

_RUN = re.compile(rb"\x00?(?:[0-9]\x00?)+(?:[Xx]\x00?)?")
_DIGITS = b"0123456789"
_MASKED = frozenset(b"0123456789Xx")
_STAR = 0x2A


@dataclass
class _Frame:
    """One frame as stored: shown bytes (bytearray, masked in place) and withheld counts."""

    at: float
    direction: str
    last: float
    length: int = 0
    segments: list[bytearray | int] = field(default_factory=list)
    shown: int = 0
    truncated: int = 0
    repeats: int = 0
    repeated_at: float | None = None

    def same_as(self, other: _Frame) -> bool:
        """Same direction and the same bytes shown (a repeated poll)."""
        return (self.direction == other.direction and self.length == other.length
                and self.truncated == other.truncated and self.segments == other.segments)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready: time, direction, length, hex (withheld runs named), printable text, counts."""
        hex_parts: list[str] = []
        text_parts: list[str] = []
        withheld = 0
        for seg in self.segments:
            if isinstance(seg, int):
                withheld += seg
                hex_parts.append(f"[{seg} bytes withheld]")
                text_parts.append("…")
            else:
                hex_parts.append(seg.hex(" "))
                text_parts.append("".join(chr(b) if 0x20 <= b < 0x7F else "." for b in seg))
        if self.truncated:
            hex_parts.append(f"[{self.truncated} more bytes]")
        return {"at": _iso(self.at), "direction": self.direction, "length": self.length,
                "hex": " ".join(p for p in hex_parts if p), "text": "".join(text_parts), "withheld": withheld,
                "truncated": self.truncated, "repeats": self.repeats,
                "last_at": _iso(self.repeated_at) if self.repeated_at is not None else None}


def _iso(wall: float) -> str:
    return datetime.fromtimestamp(wall, UTC).isoformat(timespec="milliseconds")


class _IdGuard:
    """Masks digit runs of MIN_ID_DIGITS or more in shown bytes, across chunk and frame boundaries."""

    def __init__(self) -> None:
        self._pieces: list[tuple[bytearray, int, int]] = []   # the open run, possibly over several buffers
        self._digits = 0

    def close(self) -> None:
        """A withheld gap, or bytes not kept: no run continues over it."""
        self._pieces, self._digits = [], 0

    def feed(self, buf: bytearray, start: int) -> None:
        """Check ``buf[start:]``, just appended; mask what belongs to a long run (earlier pieces too)."""
        end = len(buf)
        first = True
        for match in _RUN.finditer(buf, start):
            s, e = match.span()
            if not (first and s == start and self._pieces):
                self.close()                # only the first match can continue the previous chunk's run
            first = False
            span = bytes(buf[s:e])
            self._pieces.append((buf, s, e))
            self._digits += len(span) - len(span.translate(None, _DIGITS))
            if self._digits >= MIN_ID_DIGITS:
                for piece, ps, pe in self._pieces:
                    _mask(piece, ps, pe)
                self._pieces = [self._pieces[-1]]     # masked: only "the run goes on" matters now
            if e != end or span.rstrip(b"\x00")[-1:] in (b"X", b"x"):
                self.close()                # the run ended inside this chunk
        if first:
            self.close()


def _mask(buf: bytearray, start: int, end: int) -> None:
    for i in range(start, end):
        if buf[i] in _MASKED:
            buf[i] = _STAR


class FrameRing:
    """The last ``size`` frames of one device, already masked; safe to read from any thread."""

    def __init__(self, size: int = RING_SIZE, *, personal: bool = False,
                 wall: Callable[[], float] = time.time, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.personal = personal
        """True for a role whose bytes are personal: a driver without its own policy shows lengths only."""
        self._frames: collections.deque[_Frame] = collections.deque(maxlen=size)
        self._lock = threading.Lock()
        self._wall = wall
        self._monotonic = monotonic
        self._guards = {TX: _IdGuard(), RX: _IdGuard()}
        self.total = 0
        """Frames captured since the ring was made (the ring keeps the last ``size``)."""

    def default_policy(self) -> FramePolicy:
        """What a driver that names no policy gets."""
        return WITHHOLD if self.personal else SHOW_ALL

    def record(self, direction: str, data: bytes, policy: FramePolicy | None = None) -> None:
        """Capture one chunk that went ``direction`` (TX or RX), masked by ``policy`` then the ID guard."""
        segments = (policy or self.default_policy()).shown(direction, data)
        now = self._monotonic()
        with self._lock:
            frame = self._frame_for(direction, now)
            frame.length += len(data)
            frame.last = now
            guard = self._guards[direction]
            for seg in segments:
                if isinstance(seg, int):
                    self._withhold(frame, seg)
                    guard.close()
                elif seg:
                    self._show(frame, seg, guard)

    def frames(self) -> list[dict[str, Any]]:
        """The frames kept, oldest first, JSON-ready."""
        with self._lock:
            return [f.to_json() for f in self._frames]

    def clear(self) -> None:
        """Forget every frame."""
        with self._lock:
            self._frames.clear()
            for guard in self._guards.values():
                guard.close()

    def _frame_for(self, direction: str, now: float) -> _Frame:
        last = self._frames[-1] if self._frames else None
        if direction == RX and last is not None and last.direction == RX and now - last.last < RX_GAP_S:
            return last
        self._collapse()
        frame = _Frame(self._wall(), direction, now)
        self._frames.append(frame)
        self.total += 1
        return frame

    def _collapse(self) -> None:
        """The last exchange (one frame, or a command and its reply) repeats the one before: count it
        on the earlier one instead of keeping it, so idle polls do not push everything else out."""
        frames = self._frames
        for k in (2, 1):
            if len(frames) >= 2 * k and all(frames[-i].same_as(frames[-i - k]) for i in range(1, k + 1)):
                dropped = [frames.pop() for _ in range(k)]
                for i, gone in enumerate(dropped, start=1):
                    kept = frames[-i]
                    kept.repeats += 1 + gone.repeats
                    kept.repeated_at = gone.repeated_at if gone.repeated_at is not None else gone.at
                return

    @staticmethod
    def _withhold(frame: _Frame, count: int) -> None:
        if frame.segments and isinstance(frame.segments[-1], int):
            frame.segments[-1] += count
        else:
            frame.segments.append(count)

    @staticmethod
    def _show(frame: _Frame, data: bytes, guard: _IdGuard) -> None:
        room = MAX_SHOWN - frame.shown
        if room < len(data):
            frame.truncated += len(data) - max(room, 0)
            data = data[:max(room, 0)]
            if not data:
                guard.close()
                return
        frame.shown += len(data)
        last = frame.segments[-1] if frame.segments else None
        if isinstance(last, bytearray):
            start = len(last)
            last += data
            guard.feed(last, start)
        else:
            buf = bytearray(data)
            frame.segments.append(buf)
            guard.feed(buf, 0)


# -- the capture hook ------------------------------------------------------------------------------

_bound = threading.local()


def bind(ring: FrameRing | None) -> None:
    """Capture what devices opened on this thread exchange into ``ring`` (the device runner's thread)."""
    _bound.ring = ring


def current() -> FrameRing | None:
    """The ring bound to this thread, or None."""
    ring: FrameRing | None = getattr(_bound, "ring", None)
    return ring


def trace_port(port: Any, ring: FrameRing, policy: FramePolicy | None = None) -> None:
    """Record every chunk ``port`` reads and writes into ``ring`` (this port object only).

    The port's own ``read``/``write`` run unchanged and first; a capture failure is logged, never raised.
    """
    read, write = port.read, port.write

    def traced_read(size: int = 1) -> bytes:
        data: bytes = read(size)
        if data:
            capture(ring, RX, data, policy)
        return data

    def traced_write(data: Any) -> Any:
        written = write(data)
        capture(ring, TX, bytes(data), policy)
        return written

    port.read = traced_read
    port.write = traced_write


def capture(ring: FrameRing, direction: str, data: bytes, policy: FramePolicy | None = None) -> None:
    """``ring.record`` for a capture hook: a failure is logged, never raised into the device."""
    try:
        ring.record(direction, data, policy)
    except Exception:  # a diagnostics bug must never break a device
        log.exception("frame capture failed (%s, %d bytes)", direction, len(data))


_TEXT_RUN = re.compile(rf"[0-9]{{{MIN_ID_DIGITS},}}[Xx]?")


def mask_id_runs(text: str) -> str:
    """``text`` with every run of MIN_ID_DIGITS or more digits (and an X after it) replaced by '*'."""
    return _TEXT_RUN.sub(lambda m: "*" * len(m.group()), text)
