"""The production SamvReader against SamvSimulator over a real pty (and under DeviceRunner).

Exact bytes the driver wrote are checked through ``sim.received``; expected frames are the
published hex of PROTOCOLS.md §1.3.  The card holder is fictional (see test_samv_frames).
"""

from __future__ import annotations

import logging
import os
import queue
import termios
import time
from collections.abc import Iterator
from datetime import date, datetime

import pytest
import serial

from drivers.base import CardFailed, CardRead, CardRemoved, CardType, IdCard, Reading
from drivers.cardreader.samv import SamvReader
from drivers.cardreader.samv_frames import SW3_TABLE, Command, SamvStatusError
from drivers.cardreader.samv_text import encode_text_block
from drivers.errors import DeviceGone, DeviceTimeout, OptionError, ProtocolError
from drivers.registry import check_device, create_device
from drivers.runner import DeviceRunner, Health, HealthState
from drivers.sim.samv import SamvSimulator, reply_frame
from kiosk.clock import SystemClock

ID_NUMBER = "654201199001010036"
CARD = IdCard(CardType.RESIDENT, "叶尔兰·测试", "1", "17", date(1990, 1, 1), "新疆塔城市测试路1号",
              ID_NUMBER, "塔城市公安局", date(2010, 1, 1), None)
PHOTO = bytes(range(256)) * 4

STATUS = bytes.fromhex("AA AA AA 96 69 00 03 11 FF ED")
FIND = bytes.fromhex("AA AA AA 96 69 00 03 20 01 22")
SELECT = bytes.fromhex("AA AA AA 96 69 00 03 20 02 21")
READ = bytes.fromhex("AA AA AA 96 69 00 03 30 01 32")


@pytest.fixture
def sim() -> Iterator[SamvSimulator]:
    """A simulated reader with no card, plugged in."""
    s = SamvSimulator("idcard")
    s.start()
    yield s
    s.stop()


def make_reader(sim: SamvSimulator, **options: float) -> SamvReader:
    """A reader on the simulator's stable link, with test-speed polling."""
    opts = {"poll_interval_s": 0.05, "reply_timeout_s": 0.3, **options}
    return SamvReader("idcard", sim.port, **opts)  # type: ignore[arg-type]


@pytest.fixture
def reader(sim: SamvSimulator) -> Iterator[SamvReader]:
    """An opened production reader."""
    r = make_reader(sim)
    r.open()
    yield r
    r.close()


