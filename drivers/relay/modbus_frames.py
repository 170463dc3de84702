"""Modbus RTU frames for relay boards, pure: CRC, request builders, a resynchronising reply reader.

Wire reference: PROTOCOLS.md §4.2.  A frame is ``unit fc data… crc_lo crc_hi`` with
CRC-16/MODBUS (reflected poly 0xA001, init 0xFFFF) sent **low byte first**; frames are
delimited by ≥ 3.5 character times of silence (``inter_frame_gap``).

Vectors (recomputed): ``01 05 00 00 FF 00 8C 3A`` coil 0 on · ``01 05 00 00 00 00 CD CA`` off ·
``01 05 02 00 00 07 8D B0`` Waveshare flash: coil 0 on for 7 × 100 ms, then off by the board ·
``01 02 00 00 00 08 79 CC`` read 8 discrete inputs · ``01 01 00 00 00 08 3D CC`` read 8 coils ·
``01 85 02 C3 51`` exception reply: illegal data address to a write-coil request.

Every reply is checked against the request that caused it (unit, function, and for FC05 the
exact echo), so a late reply to an earlier, timed-out request can never be taken for the
current one.  The reply reader skips leading junk (many USB/RS-485 adapters emit a stray
0x00 or 0xFF when the transceiver turns around) and frames with a bad CRC, and says what it
saw when time runs out.  The simulator shares these definitions, so both ends agree.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ..errors import DeviceTimeout, ProtocolError

FC_READ_COILS = 0x01
FC_READ_DISCRETE_INPUTS = 0x02
FC_WRITE_SINGLE_COIL = 0x05
EXCEPTION_FLAG = 0x80

COIL_ON = 0xFF00
COIL_OFF = 0x0000
FLASH_BASE = 0x0200          # Waveshare "flash on": FC05 to 0x02XX, value = time in 100 ms units
FLASH_UNIT_S = 0.1
MAX_FLASH_UNITS = 0xFFFF

MIN_UNIT, MAX_UNIT = 1, 247  # 0 is broadcast (no reply), 248..255 are reserved
MAX_READ_BITS = 2000         # Modbus limit for FC01 / FC02 quantity

EXCEPTION_NAMES: dict[int, str] = {
    0x01: "illegal function",
    0x02: "illegal data address",
    0x03: "illegal data value",
    0x04: "server device failure",
    0x05: "acknowledge",
    0x06: "server device busy",
    0x08: "memory parity error",
    0x0A: "gateway path unavailable",
    0x0B: "gateway target failed to respond",
}


# -- CRC and request builders ------------------------------------------------------------

def crc16(data: bytes) -> int:
    """CRC-16/MODBUS of ``data`` (reflected 0xA001, init 0xFFFF) as an int."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def with_crc(body: bytes) -> bytes:
    """``body`` followed by its CRC, low byte first."""
    crc = crc16(body)
    return body + bytes((crc & 0xFF, crc >> 8))


def crc_ok(frame: bytes) -> bool:
    """True when the last two bytes of ``frame`` are the CRC of the rest."""
    return len(frame) >= 4 and with_crc(frame[:-2]) == frame


def _check_unit(unit: int) -> None:
    if not MIN_UNIT <= unit <= MAX_UNIT:
        raise ValueError(f"unit {unit} is not in {MIN_UNIT}..{MAX_UNIT}")


def _check_word(name: str, value: int) -> None:
    if not 0 <= value <= 0xFFFF:
        raise ValueError(f"{name} {value} is not in 0..65535")


def write_coil_value(unit: int, address: int, value: int) -> bytes:
    """FC05 with a raw 16-bit value (FF00 on, 0000 off, or flash units at 0x02XX)."""
    _check_unit(unit)
    _check_word("address", address)
    _check_word("value", value)
    return with_crc(struct.pack(">BBHH", unit, FC_WRITE_SINGLE_COIL, address, value))


def write_coil(unit: int, coil: int, on: bool) -> bytes:
    """FC05: switch ``coil`` (counted from 0) on or off."""
    return write_coil_value(unit, coil, COIL_ON if on else COIL_OFF)


