"""Frame capture for /diag (drivers/frames.py): the ring, the ID-number guard, the SAM-V and PC/SC policies,
and the production drivers under DeviceRunner on their simulators over real ptys, where the frames kept
must be the exact bytes that crossed the wire, and no ID number, name or photo byte may be kept."""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import pytest
import serial

from drivers import frames
from drivers.base import CardRead, CardType, IdCard, Reading, ScanRead
from drivers.cardreader.samv import SamvReader
from drivers.cardreader.samv_capture import SamvCapture
from drivers.frames import APDU, RX, TX, FrameRing
from drivers.relay.lcus import LcusRelay
from drivers.runner import DeviceRunner, Health, HealthState
from drivers.scanner.serial_line import SerialScanner
from drivers.serialport import open_port
from drivers.sim.lcus import LcusSimulator
from drivers.sim.samv import SamvSimulator, reply_frame
from drivers.sim.scanner import ScannerSimulator
from kiosk.clock import SystemClock

ID_NUMBER = "65420119900101003X"
NAME = "叶尔兰·测试"
CARD = IdCard(CardType.RESIDENT, NAME, "1", "17", date(1990, 1, 1), "新疆塔城市测试路1号", ID_NUMBER,
              "塔城市公安局", date(2010, 1, 1), None)
PHOTO = bytes(range(256)) * 4
CH1_ON, CH1_OFF = "a0 01 01 a2", "a0 01 00 a1"
FIND = bytes.fromhex("AA AA AA 96 69 00 03 20 01 22")
READ = bytes.fromhex("AA AA AA 96 69 00 03 30 01 32")


def wait_for(predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.01)
    raise AssertionError("condition not met in time")


def forms(text: str) -> list[str]:
    """How ``text`` could show up in a frame's JSON: as text, and as hex of its UTF-8 and UTF-16LE bytes."""
    out = [text]
    for codec in ("utf-8", "utf-16-le"):
        raw = text.encode(codec)
        out += [raw.hex(), raw.hex(" ")]
    return out


def dump(ring: FrameRing) -> str:
    return repr(ring.frames())


@pytest.fixture
def run_device() -> Iterator[Callable[..., tuple[DeviceRunner, queue.Queue[Reading]]]]:
    """Start a DeviceRunner with a FrameRing on a device; wait until connected; stopped after the test."""
    started: list[DeviceRunner] = []

    def start(device: Any, ring: FrameRing) -> tuple[DeviceRunner, queue.Queue[Reading]]:
        readings: queue.Queue[Reading] = queue.Queue()
        health: list[Health] = []
        runner = DeviceRunner(device, on_reading=lambda _n, r, _at: readings.put(r), on_health=health.append,
                              clock=SystemClock(), frames=ring)
        runner.start()
        started.append(runner)
        wait_for(lambda: runner.health.state is HealthState.CONNECTED)
        return runner, readings

    yield start
    for runner in started:
        runner.stop()


# -- the ring and the guard, pure ---------------------------------------------------------------------


def test_each_write_is_a_frame_and_reads_close_together_are_one() -> None:
    clock = [100.0]
    ring = FrameRing(monotonic=lambda: clock[0], wall=lambda: 1_700_000_000.0)
    ring.record(TX, b"\x01\x02")
    ring.record(TX, b"\x03")
    ring.record(RX, b"ab")
    clock[0] += 0.01
    ring.record(RX, b"cd")
    clock[0] += frames.RX_GAP_S + 0.01
    ring.record(RX, b"ef")
    got = [(f["direction"], f["hex"], f["length"]) for f in ring.frames()]
    assert got == [("tx", "01 02", 2), ("tx", "03", 1), ("rx", "61 62 63 64", 4), ("rx", "65 66", 2)]
    assert ring.frames()[0]["at"] == "2023-11-14T22:13:20.000+00:00"


def test_the_ring_keeps_the_last_frames_only() -> None:
    ring = FrameRing(size=3)
    for i in range(5):
        ring.record(TX, bytes([i]))
    assert [f["hex"] for f in ring.frames()] == ["02", "03", "04"] and ring.total == 5


