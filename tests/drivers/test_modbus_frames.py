"""Modbus RTU frames, pure: CRC vectors, request bytes, the reply reader, bits, exception names."""

from __future__ import annotations

import pytest

from drivers.errors import DeviceTimeout, ProtocolError
from drivers.relay.modbus_frames import (
    BadCrc,
    DeviceFailure,
    ExceptionReply,
    IllegalDataAddress,
    IllegalDataValue,
    IllegalFunction,
    NoReply,
    Reply,
    ReplyReader,
    bits_reply,
    crc16,
    crc_ok,
    decode_bits,
    encode_bits,
    exception_for,
    exception_reply,
    flash_on,
    flash_units,
    inter_frame_gap,
    parse_request,
    read_coils,
    read_discrete_inputs,
    with_crc,
    write_coil,
)


def h(text: str) -> bytes:
    """Hex text to bytes."""
    return bytes.fromhex(text)


@pytest.mark.parametrize(("frame", "expected"), [
    (write_coil(1, 0, True), "01 05 00 00 FF 00 8C 3A"),
    (write_coil(1, 0, False), "01 05 00 00 00 00 CD CA"),
    (write_coil(1, 1, True), "01 05 00 01 FF 00 DD FA"),
    (write_coil(1, 1, False), "01 05 00 01 00 00 9C 0A"),
    (flash_on(1, 0, 7), "01 05 02 00 00 07 8D B0"),
    (flash_on(1, 0, 5), "01 05 02 00 00 05 0C 71"),
    (read_discrete_inputs(1, 0, 8), "01 02 00 00 00 08 79 CC"),
    (read_coils(1, 0, 8), "01 01 00 00 00 08 3D CC"),
    (exception_reply(1, 0x05, 0x02), "01 85 02 C3 51"),
    (bits_reply(1, 0x02, [True] + [False] * 7), "01 02 01 01 60 48"),
])
def test_frames_are_byte_exact(frame: bytes, expected: str) -> None:
    """The vectors of PROTOCOLS.md §4.2 (CRC low byte first), recomputed."""
    assert frame == h(expected)


def test_crc_helpers() -> None:
    """crc16 of the standard check string, and crc_ok on good, bad and too-short frames."""
    assert crc16(b"123456789") == 0x4B37   # CRC-16/MODBUS check value
    assert crc_ok(h("01 05 00 00 FF 00 8C 3A"))
    assert not crc_ok(h("01 05 00 00 FF 00 3A 8C"))   # high byte first is wrong
    assert not crc_ok(h("01 05 8C"))
    assert with_crc(b"") == h("FF FF")


@pytest.mark.parametrize(("seconds", "units"), [(0.5, 5), (0.7, 7), (0.04, 1), (0.26, 3), (3.0, 30)])
def test_flash_units_round_to_100_ms(seconds: float, units: int) -> None:
    """Seconds round to the board's 100 ms units, never below one unit."""
    assert flash_units(seconds) == units


@pytest.mark.parametrize(("call", "message"), [
    (lambda: write_coil(0, 0, True), "unit 0"),
    (lambda: write_coil(248, 0, True), "unit 248"),
    (lambda: flash_on(1, 0, 0), "flash units 0"),
    (lambda: flash_on(1, 256, 5), "coil 256"),
    (lambda: read_coils(1, 0, 0), "count 0"),
    (lambda: flash_units(0.0), "not above 0"),
])
def test_builders_refuse_out_of_range(call: object, message: str) -> None:
    """Broadcast, reserved units, zero-length flashes and empty reads are programming errors."""
    with pytest.raises(ValueError, match=message):
        call()  # type: ignore[operator]


ECHO = h("01 05 00 00 FF 00 8C 3A")


