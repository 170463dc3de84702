"""SamvSimulator: a SAM-V ID-card reader on a real pty, speaking the real frames with faults.

The driver opens ``sim.port`` exactly as it opens ``/dev/kiosk/idcard``.  The simulator
parses host frames with ``samv_frames.CommandReader`` but builds its replies with its own
small code (``reply_frame``), so a bug in the driver's framing cannot hide behind the same
bug in the simulator; tests pin ``reply_frame`` to the published vectors of PROTOCOLS.md §1.4.

Faults, each for the next matching reply: ``corrupt_next`` (wrong CHK), ``remove_during_read``
(read-base reply cut short, card gone), ``refuse_reads`` (an error SW3 for a card that stays),
``garbage_before_next``; and modes: ``chunked``
(replies in small pieces), ``mute`` (no replies), ``halt_after_read`` (find fails for a card
already read while select still reaches it, as some readers do).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from drivers.base import IdCard
from drivers.cardreader.samv_frames import (
    SW3_COMMAND_ERROR,
    SW3_FIND_OK,
    SW3_HOST_CHECKSUM,
    SW3_HOST_LENGTH,
    SW3_NO_CARD,
    SW3_OK,
    SW3_READ_FAILED,
    SW3_SELECT_FAILED,
    BadFrame,
    Command,
    CommandFrame,
    CommandReader,
    FrameFault,
    encode_text_block,
)

from .pty import PtySimulator

_PREAMBLE = bytes.fromhex("AAAAAA9669")


def reply_frame(sw3: int, data: bytes = b"", *, sw1: int = 0, sw2: int = 0) -> bytes:
    """A reader->host frame, built independently of samv_frames (LEN big-endian, XOR from LEN)."""
    body = bytes([sw1, sw2, sw3]) + data
    length = (len(body) + 1).to_bytes(2, "big")
    chk = 0
    for byte in length + body:
        chk ^= byte
    return _PREAMBLE + length + body + bytes([chk])


def read_base_data(text: bytes, photo: bytes) -> bytes:
    """The data of a 30 01 reply: text length 0x0100, photo length 0x0400, text, photo."""
    if len(text) != 256 or len(photo) != 1024:
        raise ValueError(f"text must be 256 bytes and photo 1024, got {len(text)} and {len(photo)}")
    return b"\x01\x00\x04\x00" + text + photo


@dataclass
class _Faults:
    """Scripted faults; counters apply to the next replies that match."""

    corrupt: int = 0
    corrupt_command: Command | None = None
    remove_during_read: bool = False
    garbage: bytes = b""
    chunk: int = 0
    gap_s: float = 0.0
    muted: bool = False
    refuse_reads: int = 0
    refuse_sw3: int = SW3_READ_FAILED


class SamvSimulator(PtySimulator):
    """A SAM-V reader: place and remove cards, inject faults; answers over the pty."""

    SAM_ID = bytes(range(16))           # 16-byte SAM number answered to 12 FF

    def __init__(self, name: str = "idcard", *, link_dir: str | None = None,
                 halt_after_read: bool = False) -> None:
        super().__init__(name, link_dir=link_dir)
        self.halt_after_read = halt_after_read
        self._state = threading.Lock()
        self._commands = CommandReader()
        self._text: bytes | None = None     # text block of the card on the reader
        self._photo = bytes(1024)
        self._halted = False                # the card on the reader was read (halt_after_read)
        self._faults = _Faults()
        self.reads = 0                      # read-base replies sent in full (before any corruption)

    # -- the card -------------------------------------------------------------------------

    def place(self, card: IdCard | bytes, photo: bytes = bytes(1024), **text_extra: str) -> None:
        """Put a card on the reader: an IdCard (encoded) or a raw 256-byte text block."""
        text = card if isinstance(card, bytes) else encode_text_block(card, **text_extra)
        read_base_data(text, photo)         # validate sizes now, not on the sim thread
        with self._state:
            self._text, self._photo, self._halted = text, photo, False

    def remove(self) -> None:
        """Take the card off the reader."""
        with self._state:
            self._text, self._halted = None, False

    @property
    def card_present(self) -> bool:
        """True while a card lies on the reader."""
        return self._text is not None

    # -- faults ---------------------------------------------------------------------------

    def corrupt_next(self, n: int = 1, command: Command | None = None) -> None:
        """Send the next ``n`` replies (to ``command`` only, if given) with a wrong checksum."""
        with self._state:
            self._faults.corrupt, self._faults.corrupt_command = n, command

    def remove_during_read(self) -> None:
        """Cut the next read-base reply short and take the card away, as a hasty hand does."""
        with self._state:
            self._faults.remove_during_read = True

    def refuse_reads(self, n: int = 1, sw3: int = SW3_READ_FAILED) -> None:
        """Answer the next ``n`` read-base commands with ``sw3`` while the card stays (a bad card)."""
        with self._state:
            self._faults.refuse_reads, self._faults.refuse_sw3 = n, sw3

    def garbage_before_next(self, data: bytes) -> None:
        """Send ``data`` just before the next reply (line noise, a half frame after power-up)."""
        with self._state:
            self._faults.garbage = data

    def chunked(self, size: int, gap_s: float = 0.0) -> None:
        """Send every reply in ``size``-byte pieces ``gap_s`` apart (0 = whole frames)."""
        with self._state:
            self._faults.chunk, self._faults.gap_s = size, gap_s

    def mute(self, muted: bool = True) -> None:
        """Stop answering (the driver times out) or, with False, answer again."""
        with self._state:
            self._faults.muted = muted

    # -- the wire -------------------------------------------------------------------------

    def on_plug(self) -> None:
        """A new connection starts with no half-received command."""
        self._commands = CommandReader()

    def handle(self, data: bytes) -> None:
        """Answer every complete host frame in ``data``."""
        for item in self._commands.feed(data):
            if isinstance(item, BadFrame):
                sw3 = SW3_HOST_CHECKSUM if item.fault is FrameFault.CHECKSUM else SW3_HOST_LENGTH
                self._send(None, reply_frame(sw3))
            else:
                command, frame = self._answer(item)
                self._send(command, frame)

    def _answer(self, item: CommandFrame) -> tuple[Command | None, bytes]:
        try:
            command = Command(bytes((item.cmd, item.para)))
        except ValueError:
            return None, reply_frame(SW3_COMMAND_ERROR)
        with self._state:
            text, photo, halted = self._text, self._photo, self._halted
        if command in (Command.RESET_SAM, Command.SAM_STATUS):
            return command, reply_frame(SW3_OK)
        if command is Command.SAM_ID:
            return command, reply_frame(SW3_OK, self.SAM_ID)
        if command is Command.FIND_CARD:
            if text is None or halted:
                return command, reply_frame(SW3_NO_CARD)
            return command, reply_frame(SW3_FIND_OK, bytes(4))
        if command is Command.SELECT_CARD:
            return command, reply_frame(SW3_SELECT_FAILED) if text is None else reply_frame(SW3_OK, bytes(8))
        if command is Command.READ_BASE:
            return command, self._read_base(text, photo)
        return command, reply_frame(SW3_COMMAND_ERROR)     # no fingerprint or address module

    def _read_base(self, text: bytes | None, photo: bytes) -> bytes:
        if text is None:
            return reply_frame(SW3_READ_FAILED)
        frame = reply_frame(SW3_OK, read_base_data(text, photo))
        with self._state:
            if self._faults.refuse_reads:
                self._faults.refuse_reads -= 1
                return reply_frame(self._faults.refuse_sw3)
            if self._faults.remove_during_read:
                self._faults.remove_during_read = False
                self._text = None
                # cut inside the text block: the driver sees a frame that never ends
                return frame[:14 + 100]
            self._halted = self.halt_after_read
            self.reads += 1
        return frame

    def _send(self, command: Command | None, frame: bytes) -> None:
        with self._state:
            faults = self._faults
            if faults.muted:
                return
            if faults.corrupt and faults.corrupt_command in (None, command):
                faults.corrupt -= 1
                frame = frame[:-1] + bytes([frame[-1] ^ 0xFF])
            garbage, faults.garbage = faults.garbage, b""
            chunk, gap_s = faults.chunk, faults.gap_s
        self.send(garbage + frame, chunk=chunk, gap_s=gap_s)
