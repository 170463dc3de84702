"""Hostile bytes against the SAM-V framing and card-data parsers (hypothesis).

Every outcome must be a value or a named error: ``FrameReader.feed`` returns ``Response`` /
``BadFrame`` items and never raises; the text parsers return an ``IdCard`` or raise
``CardDataError`` with a known reason key; the driver over a real pty returns a reading or
None, or raises a ``DriverError`` subclass.  Valid frames are built with the simulator's own
``reply_frame``, independent of the code under test.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers.base import CardFailed, CardRead, CardRemoved, CardType, IdCard
from drivers.cardreader.samv import SamvReader
from drivers.cardreader.samv_frames import (
    PREAMBLE,
    BadFrame,
    Command,
    CommandFrame,
    CommandReader,
    FrameReader,
    Response,
)
from drivers.cardreader.samv_text import (
    CardDataError,
    encode_text_block,
    parse_new_address,
    parse_read_base,
    parse_read_base_fp,
    parse_text_block,
)
from drivers.errors import DriverError
from drivers.sim.samv import SamvSimulator, reply_frame
from tests.drivers.samv_blocks import RESIDENT, foreign_block, permit_block, resident_block

CARD_REASONS = {"card_unreadable", "card_type_unknown", "card_type_unverified"}
PURE = settings(max_examples=300, database=None, deadline=None)

# ---- strategies --------------------------------------------------------------------------------

responses = st.builds(lambda sw1, sw2, sw3, data: (sw1, sw2, sw3, data),
                      st.integers(0, 255), st.integers(0, 255), st.integers(0, 255), st.binary(max_size=300))
garbage = st.binary(max_size=200).filter(lambda b: PREAMBLE not in b)


@st.composite
def near_frames(draw: st.DrawFn) -> bytes:
    """A preamble, any LEN (small ones often), some body and a checksum that is right half the time."""
    length = draw(st.integers(0, 12) | st.integers(0, 0xFFFF))
    head = length.to_bytes(2, "big")
    body = draw(st.binary(max_size=min(length, 64)))
    chk = 0
    for byte in head + body:
        chk ^= byte
    return PREAMBLE + head + body + bytes([chk if draw(st.booleans()) else draw(st.integers(0, 255))])


hostile_streams = st.lists(st.binary(max_size=40) | near_frames(), max_size=8).map(b"".join)


@st.composite
def chunked(draw: st.DrawFn, data: bytes) -> list[bytes]:
    """``data`` cut at random places."""
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=12)))
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


@st.composite
def mutated(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` with a few bytes flipped, dropped or inserted."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "drop", "insert"]))
        pos = draw(st.integers(0, max(0, len(out) - 1)))
        if op == "flip" and out:
            out[pos] ^= draw(st.integers(1, 255))
        elif op == "drop" and out:
            del out[pos]
        else:
            out.insert(pos, draw(st.integers(0, 255)))
    return bytes(out)


def feed_all(pieces: list[bytes]) -> list[Response | BadFrame]:
    """Feed ``pieces`` one after the other into a new FrameReader; every item it returns."""
    reader = FrameReader()
    return [item for piece in pieces for item in reader.feed(piece)]


def assert_typed(items: list[Response | BadFrame]) -> None:
    """Only the two documented outcomes, with sane contents."""
    for item in items:
        assert isinstance(item, (Response, BadFrame))
        if isinstance(item, BadFrame):
            assert item.detail


# ---- FrameReader -------------------------------------------------------------------------------

@PURE
@given(st.binary(max_size=3000) | hostile_streams, st.data())
def test_any_bytes_in_any_chunks_give_typed_items_independent_of_chunking(data: bytes, draw: st.DataObject) -> None:
    """Random bytes and frame look-alikes never raise; cutting them differently never changes the outcome."""
    whole = feed_all([data])
    assert_typed(whole)
    assert feed_all(draw.draw(chunked(data))) == whole


@PURE
@given(st.lists(st.tuples(garbage, responses), min_size=1, max_size=4), st.data())
def test_valid_replies_behind_garbage_all_come_out(replies: list[tuple[bytes, tuple[int, int, int, bytes]]],
                                                   draw: st.DataObject) -> None:
    """Noise without a preamble before each reply is skipped; every reply is recovered exactly."""
    stream = b"".join(noise + reply_frame(sw3, data, sw1=sw1, sw2=sw2) for noise, (sw1, sw2, sw3, data) in replies)
    got = feed_all(draw.draw(chunked(stream)))
    assert got == [Response(sw1, sw2, sw3, data) for _noise, (sw1, sw2, sw3, data) in replies]


@PURE
@given(st.lists(responses, min_size=1, max_size=3), st.data())
def test_mutated_replies_give_typed_items(replies: list[tuple[int, int, int, bytes]], draw: st.DataObject) -> None:
    """Flipped, lost or extra bytes anywhere in a stream of replies: typed items only."""
    stream = b"".join(reply_frame(sw3, data, sw1=sw1, sw2=sw2) for sw1, sw2, sw3, data in replies)
    hostile = draw.draw(mutated(stream))
    assert_typed(feed_all(draw.draw(chunked(hostile))))


@PURE
@given(responses, st.integers(0, 255), st.data())
def test_one_flipped_byte_after_the_preamble_never_passes_unnoticed(
        reply: tuple[int, int, int, bytes], mask: int, draw: st.DataObject) -> None:
    """A bit error in LEN..CHK never yields the original reply with wrong contents: it is rejected,
    left pending (LEN grew), or (LEN shrank onto a matching XOR) a shorter, different frame."""
    sw1, sw2, sw3, data = reply
    frame = reply_frame(sw3, data, sw1=sw1, sw2=sw2)
    pos = draw.draw(st.integers(len(PREAMBLE), len(frame) - 1))
    hostile = bytearray(frame)
    hostile[pos] ^= mask or 1
    reader = FrameReader()
    got = reader.feed(bytes(hostile))
    assert_typed(got)
    assert Response(sw1, sw2, sw3, data) not in got


@PURE
@given(st.binary(max_size=600) | hostile_streams, st.data())
def test_command_reader_gives_typed_items(data: bytes, draw: st.DataObject) -> None:
    """The simulator's side of the framing is as robust as the driver's."""
    reader = CommandReader()
    for piece in draw.draw(chunked(data)):
        for item in reader.feed(piece):
            assert isinstance(item, (CommandFrame, BadFrame))


# ---- text block and read replies -----------------------------------------------------------------

def assert_card_or_named(block: bytes) -> None:
    """parse_text_block returns a card or raises CardDataError with a known key."""
    try:
        card = parse_text_block(block)
    except CardDataError as exc:
        assert exc.reason in CARD_REASONS
        return
    assert isinstance(card, IdCard) and isinstance(card.card_type, CardType)


@PURE
@given(st.binary(min_size=250, max_size=260))
def test_random_text_blocks_give_a_card_or_a_named_refusal(block: bytes) -> None:
    """Random bytes as a text block (any length near 256)."""
    assert_card_or_named(block)


@PURE
@given(st.sampled_from([resident_block(), resident_block(valid_to="长期"), permit_block(), foreign_block()]),
       st.data())
def test_mutated_real_text_blocks_give_a_card_or_a_named_refusal(block: bytes, draw: st.DataObject) -> None:
    """Real layouts with bytes flipped, lost or added."""
    assert_card_or_named(draw.draw(mutated(block)))


@PURE
@given(st.integers(0, 255), st.binary(max_size=2400))
def test_random_read_replies_give_a_card_or_a_named_refusal(sw3: int, data: bytes) -> None:
    """30 01 / 30 10 / 30 03 replies with random status and data."""
    resp = Response(0, 0, sw3, data)
    for parse in (parse_read_base, parse_read_base_fp, lambda r: parse_new_address(r.data)):
        try:
            parse(resp)
        except CardDataError as exc:
            assert exc.reason in CARD_REASONS


ucs_text = st.text(st.characters(min_codepoint=0x21, max_codepoint=0xD7FF), max_size=15)
days = st.dates(date(1900, 1, 1), date(2099, 12, 31))


@PURE
@given(st.builds(IdCard, card_type=st.sampled_from([CardType.RESIDENT, CardType.PERMIT_HMT]), name=ucs_text,
                 gender=st.sampled_from("0129"), nation=st.sampled_from(["01", "17", "05", "44"]), birth_date=days,
                 address=ucs_text, id_number=st.from_regex(r"[0-9]{17}[0-9X]", fullmatch=True),
                 authority=ucs_text, valid_from=days, valid_to=st.none() | days,
                 pass_number=st.from_regex(r"[A-Z][0-9]{8}", fullmatch=True),
                 issue_count=st.sampled_from(["01", "02"])))
def test_encode_then_parse_is_the_identity(card: IdCard) -> None:
    """Any card the simulator can encode decodes to the same card (a permit loses its nation)."""
    if card.card_type is CardType.RESIDENT:
        card = IdCard(card.card_type, card.name, card.gender, card.nation, card.birth_date, card.address,
                      card.id_number, card.authority, card.valid_from, card.valid_to)
    else:
        card = IdCard(card.card_type, card.name, card.gender, "", card.birth_date, card.address,
                      card.id_number, card.authority, card.valid_from, card.valid_to,
                      pass_number=card.pass_number, issue_count=card.issue_count)
    assert parse_text_block(encode_text_block(card)) == card


# ---- the driver over a real pty ------------------------------------------------------------------

@pytest.fixture(scope="module")
def wired() -> Iterator[tuple[SamvSimulator, SamvReader]]:
    """One simulator and one reader for every example (a pty per example would be slow)."""
    sim = SamvSimulator("idcard")
    sim.start()
    reader = SamvReader("idcard", sim.port, poll_interval_s=0.05, reply_timeout_s=0.1)
    yield sim, reader
    reader.close()
    sim.stop()


@settings(max_examples=25, database=None, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(command=st.sampled_from([Command.FIND_CARD, Command.SELECT_CARD, Command.READ_BASE]),
       hostile=st.binary(max_size=64) | st.binary(min_size=1200, max_size=1400), keep_frame=st.booleans())
def test_hostile_replies_never_crash_the_reader(wired: tuple[SamvSimulator, SamvReader], command: Command,
                                                hostile: bytes, keep_frame: bool) -> None:
    """A reply replaced by (or prefixed with) random bytes: a reading, None, or a DriverError."""
    sim, reader = wired
    reader.close()
    reader.open()
    sim.place(RESIDENT)
    sim.mangle_next(lambda frame: hostile + frame if keep_frame else hostile, command)
    try:
        for _ in range(3):
            got = reader.read(0.2)
            assert got is None or isinstance(got, (CardRead, CardRemoved, CardFailed))
            if isinstance(got, CardFailed):
                assert got.reason in CARD_REASONS | {"card_removed_early"}
    except DriverError:
        pass
    finally:
        sim.remove()
        sim.mangle_next(lambda frame: frame)