def next_reading(reader: SamvReader, within: float = 2.0) -> Reading:
    """Poll until something other than None comes back."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        got = reader.read(0.1)
        if got is not None:
            return got
    pytest.fail(f"no reading within {within} s")


def polls(reader: SamvReader, n: int) -> list[Reading]:
    """Poll ``n`` times (0.1 s > poll interval, so each call reaches the reader); keep non-None."""
    return [r for r in (reader.read(0.1) for _ in range(n)) if r is not None]


# ---- reading a card -----------------------------------------------------------------------

def test_card_is_read_once_with_exact_wire_bytes(sim: SamvSimulator, reader: SamvReader) -> None:
    """GIVEN a card on the reader WHEN polled THEN find, select, read once, and no re-read."""
    sim.place(CARD, photo=PHOTO)
    got = next_reading(reader)
    assert isinstance(got, CardRead)
    assert got.card == CARD and got.card.photo == PHOTO and got.card.valid_to is None
    assert polls(reader, 4) == []
    assert bytes(sim.received) == STATUS + FIND + SELECT + READ + FIND * 4
    assert sim.reads == 1


def test_no_card_gives_none_and_no_removal(sim: SamvSimulator, reader: SamvReader) -> None:
    """An empty reader yields nothing, and only find commands go out."""
    assert polls(reader, 3) == []
    assert bytes(sim.received) == STATUS + FIND * 3


def test_removal_is_reported_once(sim: SamvSimulator, reader: SamvReader) -> None:
    """After a read, taking the card away gives one CardRemoved (confirmed by a failed select)."""
    sim.place(CARD)
    assert isinstance(next_reading(reader), CardRead)
    sim.remove()
    mark = len(sim.received)
    assert next_reading(reader) == CardRemoved()
    assert polls(reader, 3) == []
    assert bytes(sim.received[mark:]) == FIND + SELECT + FIND * 3


def test_stale_reply_is_flushed_before_a_command(sim: SamvSimulator, reader: SamvReader) -> None:
    """A late 'card found' left in the input must not be taken as the answer to the next find."""
    sim.send(reply_frame(0x9F, bytes(4)))
    time.sleep(0.02)    # let the tty layer move the bytes to the driver's side
    assert polls(reader, 2) == []
    assert bytes(sim.received) == STATUS + FIND * 2


def test_pacing_follows_poll_interval(sim: SamvSimulator) -> None:
    """With a 0.3 s interval, reads of 0.05 s return None without polling in between."""
    r = make_reader(sim, poll_interval_s=0.3)
    r.open()
    try:
        start = time.monotonic()
        while time.monotonic() - start < 0.45:
            assert r.read(0.05) is None
        assert bytes(sim.received).count(FIND) == 2     # at 0 s and at 0.3 s
    finally:
        r.close()


def test_halting_reader_does_not_report_false_removal() -> None:
    """A reader whose find fails for an already-read card: select keeps the card present."""
    with SamvSimulator("idcard", halt_after_read=True) as s:
        assert isinstance(s, SamvSimulator)
        r = make_reader(s)
        r.open()
        try:
            s.place(CARD)
            assert isinstance(next_reading(r), CardRead)
            assert polls(r, 3) == []
            s.remove()
            assert next_reading(r) == CardRemoved()
        finally:
            r.close()


# ---- faults -------------------------------------------------------------------------------

def test_corrupt_read_reply_fails_then_next_read_works(sim: SamvSimulator, reader: SamvReader) -> None:
    """A bad checksum on the read-base reply is CardFailed('card_unreadable'); the retry reads it."""
    sim.place(CARD)
    sim.corrupt_next(1, Command.READ_BASE)
    got = next_reading(reader)
    assert isinstance(got, CardFailed) and got.reason == "card_unreadable" and "checksum" in got.detail
    again = next_reading(reader)
    assert isinstance(again, CardRead) and again.card == CARD


def test_corrupt_find_reply_is_a_protocol_error_and_the_port_stays_open(
        sim: SamvSimulator, reader: SamvReader) -> None:
    """A bad frame outside a card read raises ProtocolError; the next poll works."""
    sim.place(CARD)
    sim.corrupt_next(1)
    with pytest.raises(ProtocolError):
        reader.read(0.1)
    assert isinstance(next_reading(reader), CardRead)


def test_card_removed_mid_read(sim: SamvSimulator, reader: SamvReader) -> None:
    """A read-base reply cut short with the card gone is card_removed_early, then quiet."""
    sim.place(CARD)
    sim.remove_during_read()
    start = time.monotonic()
    got = next_reading(reader)
    assert isinstance(got, CardFailed) and got.reason == "card_removed_early"
    assert "truncated" in got.detail
    assert time.monotonic() - start < 1.0
    assert bytes(sim.received).endswith(READ + FIND)    # the presence check after the failure
    assert polls(reader, 2) == []                       # never read, so no CardRemoved
    sim.place(CARD)
    assert isinstance(next_reading(reader), CardRead)


def test_read_failed_sw3_after_removal_is_removed_early(sim: SamvSimulator, reader: SamvReader) -> None:
    """SW3 0x41 with the card gone (found, then pulled before the read) is card_removed_early."""
    sim.place(CARD)
    sim.refuse_reads(1)
    original = sim.handle

    def handle(data: bytes) -> None:
        original(data)
        if READ in data:        # the card leaves right after the reader answered 0x41
            sim.remove()
    sim.handle = handle  # type: ignore[method-assign]
    got = next_reading(reader)
    assert isinstance(got, CardFailed) and got.reason == "card_removed_early" and "read_failed" in got.detail


def test_bad_card_is_unreadable_and_given_up_after_three_attempts(
        sim: SamvSimulator, reader: SamvReader) -> None:
    """SW3 0x41 with the card still there: three CardFailed, then silence until it is removed."""
    sim.place(CARD)
    sim.refuse_reads(10)
    failures = polls(reader, 6)
    assert [f.reason for f in failures] == ["card_unreadable"] * 3  # type: ignore[union-attr]
    assert sim.reads == 0
    sim.remove()
    assert polls(reader, 1) == []


@pytest.mark.parametrize(("flag", "reason"), [("Z", "card_type_unknown"), ("Y", "card_type_unverified")])
def test_unknown_card_type_is_reported_once(sim: SamvSimulator, reader: SamvReader, flag: str, reason: str) -> None:
    """An unsupported flag, or the unverified 2023 'Y' card: one CardFailed with its key, no re-read."""
    block = bytearray(encode_text_block(CARD))
    block[248] = ord(flag)
    sim.place(bytes(block))
    got = next_reading(reader)
    assert isinstance(got, CardFailed) and got.reason == reason
    assert polls(reader, 3) == [] and sim.reads == 1


@pytest.mark.parametrize("garbage", [b"\x00\x13\xAA\xAA", b"\xAA\xAA\xAA\x96", bytes(100)],
                         ids=["noise", "preamble-start", "zeros"])
def test_garbage_before_reply_is_skipped(sim: SamvSimulator, reader: SamvReader, garbage: bytes) -> None:
    """Line noise or preamble fragments before a reply do not stop the read."""
    sim.place(CARD)
    sim.garbage_before_next(garbage)
    got = next_reading(reader)
    assert isinstance(got, CardRead) and got.card == CARD


def test_stray_preamble_times_out_one_exchange_only(sim: SamvSimulator, reader: SamvReader) -> None:
    """A whole stray preamble + LEN swallows the reply: that exchange times out, the next works."""
    sim.place(CARD)
    sim.garbage_before_next(b"\xAA\xAA\xAA\x96\x69\x00")
    with pytest.raises(DeviceTimeout, match="truncated"):
        reader.read(0.1)
    assert isinstance(next_reading(reader), CardRead)


@pytest.mark.parametrize(("size", "gap_s"), [(1, 0.0), (7, 0.001), (64, 0.005)])
def test_replies_in_small_chunks(sim: SamvSimulator, reader: SamvReader, size: int, gap_s: float) -> None:
    """The 1295-byte reply arriving in pieces is reassembled."""
    sim.chunked(size, gap_s)
    sim.place(CARD, photo=PHOTO)
    got = next_reading(reader)
    assert isinstance(got, CardRead) and got.card.photo == PHOTO


def test_slow_baud_gives_read_base_its_wire_time(sim: SamvSimulator) -> None:
    """At 9600 bit/s the 1295-byte reply may outlast reply_timeout_s; it still counts as a reply."""
    r = make_reader(sim, reply_timeout_s=0.1)
    r.baudrate = 9600
    r.open()
    try:
        sim.chunked(128, 0.03)      # ~0.3 s for the read-base reply: beyond 0.1 s, within 0.1 + 1.35 s
        sim.place(CARD)
        assert isinstance(next_reading(r), CardRead)
    finally:
        r.close()


def test_mute_reader_times_out_and_recovers(sim: SamvSimulator, reader: SamvReader) -> None:
    """No reply to find raises DeviceTimeout within the reply timeout; the port stays usable."""
    sim.mute()
    start = time.monotonic()
    with pytest.raises(DeviceTimeout, match="no reply"):
        reader.read(0.1)
    assert 0.25 < time.monotonic() - start < 0.6
    sim.mute(False)
    sim.place(CARD)
    assert isinstance(next_reading(reader), CardRead)


# ---- the port -----------------------------------------------------------------------------

def test_unplug_raises_device_gone_and_replug_opens_again(sim: SamvSimulator, reader: SamvReader) -> None:
    """A pulled cable is DeviceGone (from a pyserial/OS error); after replug open works again."""
    sim.unplug()
    with pytest.raises(DeviceGone) as info:
        reader.read(0.1)
    assert isinstance(info.value.__cause__, (serial.SerialException, OSError, termios.error))
    reader.close()
    with pytest.raises(DeviceGone):
        reader.open()
    sim.plug()
    reader.open()
    sim.place(CARD)
    assert isinstance(next_reading(reader), CardRead)


def test_url_goes_to_serial_for_url(sim: SamvSimulator) -> None:
    """loop:// opens (and echoes our command, a frame too short for a reply); bad URLs are named."""
    with pytest.raises(ProtocolError, match="implausible LEN 3"):
        SamvReader("idcard", "loop://").open()
    with pytest.raises(OptionError, match="bogus"):
        SamvReader("idcard", "bogus://x").open()
    with pytest.raises(DeviceGone) as info:
        SamvReader("idcard", sim.port + ".absent").open()
    assert isinstance(info.value.__cause__, serial.SerialException)


