"""SAM-V framing and parsing: pure functions over bytes, no I/O (PROTOCOLS.md §1.2-1.5).

Host -> reader:  AA AA AA 96 69 | LEN_H LEN_L | CMD | PARA | DATA... | CHK
Reader -> host:  AA AA AA 96 69 | LEN_H LEN_L | SW1 | SW2  | SW3 | DATA... | CHK

LEN counts every byte after itself (CHK included); CHK is the XOR of LEN_H .. the last
data byte.  ``FrameReader`` turns reply bytes into ``Response`` objects (or ``BadFrame``
results the driver can tell apart); ``CommandReader`` does the same for the simulator.
``parse_text_block`` decodes the 256-byte UCS-2LE text of a resident card, an HK/Macau/
Taiwan permit ('J') or a foreigner permanent-residence card ('I').
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Generic, TypeVar

from drivers.base import CardType, IdCard
from drivers.errors import ProtocolError

PREAMBLE = b"\xAA\xAA\xAA\x96\x69"
HEADER_LEN = len(PREAMBLE) + 2          # preamble + LEN_H LEN_L
MAX_LEN = 0x090A                        # longest documented reply: text + photo + two fingerprints
TEXT_LEN = 256
PHOTO_LEN = 1024
FLAG_OFFSET = 248                       # card-type flag in the text block
LONG_TERM = "长期"                      # valid_to of a card valid for life


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
SW3_FIND_OK = 0x9F
SW3_NO_CARD = 0x80
SW3_SELECT_FAILED = 0x81
SW3_READ_FAILED = 0x41
SW3_HOST_CHECKSUM = 0x10
SW3_HOST_LENGTH = 0x11
SW3_COMMAND_ERROR = 0x21


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


# ---- text block -----------------------------------------------------------------------

class CardDataError(ProtocolError):
    """The card's data cannot be used; ``reason`` is a stable key (no personal data in text)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


_Slot = tuple[int, int]         # (offset, bytes) inside the 256-byte text block

_RESIDENT: dict[str, _Slot] = {
    "name": (0, 30), "gender": (30, 2), "nation": (32, 4), "birth_date": (36, 16), "address": (52, 70),
    "id_number": (122, 36), "authority": (158, 30), "valid_from": (188, 16), "valid_to": (204, 16),
}
# 'J' permit: the resident layout without nation, then pass number and issue count
_PERMIT: dict[str, _Slot] = {"pass_number": (220, 18), "issue_count": (238, 4)}
# 'I' card (2017 version): its own layout, PROTOCOLS.md §1.5 "Foreigner 'I' layout"
_FOREIGN: dict[str, _Slot] = {
    "name": (0, 120), "gender": (120, 2), "id_number": (122, 30), "nationality": (152, 6),
    "name_cn": (158, 30), "valid_from": (188, 16), "valid_to": (204, 16), "birth_date": (220, 16),
    "version": (236, 4), "authority": (240, 8),
}
_FLAGS: dict[int, CardType] = {
    0x20: CardType.RESIDENT, 0x00: CardType.RESIDENT,
    ord("J"): CardType.PERMIT_HMT, ord("I"): CardType.FOREIGN_PR,
}
_YYYYMMDD = re.compile(r"[0-9]{8}")


def _field(block: bytes, slot: _Slot) -> str:
    offset, size = slot
    try:
        text = block[offset:offset + size].decode("utf-16-le")
    except UnicodeDecodeError as exc:
        raise CardDataError("card_unreadable", f"text at offset {offset} is not UCS-2") from exc
    return text.rstrip(" \x00")


def _date(text: str, what: str) -> date:
    if not _YYYYMMDD.fullmatch(text):
        raise CardDataError("card_unreadable", f"{what} is not a YYYYMMDD date")
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError as exc:
        raise CardDataError("card_unreadable", f"{what} is not a calendar date") from exc


def _valid_to(text: str) -> date | None:
    return None if text == LONG_TERM else _date(text, "valid_to")


