"""LcusRelay (production code) against LcusSimulator over a real pty: exact frames, bounded pulses, faults."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import serial

from drivers.base import GatePulsed
from drivers.errors import DeviceGone, OptionError
from drivers.options import parse_options
from drivers.registry import create_device
from drivers.relay.lcus import LcusRelay
from drivers.relay.lcus_frames import Frame, FrameParser, build_frame, checksum, switch_frame
from drivers.sim.lcus import LcusSimulator

CH1_ON, CH1_OFF = bytes.fromhex("A0 01 01 A2"), bytes.fromhex("A0 01 00 A1")
CH2_ON, CH2_OFF = bytes.fromhex("A0 02 01 A3"), bytes.fromhex("A0 02 00 A2")


def wait_for(predicate: Callable[[], bool], timeout: float = 2.0) -> None:
    """Poll ``predicate`` until true; fail the test at the deadline."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout:.1f} s")
        time.sleep(0.005)


def wait_received(sim: LcusSimulator, expected: bytes) -> None:
    """Wait until the board has received exactly ``expected``, then check nothing else arrived."""
    wait_for(lambda: len(sim.received) >= len(expected))
    assert bytes(sim.received) == expected


class Interrupted(BaseException):
    """Stands in for whatever breaks the pulse wait (KeyboardInterrupt, SystemExit, a bug)."""


@pytest.fixture
def make_sim() -> Iterator[Callable[..., LcusSimulator]]:
    """Start LcusSimulators on fresh ptys; stopped after the test."""
    started: list[LcusSimulator] = []

    def make(**options: Any) -> LcusSimulator:
        simulator = LcusSimulator("gate", **options)
        simulator.start()
        started.append(simulator)
        return simulator

    yield make
    for simulator in started:
        simulator.stop()


@pytest.fixture
def sim2(make_sim: Callable[..., LcusSimulator]) -> LcusSimulator:
    """A two-channel board plugged into a fresh pty."""
    return make_sim(channels=2)


@pytest.fixture
def make_relay() -> Iterator[Callable[..., LcusRelay]]:
    """Build and open an LcusRelay; closed after the test."""
    opened: list[LcusRelay] = []

    def make(url: str, **options: Any) -> LcusRelay:
        relay = LcusRelay("gate", url, **options)
        relay.open()
        opened.append(relay)
        return relay

    yield make
    for relay in opened:
        relay.close()


# -- frames, pure --------------------------------------------------------------------

@pytest.mark.parametrize(("channel", "on", "active_high", "frame"), [
    (1, True, True, CH1_ON),
    (1, False, True, CH1_OFF),
    (2, True, True, CH2_ON),
    (2, False, True, CH2_OFF),
    (1, True, False, CH1_OFF),
    (1, False, False, CH1_ON),
    (8, True, True, bytes.fromhex("A0 08 01 A9")),
])
def test_switch_frames_are_byte_exact(channel: int, on: bool, active_high: bool, frame: bytes) -> None:
    """The vectors of PROTOCOLS.md §4.1, and the polarity swap."""
    assert switch_frame(channel, on, active_high) == frame


def test_checksum_wraps_and_channel_is_checked() -> None:
    """sum = (0xA0 + ch + state) & 0xFF; channels outside 1..8 are refused."""
    assert checksum(1, 0x05) == 0xA6
    assert build_frame(8, 0xFF)[3] == (0xA0 + 8 + 0xFF) & 0xFF
    for channel in (0, 9):
        with pytest.raises(ValueError, match="channel"):
            build_frame(channel, 1)


@pytest.mark.parametrize(("chunks", "frames", "bad", "junk"), [
    ([CH1_ON], [Frame(1, 1)], 0, 0),
    ([CH1_ON + CH2_OFF], [Frame(1, 1), Frame(2, 0)], 0, 0),
    ([CH1_ON[:1], CH1_ON[1:3], CH1_ON[3:]], [Frame(1, 1)], 0, 0),
    ([b"\x00\x55" + CH1_OFF], [Frame(1, 0)], 0, 2),
    ([b"\xa0" + CH1_ON], [Frame(1, 1)], 1, 0),
    ([bytes.fromhex("A0 01 01 00") + CH2_ON], [Frame(2, 1)], 1, 3),
    ([bytes.fromhex("A0 01 01")], [], 0, 0),
])
def test_frame_parser_resynchronises(chunks: list[bytes], frames: list[Frame], bad: int, junk: int) -> None:
    """Split frames join, junk is skipped, a bad sum costs one byte and parsing resumes."""
    parser = FrameParser()
    got = [frame for chunk in chunks for frame in parser.feed(chunk)]
    assert (got, parser.bad_checksums, parser.junk_bytes) == (frames, bad, junk)