def test_a_repeated_poll_and_its_reply_are_counted_not_kept_again() -> None:
    """Idle find-card polls must not push a card read out of the ring."""
    ring = FrameRing(size=6)
    ring.record(TX, b"READ")
    ring.record(RX, b"CARD", frames.WITHHOLD)
    for _ in range(50):
        ring.record(TX, b"FIND")
        ring.record(RX, b"NONE")
    ring.record(TX, b"next")
    shown = [(f["direction"], f["text"], f["repeats"]) for f in ring.frames()]
    assert shown == [("tx", "READ", 0), ("rx", "…", 0), ("tx", "FIND", 49), ("rx", "NONE", 49), ("tx", "next", 0)]
    assert ring.frames()[2]["last_at"] is not None


@pytest.mark.parametrize("text", [ID_NUMBER, "110101199003071234", "ID:110101199003071234;", "012345678901234567891"])
def test_digit_runs_of_an_id_number_are_masked(text: str) -> None:
    ring = FrameRing()
    ring.record(RX, text.encode() + b"\r")
    frame = ring.frames()[0]
    digits = "".join(ch for ch in text if ch.isdigit())
    assert digits not in dump(ring) and digits.encode().hex(" ") not in frame["hex"]
    assert frame["length"] == len(text) + 1 and "*" * 17 in frame["text"]


def test_shorter_codes_stay_readable() -> None:
    ring = FrameRing()
    ring.record(RX, b"]E04870204100013\r")
    ring.record(TX, b"0104870204100013")         # 16 digits: a GTIN with its AI
    assert ring.frames()[0]["text"] == "]E04870204100013." and ring.frames()[1]["text"] == "0104870204100013"


def test_an_id_number_split_across_reads_and_frames_is_masked_everywhere() -> None:
    """The run is masked even when its pieces arrive apart: in one frame, and across frames."""
    clock = [0.0]
    ring = FrameRing(monotonic=lambda: clock[0])
    for piece in (b"11010119", b"900307", b"1234\r"):
        ring.record(RX, piece)
        clock[0] += 0.01                        # one frame
    clock[0] += 1.0
    for piece in (b"6542011990", b"0101003X\r"):
        ring.record(RX, piece)
        clock[0] += 1.0                         # two frames
    text = "".join(f["text"] for f in ring.frames())
    assert len(ring.frames()) == 3
    assert "11010119" not in text and "900307" not in text and "6542011990" not in text and "003X" not in text
    assert text.count("*") == 36


def test_an_endless_digit_stream_stays_masked_in_bounded_memory() -> None:
    clock = [0.0]
    ring = FrameRing(size=4, monotonic=lambda: clock[0])
    for _ in range(2000):
        ring.record(RX, b"123")
        clock[0] += 1.0                         # every chunk its own frame: the run goes on across all
    guard = ring._guards[RX]
    assert len(guard._pieces) <= 1 and all(set(f["text"]) == {"*"} for f in ring.frames())


def test_utf16_id_numbers_are_masked_too() -> None:
    ring = FrameRing()
    ring.record(RX, ("号码" + ID_NUMBER).encode("utf-16-le"))
    assert not any(form in dump(ring) for form in forms(ID_NUMBER))


def test_personal_roles_keep_lengths_only_unless_the_driver_says_more() -> None:
    ring = FrameRing(personal=True)
    ring.record(RX, b"P<KAZDOE<<JOHN<<<<<<<<<<\r")
    ring.record(TX, b"\x01\x02", frames.SHOW_ALL)
    assert ring.frames()[0]["hex"] == "[25 bytes withheld]" and ring.frames()[0]["withheld"] == 25
    assert ring.frames()[1]["hex"] == "01 02"


def test_apdus_show_the_command_and_only_the_status_of_the_response() -> None:
    ring = FrameRing(personal=True)
    ring.record(TX, bytes.fromhex("FF CA 00 00 00"), APDU)
    ring.record(RX, bytes.fromhex("04 A1 B2 C3 D4 E5 F6 90 00"), APDU)
    tx, rx = ring.frames()
    assert tx["hex"] == "ff ca 00 00 00"
    assert rx["hex"] == "[7 bytes withheld] 90 00" and "a1 b2" not in rx["hex"]


def test_frames_are_capped_but_counted() -> None:
    ring = FrameRing()
    ring.record(TX, bytes(frames.MAX_SHOWN + 10))
    frame = ring.frames()[0]
    assert frame["length"] == frames.MAX_SHOWN + 10 and frame["truncated"] == 10
    assert frame["hex"].endswith("[10 more bytes]")