def parse_text_block(block: bytes) -> IdCard:
    """Decode the 256-byte UCS-2LE text block; raise CardDataError when it cannot be used."""
    if len(block) != TEXT_LEN:
        raise CardDataError("card_unreadable", f"text block is {len(block)} bytes, expected {TEXT_LEN}")
    card_type = _FLAGS.get(block[FLAG_OFFSET])
    if card_type is None:
        flag = block[FLAG_OFFSET]
        raise CardDataError("card_type_unknown",
                            f"card type flag 0x{flag:02X} at text byte {FLAG_OFFSET} is not supported")
    if card_type is CardType.FOREIGN_PR:
        f = {key: _field(block, slot) for key, slot in _FOREIGN.items()}
        address, nation = "", ""
    else:
        f = {key: _field(block, slot) for key, slot in _RESIDENT.items()}
        address = f["address"]
        # a 'J' permit has no nation: those bytes are reserved
        nation = f["nation"] if card_type is CardType.RESIDENT else ""
    return IdCard(
        card_type=card_type, name=f["name"], gender=f["gender"], nation=nation,
        birth_date=_date(f["birth_date"], "birth_date"), address=address, id_number=f["id_number"],
        authority=f["authority"], valid_from=_date(f["valid_from"], "valid_from"),
        valid_to=_valid_to(f["valid_to"]),
    )


def parse_read_base(resp: Response) -> IdCard:
    """Decode a read-base-info (30 01) reply: text block plus photo bytes kept in memory."""
    if resp.sw3 != SW3_OK:
        raise CardDataError("card_unreadable", f"read base info: SW3 0x{resp.sw3:02X} {resp.status.key}")
    data = resp.data
    if len(data) < 4:
        raise CardDataError("card_unreadable", f"read base info: {len(data)} data bytes, no length fields")
    text_len = int.from_bytes(data[0:2], "big")
    photo_len = int.from_bytes(data[2:4], "big")
    if text_len != TEXT_LEN or len(data) != 4 + text_len + photo_len:
        raise CardDataError("card_unreadable", f"read base info: text {text_len} B + photo {photo_len} B "
                                               f"do not fill {len(data) - 4} data bytes")
    card = parse_text_block(data[4:4 + TEXT_LEN])
    return replace(card, photo=bytes(data[4 + TEXT_LEN:]))


# ---- the inverse, for the simulator and tests -------------------------------------------------

def _put(block: bytearray, slot: _Slot, text: str) -> None:
    offset, size = slot
    raw = text.encode("utf-16-le")
    if len(raw) > size:
        raise ValueError(f"text for offset {offset} needs {len(raw)} bytes, the field has {size}")
    block[offset:offset + size] = raw + " ".encode("utf-16-le") * ((size - len(raw)) // 2)


def _yyyymmdd(d: date) -> str:
    return f"{d.year:04d}{d.month:02d}{d.day:02d}"


def encode_text_block(card: IdCard, *, pass_number: str = "", issue_count: str = "",
                      nationality: str = "", name_cn: str = "", version: str = "") -> bytes:
    """Build the 256-byte text block a reader would send for ``card`` (inverse of parse)."""
    block = bytearray(" ".encode("utf-16-le") * (TEXT_LEN // 2))
    valid_to = LONG_TERM if card.valid_to is None else _yyyymmdd(card.valid_to)
    common = {"name": card.name, "gender": card.gender, "birth_date": _yyyymmdd(card.birth_date),
              "id_number": card.id_number, "authority": card.authority,
              "valid_from": _yyyymmdd(card.valid_from), "valid_to": valid_to}
    if card.card_type is CardType.FOREIGN_PR:
        values = {**common, "nationality": nationality, "name_cn": name_cn, "version": version}
        slots = _FOREIGN
    else:
        values = {**common, "address": card.address, "nation": card.nation}
        slots = _RESIDENT
        if card.card_type is CardType.PERMIT_HMT:
            values.update(nation="", pass_number=pass_number, issue_count=issue_count)
            slots = {**_RESIDENT, **_PERMIT}
    for key, slot in slots.items():
        _put(block, slot, values[key])
    flag = {CardType.RESIDENT: " ", CardType.PERMIT_HMT: "J", CardType.FOREIGN_PR: "I"}[card.card_type]
    _put(block, (FLAG_OFFSET, 2), flag)
    return bytes(block)