# -- against the simulator ------------------------------------------------------------

def test_open_drives_every_channel_off_first(sim2: LcusSimulator, make_relay: Callable[..., LcusRelay]) -> None:
    """GIVEN a relay left energised by a crashed kiosk WHEN the driver opens THEN all channels off, first."""
    crashed = serial.serial_for_url(sim2.port, baudrate=9600)
    crashed.write(CH2_ON)
    crashed.close()
    wait_for(lambda: sim2.state(2))
    sim2.received.clear()
    make_relay(sim2.port, channel=2, channels=2)
    wait_received(sim2, CH1_OFF + CH2_OFF)
    assert not sim2.state(1) and not sim2.state(2)


def test_pulse_frames_are_exact(sim2: LcusSimulator, make_relay: Callable[..., LcusRelay]) -> None:
    """GIVEN the gate on channel 2 WHEN pulsed THEN exactly all-off, ch2 on, ch2 off on the wire."""
    relay = make_relay(sim2.port, channel=2, channels=2)
    assert relay.pulse(0.05) == GatePulsed(2, 0.05)
    wait_received(sim2, CH1_OFF + CH2_OFF + CH2_ON + CH2_OFF)
    assert [(ch, on) for _, ch, on in sim2.timeline] == [(1, False), (2, False), (2, True), (2, False)]


@pytest.mark.parametrize(("requested", "max_pulse_s", "expected"), [
    (5.0, 0.2, 0.2),
    (math.inf, 0.2, 0.2),
    (0.1, 3.0, 0.1),
])
def test_pulse_is_bounded_by_max_pulse(requested: float, max_pulse_s: float, expected: float,
                                      make_sim: Callable[..., LcusSimulator],
                                      make_relay: Callable[..., LcusRelay]) -> None:
    """The board sees the relay on for about min(requested, max_pulse_s), and off afterwards."""
    sim = make_sim()
    relay = make_relay(sim.port, pulse_s=0.1, max_pulse_s=max_pulse_s)
    started = time.monotonic()
    assert relay.pulse(requested) == GatePulsed(1, expected)
    assert time.monotonic() - started < expected + 0.5
    wait_for(lambda: len(sim.on_periods(1)) == 1 and sim.on_periods(1)[0][1] is not None)
    ((on_at, off_at),) = sim.on_periods(1)
    assert off_at is not None
    assert expected - 0.03 <= off_at - on_at <= expected + 0.25
    assert not sim.state(1)


def test_off_is_sent_when_the_wait_is_interrupted(make_sim: Callable[..., LcusSimulator],
                                                  make_relay: Callable[..., LcusRelay]) -> None:
    """GIVEN the pulse wait is broken by an exception THEN OFF still goes out and the error propagates."""
    def broken_sleep(seconds: float) -> None:
        raise Interrupted()

    sim = make_sim()
    relay = make_relay(sim.port, sleep=broken_sleep)
    with pytest.raises(Interrupted):
        relay.pulse(1.0)
    wait_received(sim, CH1_OFF + CH1_ON + CH1_OFF)
    assert [(ch, on) for _, ch, on in sim.timeline] == [(1, False), (1, True), (1, False)]


def test_polarity_swap(make_sim: Callable[..., LcusSimulator], make_relay: Callable[..., LcusRelay]) -> None:
    """GIVEN an active-low board and active_high=False THEN 00 energises, 01 releases, and the pulse works."""
    sim = make_sim(active_high=False)
    relay = make_relay(sim.port, active_high=False)
    relay.pulse(0.05)
    wait_received(sim, CH1_ON + CH1_OFF + CH1_ON)
    assert [(ch, on) for _, ch, on in sim.timeline] == [(1, False), (1, True), (1, False)]


def test_idle_unplug_is_detected_by_read(sim2: LcusSimulator, make_relay: Callable[..., LcusRelay]) -> None:
    """GIVEN an idle open relay THEN read is a silent liveness poll until the cable is pulled: DeviceGone."""
    relay = make_relay(sim2.port, channels=2)
    started = time.monotonic()
    assert relay.read(0.1) is None
    assert time.monotonic() - started >= 0.08
    sim2.unplug()
    started = time.monotonic()
    with pytest.raises(DeviceGone) as info:
        relay.read(1.0)
    assert time.monotonic() - started < 0.5
    assert isinstance(info.value.__cause__, serial.SerialException)
    with pytest.raises(DeviceGone):
        relay.pulse(0.05)
    relay.close()  # a lost port closes without raising