def flash_units(seconds: float) -> int:
    """Seconds to the board's 100 ms flash units, rounded, at least 1."""
    if not seconds > 0:
        raise ValueError(f"flash length {seconds!r} is not above 0 s")
    return max(1, min(MAX_FLASH_UNITS, round(seconds / FLASH_UNIT_S)))


def flash_on(unit: int, coil: int, units: int) -> bytes:
    """FC05 to 0x0200 + coil: the board energises ``coil`` for ``units`` × 100 ms, then releases it."""
    if not 1 <= units <= MAX_FLASH_UNITS:
        raise ValueError(f"flash units {units} is not in 1..{MAX_FLASH_UNITS}")
    if not 0 <= coil <= 0xFF:
        raise ValueError(f"coil {coil} is not in 0..255 for a flash command")
    return write_coil_value(unit, FLASH_BASE + coil, units)


def _read_bits(unit: int, function: int, start: int, count: int) -> bytes:
    _check_unit(unit)
    _check_word("start", start)
    if not 1 <= count <= MAX_READ_BITS:
        raise ValueError(f"count {count} is not in 1..{MAX_READ_BITS}")
    return with_crc(struct.pack(">BBHH", unit, function, start, count))


def read_coils(unit: int, start: int, count: int) -> bytes:
    """FC01: read ``count`` coils from ``start`` (the board's output latches)."""
    return _read_bits(unit, FC_READ_COILS, start, count)


def read_discrete_inputs(unit: int, start: int, count: int) -> bytes:
    """FC02: read ``count`` discrete inputs from ``start``."""
    return _read_bits(unit, FC_READ_DISCRETE_INPUTS, start, count)


def inter_frame_gap(baudrate: int) -> float:
    """The 3.5-character silence between frames; fixed 1.75 ms above 19200 baud (Modbus over serial line §2.5.1.1)."""
    if baudrate > 19200:
        return 0.00175
    return 3.5 * 11 / baudrate


# -- replies ------------------------------------------------------------------------------

class ExceptionReply(ProtocolError):
    """The board answered with an exception code (fc | 0x80); the request was understood and refused."""

    exception_code = 0

    def __init__(self, function: int, exception_code: int, *, device: str = "", url: str = "") -> None:
        name = EXCEPTION_NAMES.get(exception_code, "unknown exception")
        super().__init__(f"exception {exception_code:02X} ({name}) to function {function:02X}",
                         device=device, url=url, code=exception_code)
        self.function = function
        self.exception_code = exception_code
        self.reason = name


class IllegalFunction(ExceptionReply):
    """Exception 01: the board does not implement this function."""


class IllegalDataAddress(ExceptionReply):
    """Exception 02: no such coil or input (or the board has no flash command there)."""


class IllegalDataValue(ExceptionReply):
    """Exception 03: the value is not acceptable (e.g. a coil value other than FF00/0000)."""


class DeviceFailure(ExceptionReply):
    """Exception 04: the board failed while executing the request."""


_EXCEPTION_CLASSES: dict[int, type[ExceptionReply]] = {
    0x01: IllegalFunction, 0x02: IllegalDataAddress, 0x03: IllegalDataValue, 0x04: DeviceFailure,
}


def exception_for(function: int, code: int, *, device: str = "", url: str = "") -> ExceptionReply:
    """The named ExceptionReply subclass for ``code``."""
    cls = _EXCEPTION_CLASSES.get(code, ExceptionReply)
    return cls(function, code, device=device, url=url)


class BadCrc(ProtocolError):
    """A reply arrived but its CRC did not match (line noise, baud or parity mismatch)."""


class NoReply(DeviceTimeout):
    """Nothing that looks like a reply arrived before the timeout (board off, wrong unit, broken bus)."""


@dataclass(frozen=True)
class Reply:
    """One CRC-checked reply: unit, function (with 0x80 when an exception), data between them and the CRC."""

    unit: int
    function: int
    data: bytes
    raw: bytes

    @property
    def is_exception(self) -> bool:
        """True for an exception reply."""
        return bool(self.function & EXCEPTION_FLAG)


def reply_length(function: int, head: bytes) -> int | None:
    """Total length of a reply to ``function`` that starts with ``head``; None until it can be told."""
    if len(head) < 2:
        return None
    if head[1] == function | EXCEPTION_FLAG:
        return 5
    if function in (FC_READ_COILS, FC_READ_DISCRETE_INPUTS):
        return None if len(head) < 3 else 5 + head[2]
    if function == FC_WRITE_SINGLE_COIL:
        return 8
    raise ValueError(f"no reply length rule for function {function:02X}")


