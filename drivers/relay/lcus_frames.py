"""LCUS USB relay frames, pure: byte constants, the frame builder and a resynchronising parser.

Wire reference: PROTOCOLS.md §4.1.  9600 8N1, four bytes per command, no reply to switching:

    A0 <channel 1..8> <state 00 | 01> <sum>      sum = (0xA0 + channel + state) & 0xFF

Vectors (recomputed): ch1 on ``A0 01 01 A2``, off ``A0 01 00 A1``; ch2 on ``A0 02 01 A3``,
off ``A0 02 00 A2``.  Which state byte energises the coil varies by board (one public README
calls ``A0 01 00 A1`` "on"), so the driver maps on/off to state bytes with ``state_byte``.
The parser is shared by the driver's simulator, so both ends agree on one definition.
"""

from __future__ import annotations

from dataclasses import dataclass

START = 0xA0
STATE_OPEN = 0x00        # relay released on a standard (active-high) board
STATE_CLOSED = 0x01      # relay energised on a standard (active-high) board
FRAME_LENGTH = 4
MIN_CHANNEL = 1
MAX_CHANNEL = 8


def checksum(channel: int, state: int) -> int:
    """The fourth byte of a frame: (0xA0 + channel + state) & 0xFF."""
    return (START + channel + state) & 0xFF


def build_frame(channel: int, state: int) -> bytes:
    """The four bytes that set ``channel`` (1..8) to the raw ``state`` byte."""
    if not MIN_CHANNEL <= channel <= MAX_CHANNEL:
        raise ValueError(f"channel {channel} is not in {MIN_CHANNEL}..{MAX_CHANNEL}")
    if not 0 <= state <= 0xFF:
        raise ValueError(f"state {state} is not a byte")
    return bytes((START, channel, state, checksum(channel, state)))


def state_byte(on: bool, active_high: bool = True) -> int:
    """The state byte that energises (``on``) or releases the relay for the board's polarity."""
    return STATE_CLOSED if on == active_high else STATE_OPEN


def switch_frame(channel: int, on: bool, active_high: bool = True) -> bytes:
    """The frame that switches ``channel`` on or off for the board's polarity."""
    return build_frame(channel, state_byte(on, active_high))


@dataclass(frozen=True)
class Frame:
    """One well-formed frame: channel and raw state byte (checksum already verified)."""

    channel: int
    state: int


class FrameParser:
    """Bytes in, frames out; skips junk and resynchronises on the next 0xA0 after a bad sum."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self.bad_checksums = 0
        """Frames that started with 0xA0 but whose sum did not match."""
        self.junk_bytes = 0
        """Bytes skipped while looking for a start byte."""

    def reset(self) -> None:
        """Forget a partial frame (new connection); the counters are kept."""
        self._buf.clear()

    def feed(self, data: bytes) -> list[Frame]:
        """Add ``data``; return the complete, valid frames it finished."""
        self._buf += data
        frames: list[Frame] = []
        while True:
            start = self._buf.find(START)
            if start < 0:
                self.junk_bytes += len(self._buf)
                self._buf.clear()
                return frames
            if start:
                self.junk_bytes += start
                del self._buf[:start]
            if len(self._buf) < FRAME_LENGTH:
                return frames
            _, channel, state, total = self._buf[:FRAME_LENGTH]
            if total == checksum(channel, state):
                frames.append(Frame(channel, state))
                del self._buf[:FRAME_LENGTH]
            else:
                # drop only the start byte: a real frame may begin inside the bad one
                self.bad_checksums += 1
                del self._buf[:1]
