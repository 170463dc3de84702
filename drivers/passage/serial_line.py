"""TurnstileLine: passages reported by a turnstile controller as text lines on a serial port.

URL grammar: anything ``serial.serial_for_url`` accepts, passed verbatim (``/dev/kiosk/turnstile``,
``hwgrep://…``, ``spy://…`` for a wire trace, ``socket://host:port`` for a serial-to-TCP gateway).

Options (``OPTIONS``): ``baudrate`` (8N1); ``suffix`` (cr | lf | crlf, the controller's line end).

Line protocol (the controller counts the arm's PASS contact itself, PROTOCOLS.md §4.3): one
line per passage, ``PASS A`` or ``PASS B`` (direction), or plain ``PASS``; case and surrounding
blanks are ignored.  Any other line (status, heartbeat) is logged and counted in ``ignored``,
never taken for a passage.  Framing is ``drivers.framing.LineFramer``; ``parse_pass_line`` is pure.

Not done here: a dry PASS contact wired straight to a USB-serial adapter's CTS or DSR line and
polled through pyserial's modem-status bits.  It is cheaper hardware, but a pty has no modem
lines, so it could not be tested honestly without a real adapter; it is future work (issue 6).
"""

from __future__ import annotations

import collections
import logging
import time

import serial

from ..framing import LineFramer
from ..gate_events import DIRECTIONS, PassageSeen
from ..options import Option
from ..serialport import close_quietly, open_port, read_burst

log = logging.getLogger(__name__)
wire = logging.getLogger("kiosk.wire")

MAX_LINE = 64


def parse_pass_line(line: bytes) -> PassageSeen | None:
    """``PASS A`` / ``PASS B`` / ``PASS`` -> PassageSeen; None for any other line."""
    words = line.decode("ascii", errors="replace").strip().upper().split()
    if not words or words[0] != "PASS" or len(words) > 2:
        return None
    if len(words) == 1:
        return PassageSeen(None)
    return PassageSeen(words[1]) if words[1] in DIRECTIONS else None


class TurnstileLine:
    """A turnstile controller's PASS lines on a serial port (Device protocol, returns PassageSeen)."""

    OPTIONS: dict[str, Option] = {
        "baudrate": Option(int, 9600, "line speed in baud (8N1)",
                           choices=(1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)),
        "suffix": Option(str, "crlf", "line end the controller sends", choices=("cr", "lf", "crlf")),
    }

    def __init__(self, name: str, url: str, *, baudrate: int = 9600, suffix: str = "crlf") -> None:
        self.name = name
        self.url = url
        self.baudrate = baudrate
        self._framer = LineFramer(suffix, MAX_LINE)
        self._pending: collections.deque[PassageSeen] = collections.deque()
        self._port: serial.Serial | None = None
        self.ignored = 0
        """Lines that were not a PASS report."""

    def open(self) -> None:
        """Open the port; lines half-received before are forgotten."""
        self.close()
        self._port = open_port(self.name, self.url, baudrate=self.baudrate, timeout=0.0)
        self._framer.reset()
        self._pending.clear()
        log.info("turnstile %s open url=%s", self.name, self.url)

    def close(self) -> None:
        """Close the port; never raises."""
        port, self._port = self._port, None
        close_quietly(port, self.name)

    def read(self, timeout: float) -> PassageSeen | None:
        """Wait up to ``timeout`` s for the next PASS line; passages of one burst come one per call."""
        deadline = time.monotonic() + max(0.0, timeout)
        while not self._pending:
            left = deadline - time.monotonic()
            data = self._receive(max(0.0, left))
            for line in self._framer.feed(data):
                self._take(line)
            if left <= 0 or not data:
                break
        return self._pending.popleft() if self._pending else None

    def _take(self, line: bytes) -> None:
        seen = parse_pass_line(line)
        if seen is not None:
            self._pending.append(seen)
        elif line.strip():
            self.ignored += 1
            log.warning("turnstile %s: ignored line %r", self.name, line[:MAX_LINE])

    def _receive(self, timeout: float) -> bytes:
        data = read_burst(self._port, timeout, name=self.name, url=self.url, what="turnstile")
        if data:
            wire.debug("%s < %s", self.name, data.hex(" "))
        return data
