"""SlipPrinter: the declaration slip on an ESC/POS thermal printer, through python-escpos.

URL grammar: ``capture://`` (memory), ``file:///dev/usb/lp0`` (USB printer-class node) or
``file:///path`` (capture file), or any ``serial.serial_for_url`` URL: ``/dev/ttyUSB0``,
``socket://192.0.2.10:9100`` (network printer), ``spy://…`` (see ``transport``).

Options (``OPTIONS``): ``baudrate`` and ``flow`` (serial printers); ``columns`` and ``width_px``
(58 mm paper: 32 columns, 384 dots; 80 mm: 48 and 576); ``profile`` (a python-escpos
capability profile name); ``chinese_mode`` (send FS & after INIT); ``status_check`` (ask the
paper sensor, DLE EOT 4, before each slip and while idle; ports only); ``status_timeout_s``;
``write_timeout_s`` (a printer that stops taking data is a fault, not a hang); ``font_path``
(TrueType font for lines the printer cannot print itself).

Transport choice (issue 6): python-escpos builds the bytes into its capture printer
(``render``); our transport sends them.  escpos's own ``Serial`` calls ``serial.Serial``
directly (STYLE B10.1), so ``spy://``/``socket://``/``hwgrep://`` and our error mapping would
be lost; rendering apart from I/O also makes every slip byte-exact testable.

The printer runs on its own DeviceRunner: paper out or a pulled cable shows as health
(``read`` raises PrinterFault / DeviceGone), and ``print_document`` runs only through
``runner.call``, so a printer fault never blocks the gate or raises into the checkpoint.
Wire reference: PROTOCOLS.md §5; DLE EOT 4 bits per the Epson ESC/POS reference (paper roll
sensor: 0x0C near end, 0x60 end; bits 1 and 4 always set).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from ..errors import DeviceGone, DeviceTimeout, PrinterFault
from ..options import Option
from .document import SlipDocument, SlipPrinted
from .render import SlipRenderer
from .transport import FLOW_CONTROLS, CaptureTransport, Transport, open_transport

log = logging.getLogger(__name__)

PAPER_STATUS = b"\x10\x04\x04"    # DLE EOT 4: paper roll sensor
PAPER_NEAR_END = 0x0C
PAPER_END = 0x60
STATUS_FIXED = 0x12               # bits 1 and 4 are always 1, bits 0 and 7 always 0
STATUS_FIXED_MASK = 0x93
STATUS_EVERY_S = 2.0


def paper_state(status: int) -> str:
    """``ok``, ``near_end`` or ``out`` from a DLE EOT 4 reply byte; ValueError if it is not one."""
    if status & STATUS_FIXED_MASK != STATUS_FIXED:
        raise ValueError(f"0x{status:02X} is not a paper status byte")
    if status & PAPER_END:
        return "out"
    return "near_end" if status & PAPER_NEAR_END else "ok"


class SlipPrinter:
    """An ESC/POS slip printer (Device protocol; readings none, health from the paper sensor)."""

    OPTIONS: dict[str, Option] = {
        "baudrate": Option(int, 9600, "serial printers: line speed",
                           choices=(9600, 19200, 38400, 57600, 115200)),
        "flow": Option(str, "none", "serial printers: flow control", choices=FLOW_CONTROLS),
        "columns": Option(int, 32, "characters per line (58 mm: 32, 80 mm: 48)", min=16, max=64),
        "width_px": Option(int, 384, "printable width in dots (58 mm: 384, 80 mm: 576)", min=128, max=832),
        "profile": Option(str, "default", "python-escpos capability profile name"),
        "chinese_mode": Option(bool, True, "send FS & (Chinese character mode) after INIT"),
        "status_check": Option(bool, True, "ask the paper sensor (DLE EOT 4) before each slip; ports only"),
        "status_timeout_s": Option(float, 0.5, "wait for a status reply, seconds", min=0.05, max=5.0),
        "write_timeout_s": Option(float, 5.0, "a printer taking no data this long is a fault", min=0.5,
                                  max=60.0),
        "font_path": Option(str, "", "TrueType font for scripts the printer cannot print ('' = DejaVu Sans)"),
    }

    def __init__(self, name: str, url: str, *, baudrate: int = 9600, flow: str = "none", columns: int = 32,
                 width_px: int = 384, profile: str = "default", chinese_mode: bool = True,
                 status_check: bool = True, status_timeout_s: float = 0.5, write_timeout_s: float = 5.0,
                 font_path: str = "", sleep: Callable[[float], None] = time.sleep) -> None:
        self.name = name
        self.url = url
        self.baudrate, self.flow = baudrate, flow
        self.status_check = status_check
        self.status_timeout_s = status_timeout_s
        self.write_timeout_s = write_timeout_s
        self.renderer = SlipRenderer(columns=columns, width_px=width_px, profile=profile,
                                     chinese_mode=chinese_mode, font_path=font_path)
        self.paper = "unknown"
        """Last paper state seen: ok, near_end, out, or unknown (no status back-channel)."""
        self._sleep = sleep
        self._transport: Transport | None = None
        self._next_status = 0.0

    @property
    def captured(self) -> list[bytes]:
        """Jobs kept by a ``capture://`` printer (empty for others)."""
        transport = self._transport
        return transport.jobs if isinstance(transport, CaptureTransport) else []

    def open(self) -> None:
        """Open the transport; the first ``read`` asks the paper sensor."""
        self.close()
        self._transport = open_transport(self.name, self.url, baudrate=self.baudrate, flow=self.flow,
                                         write_timeout_s=self.write_timeout_s)
        self._next_status = 0.0
        log.info("printer %s open url=%s", self.name, self.url)

    def close(self) -> None:
        """Release the transport; never raises."""
        transport, self._transport = self._transport, None
        if transport is not None:
            transport.close()

    def read(self, timeout: float) -> None:
        """Idle health poll: every few seconds ask the paper sensor; PrinterFault while out of paper."""
        self._require()
        if time.monotonic() >= self._next_status:
            self._next_status = time.monotonic() + STATUS_EVERY_S
            self.check_paper()
        self._sleep(timeout)
        return None

    def check_paper(self) -> str:
        """Ask the paper sensor now; PrinterFault when out, DeviceTimeout when the printer is silent."""
        transport = self._require()
        if not self.status_check:
            return self.paper
        reply = transport.query(PAPER_STATUS, self.status_timeout_s)
        if reply is None:
            return self.paper
        if not reply:
            raise DeviceTimeout("printer did not answer the paper status query (off, or status_check = false?)",
                                device=self.name, url=self.url)
        try:
            state = paper_state(reply[0])
        except ValueError as exc:
            raise PrinterFault(f"unexpected status reply: {exc}", device=self.name, url=self.url) from exc
        if state != self.paper:
            log.info("printer %s paper=%s", self.name, state)
        self.paper = state
        if state == "out":
            raise PrinterFault("printer is out of paper", device=self.name, url=self.url)
        return state

    def print_document(self, document: SlipDocument) -> SlipPrinted:
        """Check the paper, render and send one slip; PrinterFault / DeviceGone / DeviceTimeout on failure."""
        transport = self._require()
        self.check_paper()
        data = self.renderer.render(document)
        transport.write(data)
        log.info("printer %s printed %d bytes", self.name, len(data))
        return SlipPrinted(len(data))

    def _require(self) -> Transport:
        if self._transport is None:
            raise DeviceGone("printer is not open", device=self.name, url=self.url)
        return self._transport