# -- the SAM-V policy, on real reply frames ---------------------------------------------------------------


def samv_frames_of(chunks: list[bytes], command: bytes = READ) -> list[dict[str, Any]]:
    clock = [0.0]
    ring = FrameRing(personal=True, monotonic=lambda: clock[0])
    policy = SamvCapture()
    ring.record(TX, command, policy)
    for chunk in chunks:
        ring.record(RX, chunk, policy)
        clock[0] += 0.001
    return ring.frames()


def read_base_reply() -> bytes:
    from drivers.cardreader.samv_text import encode_text_block
    from drivers.sim.samv import read_base_data

    return reply_frame(0x90, read_base_data(encode_text_block(CARD), PHOTO))


@pytest.mark.parametrize("chunk", [1, 7, 64, 2000])
def test_a_read_base_reply_shows_framing_and_lengths_never_the_card(chunk: int) -> None:
    reply = read_base_reply()
    got = samv_frames_of([reply[i:i + chunk] for i in range(0, len(reply), chunk)])
    tx, rx = got
    assert tx["hex"] == READ.hex(" ")
    assert rx["length"] == 1295
    assert rx["hex"] == f"aa aa aa 96 69 05 08 00 00 90 01 00 04 00 [1280 bytes withheld] {reply[-1]:02x}"
    for secret in (ID_NUMBER, NAME, "新疆塔城市测试路1号"):
        assert not any(form in repr(got) for form in forms(secret))
    assert PHOTO[:16].hex(" ") not in repr(got)


def test_short_status_replies_are_shown_whole() -> None:
    found = bytes.fromhex("AA AA AA 96 69 00 08 00 00 9F 00 00 00 00 97")
    assert samv_frames_of([found], FIND)[1]["hex"] == found.hex(" ")


def test_garbage_before_a_reply_is_withheld_and_the_reply_still_found() -> None:
    """Bytes outside a frame (after a resync they may be a card's data) are counted, never shown; a
    preamble split across reads and preceded by extra AA bytes is still found."""
    no_card = bytes.fromhex("AA AA AA 96 69 00 04 00 00 80 84")
    got = samv_frames_of([b"\xAA\xAA\x31\x32\xAA", b"\xAA" + no_card[:3], no_card[3:]], FIND)
    assert got[1]["hex"] == "[6 bytes withheld] " + no_card.hex(" ")
    assert got[1]["length"] == 6 + len(no_card)


def test_a_reply_to_an_unknown_command_is_withheld() -> None:
    reply = reply_frame(0x90, b"\x11" * 20)
    got = samv_frames_of([reply], bytes.fromhex("AA AA AA 96 69 00 03 60 00 63"))
    assert got[1]["hex"].startswith("aa aa aa 96 69 00 18 00 00 90 [20 bytes withheld]")


# -- the production drivers under the runner, on their simulators over real ptys ---------------------------


def test_lcus_pulse_frames_are_the_exact_bytes_the_board_received(run_device: Any) -> None:
    """GIVEN the LCUS relay under its runner WHEN the gate is pulsed THEN the ring holds all-off at open,
    then A0 01 01 A2 and A0 01 00 A1, byte for byte what the simulated board received."""
    sim = LcusSimulator("gate")
    sim.start()
    try:
        ring = FrameRing()
        runner, _readings = run_device(LcusRelay("gate", sim.port, pulse_s=0.1), ring)
        runner.call(lambda dev: dev.pulse(0.1)).result(timeout=5)
        wait_for(lambda: len(sim.received) >= 12)
        sent = [f["hex"] for f in ring.frames()]
        assert sent == [CH1_OFF, CH1_ON, CH1_OFF]
        assert " ".join(sent) == bytes(sim.received).hex(" ")
        assert all(f["direction"] == "tx" for f in ring.frames())
        assert runner.command_results["GatePulsed"] == 1
    finally:
        sim.stop()


