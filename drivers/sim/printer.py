"""EscposPrinterSimulator: an ESC/POS thermal printer on a real pty.

It answers the real-time paper status query DLE EOT 4 (``10 04 04``) with the Epson status
byte (0x12 paper present, 0x1E near end, 0x72 out), keeps every other byte as printed data,
and counts slips by their cut command (``1D 56``).  Faults: ``paper("out")`` (status says so and
the data is not printed), ``silent`` (no status replies, as a printer without a back-channel),
``unplug()`` (the cable is pulled).
"""

from __future__ import annotations

from .pty import PtySimulator

STATUS_QUERY = b"\x10\x04\x04"
CUT = b"\x1d\x56"
PAPER_STATUS = {"ok": 0x12, "near_end": 0x1E, "out": 0x72}


class EscposPrinterSimulator(PtySimulator):
    """The far end of a serial ESC/POS printer."""

    def __init__(self, name: str = "printer", *, link_dir: str | None = None) -> None:
        super().__init__(name, link_dir=link_dir)
        self.printed = bytearray()
        """Data bytes that reached the paper (status queries removed)."""
        self.discarded = 0
        """Data bytes received while out of paper."""
        self.status_queries = 0
        self.silent = False
        self._paper = "ok"

    @property
    def slips(self) -> int:
        """Slips printed so far (cut commands seen in the printed data)."""
        return bytes(self.printed).count(CUT)

    def paper(self, state: str) -> None:
        """Set the paper sensor: ``ok``, ``near_end`` or ``out``."""
        if state not in PAPER_STATUS:
            raise ValueError(f"paper state {state!r} is not one of {', '.join(PAPER_STATUS)}")
        self._paper = state

    def handle(self, data: bytes) -> None:
        """Answer each status query; keep (or, out of paper, discard) the rest."""
        while data:
            at = data.find(STATUS_QUERY)
            chunk, data = (data, b"") if at < 0 else (data[:at], data[at + len(STATUS_QUERY):])
            self._take(chunk)
            if at >= 0:
                self.status_queries += 1
                if not self.silent:
                    self.send(bytes((PAPER_STATUS[self._paper],)))

    def _take(self, chunk: bytes) -> None:
        if self._paper == "out":
            self.discarded += len(chunk)
        else:
            with self._lock:
                self.printed += chunk
