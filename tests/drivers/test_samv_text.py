"""Table tests for the SAM-V card data (PROTOCOLS.md §1.5): text-block layouts and read replies.

Blocks are hand-built in ``samv_blocks`` from the published offsets.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from functools import reduce
from operator import xor

import pytest

from drivers.base import CardType, IdCard
from drivers.cardreader.samv_frames import FrameReader, Response
from drivers.cardreader.samv_text import (
    CardDataError,
    encode_text_block,
    parse_new_address,
    parse_read_base,
    parse_read_base_fp,
    parse_text_block,
)
from drivers.sim.samv import read_base_data, read_fp_data, reply_frame
from tests.drivers.samv_blocks import (
    ID_NUMBER,
    RESIDENT,
    foreign_block,
    h,
    permit_block,
    read_base_frame,
    resident_block,
    ucs,
)

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


def test_long_term_padded_with_nuls_is_none_too() -> None:
    """The padding after 长期 is UNVERIFIED (PROTOCOLS.md §7): NULs are accepted like spaces."""
    block = resident_block()
    block = block[:204] + "长期".encode("utf-16-le") + bytes(12) + block[220:]
    assert parse_text_block(block).valid_to is None


@pytest.mark.parametrize("valid_to", ["长期有效", "长", "20301301"])
def test_anything_else_in_valid_to_is_unreadable(valid_to: str) -> None:
    """Only 长期 or a real date is a valid_to; a near miss is not read as long-term."""
    with pytest.raises(CardDataError) as info:
        parse_text_block(resident_block(valid_to=valid_to))
    assert info.value.reason == "card_unreadable" and "valid_to" in str(info.value)


def test_permit_has_no_nation_and_keeps_pass_number_and_issue_count() -> None:
    """A 'J' permit decodes with the resident offsets, an empty nation, its pass number and issue count."""
    card = parse_text_block(permit_block())
    assert (card.card_type, card.nation, card.id_number, card.gender) == (
        CardType.PERMIT_HMT, "", "810000198506150027", "2")
    assert (card.pass_number, card.issue_count) == ("H12345678", "01")
    assert card.valid_to == date(2025, 1, 1)
    assert (card.nationality, card.name_zh, card.card_version) == ("", "", "")


def test_permit_ignores_the_reserved_nation_bytes() -> None:
    """Whatever sits in a permit's reserved bytes 32-35, nation stays empty."""
    block = permit_block()
    block = block[:32] + ucs("01", 4) + block[36:]
    assert parse_text_block(block).nation == ""


FOREIGN = IdCard(CardType.FOREIGN_PR, "TESTOV ARMAN", "1", "", date(1990, 1, 1), "", "KAZ654201900101", "6542",
                 date(2020, 1, 1), date(2030, 1, 1), nationality="KAZ", name_zh="阿尔曼", card_version="01")
PERMIT = IdCard(CardType.PERMIT_HMT, "测试者", "2", "", date(1985, 6, 15), "香港测试道1号", "810000198506150027",
                "测试公安局", date(2020, 1, 1), date(2025, 1, 1), pass_number="H12345678", issue_count="01")


def test_foreign_card_uses_its_own_layout() -> None:
    """An 'I' card: English name, PR number at 122, nationality, Chinese name, birth date at 220, version."""
    card = parse_text_block(foreign_block())
    assert card == FOREIGN
    assert (card.name, card.name_zh, card.nationality, card.id_number, card.card_version, card.authority) == (
        "TESTOV ARMAN", "阿尔曼", "KAZ", "KAZ654201900101", "01", "6542")
    assert (card.birth_date, card.nation, card.address, card.pass_number) == (date(1990, 1, 1), "", "", "")


@pytest.mark.parametrize("flag", [b"Z\x00", b"\x01\x00", b"i\x00", b"j\x00"])
def test_unknown_card_type_is_refused_with_its_reason_key(flag: bytes) -> None:
    """A flag other than ' ', 0, 'J', 'I' and 'Y' is card_type_unknown, named by its hex."""
    with pytest.raises(CardDataError) as info:
        parse_text_block(resident_block(flag=flag))
    assert info.value.reason == "card_type_unknown"
    assert f"0x{flag[0]:02X}" in str(info.value)