def test_baudrate_reaches_the_port(sim: SamvSimulator) -> None:
    """The configured speed is set on the tty (the pty keeps termios)."""
    r = make_reader(sim)
    r.baudrate = 9600
    r.open()
    fd = os.open(sim.port, os.O_RDWR | os.O_NOCTTY)
    try:
        assert termios.tcgetattr(fd)[5] == termios.B9600
    finally:
        os.close(fd)
        r.close()


def test_options_table_and_registry() -> None:
    """Bounds and choices are checked by name; the registry builds a SamvReader."""
    assert check_device("idcard", "samv", {"baudrate": 9600, "poll_interval_s": 0.5}) == []
    problems = check_device("idcard", "samv", {"baudrate": 1200, "reply_timeout_s": 0.0, "parity": "N"})
    assert any(p.startswith("baudrate: 1200 is not one of") for p in problems)
    assert any(p.startswith("reply_timeout_s: 0.0 is below") for p in problems)
    assert any(p.startswith("parity: unknown option") for p in problems)
    device = create_device("card", "samv", "loop://", {"baudrate": 19200})
    assert isinstance(device, SamvReader) and device.baudrate == 19200 and device.poll_interval_s == 0.4


def test_wire_log_has_hex_but_no_personal_data(sim: SamvSimulator, reader: SamvReader,
                                               caplog: pytest.LogCaptureFixture) -> None:
    """kiosk.wire shows commands and statuses; never the name, ID number or photo."""
    caplog.set_level(logging.DEBUG)
    sim.place(CARD, photo=PHOTO)
    sim.corrupt_next(1, Command.READ_BASE)
    assert isinstance(next_reading(reader), CardFailed)
    assert isinstance(next_reading(reader), CardRead)
    wire = [r.getMessage() for r in caplog.records if r.name == "kiosk.wire"]
    assert any("TX aa aa aa 96 69 00 03 20 01 22" in m for m in wire)
    assert any("1284 data bytes withheld" in m for m in wire)
    text = "\n".join(r.getMessage() for r in caplog.records)
    for secret in (ID_NUMBER, ID_NUMBER.encode("utf-16-le").hex(), ID_NUMBER.encode("utf-16-le").hex(" "),
                   "叶尔兰", "测试路", PHOTO[:16].hex(" "), PHOTO[:16].hex()):
        assert secret not in text


