"""Table tests for the pure SAM-V framing and text decoding (PROTOCOLS.md §1.2-1.7).

Expected bytes are written out by hand from the published vectors, never computed with
the code under test.  The person on the fixture cards is fictional; 654201199001010036 is
the synthetic GB 11643-valid Tacheng number of PROTOCOLS.md §1.7.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from functools import reduce
from operator import xor

import pytest

from drivers.base import CardType, IdCard
from drivers.cardreader.samv_frames import (
    SW3_TABLE,
    BadFrame,
    CardDataError,
    Command,
    CommandFrame,
    CommandReader,
    FrameFault,
    FrameReader,
    Response,
    build_command,
    encode_text_block,
    parse_read_base,
    parse_text_block,
    sw3_status,
    xor_checksum,
)
from drivers.sim.samv import read_base_data, reply_frame

ID_NUMBER = "654201199001010036"


def h(text: str) -> bytes:
    """Bytes from spaced hex as PROTOCOLS.md prints them."""
    return bytes.fromhex(text)


def ucs(text: str, size: int) -> bytes:
    """A UCS-2LE field of ``size`` bytes padded with spaces, as the card stores it."""
    raw = text.encode("utf-16-le")
    assert len(raw) <= size
    return raw + b"\x20\x00" * ((size - len(raw)) // 2)


def resident_block(valid_to: str = "20300101", flag: bytes = b"\x20\x00", birth: str = "19900101") -> bytes:
    """A resident text block laid out by the offsets of PROTOCOLS.md §1.5, field by field."""
    block = (ucs("叶尔兰·测试", 30) + ucs("1", 2) + ucs("17", 4) + ucs(birth, 16)
             + ucs("新疆塔城市测试路1号", 70) + ucs(ID_NUMBER, 36) + ucs("塔城市公安局", 30)
             + ucs("20100101", 16) + ucs(valid_to, 16) + ucs("", 28) + flag + ucs("", 6))
    assert len(block) == 256
    return block


def permit_block() -> bytes:
    """A 'J' permit: resident layout, nation reserved, pass number + issue count, flag 'J'."""
    block = (ucs("测试者", 30) + ucs("2", 2) + ucs("", 4) + ucs("19850615", 16) + ucs("香港测试道1号", 70)
             + ucs("810000198506150027", 36) + ucs("测试公安局", 30) + ucs("20200101", 16)
             + ucs("20250101", 16) + ucs("H12345678", 18) + ucs("01", 4) + ucs("", 6) + b"J\x00" + ucs("", 6))
    assert len(block) == 256
    return block


def foreign_block() -> bytes:
    """An 'I' card: the foreigner layout of PROTOCOLS.md §1.5, which differs from the resident one."""
    block = (ucs("TESTOV ARMAN", 120) + ucs("1", 2) + ucs("KAZ654201900101", 30) + ucs("KAZ", 6)
             + ucs("阿尔曼", 30) + ucs("20200101", 16) + ucs("20300101", 16) + ucs("19900101", 16)
             + ucs("01", 4) + ucs("6542", 8) + b"I\x00" + ucs("", 6))
    assert len(block) == 256
    return block


RESIDENT = IdCard(CardType.RESIDENT, "叶尔兰·测试", "1", "17", date(1990, 1, 1), "新疆塔城市测试路1号",
                  ID_NUMBER, "塔城市公安局", date(2010, 1, 1), date(2030, 1, 1))


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


# ---- text block ---------------------------------------------------------------------------

def test_resident_block_decodes() -> None:
    """Every field of the resident layout lands in IdCard, padding stripped."""
    assert resident_block()[122:126] == b"6\x005\x00"       # the ID number starts at byte 122
    card = parse_text_block(resident_block())
    assert card == RESIDENT
    assert (card.name, card.address, card.authority, card.nation) == (
        "叶尔兰·测试", "新疆塔城市测试路1号", "塔城市公安局", "17")


def test_resident_flag_may_be_zero() -> None:
    """Byte 248 = 0x00 is a resident card too."""
    assert parse_text_block(resident_block(flag=b"\x00\x00")).card_type is CardType.RESIDENT


def test_long_term_valid_to_is_none() -> None:
    """长期 padded with spaces means no end date."""
    assert parse_text_block(resident_block(valid_to="长期")).valid_to is None


def test_permit_has_no_nation() -> None:
    """A 'J' permit decodes with the resident offsets and an empty nation."""
    card = parse_text_block(permit_block())
    assert (card.card_type, card.nation, card.id_number, card.gender) == (
        CardType.PERMIT_HMT, "", "810000198506150027", "2")
    assert card.valid_to == date(2025, 1, 1)


def test_permit_ignores_the_reserved_nation_bytes() -> None:
    """Whatever sits in a permit's reserved bytes 32-35, nation stays empty."""
    block = permit_block()
    block = block[:32] + ucs("01", 4) + block[36:]
    assert parse_text_block(block).nation == ""


def test_foreign_card_uses_its_own_layout() -> None:
    """An 'I' card: English name, PR number at 122, birth date at 220."""
    card = parse_text_block(foreign_block())
    assert card == IdCard(CardType.FOREIGN_PR, "TESTOV ARMAN", "1", "", date(1990, 1, 1), "",
                          "KAZ654201900101", "6542", date(2020, 1, 1), date(2030, 1, 1))


