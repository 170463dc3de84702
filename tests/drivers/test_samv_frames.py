"""Table tests for the pure SAM-V framing (PROTOCOLS.md §1.2-1.4): commands, SW3, resync.

Expected bytes are written out by hand from the published vectors, never computed with
the code under test.
"""

from __future__ import annotations

import pytest

from drivers.cardreader.samv_frames import (
    SW3_TABLE,
    BadFrame,
    Command,
    CommandFrame,
    CommandReader,
    FrameFault,
    FrameReader,
    Response,
    SamvStatusError,
    build_command,
    sw3_status,
    xor_checksum,
)
from drivers.sim.samv import reply_frame
from tests.drivers.samv_blocks import h, read_base_frame, resident_block

# ---- commands ---------------------------------------------------------------------------

@pytest.mark.parametrize(("command", "frame"), [
    (Command.RESET_SAM, "AA AA AA 96 69 00 03 10 FF EC"),
    (Command.SAM_STATUS, "AA AA AA 96 69 00 03 11 FF ED"),
    (Command.SAM_ID, "AA AA AA 96 69 00 03 12 FF EE"),
    (Command.FIND_CARD, "AA AA AA 96 69 00 03 20 01 22"),
    (Command.SELECT_CARD, "AA AA AA 96 69 00 03 20 02 21"),
    (Command.READ_BASE, "AA AA AA 96 69 00 03 30 01 32"),
    (Command.READ_NEW_ADDRESS, "AA AA AA 96 69 00 03 30 03 30"),
    (Command.READ_BASE_FP, "AA AA AA 96 69 00 03 30 10 23"),
])
def test_command_frames_match_published_bytes(command: Command, frame: str) -> None:
    """Every command of §1.3 is byte-exact."""
    assert command.frame == h(frame)


def test_command_table_is_exactly_the_eight_commands() -> None:
    """No command was added or lost from the table."""
    assert {c.value for c in Command} == {h(x) for x in ("10FF", "11FF", "12FF", "2001", "2002", "3001",
                                                         "3010", "3003")}


@pytest.mark.parametrize(("cmd", "para", "data", "frame"), [
    (0x60, 0x00, b"", "AA AA AA 96 69 00 03 60 00 63"),
    (0x60, 0x04, b"", "AA AA AA 96 69 00 03 60 04 67"),
    (0x61, 0xFF, b"\x50", "AA AA AA 96 69 00 04 61 FF 50 CA"),
])
def test_build_command_with_para_and_data(cmd: int, para: int, data: bytes, frame: str) -> None:
    """LEN counts data and CHK; CHK covers LEN..data (set UART, set RF frame size)."""
    assert build_command(cmd, para, data) == h(frame)


@pytest.mark.parametrize(("data", "chk"), [(b"", 0x00), (h("00 03 20 01"), 0x22), (h("05 08 00 00 90"), 0x9D),
                                           (h("FF FF"), 0x00)])
def test_xor_checksum(data: bytes, chk: int) -> None:
    """XOR over the given bytes."""
    assert xor_checksum(data) == chk


# ---- responses --------------------------------------------------------------------------

RESPONSES = [
    ("AA AA AA 96 69 00 08 00 00 9F 00 00 00 00 97", 0x9F, h("00 00 00 00"), "find_ok"),
    ("AA AA AA 96 69 00 0C 00 00 90 00 00 00 00 00 00 00 00 9C", 0x90, bytes(8), "ok"),
    ("AA AA AA 96 69 00 04 00 00 80 84", 0x80, b"", "no_card"),
    ("AA AA AA 96 69 00 04 00 00 41 45", 0x41, b"", "read_failed"),
    ("AA AA AA 96 69 00 04 00 00 32 36", 0x32, b"", "sam_auth_card_failed"),
]


@pytest.mark.parametrize(("frame", "sw3", "data", "key"), RESPONSES)
def test_published_responses_parse(frame: str, sw3: int, data: bytes, key: str) -> None:
    """The real frames of §1.4 decode to their SW3, data and status key."""
    [resp] = FrameReader().feed(h(frame))
    assert resp == Response(0x00, 0x00, sw3, data)
    assert isinstance(resp, Response) and resp.status.key == key


@pytest.mark.parametrize(("frame", "sw3", "data", "key"), RESPONSES)
def test_simulator_reply_builder_matches_published_responses(frame: str, sw3: int, data: bytes,
                                                             key: str) -> None:
    """The simulator's own frame builder reproduces the published bytes."""
    assert reply_frame(sw3, data) == h(frame)


@pytest.mark.parametrize(("code", "key"), [
    (0x90, "ok"), (0x91, "item_absent"), (0x9F, "find_ok"), (0x10, "host_checksum_error"),
    (0x11, "host_length_error"), (0x21, "command_error"), (0x23, "unauthorised_operation"),
    (0x24, "unrecognised_error"), (0x31, "card_auth_sam_failed"), (0x32, "sam_auth_card_failed"),
    (0x33, "verification_error"), (0x40, "card_type_unrecognised"), (0x41, "read_failed"),
    (0x47, "random_failed"), (0x60, "sam_self_test_failed"), (0x66, "sam_not_authorised"),
    (0x80, "no_card"), (0x81, "select_failed"),
])
def test_sw3_table_names_every_documented_code(code: int, key: str) -> None:
    """Each SW3 of §1.4 has its stable key and a plain reason."""
    status = sw3_status(code)
    assert (status.code, status.key) == (code, key)
    assert status.reason and status.reason != key