# ---- under the device runner ----------------------------------------------------------------

def wait_health(q: queue.Queue[Health], state: HealthState, within: float = 3.0) -> Health:
    """Take health reports until one has ``state``."""
    deadline = time.monotonic() + within
    while (left := deadline - time.monotonic()) > 0:
        try:
            health = q.get(timeout=left)
        except queue.Empty:
            break
        if health.state is state:
            return health
    pytest.fail(f"no {state.value} health within {within} s")


def test_runner_reconnects_after_unplug_and_reads_again(sim: SamvSimulator) -> None:
    """GIVEN a running reader WHEN unplugged and plugged back THEN DISCONNECTED, CONNECTED, a new read."""
    healths: queue.Queue[Health] = queue.Queue()
    readings: queue.Queue[tuple[str, Reading, datetime]] = queue.Queue()

    def on_reading(name: str, reading: Reading, at: datetime) -> None:
        readings.put((name, reading, at))

    runner = DeviceRunner(make_reader(sim), on_reading=on_reading, on_health=healths.put,
                          clock=SystemClock(), poll_s=0.05, backoff=lambda attempt: 0.05)
    runner.start()
    try:
        first = wait_health(healths, HealthState.CONNECTED)
        sim.place(CARD)
        name, reading, at = readings.get(timeout=2.0)
        assert name == "idcard" and isinstance(reading, CardRead) and at.tzinfo is not None
        sim.unplug()
        lost = wait_health(healths, HealthState.DISCONNECTED)
        assert lost.last_error
        sim.remove()
        sim.plug()
        back = wait_health(healths, HealthState.CONNECTED)
        assert back.reconnects > first.reconnects
        sim.place(CARD)
        _name, got, _at = readings.get(timeout=2.0)
        assert isinstance(got, CardRead) and got.card == CARD
        assert readings.empty()
    finally:
        runner.stop()


