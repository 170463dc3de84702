"""MrzScanner: a document (passport page) scanner that sends the MRZ it reads as text lines (driver ``mrz-serial``).

The MRZ opens an eMRTD chip (BAC, ``drivers.cardreader.emrtd``); this is the path where the
officer lays the data page on an OCR reader instead of typing it.

URL grammar: anything ``serial.serial_for_url`` accepts, passed verbatim: a device path
(``/dev/kiosk/mrz``, a ``/dev/serial/by-id/...`` link), ``hwgrep://VID:PID``, ``socket://host:port``
or ``loop://``.  ``spy://`` works too, but its trace shows the MRZ: personal data.

Options (``OPTIONS``): ``baudrate`` (8N1); ``suffix`` (cr | lf | crlf, the line end the reader
sends; ``cr`` also takes CR LF).

Wire: the MRZ lines in order, each ended by the suffix, often framed by STX ... ETX; lower case,
``«`` for ``<`` and blanks are tolerated (``drivers.cardreader.mrz_lines``, which also says how
lines are grouped and why a group is dropped).  Bytes are UTF-8, or Latin-1 when they are not
UTF-8 (a lone 0xAB is ``«``).  Framing is ``drivers.framing.LineFramer``.

A reading is ``MrzRead(mrz)`` once per complete MRZ whose every check digit is right; nothing
else is reported as a reading.  A garbled, partial or invalid MRZ gives no reading (the officer
scans again); the reason of the last one dropped is ``last_reason`` / ``last_detail``.  A pause
of more than ``LINE_GAP_S`` between the lines of one MRZ ends it (two half-scans never combine).
The ``kiosk.wire`` trace shows byte counts only, never the text.
"""

from __future__ import annotations

import collections
import logging
import time

import serial

from ..base import MrzRead
from ..errors import OptionError
from ..framing import LineFramer
from ..options import Option
from ..serialport import close_quietly, open_port, read_burst
from .mrz_lines import MrzAssembler

log = logging.getLogger(__name__)
wire = logging.getLogger("kiosk.wire")

MAX_LINE = 128
"""Bytes in one framed line: an MRZ run together on one line (90) with STX, ETX and blanks fits."""
LINE_GAP_S = 2.0
"""A pause longer than this between two lines ends the MRZ being assembled (a reader sends one in a burst)."""


def decode_line(line: bytes) -> str:
    """One framed line as text: UTF-8, or Latin-1 for a reader that sends single-byte ``«``."""
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return line.decode("latin-1")


class MrzScanner:
    """An MRZ (passport page) reader on a serial port (Device protocol, returns MrzRead)."""

    OPTIONS: dict[str, Option] = {
        "baudrate": Option(int, 9600, "line speed in baud (8N1)",
                           choices=(1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)),
        "suffix": Option(str, "cr", "line end the reader sends after each MRZ line (cr also takes CR LF)",
                         choices=("cr", "lf", "crlf")),
    }

    def __init__(self, name: str, url: str, *, baudrate: int = 9600, suffix: str = "cr") -> None:
        self.name = name
        self.url = url
        self.baudrate = baudrate
        if suffix not in ("cr", "lf", "crlf"):
            raise OptionError(f"suffix {suffix!r} is not one of cr, lf, crlf", device=name, url=url)
        self._framer = LineFramer(suffix, MAX_LINE)
        self._assembler = MrzAssembler()
        self._ready: collections.deque[MrzRead] = collections.deque()
        self._last_line_at = 0.0
        self._port: serial.Serial | None = None

    @property
    def last_reason(self) -> str:
        """Key of the last MRZ dropped ('' before any): mrz_garbage, mrz_incomplete, mrz_check_digit, mrz_format."""
        return self._assembler.last_reason

    @property
    def last_detail(self) -> str:
        """What was wrong with it (never MRZ text)."""
        return self._assembler.last_detail

    def open(self) -> None:
        """Open the port through serial_for_url; DeviceGone if it is absent or refuses."""
        self.close()
        self._port = open_port(self.name, self.url, baudrate=self.baudrate, timeout=0.0)
        self._framer.reset()
        self._assembler.reset()
        self._ready.clear()
        log.info("mrz scanner %s open url=%s baudrate=%d", self.name, self.url, self.baudrate)

    def close(self) -> None:
        """Close the port; never raises."""
        port, self._port = self._port, None
        close_quietly(port, self.name)

    def read(self, timeout: float) -> MrzRead | None:
        """Wait up to ``timeout`` s for a complete, valid MRZ; MRZs of one burst come one per call."""
        deadline = time.monotonic() + max(0.0, timeout)
        while not self._ready:
            left = deadline - time.monotonic()
            data = self._receive(max(0.0, left))
            if data:
                self._frame(data)
            if left <= 0 or not data:
                break
        return self._ready.popleft() if self._ready else None

    def _frame(self, data: bytes) -> None:
        dropped = self._framer.dropped
        lines = self._framer.feed(data)
        now = time.monotonic()
        if self._framer.dropped != dropped:
            self._assembler.garbage(f"a run of more than {MAX_LINE} bytes without a line end")
        if lines and self._assembler.pending and now - self._last_line_at > LINE_GAP_S:
            self._assembler.end_group(f"a pause of more than {LINE_GAP_S:g} s")
        for line in lines:
            self._last_line_at = now
            before = self._assembler.dropped
            text = self._assembler.feed(decode_line(line))
            if text is not None:
                self._ready.append(MrzRead(text))
                log.info("mrz scanner %s: MRZ read (%d lines)", self.name, text.count("\n") + 1)
            elif self._assembler.dropped != before:
                log.info("mrz scanner %s: MRZ lines dropped reason=%s (%s)", self.name,
                         self._assembler.last_reason, self._assembler.last_detail)

    def _receive(self, timeout: float) -> bytes:
        """Block up to ``timeout`` s for the first byte, then take what is already waiting."""
        data = read_burst(self._port, timeout, name=self.name, url=self.url, what="mrz scanner")
        if data:
            wire.debug("%s < %d bytes (MRZ text withheld)", self.name, len(data))
        return data
