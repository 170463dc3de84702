"""ISO 7816-4 APDUs and BER-TLV: pure build/parse, status word -> named error.

No I/O: bytes in, values or named errors out (``ApduFormatError``, ``TlvError``, ``CardStatusError``
and its ``AccessDenied``), each carrying a stable ``reason`` key.  Only short APDUs
(Lc <= 255, Le <= 256) are built and parsed: BAC and the LDS1 files need nothing longer.
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.errors import DriverError, ProtocolError

SW_OK = 0x9000


class ApduFormatError(ProtocolError):
    """Bytes that do not form a short command or response APDU."""

    reason = "apdu_format"


class TlvError(ProtocolError):
    """Bytes that do not form BER-TLV, or a data object that is missing."""

    reason = "tlv_format"


class CardStatusError(DriverError):
    """The card answered with an error status word; ``reason`` names it, ``code`` holds SW1SW2."""

    def __init__(self, reason: str, message: str, *, sw: int) -> None:
        super().__init__(message, code=sw)
        self.reason = reason
        self.sw = sw


class AccessDenied(CardStatusError):
    """The card refused access: wrong BAC keys (wrong MRZ) or security status not satisfied."""


# SW1SW2 -> (reason key, plain text); 61xx and 6Cxx are handled by the transport, 63Cx below.
STATUS_WORDS: dict[int, tuple[str, str]] = {
    0x6281: ("data_corrupted", "part of the returned data may be corrupted"),
    0x6282: ("end_of_file", "end of file reached before Le bytes"),
    0x6300: ("verification_failed", "verification failed (authentication refused)"),
    0x6581: ("memory_failure", "memory failure"),
    0x6700: ("wrong_length", "wrong length"),
    0x6882: ("secure_messaging_unsupported", "secure messaging not supported"),
    0x6982: ("security_status", "security status not satisfied"),
    0x6983: ("auth_blocked", "authentication method blocked"),
    0x6984: ("reference_data_unusable", "reference data not usable"),
    0x6985: ("conditions_not_satisfied", "conditions of use not satisfied"),
    0x6986: ("command_not_allowed", "command not allowed (no current EF)"),
    0x6987: ("sm_objects_missing", "expected secure messaging data objects missing"),
    0x6988: ("sm_objects_incorrect", "secure messaging data objects incorrect"),
    0x6A80: ("wrong_data", "incorrect parameters in the data field"),
    0x6A81: ("function_not_supported", "function not supported"),
    0x6A82: ("file_not_found", "file or application not found"),
    0x6A86: ("wrong_p1p2", "incorrect parameters P1-P2"),
    0x6A88: ("data_not_found", "referenced data not found"),
    0x6B00: ("wrong_offset", "offset outside the EF"),
    0x6D00: ("ins_not_supported", "instruction not supported"),
    0x6E00: ("cla_not_supported", "class not supported"),
    0x6F00: ("no_diagnosis", "no precise diagnosis"),
}
_ACCESS_DENIED = frozenset({0x6300, 0x6982, 0x6983, 0x6984})


@dataclass(frozen=True)
class CommandApdu:
    """A short command APDU; ``le`` None means no Le, 256 is sent as 00."""

    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes = b""
    le: int | None = None

    def __bytes__(self) -> bytes:
        """The encoded APDU (ISO 7816-4 cases 1, 2S, 3S, 4S)."""
        if not all(0 <= b <= 0xFF for b in (self.cla, self.ins, self.p1, self.p2)):
            raise ValueError("header bytes must be 0..255")
        if len(self.data) > 255 or self.le is not None and not 1 <= self.le <= 256:
            raise ValueError(f"Lc {len(self.data)} or Le {self.le} does not fit a short APDU")
        out = bytes((self.cla, self.ins, self.p1, self.p2))
        if self.data:
            out += bytes((len(self.data),)) + self.data
        if self.le is not None:
            out += bytes((self.le & 0xFF,))
        return out

    @property
    def header(self) -> bytes:
        """CLA INS P1 P2."""
        return bytes((self.cla, self.ins, self.p1, self.p2))


def parse_command(raw: bytes) -> CommandApdu:
    """Decode a short command APDU; ApduFormatError when its length bytes do not add up."""
    if len(raw) < 4:
        raise ApduFormatError(f"command of {len(raw)} bytes has no complete header")
    cla, ins, p1, p2 = raw[:4]
    body = raw[4:]
    if not body:
        return CommandApdu(cla, ins, p1, p2)
    if len(body) == 1:
        return CommandApdu(cla, ins, p1, p2, le=body[0] or 256)
    lc = body[0]
    if lc == 0:
        raise ApduFormatError("extended-length APDUs are not supported")
    if len(body) == 1 + lc:
        return CommandApdu(cla, ins, p1, p2, bytes(body[1:]))
    if len(body) == 2 + lc:
        return CommandApdu(cla, ins, p1, p2, bytes(body[1:-1]), body[-1] or 256)
    raise ApduFormatError(f"Lc {lc} does not match the {len(body) - 1} bytes that follow it")


@dataclass(frozen=True)
class ResponseApdu:
    """A response APDU: data and the status word."""

    data: bytes
    sw: int

    @property
    def sw1(self) -> int:
        """First status byte."""
        return self.sw >> 8

    @property
    def sw2(self) -> int:
        """Second status byte."""
        return self.sw & 0xFF

    def __bytes__(self) -> bytes:
        """Data followed by SW1 SW2."""
        return self.data + self.sw.to_bytes(2, "big")


def parse_response(raw: bytes) -> ResponseApdu:
    """Split a response into data and SW1SW2; ApduFormatError when shorter than 2 bytes."""
    if len(raw) < 2:
        raise ApduFormatError(f"response of {len(raw)} bytes has no status word")
    return ResponseApdu(bytes(raw[:-2]), int.from_bytes(raw[-2:], "big"))


def status_error(sw: int, what: str) -> CardStatusError:
    """The named error for a non-9000 status word answering ``what``."""
    if sw >> 4 == 0x63C:
        reason, text = "verification_failed", f"verification failed, {sw & 0xF} tries left"
    else:
        reason, text = STATUS_WORDS.get(sw, ("unknown_status", "undocumented status word"))
    cls = AccessDenied if sw in _ACCESS_DENIED or sw >> 4 == 0x63C else CardStatusError
    return cls(reason, f"{what}: SW {sw:04X} {text}", sw=sw)


def check(resp: ResponseApdu, what: str) -> bytes:
    """The response data when SW is 9000, else raise the named CardStatusError."""
    if resp.sw != SW_OK:
        raise status_error(resp.sw, what)
    return resp.data


# ---- BER-TLV (ISO 7816-4 §5.2, as LDS1 uses it) ------------------------------------------

@dataclass(frozen=True)
class Tlv:
    """One data object: tag (as an int of its bytes), value, and the bytes it took."""

    tag: int
    value: bytes
    size: int


def read_header(data: bytes, offset: int = 0) -> tuple[int, int, int]:
    """(tag, header size, value length) of the object at ``offset``; the value may be absent."""
    pos = offset
    if pos >= len(data):
        raise TlvError("no data object: end of data")
    tag = data[pos]
    pos += 1
    if tag & 0x1F == 0x1F:          # multi-byte tag: continuation bytes have bit 8 set
        while True:
            if pos >= len(data) or pos - offset > 3:
                raise TlvError("tag runs past the data or is longer than 4 bytes")
            tag = tag << 8 | data[pos]
            pos += 1
            if not data[pos - 1] & 0x80:
                break
    if pos >= len(data):
        raise TlvError(f"tag {tag:X} has no length")
    length = data[pos]
    pos += 1
    if length & 0x80:
        count = length & 0x7F
        if not 1 <= count <= 3 or pos + count > len(data):
            raise TlvError(f"tag {tag:X}: length of {count} bytes is not supported or truncated")
        length = int.from_bytes(data[pos:pos + count], "big")
        pos += count
    return tag, pos - offset, length


def read_tlv(data: bytes, offset: int = 0) -> Tlv:
    """Decode the data object starting at ``offset``; TlvError when it is malformed or truncated."""
    tag, head, length = read_header(data, offset)
    start = offset + head
    if start + length > len(data):
        raise TlvError(f"tag {tag:X}: {length} value bytes announced, {len(data) - start} present")
    return Tlv(tag, bytes(data[start:start + length]), head + length)


def parse_tlvs(data: bytes) -> list[Tlv]:
    """Every data object of ``data`` in order (not descending into constructed ones)."""
    out: list[Tlv] = []
    pos = 0
    while pos < len(data):
        tlv = read_tlv(data, pos)
        out.append(tlv)
        pos += tlv.size
    return out


def find_tlv(data: bytes, tag: int) -> bytes:
    """The value of the first object tagged ``tag`` at the top level of ``data``."""
    for tlv in parse_tlvs(data):
        if tlv.tag == tag:
            return tlv.value
    raise TlvError(f"data object {tag:X} not found")


def encode_length(length: int) -> bytes:
    """BER length: short form below 128, else 81 xx / 82 xx xx / 83 xx xx xx."""
    if length < 0x80:
        return bytes((length,))
    raw = length.to_bytes((length.bit_length() + 7) // 8, "big")
    if len(raw) > 3:
        raise ValueError(f"length {length} needs more than 3 bytes")
    return bytes((0x80 | len(raw),)) + raw


def encode_tlv(tag: int, value: bytes) -> bytes:
    """One data object: tag bytes, BER length, value."""
    tag_bytes = tag.to_bytes(max(1, (tag.bit_length() + 7) // 8), "big")
    return tag_bytes + encode_length(len(value)) + value
