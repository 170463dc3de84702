"""Hostile input never crashes a reader thread: random and mutated bytes into every parser.

Each outcome must be a value or a named error of the drivers error tree (a DriverError with a
stable ``reason``), never another exception: MRZ text, command and response APDUs, BER-TLV, DG1,
secure-messaging responses and commands, the virtual chip, and the SAM-V frame reader.
Bounded: 200 examples per property, no deadline (a loaded CI machine must not flake).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers.cardreader.apdu import CommandApdu, parse_command, parse_response, parse_tlvs
from drivers.cardreader.bac import SessionKeys
from drivers.cardreader.emrtd_protocol import parse_dg1
from drivers.cardreader.mrz import Mrz, check_digit, parse_mrz, yymmdd
from drivers.cardreader.samv_frames import BadFrame, FrameReader, Response
from drivers.cardreader.secure_messaging import CardSecureChannel, SecureChannel
from drivers.errors import DriverError
from drivers.sim.passport_card import PassportCard, dg1
from tests.pcsc_support import APPENDIX_D_MRZ

BOUNDED = settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
MRZ_VECTORS = [
    APPENDIX_D_MRZ,
    "I<UTOD231458907<<<<<<<<<<<<<<<\n7408122F1204159UTO<<<<<<<<<<<6\nERIKSSON<<ANNA<MARIA<<<<<<<<<<",
    "I<UTOSTEVENSON<<PETER<JOHN<<<<<<<<<<D23145890<UTO3407127M95071227349<<<8",
    "I<NLDXI85935F86999999990<<<<<<7208148F1108268NLD<<<<<<<<<<<4VAN<DER<STEEN<<MARIANNE<LOUISE",
]
KEYS = SessionKeys(bytes.fromhex("979EC13B1CBFE9DCD01AB0FED307EAE5"),
                   bytes.fromhex("F1CB1F1FB5ADF208806B89DC579DC1F8"), 0x887022120C06C226)
READ_4_ANSWER = bytes.fromhex("8709019FF0EC34F9922651990290008E08AD55CC17140B2DED9000")
SELECT_EF_COM = bytes.fromhex("0CA4020C158709016375432908C044F68E08BF8B92D635FF24F800")
SAMV_REPLY = bytes.fromhex("AAAAAA9669000400009094")


def outcome(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)``, or the named DriverError it raised; any other exception fails the test."""
    try:
        return fn(*args)
    except DriverError as exc:
        reason = getattr(exc, "reason", None)
        assert isinstance(reason, str) and reason, f"{type(exc).__name__} has no reason key"
        return exc


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    """One of ``seeds`` with a few bytes replaced, inserted, deleted, or the tail cut off."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["replace", "insert", "delete", "truncate"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "replace" and data:
            data[pos] = draw(st.integers(0, 255))
        elif op == "insert":
            data.insert(pos, draw(st.integers(0, 255)))
        elif op == "delete" and data:
            del data[pos]
        else:
            del data[pos:]
    return bytes(data)


mrz_text = st.one_of(
    st.text(max_size=100),
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789< \n", min_size=60, max_size=95),
    mutated([v.encode() for v in MRZ_VECTORS]).map(lambda b: b.decode("latin-1")),
)


@BOUNDED
@given(mrz_text, st.booleans())
def test_mrz_parser(text: str, verify: bool) -> None:
    """Any text: an Mrz whose lines have the format's width, or MrzError."""
    result = outcome(lambda: parse_mrz(text, verify=verify))
    if isinstance(result, Mrz):
        assert all(len(line) == result.format.width for line in result.lines)
        assert len(result.key_input) >= 24


@BOUNDED
@given(st.text(max_size=40), st.text(max_size=8))
def test_check_digit_and_dates(text: str, six: str) -> None:
    """Check digits are 0-9 or MrzError; any 'YYMMDD' is a date or MrzError."""
    digit = outcome(check_digit, text)
    assert isinstance(digit, DriverError) or 0 <= digit <= 9
    outcome(lambda: yymmdd(six, today=date(2026, 11, 25), past=True, field="f"))
    outcome(lambda: yymmdd(six, today=date(2026, 11, 25), past=False, field="f"))


apdu_bytes = st.one_of(st.binary(max_size=300), mutated([
    bytes.fromhex("00A4040C07A0000002471001"), bytes.fromhex("0084000008"), bytes.fromhex("FFCA000000"),
    bytes.fromhex("0CB000000D9701048E08ED6705417E96BA5500")]))


@BOUNDED
@given(apdu_bytes)
def test_command_apdu_parser(raw: bytes) -> None:
    """Any bytes: a command that encodes back to exactly those bytes, or ApduFormatError."""
    result = outcome(parse_command, raw)
    if isinstance(result, CommandApdu):
        assert bytes(result) == raw


@BOUNDED
@given(apdu_bytes)
def test_response_and_tlv_parsers(raw: bytes) -> None:
    """Responses split losslessly; TLV lists cover every byte, or TlvError."""
    result = outcome(parse_response, raw)
    if not isinstance(result, DriverError):
        assert bytes(result) == raw
    tlvs = outcome(parse_tlvs, raw)
    if isinstance(tlvs, list):
        assert sum(t.size for t in tlvs) == len(raw)


@BOUNDED
@given(st.one_of(st.binary(max_size=120), mutated([dg1(v) for v in MRZ_VECTORS])))
def test_dg1_parser(raw: bytes) -> None:
    """Any DG1 bytes: an Mrz or a ProtocolError."""
    outcome(parse_dg1, raw)


@BOUNDED
@given(st.one_of(st.binary(max_size=80), mutated([READ_4_ANSWER])))
def test_secure_messaging_response(raw: bytes) -> None:
    """A protected response verifies only if its protected part is untouched; else a named error.

    The trailing SW1 SW2 is outside the MAC (9303-11 uses DO 99), so only it may change."""
    channel = SecureChannel(KEYS)
    channel.protect(CommandApdu(0x00, 0xA4, 0x02, 0x0C, b"\x01\x1e"))
    channel.unprotect(bytes.fromhex("990290008E08FA855A5D4C50A8ED9000"))
    channel.protect(CommandApdu(0x00, 0xB0, 0x00, 0x00, le=4))
    result = outcome(channel.unprotect, raw)
    if not isinstance(result, DriverError) and raw[:-2] != READ_4_ANSWER[:-2]:
        assert not result.data and result.sw != 0x9000     # only a plain error status gets through


@BOUNDED
@given(st.one_of(st.binary(max_size=80), mutated([SELECT_EF_COM])))
def test_secure_messaging_command_and_the_virtual_chip(raw: bytes) -> None:
    """The card side decodes or refuses; the virtual chip always answers with a status word."""
    outcome(CardSecureChannel(KEYS).unprotect, raw)
    card = PassportCard(APPENDIX_D_MRZ)
    assert len(card.apdu(raw)) >= 2


@BOUNDED
@given(st.lists(st.one_of(st.binary(max_size=40), mutated([SAMV_REPLY])), max_size=6))
def test_samv_frame_reader(chunks: list[bytes]) -> None:
    """FrameReader.feed never raises: each item is a Response or a BadFrame, whatever arrives."""
    reader = FrameReader()
    for chunk in chunks:
        for item in reader.feed(chunk):
            assert isinstance(item, (Response, BadFrame))
