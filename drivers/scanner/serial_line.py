"""SerialScanner: a barcode scanner on RS-232 or USB-CDC that sends one line per code.

URL grammar: anything ``serial.serial_for_url`` accepts, passed verbatim: a device path
(``/dev/kiosk/scanner``, a ``/dev/serial/by-id/...`` link), ``hwgrep://0c2e:0b61``,
``spy:///dev/ttyACM0`` (wire trace), ``socket://host:port`` or ``loop://``.

Options (``OPTIONS``): ``baudrate``; ``suffix`` (cr | lf | crlf | tab, the terminator the
scanner is programmed to send); ``aim_prefix`` (the scanner sends the AIM identifier ``]cm``
before each code, ISO/IEC 15424: ``]E0`` EAN/UPC, ``]E4`` EAN-8, ``]C1`` GS1-128, ``]d2`` GS1
DataMatrix, ``]Q1``/``]Q3`` QR/GS1 QR, ...); ``gs_substitute`` (the printable character the
scanner sends instead of GS, mapped back: ``drivers.scanner.aim``); ``max_length`` (longest
accepted line in bytes).

Wire reference: PROTOCOLS.md §3.1-3.3.  Each line is decoded as UTF-8; GS (0x1D), the GS1
FNC1 separator, is kept in the text.  Framing is ``drivers.framing.LineFramer``; turning one
line into a reading is the pure function ``parse_line``.
"""

from __future__ import annotations

import collections
import logging
import time

import serial

from ..base import ScanRead
from ..errors import OptionError, ProtocolError
from ..framing import LineFramer
from ..options import Option
from ..serialport import close_quietly, open_port, read_burst
from .aim import SUBSTITUTES, check_substitute, to_scan

log = logging.getLogger(__name__)
wire = logging.getLogger("kiosk.wire")


def parse_line(line: bytes, aim_prefix: bool, gs_substitute: str = "") -> ScanRead | None:
    """One framed line -> a ScanRead; None for an empty line; ProtocolError for bad bytes."""
    if not line:
        return None
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError(
            f"scanner line is not UTF-8 (bad byte at {exc.start}): {line[:64].hex(' ')}"
        ) from exc
    return to_scan(text, aim_prefix=aim_prefix, gs_substitute=gs_substitute)


class SerialScanner:
    """A line-per-code serial barcode scanner (Device protocol, returns ScanRead)."""

    OPTIONS: dict[str, Option] = {
        "baudrate": Option(int, 9600, "line speed in baud (8N1)",
                           choices=(1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)),
        "suffix": Option(str, "cr", "terminator the scanner sends after each code",
                         choices=("cr", "lf", "crlf", "tab")),
        "aim_prefix": Option(bool, False, "the scanner sends the AIM ]cm symbology identifier first"),
        "gs_substitute": Option(str, "", "character the scanner sends in place of GS (0x1D); '' = none",
                                choices=SUBSTITUTES),
        "max_length": Option(int, 256, "longest accepted code in bytes; longer runs are dropped",
                             min=8, max=8192),
    }

    def __init__(self, name: str, url: str, *, baudrate: int = 9600, suffix: str = "cr",
                 aim_prefix: bool = False, gs_substitute: str = "", max_length: int = 256) -> None:
        self.name = name
        self.url = url
        self.baudrate = baudrate
        self.aim_prefix = aim_prefix
        self.gs_substitute = gs_substitute
        problem = check_substitute(gs_substitute)
        if problem:
            raise OptionError(problem, device=name, url=url)
        try:
            self._framer = LineFramer(suffix, max_length)
        except ValueError as exc:
            raise OptionError(str(exc), device=name, url=url) from exc
        self._lines: collections.deque[bytes] = collections.deque()
        self._port: serial.Serial | None = None

    def open(self) -> None:
        """Open the port through serial_for_url; DeviceGone if it is absent or refuses."""
        self.close()
        self._port = open_port(self.name, self.url, baudrate=self.baudrate, timeout=0.0)
        self._framer.reset()
        self._lines.clear()
        log.info("scanner %s open url=%s baudrate=%d", self.name, self.url, self.baudrate)

    def close(self) -> None:
        """Close the port; never raises."""
        port, self._port = self._port, None
        close_quietly(port, self.name)

    def read(self, timeout: float) -> ScanRead | None:
        """Wait up to ``timeout`` s for one code; extra codes of a burst wait for the next calls."""
        deadline = time.monotonic() + max(0.0, timeout)
        wait = max(0.0, timeout)  # the full timeout first: the port is reconfigured only mid-line
        while True:
            reading = self._next_buffered()
            if reading is not None:
                return reading
            data = self._receive(wait)
            if not data:
                return None
            self._frame(data)
            wait = deadline - time.monotonic()
            if wait <= 0 and not self._lines:
                return None
            wait = max(0.0, wait)

    def _next_buffered(self) -> ScanRead | None:
        """Parse queued lines until one gives a reading; a bad line raises, the rest stay queued."""
        while self._lines:
            try:
                reading = parse_line(self._lines.popleft(), self.aim_prefix, self.gs_substitute)
            except ProtocolError as exc:
                exc.device, exc.url = self.name, self.url
                raise
            if reading is not None:
                return reading
        return None

    def _frame(self, data: bytes) -> None:
        dropped = self._framer.dropped
        self._lines.extend(self._framer.feed(data))
        if self._framer.dropped != dropped:
            raise ProtocolError(
                f"scanner line longer than {self._framer.max_length} bytes without terminator: dropped",
                device=self.name, url=self.url)

    def _receive(self, timeout: float) -> bytes:
        """Block up to ``timeout`` s for the first byte, then take what is already waiting."""
        data = read_burst(self._port, timeout, name=self.name, url=self.url, what="scanner")
        if data and wire.isEnabledFor(logging.DEBUG):
            wire.debug("%s < %s", self.name, data.hex(" "))
        return data