# ---- every command of §1.3 as a method --------------------------------------------------------

RESET = bytes.fromhex("AA AA AA 96 69 00 03 10 FF EC")
SAM_ID = bytes.fromhex("AA AA AA 96 69 00 03 12 FF EE")
READ_FP = bytes.fromhex("AA AA AA 96 69 00 03 30 10 23")
READ_ADDRESS = bytes.fromhex("AA AA AA 96 69 00 03 30 03 30")


def test_sam_commands_send_their_published_frames(sim: SamvSimulator, reader: SamvReader) -> None:
    """reset, status and SAM id: exact frames out, the 16-byte SAM number back."""
    reader.reset_sam()
    reader.sam_status()
    assert reader.sam_id() == bytes(range(16))
    assert bytes(sim.received) == STATUS + RESET + STATUS + SAM_ID


def test_card_commands_one_by_one(sim: SamvSimulator, reader: SamvReader) -> None:
    """find (no card, then a card), select, read base: the read cycle's steps as methods."""
    assert reader.find_card() is False
    sim.place(CARD, photo=PHOTO)
    assert reader.find_card() is True
    reader.select_card()
    card = reader.read_base()
    assert card == CARD and card.photo == PHOTO
    assert bytes(sim.received) == STATUS + FIND + FIND + SELECT + READ


def test_read_with_fingerprint_returns_it_in_memory(sim: SamvSimulator, reader: SamvReader) -> None:
    """30 10 gives the card, its photo and the fingerprint bytes (two fingers, 1024 B)."""
    fingerprint = bytes([0xF1, 0x2E]) * 512
    sim.place(CARD, photo=PHOTO, fingerprint=fingerprint)
    assert reader.find_card()
    reader.select_card()
    card, fp = reader.read_base_fp()
    assert card == CARD and card.photo == PHOTO and fp == fingerprint
    assert bytes(sim.received).endswith(READ_FP)


def test_read_new_address_present_or_absent(sim: SamvSimulator, reader: SamvReader) -> None:
    """30 03 gives the appended address, or None when the card has none (SW3 91)."""
    sim.place(CARD)
    assert reader.read_new_address() is None
    sim.place(CARD, new_address="新疆塔城市新址路2号")
    assert reader.read_new_address() == "新疆塔城市新址路2号"
    assert bytes(sim.received).endswith(READ_ADDRESS * 2)


def test_commands_run_on_the_device_thread_through_the_runner(sim: SamvSimulator) -> None:
    """A technician's SAM id request goes through DeviceRunner.call, between polls."""
    runner = DeviceRunner(make_reader(sim), on_reading=lambda *a: None, on_health=lambda h: None,
                          clock=SystemClock(), poll_s=0.05)
    runner.start()
    try:
        deadline = time.monotonic() + 3
        while not runner.health.usable:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert runner.call(lambda reader: reader.sam_id()).result(timeout=2) == bytes(range(16))
    finally:
        runner.stop()


# ---- the SAM at open ---------------------------------------------------------------------------