class ReplyReader:
    """Bytes in, the one reply to an expected (unit, function) out; skips junk and bad-CRC frames."""

    def __init__(self, unit: int, function: int) -> None:
        self.unit = unit
        self.function = function
        self.bad_crc = 0
        """Candidate frames whose CRC did not match."""
        self.junk = 0
        """Bytes skipped while looking for the start of the reply."""
        self._buf = bytearray()

    def feed(self, data: bytes) -> Reply | None:
        """Add ``data``; return the reply once a complete, CRC-valid one is in, else None."""
        self._buf += data
        while self._buf:
            if not self._starts_reply():
                self.junk += 1
                del self._buf[:1]
                continue
            length = reply_length(self.function, bytes(self._buf[:3]))
            if length is None or len(self._buf) < length:
                return None
            frame = bytes(self._buf[:length])
            if crc_ok(frame):
                return Reply(frame[0], frame[1], frame[2:-2], frame)
            # a real reply may start inside the bad frame: drop one byte and look again
            self.bad_crc += 1
            del self._buf[:1]
        return None

    def _starts_reply(self) -> bool:
        if self._buf[0] != self.unit:
            return False
        return len(self._buf) < 2 or self._buf[1] in (self.function, self.function | EXCEPTION_FLAG)

    def failure(self, *, device: str = "", url: str = "", timeout: float = 0.0) -> DeviceTimeout | ProtocolError:
        """What to raise when time ran out: BadCrc if a frame failed its CRC, else NoReply."""
        if self.bad_crc:
            return BadCrc(f"reply with a bad CRC to function {self.function:02X} ({self.bad_crc} candidate)",
                          device=device, url=url)
        pending = f"; {len(self._buf)} bytes of an incomplete reply" if self._buf else ""
        skipped = f"; {self.junk} junk bytes" if self.junk else ""
        return NoReply(f"no reply from unit {self.unit} to function {self.function:02X} within "
                       f"{timeout * 1000:.0f} ms{pending}{skipped}", device=device, url=url)


def decode_bits(data: bytes, count: int) -> tuple[bool, ...]:
    """FC01/FC02 reply data (byte count, then LSB-first bitmaps) to ``count`` booleans."""
    if not data or data[0] != len(data) - 1 or data[0] < (count + 7) // 8:
        raise ProtocolError(f"bit reply of {len(data)} bytes does not carry {count} bits")
    bitmap = data[1:]
    return tuple(bool(bitmap[i // 8] >> (i % 8) & 1) for i in range(count))


def encode_bits(bits: tuple[bool, ...] | list[bool]) -> bytes:
    """``count`` booleans to the byte count and LSB-first bitmap of a FC01/FC02 reply."""
    bitmap = bytearray((len(bits) + 7) // 8)
    for i, bit in enumerate(bits):
        if bit:
            bitmap[i // 8] |= 1 << (i % 8)
    return bytes((len(bitmap),)) + bytes(bitmap)


# -- requests, as the board (simulator) sees them ---------------------------------------------

@dataclass(frozen=True)
class Request:
    """One CRC-checked request of the functions a relay board serves: address and value/count."""

    unit: int
    function: int
    address: int
    value: int
    raw: bytes


def parse_request(frame: bytes) -> Request | None:
    """An 8-byte FC01/02/05-style request, or None if the length or CRC is wrong."""
    if len(frame) != 8 or not crc_ok(frame):
        return None
    unit, function, address, value = struct.unpack(">BBHH", frame[:6])
    return Request(unit, function, address, value, frame)


def bits_reply(unit: int, function: int, bits: tuple[bool, ...] | list[bool]) -> bytes:
    """The FC01/FC02 reply carrying ``bits``."""
    return with_crc(bytes((unit, function)) + encode_bits(bits))


def exception_reply(unit: int, function: int, code: int) -> bytes:
    """The exception reply (fc | 0x80, code) to ``function``."""
    return with_crc(bytes((unit, function | EXCEPTION_FLAG, code)))