def test_sw3_table_has_no_extra_codes_and_unknown_is_named() -> None:
    """Exactly the 18 codes of §1.4; any other code is 'unknown_status' with its hex."""
    assert len(SW3_TABLE) == 18 and len({s.key for s in SW3_TABLE.values()}) == 18
    assert sw3_status(0x55).key == "unknown_status" and "0x55" in sw3_status(0x55).reason


# ---- FrameReader: resync, chunks, rejection -----------------------------------------------

FIND_OK = h("AA AA AA 96 69 00 08 00 00 9F 00 00 00 00 97")
NO_CARD = h("AA AA AA 96 69 00 04 00 00 80 84")


@pytest.mark.parametrize("garbage", [h("00 FF 13"), h("AA AA"), h("AA AA AA 96"), h("96 69 AA 00 AA AA AA"),
                                     bytes(300)])
def test_garbage_before_preamble_is_skipped(garbage: bytes) -> None:
    """Noise, and preamble fragments, before a frame are dropped and counted."""
    reader = FrameReader()
    assert reader.feed(garbage + FIND_OK) == [Response(0, 0, 0x9F, bytes(4))]
    assert reader.discarded == len(garbage)


def test_garbage_alone_keeps_only_a_possible_preamble_start() -> None:
    """Long garbage is not kept; the frame arriving later is still found."""
    reader = FrameReader()
    assert reader.feed(bytes(1000) + h("AA AA")) == []
    assert reader.pending == 0
    assert reader.feed(h("AA 96 69 00 04 00 00 80 84")) == [Response(0, 0, 0x80)]


def test_one_byte_at_a_time() -> None:
    """A reply arriving byte by byte yields the frame exactly on its last byte."""
    reader = FrameReader()
    for i, byte in enumerate(FIND_OK[:-1]):
        assert reader.feed(bytes([byte])) == []
        assert reader.pending == (i + 1 if i >= 4 else 0)
    assert reader.feed(FIND_OK[-1:]) == [Response(0, 0, 0x9F, bytes(4))]
    assert reader.pending == 0


def test_two_frames_in_one_read() -> None:
    """Back-to-back frames come out in order."""
    assert [r.sw3 for r in FrameReader().feed(NO_CARD + FIND_OK)] == [0x80, 0x9F]  # type: ignore[union-attr]


def test_wrong_checksum_is_reported_and_the_next_frame_still_parses() -> None:
    """A bad CHK gives a CHECKSUM BadFrame; the reader resyncs on the following frame."""
    bad = FIND_OK[:-1] + b"\x98"
    out = FrameReader().feed(bad + NO_CARD)
    assert isinstance(out[0], BadFrame) and out[0].fault is FrameFault.CHECKSUM
    assert "0x98" in out[0].detail and "0x97" in out[0].detail
    assert out[1:] == [Response(0, 0, 0x80)]


def test_frame_with_too_long_len_does_not_swallow_the_next_frame() -> None:
    """LEN 16 on an 11-byte frame: checksum fails, and the reply inside its tail is still found."""
    out = FrameReader().feed(h("AA AA AA 96 69 00 10 00 00 80 84") + FIND_OK)
    assert isinstance(out[0], BadFrame) and out[0].fault is FrameFault.CHECKSUM
    assert out[1:] == [Response(0, 0, 0x9F, bytes(4))]


@pytest.mark.parametrize("length", ["00 00", "00 03", "FF FF", "09 0B"])
def test_implausible_length_is_rejected_at_once(length: str) -> None:
    """LEN below SW1..CHK or above the longest reply is rejected without waiting for data."""
    out = FrameReader().feed(h("AA AA AA 96 69") + h(length) + NO_CARD)
    assert isinstance(out[0], BadFrame) and out[0].fault is FrameFault.LENGTH
    assert out[1:] == [Response(0, 0, 0x80)]


def test_len_smaller_than_the_frame_fails_the_checksum() -> None:
    """A LEN that cuts a frame short makes the checksum fail instead of a wrong reply."""
    out = FrameReader().feed(h("AA AA AA 96 69 00 07 00 00 9F 00 00 00 00 97"))
    assert isinstance(out[0], BadFrame) and out[0].fault is FrameFault.CHECKSUM


def test_truncated_frame_stays_pending_until_reset() -> None:
    """1294 of 1295 bytes: no frame, pending says how much arrived; reset forgets it."""
    frame = read_base_frame(resident_block())
    reader = FrameReader()
    assert reader.feed(frame[:-1]) == []
    assert reader.pending == 1294
    reader.reset()
    assert reader.pending == 0 and reader.feed(FIND_OK) == [Response(0, 0, 0x9F, bytes(4))]


def test_command_reader_parses_host_frames() -> None:
    """The simulator side decodes CMD, PARA and data and rejects bad CHK."""
    out = CommandReader().feed(h("AA AA AA 96 69 00 04 61 FF 50 CA") + h("AA AA AA 96 69 00 03 20 01 23"))
    assert out[0] == CommandFrame(0x61, 0xFF, b"\x50")
    assert isinstance(out[1], BadFrame) and out[1].fault is FrameFault.CHECKSUM


def test_status_error_names_command_key_and_reason() -> None:
    """SamvStatusError carries the SW3 as code and says what it means in plain words."""
    err = SamvStatusError(Command.READ_BASE, sw3_status(0x41), device="idcard", url="/dev/x")
    assert (err.key, err.code, err.command, err.device) == ("read_failed", 0x41, Command.READ_BASE, "idcard")
    assert str(err) == "READ_BASE: SW3 0x41 read_failed (reading the card failed)"
    assert SamvStatusError(Command.FIND_CARD, sw3_status(0x55)).key == "unknown_status"