def test_failing_sam_is_reset_once_at_open(sim: SamvSimulator) -> None:
    """SAM status 0x60 at open: one reset, a second status check, and the reader is usable."""
    sim.fail_sam(0x60)
    r = make_reader(sim)
    r.open()
    try:
        assert bytes(sim.received) == STATUS + RESET + STATUS
        sim.place(CARD)
        assert isinstance(next_reading(r), CardRead)
    finally:
        r.close()


@pytest.mark.parametrize(("sw3", "key"), [(0x60, "sam_self_test_failed"), (0x66, "sam_not_authorised")])
def test_sam_that_stays_broken_refuses_open_by_name(sim: SamvSimulator, sw3: int, key: str) -> None:
    """A SAM still failing after its reset: open raises SamvStatusError naming the status, port closed."""
    sim.answer_next(sw3, Command.SAM_STATUS, n=2)
    r = make_reader(sim)
    with pytest.raises(SamvStatusError) as info:
        r.open()
    assert info.value.key == key and info.value.code == sw3 and info.value.command is Command.SAM_STATUS
    assert key in str(info.value)
    assert bytes(sim.received) == STATUS + RESET + STATUS
    r.open()        # closed cleanly: the next attempt (the runner's retry) works
    r.close()


# ---- every SW3 -------------------------------------------------------------------------------

CARD_ERRORS = [code for code in SW3_TABLE if code not in (0x90, 0x9F, 0x80, 0x10, 0x11, 0x40)]


@pytest.mark.parametrize("sw3", CARD_ERRORS, ids=[SW3_TABLE[c].key for c in CARD_ERRORS])
def test_every_error_sw3_on_read_is_a_named_unreadable_card(sim: SamvSimulator, reader: SamvReader,
                                                            sw3: int) -> None:
    """Any error status to read base, card still there: card_unreadable whose detail names the status."""
    sim.place(CARD)
    sim.answer_next(sw3, Command.READ_BASE)
    got = next_reading(reader)
    assert isinstance(got, CardFailed) and got.reason == "card_unreadable"
    assert SW3_TABLE[sw3].key in got.detail and f"0x{sw3:02X}" in got.detail
    assert isinstance(next_reading(reader), CardRead)


def test_sw3_card_type_unrecognised_gives_up_at_once(sim: SamvSimulator, reader: SamvReader) -> None:
    """SW3 0x40 (the SAM does not know the card type): card_type_unknown, and no retry."""
    sim.place(CARD)
    sim.answer_next(0x40, Command.READ_BASE)
    got = next_reading(reader)
    assert isinstance(got, CardFailed) and got.reason == "card_type_unknown"
    assert "card_type_unrecognised" in got.detail
    assert polls(reader, 3) == [] and sim.reads == 0


@pytest.mark.parametrize("sw3", [c for c in SW3_TABLE if c not in (0x9F, 0x80, 0x10, 0x11)])
def test_every_unexpected_sw3_on_find_raises_it_by_name(sim: SamvSimulator, reader: SamvReader, sw3: int) -> None:
    """Find answered with anything but 9F/80 is the reader's fault: SamvStatusError with its key."""
    sim.answer_next(sw3, Command.FIND_CARD)
    with pytest.raises(SamvStatusError) as info:
        reader.read(0.1)
    assert info.value.key == SW3_TABLE[sw3].key and info.value.command is Command.FIND_CARD
    assert polls(reader, 1) == []


@pytest.mark.parametrize("sw3", [0x10, 0x11])
def test_command_that_reached_the_reader_corrupted_is_sent_again(sim: SamvSimulator, reader: SamvReader,
                                                                 sw3: int) -> None:
    """SW3 10/11 (our frame arrived corrupted) to read base: sent once more, the card is read."""
    sim.place(CARD)
    sim.answer_next(sw3, Command.READ_BASE)
    got = next_reading(reader)
    assert isinstance(got, CardRead) and got.card == CARD
    assert bytes(sim.received).endswith(SELECT + READ + READ)