def test_unexpected_bytes_are_ignored(sim2: LcusSimulator, make_relay: Callable[..., LcusRelay],
                                      caplog: pytest.LogCaptureFixture) -> None:
    """Bytes from a board that should be silent are logged and read still returns None."""
    relay = make_relay(sim2.port, channels=2)
    sim2.send(b"\x01\x02")
    assert relay.read(1.0) is None
    assert "ignored 2 unexpected bytes" in caplog.text


def test_close_de_energises_all_channels(sim2: LcusSimulator) -> None:
    """close() sends OFF for every channel and then releases the port; twice is harmless."""
    relay = LcusRelay("gate", sim2.port, channel=2, channels=2)
    relay.open()
    wait_received(sim2, CH1_OFF + CH2_OFF)
    relay.close()
    relay.close()
    wait_received(sim2, (CH1_OFF + CH2_OFF) * 2)
    with pytest.raises(DeviceGone, match="not open"):
        relay.read(0.0)


def test_stuck_relay_is_invisible_to_the_host(sim2: LcusSimulator, make_relay: Callable[..., LcusRelay]) -> None:
    """GIVEN a stuck relay THEN the frames are consumed and the pulse 'succeeds': only a passage sensor can tell."""
    relay = make_relay(sim2.port, channels=2)
    wait_for(lambda: len(sim2.timeline) == 2)
    sim2.ignore_commands(True)
    assert relay.pulse(0.05) == GatePulsed(1, 0.05)
    wait_for(lambda: sim2.ignored_frames == 2)
    assert sim2.on_periods(1) == []


def test_simulator_counts_bad_checksums(sim2: LcusSimulator) -> None:
    """A frame with a wrong sum is counted and ignored; the board resynchronises on the next frame."""
    port = serial.serial_for_url(sim2.port, baudrate=9600)
    try:
        port.write(bytes.fromhex("A0 01 01 00") + CH1_ON)
        wait_for(lambda: sim2.state(1))
        assert sim2.bad_checksums == 1
    finally:
        port.close()


def test_unplug_drops_every_relay(sim2: LcusSimulator) -> None:
    """Pulling the USB cable de-powers the board: an energised relay drops out (timeline shows it)."""
    port = serial.serial_for_url(sim2.port, baudrate=9600)
    port.write(CH2_ON)
    wait_for(lambda: sim2.state(2))
    sim2.unplug()
    port.close()
    assert not sim2.state(2)
    assert [(ch, on) for _, ch, on in sim2.timeline] == [(2, True), (2, False)]


@pytest.mark.parametrize(("options", "message"), [
    ({"channel": 3, "channels": 2}, "channel: 3"),
    ({"channels": 9}, "channels: 9"),
    ({"pulse_s": 4.0, "max_pulse_s": 3.0}, "pulse_s: 4.0"),
    ({"max_pulse_s": 0.0}, "max_pulse_s"),
])
def test_bad_option_combinations(options: dict[str, Any], message: str) -> None:
    """Inconsistent options are refused at construction, naming the option."""
    with pytest.raises(OptionError, match=message):
        LcusRelay("gate", "loop://", **options)


@pytest.mark.parametrize("seconds", [0.0, -1.0, math.nan])
def test_pulse_length_must_be_positive(seconds: float, make_relay: Callable[..., LcusRelay]) -> None:
    """A zero, negative or NaN pulse is a programming error, refused before any byte is sent."""
    relay = make_relay("loop://")
    with pytest.raises(ValueError, match="not above 0"):
        relay.pulse(seconds)


def test_options_table_and_registry(sim2: LcusSimulator) -> None:
    """The option table bounds the values and the registry builds the driver with them."""
    _values, problems = parse_options({"channel": 9, "max_pulse_s": 100.0}, LcusRelay.OPTIONS)
    assert sorted(p.split(":")[0] for p in problems) == ["channel", "max_pulse_s"]
    device = create_device("gate", "lcus", sim2.port, {"channel": 2, "channels": 2, "max_pulse_s": 1.0})
    assert isinstance(device, LcusRelay)
    assert (device.channel, device.channels, device.max_pulse_s) == (2, 2, 1.0)
