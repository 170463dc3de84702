"""Where slip bytes go: a serial/TCP port (serial_for_url), a device or capture file, or memory.

URL grammar (``open_transport``):

- ``capture://`` keeps every job in memory (tests, and kiosks without a printer);
- ``file:///path`` appends to a file: the Linux USB printer-class node ``/dev/usb/lp0``
  (usblp), or a capture file on a kiosk without a printer;
- anything else goes verbatim to ``serial.serial_for_url``: ``/dev/ttyUSB0`` and by-id links
  (serial printers), ``socket://192.0.2.10:9100`` (network printers: raw TCP port 9100),
  ``spy://…`` (wire trace), ``hwgrep://…``, ``loop://``.

Only the port transport can read a status reply (DLE EOT); the others answer None.
"""

from __future__ import annotations

import os
from typing import Protocol

import serial

from ..errors import DeviceGone, OptionError, PrinterFault
from ..serialport import PORT_ERRORS, close_quietly, gone, open_port

FLOW_CONTROLS = ("none", "rtscts", "dsrdtr", "xonxoff")


class Transport(Protocol):
    """A byte sink with an optional status back-channel."""

    def write(self, data: bytes) -> None:
        """Send ``data`` completely; DeviceGone when the link is lost, PrinterFault when it stalls."""

    def query(self, request: bytes, timeout: float) -> bytes | None:
        """Send ``request`` and return the one-byte reply; None when this transport cannot answer."""

    def close(self) -> None:
        """Release the link; never raises."""


class CaptureTransport:
    """Keeps every job in memory, in order."""

    def __init__(self) -> None:
        self.jobs: list[bytes] = []

    def write(self, data: bytes) -> None:
        """Keep ``data`` as one job."""
        self.jobs.append(data)

    def query(self, request: bytes, timeout: float) -> bytes | None:
        """No status back-channel."""
        return None

    def close(self) -> None:
        """Nothing to release."""


class FileTransport:
    """Appends to a file or a device node (``/dev/usb/lp0``)."""

    def __init__(self, name: str, url: str, path: str) -> None:
        self.name, self.url, self.path = name, url, path
        try:
            flags = os.O_WRONLY | os.O_APPEND | (0 if path.startswith("/dev/") else os.O_CREAT)
            self._fd: int | None = os.open(path, flags, 0o640)
        except OSError as exc:
            raise gone(name, url, f"cannot open {path}", exc) from exc

    def write(self, data: bytes) -> None:
        """Write all of ``data``."""
        if self._fd is None:
            raise DeviceGone("printer file is closed", device=self.name, url=self.url)
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._fd, view):]
        except OSError as exc:
            raise gone(self.name, self.url, f"write to {self.path} failed", exc) from exc

    def query(self, request: bytes, timeout: float) -> bytes | None:
        """No status back-channel (usblp status needs an ioctl; not used)."""
        return None

    def close(self) -> None:
        """Close the file; never raises."""
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass


class PortTransport:
    """A serial or TCP printer port opened through serial_for_url, with bounded writes."""

    def __init__(self, name: str, url: str, *, baudrate: int, flow: str, write_timeout_s: float) -> None:
        if flow not in FLOW_CONTROLS:
            raise OptionError(f"flow: {flow!r} is not one of {', '.join(FLOW_CONTROLS)}", device=name, url=url)
        self.name, self.url = name, url
        self.port: serial.Serial = open_port(
            name, url, baudrate=baudrate, timeout=0.0, write_timeout=write_timeout_s,
            rtscts=flow == "rtscts", dsrdtr=flow == "dsrdtr", xonxoff=flow == "xonxoff")

    def write(self, data: bytes) -> None:
        """Write ``data``; a printer that stops taking bytes within the write timeout is a PrinterFault."""
        try:
            self.port.write(data)
            self.port.flush()
        except serial.SerialTimeoutException as exc:
            # flow control held us off: paper out, cover open or offline, not a lost port
            raise PrinterFault(f"printer stopped taking data: {exc}", device=self.name, url=self.url) from exc
        except PORT_ERRORS as exc:
            raise gone(self.name, self.url, "printer write failed", exc) from exc

    def query(self, request: bytes, timeout: float) -> bytes | None:
        """Drop stale input, send ``request``, return the first reply byte (b"" on timeout)."""
        try:
            waiting = self.port.in_waiting
            if waiting:
                self.port.read(waiting)
            self.port.write(request)
            self.port.flush()
            self.port.timeout = timeout
            reply: bytes = self.port.read(1)
        except PORT_ERRORS as exc:
            raise gone(self.name, self.url, "printer status query failed", exc) from exc
        return reply

    def close(self) -> None:
        """Close the port; never raises."""
        close_quietly(self.port, self.name)


def open_transport(name: str, url: str, *, baudrate: int = 9600, flow: str = "none",
                   write_timeout_s: float = 5.0) -> Transport:
    """The transport for ``url`` (see the module docstring for the grammar)."""
    if url == "capture://":
        return CaptureTransport()
    if url.startswith("file://"):
        path = url[len("file://"):]
        if not path.startswith("/"):
            raise OptionError(f"file URL {url!r} needs an absolute path: file:///dev/usb/lp0", device=name, url=url)
        return FileTransport(name, url, path)
    return PortTransport(name, url, baudrate=baudrate, flow=flow, write_timeout_s=write_timeout_s)