def test_command_corrupted_twice_is_not_sent_a_third_time(sim: SamvSimulator, reader: SamvReader) -> None:
    """Two SW3 0x10 in a row: the read fails by name (host_checksum_error) instead of looping."""
    sim.place(CARD)
    sim.answer_next(0x10, Command.READ_BASE, n=2)
    got = next_reading(reader)
    assert isinstance(got, CardFailed) and "host_checksum_error" in got.detail
    assert bytes(sim.received).count(READ) == 2


def test_garbled_host_frame_is_answered_0x10_by_the_simulator(sim: SamvSimulator) -> None:
    """The simulator checks host frames the way a reader does (bad CHK -> SW3 0x10)."""
    sim.handle(FIND[:-1] + b"\x00")
    assert sim.exchanges[-1].sw3 == 0x10 and sim.exchanges[-1].command is None


# ---- damaged replies -----------------------------------------------------------------------------

def with_len(frame: bytes, length: int) -> bytes:
    """``frame`` with its LEN field replaced (checksum left as it was)."""
    return frame[:5] + length.to_bytes(2, "big") + frame[7:]


@pytest.mark.parametrize(("change", "needle"), [
    (lambda f: with_len(f, len(f) - 7 + 20), "truncated"),      # LEN too long: the frame never ends
    (lambda f: with_len(f, len(f) - 7 - 20), "checksum"),       # LEN too short: cut inside the photo
    (lambda f: with_len(f, 0xFFFF), "implausible LEN"),
    (lambda f: f[:-30], "truncated"),                           # bytes lost, the card still there
    (lambda f: f[:700] + bytes([f[700] ^ 0x01]) + f[701:], "checksum"),
], ids=["len-long", "len-short", "len-implausible", "truncated", "bit-flip"])
def test_damaged_read_reply_is_unreadable_then_read_again(sim: SamvSimulator, reader: SamvReader,
                                                          change: object, needle: str) -> None:
    """Wrong LEN, lost bytes or a flipped bit in the 1295-byte reply: card_unreadable, then a clean read."""
    sim.place(CARD, photo=PHOTO)
    sim.mangle_next(change, Command.READ_BASE)  # type: ignore[arg-type]
    got = next_reading(reader)
    assert isinstance(got, CardFailed) and got.reason == "card_unreadable" and needle in got.detail
    again = next_reading(reader)
    assert isinstance(again, CardRead) and again.card.photo == PHOTO


def test_paced_reply_takes_its_wire_time(sim: SamvSimulator, reader: SamvReader) -> None:
    """pace(115200): a read-base exchange (10 + 1295 bytes) lasts at least its 113 ms on the wire."""
    sim.place(CARD)
    sim.pace(115200)
    assert reader.find_card()
    reader.select_card()
    start = time.monotonic()
    assert reader.read_base() == CARD
    assert time.monotonic() - start >= (10 + 1295) * 10 / 115200
    last = sim.exchanges[-1]
    assert last.command is Command.READ_BASE and last.done_at - last.received_at >= 0.113


def test_unplugged_mid_read_reconnects_and_reads_the_card_again(sim: SamvSimulator) -> None:
    """GIVEN a card WHEN the cable is pulled halfway through the reply THEN DISCONNECTED, and after
    replug the card that stayed on the reader is read in full."""
    healths: queue.Queue[Health] = queue.Queue()
    readings: queue.Queue[Reading] = queue.Queue()
    runner = DeviceRunner(make_reader(sim), on_reading=lambda _n, r, _at: readings.put(r), on_health=healths.put,
                          clock=SystemClock(), poll_s=0.05, backoff=lambda attempt: 0.05)
    runner.start()
    try:
        wait_health(healths, HealthState.CONNECTED)
        sim.unplug_during_read()
        sim.place(CARD, photo=PHOTO)
        assert wait_health(healths, HealthState.DISCONNECTED).last_error
        assert readings.empty()
        sim.plug()
        wait_health(healths, HealthState.CONNECTED)
        got = readings.get(timeout=2.0)
        assert isinstance(got, CardRead) and got.card.photo == PHOTO
    finally:
        runner.stop()