@pytest.mark.parametrize("flag", [b"Y\x00", b"Z\x00", b"\x01\x00"])
def test_unknown_card_type_is_refused_with_its_reason_key(flag: bytes) -> None:
    """A flag other than ' ', 0, 'J', 'I' (e.g. the unpublished 2023 'Y') is card_type_unknown."""
    with pytest.raises(CardDataError) as info:
        parse_text_block(resident_block(flag=flag))
    assert info.value.reason == "card_type_unknown"
    assert f"0x{flag[0]:02X}" in str(info.value)


@pytest.mark.parametrize("birth", ["19901301", "19900230", "1990010A", "１９９００１０１", "1990011"])
def test_bad_dates_are_refused_without_echoing_them(birth: str) -> None:
    """Impossible or non-ASCII-digit dates are card_unreadable; the message names the field only."""
    with pytest.raises(CardDataError) as info:
        parse_text_block(resident_block(birth=birth))
    assert info.value.reason == "card_unreadable"
    assert "birth_date" in str(info.value) and birth not in str(info.value)


def test_wrong_block_length_and_broken_ucs2_are_unreadable() -> None:
    """A short block or a lone surrogate is card_unreadable, not a crash."""
    for block in (resident_block()[:255], b"\x00\xD8" + resident_block()[2:]):
        with pytest.raises(CardDataError) as info:
            parse_text_block(block)
        assert info.value.reason == "card_unreadable"


@pytest.mark.parametrize(("card", "extra", "expected"), [
    (RESIDENT, {}, resident_block()),
    (replace(RESIDENT, valid_to=None), {}, resident_block(valid_to="长期")),
    (IdCard(CardType.PERMIT_HMT, "测试者", "2", "", date(1985, 6, 15), "香港测试道1号", "810000198506150027",
            "测试公安局", date(2020, 1, 1), date(2025, 1, 1)),
     {"pass_number": "H12345678", "issue_count": "01"}, permit_block()),
    (IdCard(CardType.FOREIGN_PR, "TESTOV ARMAN", "1", "", date(1990, 1, 1), "", "KAZ654201900101", "6542",
            date(2020, 1, 1), date(2030, 1, 1)),
     {"nationality": "KAZ", "name_cn": "阿尔曼", "version": "01"}, foreign_block()),
])
def test_encode_text_block_is_byte_exact(card: IdCard, extra: dict[str, str], expected: bytes) -> None:
    """The simulator's encoder writes the same bytes as the hand-built blocks."""
    assert encode_text_block(card, **extra) == expected


def test_encode_refuses_a_field_that_does_not_fit() -> None:
    """A 16-character name overflows the 30-byte field."""
    with pytest.raises(ValueError):
        encode_text_block(replace(RESIDENT, name="名" * 16))


def test_fixture_number_passes_gb11643() -> None:
    """The fixture number is valid by MOD 11-2 (computed here, independently of the kiosk)."""
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(int(d) * w for d, w in zip(ID_NUMBER[:17], weights, strict=True))
    assert "10X98765432"[total % 11] == ID_NUMBER[17]


# ---- read base info (30 01) ---------------------------------------------------------------

def read_base_frame(text: bytes, photo: bytes = bytes(1024)) -> bytes:
    """The 1295-byte reply of §1.5, assembled from the published header by hand."""
    body = h("05 08 00 00 90 01 00 04 00") + text + photo
    return h("AA AA AA 96 69") + body + bytes([reduce(xor, body, 0)])


def test_read_base_frame_decodes_with_photo_kept() -> None:
    """Header, text and photo at their offsets; the photo stays in memory and out of repr."""
    photo = bytes(range(256)) * 4
    frame = read_base_frame(resident_block(), photo)
    assert len(frame) == 1295
    [resp] = FrameReader().feed(frame)
    assert isinstance(resp, Response) and (resp.sw3, len(resp.data)) == (0x90, 1284)
    card = parse_read_base(resp)
    assert card == RESIDENT and card.photo == photo
    assert ID_NUMBER not in repr(card) and "叶尔兰" not in repr(card) and "data" not in repr(resp)


def test_simulator_read_base_reply_matches_the_hand_built_frame() -> None:
    """The simulator's 1295-byte reply equals the frame assembled from the published header."""
    photo = bytes(range(256)) * 4
    assert reply_frame(0x90, read_base_data(resident_block(), photo)) == read_base_frame(resident_block(), photo)


@pytest.mark.parametrize(("resp", "needle"), [
    (Response(0, 0, 0x41), "read_failed"),
    (Response(0, 0, 0x90, h("01 00")), "no length"),
    (Response(0, 0, 0x90, h("00 FF 04 00") + bytes(1279)), "text 255 B"),
    (Response(0, 0, 0x90, h("01 00 04 00") + bytes(1000)), "photo 1024 B"),
])
def test_read_base_errors_are_unreadable(resp: Response, needle: str) -> None:
    """A failing SW3 or length fields that do not match the data are card_unreadable."""
    with pytest.raises(CardDataError) as info:
        parse_read_base(resp)
    assert info.value.reason == "card_unreadable" and needle in str(info.value)
