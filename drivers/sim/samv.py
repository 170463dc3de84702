"""SamvSimulator: a SAM-V ID-card reader on a real pty, speaking the real frames with faults.

The driver opens ``sim.port`` exactly as it opens ``/dev/kiosk/idcard``.  The simulator
parses host frames with ``samv_frames.CommandReader`` but builds its replies with its own
small code (``reply_frame``), so a bug in the driver's framing cannot hide behind the same
bug in the simulator; tests pin ``reply_frame`` to the published vectors of PROTOCOLS.md §1.4.
It answers every command of §1.3: reset, SAM status, SAM id, find, select, read base, read
with fingerprint (30 10) and the appended address (30 03, SW3 91 when the card has none).

Faults, each for the next matching reply: ``corrupt_next`` (wrong CHK), ``mangle_next`` (any
change to the frame: truncated, wrong LEN, ...), ``answer_next`` (an error SW3, e.g. 0x41 for a
card that stays, 0x10 for a command that reached the reader corrupted), ``remove_during_read``
(read-base reply cut short, card gone), ``unplug_during_read`` (cable pulled mid-reply),
``garbage_before_next``, ``fail_sam`` (SAM status failing until a reset); and modes:
``chunked`` (replies in small pieces), ``pace`` (bytes paced at a UART speed, as a real
reader's 115200 bit/s line delivers them; a pty itself does not pace), ``mute`` (no replies),
``halt_after_read`` (find fails for a card already read while select still reaches it).

``exchanges`` keeps the last commands answered with their times (for tests and benchmarks).
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from drivers.base import IdCard
from drivers.cardreader.samv_frames import (
    SW3_COMMAND_ERROR,
    SW3_FIND_OK,
    SW3_HOST_CHECKSUM,
    SW3_HOST_LENGTH,
    SW3_ITEM_ABSENT,
    SW3_NO_CARD,
    SW3_OK,
    SW3_READ_FAILED,
    SW3_SELECT_FAILED,
    BadFrame,
    Command,
    CommandFrame,
    CommandReader,
    FrameFault,
)
from drivers.cardreader.samv_text import encode_text_block

from .pty import PtySimulator

_PREAMBLE = bytes.fromhex("AAAAAA9669")
_PACE_CHUNK = 16                    # bytes written at once when pacing (1.4 ms at 115200 bit/s)


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


def read_fp_data(text: bytes, photo: bytes, fingerprint: bytes) -> bytes:
    """The data of a 30 10 reply: text, photo and fingerprint lengths, then the three blocks."""
    return read_base_data(text, photo)[:4] + len(fingerprint).to_bytes(2, "big") + text + photo + fingerprint


def address_data(address: str) -> bytes:
    """The data of a 30 03 reply: the address in UCS-2LE, space-padded to 70 bytes (35 characters)."""
    raw = address.encode("utf-16-le")
    if len(raw) > 70:
        raise ValueError(f"an appended address holds 35 characters, not {len(raw) // 2}")
    return raw + " ".encode("utf-16-le") * ((70 - len(raw)) // 2)


@dataclass(frozen=True)
class Exchange:
    """One command the simulator answered: when it arrived and when the last reply byte left."""

    command: Command | None
    sw3: int
    sent: int                   # reply bytes written (garbage included)
    received_at: float          # time.monotonic()
    done_at: float


@dataclass
class _Card:
    """What lies on the reader."""

    text: bytes
    photo: bytes
    fingerprint: bytes
    new_address: str | None


@dataclass
class _Faults:
    """Scripted faults; counters apply to the next replies that match."""

    corrupt: int = 0
    corrupt_command: Command | None = None
    mangle: Callable[[bytes], bytes] | None = None
    mangle_command: Command | None = None
    answer: int = 0
    answer_sw3: int = SW3_READ_FAILED
    answer_command: Command | None = None
    remove_during_read: bool = False
    unplug_during_read: bool = False
    garbage: bytes = b""
    chunk: int = 0
    gap_s: float = 0.0
    muted: bool = False
    sam_sw3: int = SW3_OK


class SamvSimulator(PtySimulator):
    """A SAM-V reader: place and remove cards, inject faults; answers over the pty."""

    SAM_ID = bytes(range(16))           # 16-byte SAM number answered to 12 FF

    def __init__(self, name: str = "idcard", *, link_dir: str | None = None,
                 halt_after_read: bool = False) -> None:
        super().__init__(name, link_dir=link_dir)
        self.halt_after_read = halt_after_read
        self.baud: int | None = None        # pace replies at this UART speed (None: as fast as the pty)
        self._state = threading.Lock()
        self._commands = CommandReader()
        self._card: _Card | None = None
        self._halted = False                # the card on the reader was read (halt_after_read)
        self._faults = _Faults()
        self.reads = 0                      # read-base replies sent in full (before any corruption)
        self.exchanges: collections.deque[Exchange] = collections.deque(maxlen=256)

    # -- the card -------------------------------------------------------------------------

    def place(self, card: IdCard | bytes, photo: bytes = bytes(1024), *, fingerprint: bytes = b"",
              new_address: str | None = None) -> None:
        """Put a card on the reader: an IdCard (encoded) or a raw 256-byte text block."""
        text = card if isinstance(card, bytes) else encode_text_block(card)
        read_base_data(text, photo)         # validate sizes now, not on the sim thread
        if new_address is not None:
            address_data(new_address)
        with self._state:
            self._card, self._halted = _Card(text, photo, fingerprint, new_address), False

    def remove(self) -> None:
        """Take the card off the reader."""
        with self._state:
            self._card, self._halted = None, False

    @property
    def card_present(self) -> bool:
        """True while a card lies on the reader."""
        return self._card is not None

    # -- faults ---------------------------------------------------------------------------

    def corrupt_next(self, n: int = 1, command: Command | None = None) -> None:
        """Send the next ``n`` replies (to ``command`` only, if given) with a wrong checksum."""
        with self._state:
            self._faults.corrupt, self._faults.corrupt_command = n, command

    def mangle_next(self, change: Callable[[bytes], bytes], command: Command | None = None) -> None:
        """Pass the next reply (to ``command`` only, if given) through ``change`` before sending it."""
        with self._state:
            self._faults.mangle, self._faults.mangle_command = change, command

    def answer_next(self, sw3: int, command: Command | None = None, n: int = 1) -> None:
        """Answer the next ``n`` commands (``command`` only, if given) with ``sw3`` and no data."""
        with self._state:
            self._faults.answer, self._faults.answer_sw3, self._faults.answer_command = n, sw3, command

    def refuse_reads(self, n: int = 1, sw3: int = SW3_READ_FAILED) -> None:
        """Answer the next ``n`` read-base commands with ``sw3`` while the card stays (a bad card)."""
        self.answer_next(sw3, Command.READ_BASE, n)

    def remove_during_read(self) -> None:
        """Cut the next read-base reply short and take the card away, as a hasty hand does."""
        with self._state:
            self._faults.remove_during_read = True

    def unplug_during_read(self) -> None:
        """Send half of the next read-base reply, then pull the cable (the card stays)."""
        with self._state:
            self._faults.unplug_during_read = True

    def garbage_before_next(self, data: bytes) -> None:
        """Send ``data`` just before the next reply (line noise, a half frame after power-up)."""
        with self._state:
            self._faults.garbage = data

    def fail_sam(self, sw3: int = 0x60) -> None:
        """Answer SAM status with ``sw3`` until the next reset (0x90: a healthy SAM)."""
        with self._state:
            self._faults.sam_sw3 = sw3

    def chunked(self, size: int, gap_s: float = 0.0) -> None:
        """Send every reply in ``size``-byte pieces ``gap_s`` apart (0 = whole frames)."""
        with self._state:
            self._faults.chunk, self._faults.gap_s = size, gap_s

    def pace(self, baud: int | None) -> None:
        """Deliver bytes at ``baud`` bit/s (10 bits a byte) as a UART would; None turns pacing off."""
        self.baud = baud

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
        received_at = time.monotonic()
        for item in self._commands.feed(data):
            if isinstance(item, BadFrame):
                sw3 = SW3_HOST_CHECKSUM if item.fault is FrameFault.CHECKSUM else SW3_HOST_LENGTH
                command, frame = None, reply_frame(sw3)
            else:
                command, frame = self._answer(item)
            self._send(command, frame, received_at)

    def _answer(self, item: CommandFrame) -> tuple[Command | None, bytes]:
        try:
            command = Command(bytes((item.cmd, item.para)))
        except ValueError:
            return None, reply_frame(SW3_COMMAND_ERROR)
        with self._state:
            card, halted, faults = self._card, self._halted, self._faults
            if faults.answer and faults.answer_command in (None, command):
                faults.answer -= 1
                return command, reply_frame(faults.answer_sw3)
        if command in (Command.RESET_SAM, Command.SAM_STATUS, Command.SAM_ID):
            return command, self._sam(command)
        if command is Command.FIND_CARD:
            found = card is not None and not halted
            return command, reply_frame(SW3_FIND_OK, bytes(4)) if found else reply_frame(SW3_NO_CARD)
        if card is None:
            return command, reply_frame({Command.SELECT_CARD: SW3_SELECT_FAILED}.get(command, SW3_READ_FAILED))
        if command is Command.SELECT_CARD:
            return command, reply_frame(SW3_OK, bytes(8))
        if command is Command.READ_BASE:
            return command, self._read_base(card)
        if command is Command.READ_BASE_FP:
            return command, reply_frame(SW3_OK, read_fp_data(card.text, card.photo, card.fingerprint))
        if card.new_address is None:
            return command, reply_frame(SW3_ITEM_ABSENT)
        return command, reply_frame(SW3_OK, address_data(card.new_address))

    def _sam(self, command: Command) -> bytes:
        with self._state:
            if command is Command.RESET_SAM:
                self._faults.sam_sw3 = SW3_OK
                return reply_frame(SW3_OK)
            sw3 = self._faults.sam_sw3
        if sw3 != SW3_OK:
            return reply_frame(sw3)
        return reply_frame(SW3_OK, self.SAM_ID if command is Command.SAM_ID else b"")

    def _read_base(self, card: _Card) -> bytes:
        frame = reply_frame(SW3_OK, read_base_data(card.text, card.photo))
        with self._state:
            if self._faults.remove_during_read:
                self._faults.remove_during_read = False
                self._card = None
                # cut inside the text block: the driver sees a frame that never ends
                return frame[:14 + 100]
            self._halted = self.halt_after_read
            self.reads += 1
        return frame

    def _send(self, command: Command | None, frame: bytes, received_at: float) -> None:
        with self._state:
            faults = self._faults
            if faults.muted:
                return
            if faults.corrupt and faults.corrupt_command in (None, command):
                faults.corrupt -= 1
                frame = frame[:-1] + bytes([frame[-1] ^ 0xFF])
            if faults.mangle is not None and faults.mangle_command in (None, command):
                frame, faults.mangle = faults.mangle(frame), None
            unplug = faults.unplug_during_read and command is Command.READ_BASE
            if unplug:
                faults.unplug_during_read = False
            garbage, faults.garbage = faults.garbage, b""
            chunk, gap_s = faults.chunk, faults.gap_s
        data = garbage + frame
        if unplug:
            data = data[:len(data) // 2]
            self.send(data)
            self.unplug()
        elif self.baud:
            self._send_paced(data, self.baud, received_at)
        else:
            self.send(data, chunk=chunk, gap_s=gap_s)
        sw3 = frame[9] if len(frame) > 9 else -1
        self.exchanges.append(Exchange(command, sw3, len(data), received_at, time.monotonic()))

    def _send_paced(self, data: bytes, baud: int, received_at: float) -> None:
        """Write ``data`` so that each byte leaves when a UART at ``baud`` would have sent it.

        The reply starts once the 10-byte command itself has crossed the wire (the pty handed
        it over at once), so a whole exchange takes its real wire time."""
        byte_s = 10 / baud
        start = received_at + 10 * byte_s
        for end in range(_PACE_CHUNK, len(data) + _PACE_CHUNK, _PACE_CHUNK):
            wait = start + min(end, len(data)) * byte_s - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self.send(data[end - _PACE_CHUNK:end])