def test_scanner_frames_and_the_reading_are_unchanged_by_capture(run_device: Any) -> None:
    """The scan arrives as always; its frame is the exact line; an ID-number barcode is masked in the
    frame (split in chunks with gaps on the wire) but reaches the checkpoint intact."""
    sim = ScannerSimulator("scanner")
    sim.start()
    try:
        ring = FrameRing()
        _runner, readings = run_device(SerialScanner("scanner", sim.port, aim_prefix=True), ring)
        wire = sim.scan("4870204100013", "]E0")
        assert readings.get(timeout=3) == ScanRead("4870204100013", "]E0")
        wait_for(lambda: ring.frames())
        assert ring.frames()[-1]["hex"] == wire.hex(" ")
        sim.scan(ID_NUMBER, chunk=5, gap_s=0.03)
        assert readings.get(timeout=3) == ScanRead(ID_NUMBER, None)    # no AIM prefix sent: none
        time.sleep(frames.RX_GAP_S * 2)
        assert not any(form in dump(ring) for form in forms(ID_NUMBER))
        assert "*" * 17 in "".join(f["text"] for f in ring.frames())
    finally:
        sim.stop()


def test_a_card_read_under_the_runner_keeps_no_personal_byte(run_device: Any) -> None:
    """GIVEN the SAM-V reader under its runner WHEN a card is read THEN the driver still reads the
    whole card, and the ring shows the commands and the reply's framing, never the card's data."""
    sim = SamvSimulator("idcard")
    sim.start()
    try:
        sim.chunked(97, 0.0)                    # the reply arrives in many reads
        ring = FrameRing(personal=True)
        _runner, readings = run_device(SamvReader("idcard", sim.port, poll_interval_s=0.05), ring)
        sim.place(CARD, photo=PHOTO)
        reading = readings.get(timeout=5)
        assert isinstance(reading, CardRead) and reading.card.id_number == ID_NUMBER
        kept = ring.frames()
        assert any(f["hex"] == READ.hex(" ") for f in kept)
        reply = next(f for f in kept if f["length"] == 1295)
        assert reply["hex"].startswith("aa aa aa 96 69 05 08 00 00 90 01 00 04 00 [1280 bytes withheld]")
        for secret in (ID_NUMBER, NAME, "新疆塔城市测试路1号", "654201"):
            assert not any(form in dump(ring) for form in forms(secret)), secret
        assert PHOTO[:16].hex(" ") not in dump(ring)
    finally:
        sim.stop()


def test_ports_opened_outside_a_runner_are_not_captured() -> None:
    """The CLI tools and driver tests open ports on threads with no ring: nothing is wrapped."""
    port = open_port("x", "loop://", timeout=0)
    try:
        assert frames.current() is None
        assert type(port).read is not None and "read" not in vars(port)
    finally:
        port.close()


def test_a_bound_thread_wraps_its_ports_and_loop_bytes_still_flow() -> None:
    ring = FrameRing()
    frames.bind(ring)
    try:
        port = open_port("x", "loop://", timeout=0.1)
    finally:
        frames.bind(None)
    try:
        assert port.write(b"hello") == 5
        assert port.read(5) == b"hello"
        assert [(f["direction"], f["text"]) for f in ring.frames()] == [("tx", "hello"), ("rx", "hello")]
    finally:
        port.close()
    assert isinstance(port, serial.SerialBase)


def test_badge_apdus_under_the_runner_show_the_command_never_the_uid(run_device: Any, slots: Any) -> None:
    """GIVEN the badge reader (real pcscd + vpcd) under its runner WHEN a badge is read THEN the ring holds
    GET DATA (FF CA 00 00 00) and the reply's status word, never the UID (an officer's credential)."""
    from drivers.base import BadgeRead
    from drivers.cardreader.badge import BadgeReader
    from drivers.sim.passport_card import BadgeCard
    from tests.pcsc_support import BADGE_SLOT, BADGE_URL

    uid = bytes.fromhex("04A1B2C3D4E5F6")
    ring = FrameRing(personal=True)
    _runner, readings = run_device(BadgeReader("badge", BADGE_URL), ring)
    slots.insert(BadgeCard(uid), BADGE_SLOT)
    assert readings.get(timeout=5) == BadgeRead(uid)
    kept = ring.frames()
    assert ("tx", "ff ca 00 00 00") in [(f["direction"], f["hex"]) for f in kept]
    assert any(f["direction"] == "rx" and f["hex"] == "[7 bytes withheld] 90 00" for f in kept)
    assert uid.hex() not in dump(ring).replace(" ", "") and uid.hex(" ") not in dump(ring)
