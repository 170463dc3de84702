"""ScannerSimulator: a serial barcode scanner on a real pty, sending the exact bytes a scanner sends.

A scan is ``[AIM identifier] + code (UTF-8) + suffix`` (PROTOCOLS.md §3.1-3.3); ``send`` options
split it into chunks with gaps, the way a USB-CDC scanner's packets or a slow UART deliver it.
``noise`` writes arbitrary bytes (line noise, a scanner in the wrong mode).  Bytes the host
writes (e.g. Honeywell ``SYN T CR`` trigger commands) are kept in ``received`` and ignored.
"""

from __future__ import annotations

from ..framing import TERMINATORS
from .pty import PtySimulator


def scan_bytes(text: str, symbology: str | None = None, suffix: str = "cr") -> bytes:
    """The bytes a scanner sends for one code: optional AIM identifier, UTF-8 text, suffix."""
    if suffix not in TERMINATORS:
        raise ValueError(f"suffix {suffix!r} is not one of {', '.join(TERMINATORS)}")
    return ((symbology or "") + text).encode("utf-8") + TERMINATORS[suffix]


class ScannerSimulator(PtySimulator):
    """The far end of a serial scanner: tests call ``scan`` as if a code were read."""

    def __init__(self, name: str = "scanner", *, link_dir: str | None = None) -> None:
        super().__init__(name, link_dir=link_dir)

    def scan(self, text: str, symbology: str | None = None, suffix: str = "cr", *,
             chunk: int = 0, gap_s: float = 0.0) -> bytes:
        """Send one code as the scanner would; returns the exact bytes written."""
        data = scan_bytes(text, symbology, suffix)
        self.send(data, chunk=chunk, gap_s=gap_s)
        return data

    def noise(self, data: bytes, *, chunk: int = 0, gap_s: float = 0.0) -> None:
        """Send raw bytes that are not a well-formed scan."""
        self.send(data, chunk=chunk, gap_s=gap_s)