@pytest.mark.parametrize(("function", "chunks", "raw", "junk", "bad"), [
    (0x05, [ECHO], ECHO, 0, 0),
    (0x05, [ECHO[:3], ECHO[3:7], ECHO[7:]], ECHO, 0, 0),
    (0x05, [b"\x00" + ECHO], ECHO, 1, 0),                               # RS-485 turnaround byte
    (0x05, [h("FF FF") + ECHO], ECHO, 2, 0),
    (0x05, [h("01 85 02 C3 51")], h("01 85 02 C3 51"), 0, 0),           # exception reply
    (0x02, [h("01 02 01 01 60 48")], h("01 02 01 01 60 48"), 0, 0),
    (0x02, [h("01 02 01 01 60 49") + h("01 02 01 01 60 48")], h("01 02 01 01 60 48"), 5, 1),
    (0x01, [with_crc(h("02 01 01 00")) + with_crc(h("01 01 01 03"))], with_crc(h("01 01 01 03")), 5, 1),  # other unit
])
def test_reply_reader_resynchronises(function: int, chunks: list[bytes], raw: bytes, junk: int, bad: int) -> None:
    """Split replies join; stray bytes, other units and bad-CRC frames are skipped."""
    reader = ReplyReader(1, function)
    replies = [r for chunk in chunks if (r := reader.feed(chunk)) is not None]
    assert [r.raw for r in replies] == [raw]
    assert (reader.junk, reader.bad_crc) == (junk, bad)


def test_reply_fields_and_exception_flag() -> None:
    """A reply exposes unit, function and data; the exception flag is fc | 0x80."""
    reader = ReplyReader(1, 0x05)
    reply = reader.feed(h("01 85 02 C3 51"))
    assert reply == Reply(1, 0x85, b"\x02", h("01 85 02 C3 51"))
    assert reply.is_exception


def test_reply_reader_failure_says_what_it_saw() -> None:
    """Silence is NoReply (a DeviceTimeout); a frame with a bad CRC is BadCrc (a ProtocolError)."""
    silent = ReplyReader(1, 0x05)
    failure = silent.failure(timeout=0.2)
    assert isinstance(failure, NoReply) and isinstance(failure, DeviceTimeout)
    assert "no reply from unit 1 to function 05 within 200 ms" in str(failure)
    partial = ReplyReader(1, 0x05)
    assert partial.feed(ECHO[:5]) is None
    assert "5 bytes of an incomplete reply" in str(partial.failure())
    corrupt = ReplyReader(1, 0x05)
    assert corrupt.feed(ECHO[:-1] + b"\x00") is None
    assert isinstance(corrupt.failure(), BadCrc) and isinstance(corrupt.failure(), ProtocolError)


@pytest.mark.parametrize(("code", "cls", "name"), [
    (0x01, IllegalFunction, "illegal function"),
    (0x02, IllegalDataAddress, "illegal data address"),
    (0x03, IllegalDataValue, "illegal data value"),
    (0x04, DeviceFailure, "server device failure"),
    (0x06, ExceptionReply, "server device busy"),
    (0x42, ExceptionReply, "unknown exception"),
])
def test_exception_replies_are_named_errors(code: int, cls: type[ExceptionReply], name: str) -> None:
    """Each exception code maps to a named ProtocolError that keeps the code."""
    exc = exception_for(0x05, code, device="gate", url="/dev/x")
    assert type(exc) is cls and isinstance(exc, ProtocolError)
    assert (exc.exception_code, exc.code, exc.reason, exc.device) == (code, code, name, "gate")
    assert f"({name}) to function 05" in str(exc)


def test_bits_round_trip_lsb_first() -> None:
    """Bit 0 is the LSB of the first byte; 10 bits take two bytes."""
    bits = (True, False, True, True, False, False, False, False, False, True)
    data = encode_bits(bits)
    assert data == h("02 0D 02")
    assert decode_bits(data, 10) == bits
    assert decode_bits(h("01 01"), 1) == (True,)
    for bad in (b"", h("02 01"), h("01 01 00")):
        with pytest.raises(ProtocolError):
            decode_bits(bad, 8)
    with pytest.raises(ProtocolError):
        decode_bits(h("01 FF"), 9)


def test_parse_request() -> None:
    """The simulator's view: 8-byte requests with a valid CRC, else None."""
    request = parse_request(flash_on(1, 2, 7))
    assert request is not None
    assert (request.unit, request.function, request.address, request.value) == (1, 5, 0x0202, 7)
    assert parse_request(ECHO[:-1] + b"\x00") is None
    assert parse_request(ECHO[:7]) is None


@pytest.mark.parametrize(("baudrate", "gap_ms"), [(9600, 4.01), (19200, 2.005), (38400, 1.75), (115200, 1.75)])
def test_inter_frame_gap(baudrate: int, gap_ms: float) -> None:
    """3.5 characters of 11 bits, fixed 1.75 ms above 19200 baud."""
    assert inter_frame_gap(baudrate) * 1000 == pytest.approx(gap_ms, abs=0.01)