def test_2023_foreigner_card_is_refused_as_unverified() -> None:
    """The 'Y' card's layout is unpublished (PROTOCOLS.md §1.5): refused by name, never guessed."""
    with pytest.raises(CardDataError) as info:
        parse_text_block(resident_block(flag=b"Y\x00"))
    assert info.value.reason == "card_type_unverified" and "2023" in str(info.value)


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


@pytest.mark.parametrize(("card", "expected"), [
    (RESIDENT, resident_block()),
    (replace(RESIDENT, valid_to=None), resident_block(valid_to="长期")),
    (PERMIT, permit_block()),
    (FOREIGN, foreign_block()),
], ids=["resident", "long-term", "permit", "foreign"])
def test_encode_text_block_is_byte_exact(card: IdCard, expected: bytes) -> None:
    """The simulator's encoder writes the same bytes as the hand-built blocks, and they parse back."""
    assert encode_text_block(card) == expected
    assert parse_text_block(expected) == card


def test_encode_refuses_documents_a_samv_reader_cannot_carry() -> None:
    """A passport is not a SAM-V card."""
    with pytest.raises(ValueError, match="passport"):
        encode_text_block(replace(RESIDENT, card_type=CardType.PASSPORT))


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


# ---- read with fingerprint (30 10) and the appended address (30 03) -----------------------------

def read_fp_frame(text: bytes, photo: bytes, fingerprint: bytes) -> bytes:
    """A 30 10 reply by hand: LEN, SW, the three length fields, then text, photo and fingerprint."""
    payload = h("00 00 90 01 00 04 00") + len(fingerprint).to_bytes(2, "big") + text + photo + fingerprint
    body = (len(payload) + 1).to_bytes(2, "big") + payload
    return h("AA AA AA 96 69") + body + bytes([reduce(xor, body, 0)])


@pytest.mark.parametrize(("fp_len", "total", "len_field"), [(0, 1297, "05 0A"), (512, 1809, "07 0A"),
                                                            (1024, 2321, "09 0A")])
def test_read_with_fingerprint_has_the_published_sizes(fp_len: int, total: int, len_field: str) -> None:
    """LEN 0x050A/0x070A/0x090A and totals 1297/1809/2321 (PROTOCOLS.md §1.5); text at 16, photo at 272."""
    photo, fingerprint = bytes(range(256)) * 4, bytes([0xF1]) * fp_len
    frame = read_fp_frame(resident_block(), photo, fingerprint)
    assert len(frame) == total and frame[5:7] == h(len_field)
    assert frame[16:16 + 256] == resident_block() and frame[272:272 + 1024] == photo
    assert reply_frame(0x90, read_fp_data(resident_block(), photo, fingerprint)) == frame
    [resp] = FrameReader().feed(frame)
    assert isinstance(resp, Response)
    card, fp = parse_read_base_fp(resp)
    assert card == RESIDENT and card.photo == photo and fp == fingerprint


@pytest.mark.parametrize(("resp", "needle"), [
    (Response(0, 0, 0x91), "item_absent"),
    (Response(0, 0, 0x90, h("01 00 04 00")), "no length"),
    (Response(0, 0, 0x90, h("01 00 04 00 02 00") + bytes(1280 + 511)), "do not fill"),
])
def test_read_with_fingerprint_errors_are_unreadable(resp: Response, needle: str) -> None:
    """A failing SW3 or inconsistent lengths are card_unreadable."""
    with pytest.raises(CardDataError) as info:
        parse_read_base_fp(resp)
    assert info.value.reason == "card_unreadable" and needle in str(info.value)


def test_new_address_is_ucs2_with_padding_stripped() -> None:
    """The appended address decodes from UCS-2LE; an odd length is unreadable."""
    assert parse_new_address(ucs("新疆塔城市新址路2号", 70)) == "新疆塔城市新址路2号"
    with pytest.raises(CardDataError) as info:
        parse_new_address(b"\x30")
    assert info.value.reason == "card_unreadable"
