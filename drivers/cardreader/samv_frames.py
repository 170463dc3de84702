"""SAM-V framing and parsing: pure functions over bytes, no I/O (PROTOCOLS.md §1.2-1.5).

Host -> reader:  AA AA AA 96 69 | LEN_H LEN_L | CMD | PARA | DATA... | CHK
Reader -> host:  AA AA AA 96 69 | LEN_H LEN_L | SW1 | SW2  | SW3 | DATA... | CHK

LEN counts every byte after itself (CHK included); CHK is the XOR of LEN_H .. the last
data byte.  ``FrameReader`` turns reply bytes into ``Response`` objects (or ``BadFrame``
results the driver can tell apart); ``CommandReader`` does the same for the simulator.
Every SW3 status code has a stable key and a plain reason (``SW3_TABLE``), and
``SamvStatusError`` names the one a command got.  The card data inside the replies is
decoded by ``samv_text``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from drivers.errors import DriverError

PREAMBLE = b"\xAA\xAA\xAA\x96\x69"
HEADER_LEN = len(PREAMBLE) + 2          # preamble + LEN_H LEN_L
MAX_LEN = 0x090A                        # longest documented reply: text + photo + two fingerprints


class Command(enum.Enum):
    """Every SAM-V command the kiosk knows: value = CMD PARA bytes (PROTOCOLS.md §1.3)."""

    RESET_SAM = b"\x10\xFF"
    SAM_STATUS = b"\x11\xFF"
    SAM_ID = b"\x12\xFF"
    FIND_CARD = b"\x20\x01"
    SELECT_CARD = b"\x20\x02"
    READ_BASE = b"\x30\x01"
    READ_BASE_FP = b"\x30\x10"
    READ_NEW_ADDRESS = b"\x30\x03"

    @property
    def frame(self) -> bytes:
        """The complete host frame of this command (no data)."""
        return build_command(self.value[0], self.value[1])


# ---- SW3: the reader's own status byte (PROTOCOLS.md §1.4) ----------------------------

SW3_OK = 0x90
SW3_ITEM_ABSENT = 0x91
SW3_FIND_OK = 0x9F
SW3_NO_CARD = 0x80
SW3_SELECT_FAILED = 0x81
SW3_READ_FAILED = 0x41
SW3_CARD_TYPE = 0x40
SW3_HOST_CHECKSUM = 0x10
SW3_HOST_LENGTH = 0x11
SW3_COMMAND_ERROR = 0x21
SW3_SAM_SELF_TEST = 0x60


@dataclass(frozen=True)
class Sw3Status:
    """One SW3 code: a stable key for logs and tests, and a plain English reason."""

    code: int
    key: str
    reason: str


SW3_TABLE: dict[int, Sw3Status] = {s.code: s for s in (
    Sw3Status(0x90, "ok", "success"),
    Sw3Status(0x91, "item_absent", "item not present on the card (no fingerprint or appended address)"),
    Sw3Status(0x9F, "find_ok", "card found"),
    Sw3Status(0x10, "host_checksum_error", "the reader saw a checksum error in the host frame"),
    Sw3Status(0x11, "host_length_error", "the reader saw a length error in the host frame"),
    Sw3Status(0x21, "command_error", "command unknown or not allowed here"),
    Sw3Status(0x23, "unauthorised_operation", "operation not authorised"),
    Sw3Status(0x24, "unrecognised_error", "unrecognised error"),
    Sw3Status(0x31, "card_auth_sam_failed", "the card failed to authenticate the SAM"),
    Sw3Status(0x32, "sam_auth_card_failed", "the SAM failed to authenticate the card"),
    Sw3Status(0x33, "verification_error", "information verification error"),
    Sw3Status(0x40, "card_type_unrecognised", "unrecognised card type"),
    Sw3Status(0x41, "read_failed", "reading the card failed"),
    Sw3Status(0x47, "random_failed", "getting a random number failed"),
    Sw3Status(0x60, "sam_self_test_failed", "SAM self-test failed; it accepts no commands"),
    Sw3Status(0x66, "sam_not_authorised", "SAM not authorised"),
    Sw3Status(0x80, "no_card", "no card found"),
    Sw3Status(0x81, "select_failed", "selecting the card failed"),
)}


def sw3_status(code: int) -> Sw3Status:
    """The table entry for ``code``, or an ``unknown_status`` entry naming the code."""
    return SW3_TABLE.get(code) or Sw3Status(code, "unknown_status", f"undocumented status 0x{code:02X}")


class SamvStatusError(DriverError):
    """A command got an SW3 other than the one it expects; ``status`` names it (``code`` is SW3)."""

    def __init__(self, command: Command, status: Sw3Status, *, device: str = "", url: str = "") -> None:
        super().__init__(f"{command.name}: SW3 0x{status.code:02X} {status.key} ({status.reason})",
                         device=device, url=url, code=status.code)
        self.command = command
        self.status = status

    @property
    def key(self) -> str:
        """The stable key of the status, e.g. ``read_failed``."""
        return self.status.key


# ---- frames -------------------------------------------------------------------------

def xor_checksum(data: bytes) -> int:
    """XOR of every byte of ``data`` (0 for no bytes)."""
    chk = 0
    for byte in data:
        chk ^= byte
    return chk


def build_command(cmd: int, para: int, data: bytes = b"") -> bytes:
    """A host frame: preamble, big-endian LEN, CMD, PARA, data and the XOR checksum."""
    body = bytes((cmd, para)) + data
    head = (len(body) + 1).to_bytes(2, "big")
    return PREAMBLE + head + body + bytes((xor_checksum(head + body),))


@dataclass(frozen=True)
class Response:
    """One reply from the reader; ``data`` may hold personal data, so it is not in repr."""

    sw1: int
    sw2: int
    sw3: int
    data: bytes = field(default=b"", repr=False)

    @property
    def status(self) -> Sw3Status:
        """What SW3 means."""
        return sw3_status(self.sw3)


@dataclass(frozen=True)
class CommandFrame:
    """One host command as the reader (the simulator) receives it."""

    cmd: int
    para: int
    data: bytes = b""


class FrameFault(enum.Enum):
    """Why bytes that started like a frame were rejected."""

    CHECKSUM = "checksum"
    LENGTH = "length"


@dataclass(frozen=True)
class BadFrame:
    """A rejected frame; carries no frame bytes, since those may be personal data."""

    fault: FrameFault
    detail: str


T = TypeVar("T")


class _Deframer(Generic[T]):
    """Byte-in/frame-out state shared by both directions (pyserial Packetizer style)."""

    min_len = 1

    def __init__(self) -> None:
        self._buf = bytearray()
        self.discarded = 0      # garbage bytes dropped while looking for a preamble

    def feed(self, data: bytes) -> list[T | BadFrame]:
        """Add received bytes; return every complete frame (or rejection) they finish."""
        self._buf += data
        out: list[T | BadFrame] = []
        while (item := self._next()) is not None:
            out.append(item)
        return out

    @property
    def pending(self) -> int:
        """Bytes of a frame whose preamble arrived but whose end has not (0 if none)."""
        return len(self._buf) if self._buf.startswith(PREAMBLE) else 0

    def reset(self) -> None:
        """Forget everything buffered (after the driver flushed its input)."""
        self._buf.clear()

    def _next(self) -> T | BadFrame | None:
        start = self._buf.find(PREAMBLE)
        if start < 0:
            # keep a tail that may be the first bytes of a preamble split across reads
            drop = max(0, len(self._buf) - (len(PREAMBLE) - 1))
            self.discarded += drop
            del self._buf[:drop]
            return None
        self.discarded += start
        del self._buf[:start]
        if len(self._buf) < HEADER_LEN:
            return None
        length = int.from_bytes(self._buf[len(PREAMBLE):HEADER_LEN], "big")
        if not self.min_len <= length <= MAX_LEN:
            # drop this preamble only: a real frame may start inside what followed it
            del self._buf[:len(PREAMBLE)]
            return BadFrame(FrameFault.LENGTH,
                            f"implausible LEN {length} (expected {self.min_len}..{MAX_LEN})")
        total = HEADER_LEN + length
        if len(self._buf) < total:
            return None
        frame = bytes(self._buf[:total])
        expected = xor_checksum(frame[len(PREAMBLE):-1])
        if frame[-1] != expected:
            del self._buf[:len(PREAMBLE)]
            return BadFrame(FrameFault.CHECKSUM,
                            f"checksum 0x{frame[-1]:02X} != 0x{expected:02X} in a {total}-byte frame")
        del self._buf[:total]
        return self._decode(frame[HEADER_LEN:-1])

    def _decode(self, body: bytes) -> T:
        raise NotImplementedError


class FrameReader(_Deframer[Response]):
    """Reader -> host: feed reply bytes, get ``Response`` or ``BadFrame`` items."""

    min_len = 4                 # SW1 SW2 SW3 CHK

    def _decode(self, body: bytes) -> Response:
        return Response(body[0], body[1], body[2], body[3:])


class CommandReader(_Deframer[CommandFrame]):
    """Host -> reader: feed command bytes, get ``CommandFrame`` or ``BadFrame`` items."""

    min_len = 3                 # CMD PARA CHK

    def _decode(self, body: bytes) -> CommandFrame:
        return CommandFrame(body[0], body[1], body[2:])
