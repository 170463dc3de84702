"""Line framing for serial devices: bytes in, complete lines out (pyserial ``LineReader`` style).

``LineFramer`` is pure: it owns no port and no thread.  The driver feeds it whatever the port
returned, in whatever chunks, and gets back the complete lines without their terminator.

Terminator settings (the suffix a barcode scanner is programmed to send, PROTOCOLS.md §3.1):

- ``cr``: a line ends at CR (0x0D).  One LF right after a CR is swallowed, even when it
  arrives in a later chunk, so a scanner that really sends CR LF gives one line, not two.
- ``crlf``: the same rule as ``cr``: CR LF ends a line, and so does a lone CR (scanners
  reprogrammed on site often lose the LF; accepting it costs nothing).
- ``lf``: a line ends at LF (0x0A); one CR right before the LF is dropped.
- ``tab``: a line ends at TAB (0x09) (keyboard-wedge style suffix on serial scanners).

Every other byte is data: GS (0x1D), the GS1 FNC1 separator (§3.3), is kept.  A run longer
than ``max_length`` bytes without a terminator is dropped, counted in ``dropped``, and the rest
of it is skipped up to the next terminator, so a noisy line never grows the buffer.
"""

from __future__ import annotations

CR = 0x0D
LF = 0x0A
TAB = 0x09
GS = 0x1D

TERMINATORS: dict[str, bytes] = {
    "cr": b"\r",
    "lf": b"\n",
    "crlf": b"\r\n",
    "tab": b"\t",
}
"""Suffix setting -> the exact bytes a scanner sends after each code."""

_END_BYTE: dict[str, int] = {"cr": CR, "crlf": CR, "lf": LF, "tab": TAB}


class LineFramer:
    """Split a byte stream into lines at a configured terminator, bounded in length."""

    def __init__(self, terminator: str = "cr", max_length: int = 256) -> None:
        if terminator not in _END_BYTE:
            raise ValueError(f"terminator {terminator!r} is not one of {', '.join(TERMINATORS)}")
        if max_length < 1:
            raise ValueError(f"max_length {max_length!r} is not above 0")
        self.terminator = terminator
        self.max_length = max_length
        self.dropped = 0
        """How many over-long runs were dropped since creation."""
        self._end = bytes([_END_BYTE[terminator]])
        self._swallow_lf = terminator in ("cr", "crlf")
        self._strip_cr = terminator == "lf"
        # in lf mode the CR of a CR LF sits in the buffer until the LF comes: allow one more byte
        self._limit = max_length + (1 if self._strip_cr else 0)
        self._buf = bytearray()
        self._discarding = False
        self._after_cr = False

    @property
    def pending(self) -> int:
        """Bytes of an unfinished line held in the buffer."""
        return len(self._buf)

    def reset(self) -> None:
        """Forget any partial line (after the port was reopened); ``dropped`` is kept."""
        self._buf.clear()
        self._discarding = False
        self._after_cr = False

    def feed(self, data: bytes) -> list[bytes]:
        """Add ``data``; return the lines it completed, terminators removed (may be empty lines)."""
        lines: list[bytes] = []
        pos = 0
        if self._after_cr and data:
            self._after_cr = False
            if data[0] == LF:
                pos = 1
        while pos < len(data):
            end = data.find(self._end, pos)
            if end < 0:
                self._append(data[pos:])
                break
            self._append(data[pos:end])
            line = self._finish()
            if line is not None:
                lines.append(line)
            pos = end + 1
            if self._swallow_lf:
                if pos == len(data):
                    self._after_cr = True
                elif data[pos] == LF:
                    pos += 1
        return lines

    def _append(self, segment: bytes) -> None:
        if self._discarding or not segment:
            return
        self._buf += segment
        if len(self._buf) > self._limit:
            self._drop()

    def _drop(self) -> None:
        self._buf.clear()
        self._discarding = True
        self.dropped += 1

    def _finish(self) -> bytes | None:
        if self._discarding:
            self._discarding = False
            return None
        line = bytes(self._buf)
        self._buf.clear()
        if self._strip_cr and line.endswith(b"\r"):
            line = line[:-1]
        if len(line) > self.max_length:
            self.dropped += 1
            return None
        return line
