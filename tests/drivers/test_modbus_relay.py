"""ModbusRelay (production code) against ModbusRelaySimulator over a real pty.

Exact bytes on the wire, the hardware-timed flash (also with the kiosk process SIGKILLed
mid-pulse), retries and exception replies, stuck relays, and PASS inputs with debounce.
"""

from __future__ import annotations

import queue
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from drivers.base import GatePulsed, Reading
from drivers.errors import DeviceGone, OptionError, RelayStuck
from drivers.gate_events import GateState, PassageSeen
from drivers.options import parse_options
from drivers.registry import create_device
from drivers.relay import modbus as modbus_module
from drivers.relay.modbus import ModbusRelay
from drivers.relay.modbus_frames import BadCrc, IllegalDataAddress, NoReply, flash_on
from drivers.runner import DeviceRunner, Health, HealthState
from drivers.sim.modbus import ModbusRelaySimulator
from kiosk.clock import SystemClock
from tests.drivers.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]

OFF0, OFF1 = bytes.fromhex("01 05 00 00 00 00 CD CA"), bytes.fromhex("01 05 00 01 00 00 9C 0A")
ON0 = bytes.fromhex("01 05 00 00 FF 00 8C 3A")
FLASH0_500MS = bytes.fromhex("01 05 02 00 00 05 0C 71")
READ_COIL0 = bytes.fromhex("01 01 00 00 00 01 FD CA")
READ_DI1 = bytes.fromhex("01 02 00 00 00 01 B9 CA")


class Interrupted(BaseException):
    """Stands in for whatever breaks the pulse wait (KeyboardInterrupt, SystemExit, a bug)."""


@pytest.fixture
def sim() -> Iterator[ModbusRelaySimulator]:
    """A two-relay board with eight inputs, plugged into a fresh pty."""
    simulator = ModbusRelaySimulator("gate", channels=2)
    simulator.start()
    yield simulator
    simulator.stop()


@pytest.fixture
def make_relay() -> Iterator[Callable[..., ModbusRelay]]:
    """Build and open a ModbusRelay; closed after the test."""
    opened: list[ModbusRelay] = []

    def make(url: str, **options: Any) -> ModbusRelay:
        options.setdefault("channels", 2)
        relay = ModbusRelay("gate", url, **options)
        relay.open()
        opened.append(relay)
        return relay

    yield make
    for relay in opened:
        relay.close()


def wire(sim: ModbusRelaySimulator) -> bytes:
    """Everything the host sent so far; cleared for the next step."""
    data = bytes(sim.received)
    sim.received.clear()
    return data


# -- open and the pulse, byte-exact ------------------------------------------------------------

def test_power_up_with_a_relay_left_on(sim: ModbusRelaySimulator, make_relay: Callable[..., ModbusRelay]) -> None:
    """GIVEN a relay left energised WHEN the driver opens THEN every coil is written off first, then read back."""
    sim.set_coil(1, True)
    make_relay(sim.port)
    assert wire(sim) == OFF0 + OFF1 + READ_COIL0
    assert not sim.coil(0) and not sim.coil(1)
    assert [(c, on) for _, c, on in sim.timeline] == [(1, True), (1, False)]


def test_flash_pulse_bytes_and_timing(sim: ModbusRelaySimulator, make_relay: Callable[..., ModbusRelay]) -> None:
    """GIVEN flash mode WHEN pulsed 0.5 s THEN flash 0x0200=5, read-back on, read-back off; the board times it."""
    relay = make_relay(sim.port)
    wire(sim)
    assert relay.pulse(0.5) == GatePulsed(1, 0.5)
    assert wire(sim) == FLASH0_500MS + READ_COIL0 + READ_COIL0
    ((on_at, off_at),) = sim.on_periods(0)
    assert off_at is not None and 0.5 <= off_at - on_at <= 0.65


@pytest.mark.parametrize(("requested", "sent"), [(0.26, 0.3), (9.0, 0.5), (0.01, 0.1)])
def test_flash_length_is_rounded_and_capped(requested: float, sent: float, sim: ModbusRelaySimulator,
                                            make_relay: Callable[..., ModbusRelay]) -> None:
    """Flash lengths round to 100 ms, at least one unit, never above max_pulse_s."""
    relay = make_relay(sim.port, max_pulse_s=0.5, pulse_s=0.2)
    assert relay.pulse(requested) == GatePulsed(1, sent)
    assert sim.requests[-3].address == 0x0200 and sim.requests[-3].value == round(sent * 10)


def test_on_off_pulse_bytes(sim: ModbusRelaySimulator, make_relay: Callable[..., ModbusRelay]) -> None:
    """GIVEN use_flash = false THEN ON, read-back, (wait), OFF, read-back, and the host timed the pulse."""
    relay = make_relay(sim.port, use_flash=False)
    wire(sim)
    assert relay.pulse(0.2) == GatePulsed(1, 0.2)
    assert wire(sim) == ON0 + READ_COIL0 + OFF0 + READ_COIL0
    ((on_at, off_at),) = sim.on_periods(0)
    assert off_at is not None and 0.19 <= off_at - on_at <= 0.5


def test_off_is_sent_when_the_wait_is_interrupted(sim: ModbusRelaySimulator,
                                                  make_relay: Callable[..., ModbusRelay]) -> None:
    """GIVEN an ON/OFF pulse broken by an exception THEN OFF still goes out and the error propagates."""
    def broken_sleep(seconds: float) -> None:
        raise Interrupted()

    relay = make_relay(sim.port, use_flash=False, sleep=broken_sleep)
    wire(sim)
    with pytest.raises(Interrupted):
        relay.pulse(1.0)
    assert wire(sim) == ON0 + READ_COIL0 + OFF0
    assert not sim.coil(0)


def test_active_low_board_idles_energised(sim: ModbusRelaySimulator, make_relay: Callable[..., ModbusRelay]) -> None:
    """GIVEN active_high = false THEN idle is coil ON and the release pulse de-energises."""
    relay = make_relay(sim.port, active_high=False, use_flash=False, channels=1)
    assert sim.coil(0)
    relay.pulse(0.1)
    assert [on for _, c, on in sim.timeline if c == 0] == [True, False, True]


# -- the kiosk dies mid-pulse ---------------------------------------------------------------

CHILD = """
import sys
from drivers.relay.modbus import ModbusRelay
relay = ModbusRelay("gate", sys.argv[1], max_pulse_s=2.0)
relay.open()
relay.pulse(float(sys.argv[2]))
print("pulse returned", flush=True)
"""


def test_kiosk_killed_mid_pulse_the_flash_still_ends(sim: ModbusRelaySimulator) -> None:
    """GIVEN a kiosk process that sent the flash WHEN it is SIGKILLed THEN the board still ends the pulse on time."""
    proc = subprocess.Popen([sys.executable, "-c", CHILD, sim.port, "0.6"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: any(r.address == 0x0200 for r in sim.requests), timeout=20.0)
        proc.kill()
        proc.wait(5)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -9
    assert sim.coil(0), "the flash must still be running right after the kill"
    flash_index = next(i for i, r in enumerate(sim.requests) if r.address == 0x0200)
    wait_for(lambda: not sim.coil(0), timeout=2.0)
    ((on_at, off_at),) = sim.on_periods(0)
    assert off_at is not None and 0.6 <= off_at - on_at <= 0.75
    assert all(r.function != 0x05 for r in sim.requests[flash_index + 1:]), "only the board switched it off"
    assert b"pulse returned" not in (proc.stdout.read() if proc.stdout else b"")


# -- faults -----------------------------------------------------------------------------------

def test_exception_reply_is_raised_at_once(sim: ModbusRelaySimulator, make_relay: Callable[..., ModbusRelay]) -> None:
    """GIVEN a board without flash (exception 02) THEN IllegalDataAddress, not retried, relay idle."""
    relay = make_relay(sim.port)
    before = len(sim.requests)
    sim.fail("exception", count=1, code=0x02)
    with pytest.raises(IllegalDataAddress, match="illegal data address"):
        relay.pulse(0.5)
    assert [r.address for r in sim.requests[before:]] == [0x0200]
    assert not sim.coil(0)


def test_lost_flash_reply_is_not_repeated(sim: ModbusRelaySimulator, make_relay: Callable[..., ModbusRelay]) -> None:
    """GIVEN the flash ran but its reply was lost THEN the read-back sees the relay on and the flash is not re-sent."""
    relay = make_relay(sim.port, reply_timeout_s=0.05)
    wire(sim)
    sim.fail("lost_reply", count=1)
    relay.pulse(0.3)
    assert wire(sim) == flash_on(1, 0, 3) + READ_COIL0 + READ_COIL0 + READ_COIL0
    assert len(sim.on_periods(0)) == 1


def test_unanswered_flash_is_sent_again(sim: ModbusRelaySimulator, make_relay: Callable[..., ModbusRelay]) -> None:
    """GIVEN the first flash never reached the board THEN read-back says off and the flash is sent once more."""
    relay = make_relay(sim.port, reply_timeout_s=0.05)
    sim.fail("no_reply", count=1)
    assert relay.pulse(0.2) == GatePulsed(1, 0.2)
    assert [r.address for r in sim.requests[-5:]] == [0x0200, 0x0000, 0x0200, 0x0000, 0x0000]
    assert relay.link_stats is not None and relay.link_stats.no_reply == 1


@pytest.mark.parametrize(("fault", "error"), [("no_reply", NoReply), ("bad_crc", BadCrc)])
def test_persistent_fault_fails_after_two_retries(fault: str, error: type[Exception], sim: ModbusRelaySimulator,
                                                  make_relay: Callable[..., ModbusRelay]) -> None:
    """GIVEN a board that never answers cleanly THEN a read is tried 3 times in all, bounded in time."""
    relay = make_relay(sim.port, reply_timeout_s=0.05)
    before = len(sim.requests)
    sim.fail(fault)
    started = time.monotonic()
    with pytest.raises(error):
        relay.read_coils()
    assert time.monotonic() - started < 0.5
    assert len(sim.requests) - before == 3
    assert relay.link_stats is not None and relay.link_stats.retries == 2


def test_junk_before_the_reply_is_skipped(sim: ModbusRelaySimulator, make_relay: Callable[..., ModbusRelay]) -> None:
    """GIVEN an adapter that sends a stray 0x00 before each reply THEN the driver works unchanged."""
    relay = make_relay(sim.port)
    sim.fail("junk")
    assert relay.pulse(0.1) == GatePulsed(1, 0.1)
    assert relay.link_stats is not None and relay.link_stats.retries == 0


def test_no_board_answers_open_fails(sim: ModbusRelaySimulator) -> None:
    """GIVEN a silent bus THEN open raises NoReply and leaves the port closed (the runner retries)."""
    sim.fail("no_reply")
    relay = ModbusRelay("gate", sim.port, reply_timeout_s=0.03)
    with pytest.raises(NoReply):
        relay.open()
    with pytest.raises(DeviceGone, match="not open"):
        relay.pulse(0.5)


def test_stuck_on_relay_is_detected(sim: ModbusRelaySimulator, make_relay: Callable[..., ModbusRelay]) -> None:
    """GIVEN a relay that stays energised THEN the pulse raises RelayStuck after one forced OFF."""
    relay = make_relay(sim.port)
    sim.stick(0, True)
    with pytest.raises(RelayStuck, match="stays energised after the pulse"):
        relay.pulse(0.1)
    assert sim.requests[-2].address == 0x0000 and sim.requests[-2].value == 0


def test_stuck_off_relay_is_detected(sim: ModbusRelaySimulator, make_relay: Callable[..., ModbusRelay]) -> None:
    """GIVEN a relay that no longer energises THEN the pulse raises RelayStuck at once (nothing was released)."""
    relay = make_relay(sim.port)
    sim.stick(0, False)
    started = time.monotonic()
    with pytest.raises(RelayStuck, match="did not energise"):
        relay.pulse(2.0)
    assert time.monotonic() - started < 0.5


def test_stuck_at_open_fails_open(sim: ModbusRelaySimulator) -> None:
    """GIVEN a relay stuck on at power-up THEN open raises RelayStuck: the gate is never reported usable."""
    sim.stick(1, True)
    sim.stick(0, True)
    with pytest.raises(RelayStuck, match="after the all-off at open"):
        ModbusRelay("gate", sim.port, channels=2).open()


def test_relay_switched_on_while_idle_is_driven_off(sim: ModbusRelaySimulator,
                                                    make_relay: Callable[..., ModbusRelay],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN the gate relay turned on behind the kiosk's back THEN the next idle check drives it off."""
    monkeypatch.setattr(modbus_module, "IDLE_CHECK_S", 0.05)
    relay = make_relay(sim.port)
    sim.set_coil(0, True)
    deadline = time.monotonic() + 1.0
    while sim.coil(0) and time.monotonic() < deadline:
        assert relay.read(0.05) is None
    assert not sim.coil(0)


def test_unplugged_adapter(sim: ModbusRelaySimulator, make_relay: Callable[..., ModbusRelay]) -> None:
    """GIVEN the RS-485 adapter is pulled mid-flash THEN read raises DeviceGone and the board still ends the pulse."""
    relay = make_relay(sim.port, passage_input=1)
    sim.requests.clear()
    link = relay._link
    assert link is not None
    link.write(0x0200, 3)
    sim.unplug()
    with pytest.raises(DeviceGone):
        relay.read(0.5)
    wait_for(lambda: not sim.coil(0), timeout=1.0)
    relay.close()   # a lost port closes without raising


# -- PASS inputs --------------------------------------------------------------------------

def test_passage_is_one_reading(sim: ModbusRelaySimulator, make_relay: Callable[..., ModbusRelay]) -> None:
    """GIVEN PASS on input 1 WHEN a person passes THEN read returns one PassageSeen; FC02 reads only input 1."""
    relay = make_relay(sim.port, passage_input=1, debounce_s=0.02, poll_s=0.005)
    assert wire(sim) == OFF0 + OFF1 + READ_COIL0 + READ_DI1
    sim.passage(1, after_s=0.02, active_s=0.1)
    assert relay.read(1.0) == PassageSeen(None)
    assert relay.read(0.1) is None


def test_two_passages_on_one_pulse(sim: ModbusRelaySimulator, make_relay: Callable[..., ModbusRelay]) -> None:
    """Tailgating: two people on one release are two readings, even when both pass during the pulse."""
    relay = make_relay(sim.port, passage_input=1, debounce_s=0.02, poll_s=0.005)
    sim.play([(0.05, 1, True), (0.15, 1, False), (0.25, 1, True), (0.35, 1, False)])
    relay.pulse(0.5)
    assert [relay.read(0.1), relay.read(0.1), relay.read(0.1)] == [PassageSeen(None), PassageSeen(None), None]


def test_glitch_shorter_than_debounce_is_ignored(sim: ModbusRelaySimulator,
                                                 make_relay: Callable[..., ModbusRelay]) -> None:
    """A blip seen by one sample is no passage with a 60 ms filter."""
    relay = make_relay(sim.port, passage_input=1, debounce_s=0.06, poll_s=0.005)
    sim.set_input(1, True)
    assert relay.read(0.0) is None        # exactly one sample sees the blip
    sim.set_input(1, False)
    assert relay.read(0.2) is None
    assert relay.gate_state().passage_active is False


def test_directions_and_active_low(sim: ModbusRelaySimulator, make_relay: Callable[..., ModbusRelay]) -> None:
    """GIVEN PASS A on input 2 and PASS B on input 3, NC (active low) THEN each passage names its direction."""
    sim.set_input(2, True)
    sim.set_input(3, True)
    relay = make_relay(sim.port, passage_input=2, passage_input_b=3, passage_active_low=True, poll_s=0.005)
    assert relay.gate_state() == GateState(relay_on=False, passage_active=False)
    # Each person leaves only once the driver has seen them in (debounced): a timed sim.passage()
    # thread that starts late on a loaded machine still ends on schedule, and the shortened period
    # is rightly filtered out as a glitch.
    for number, direction in ((3, "B"), (2, "A")):
        sim.set_input(number, False)                          # NC contact opens: someone is passing
        wait_for(lambda: relay.gate_state().passage_active)
        sim.set_input(number, True)
        assert relay.read(3.0) == PassageSeen(direction)
    assert relay.read(0.1) is None


def test_gate_state_reports_someone_in_the_turnstile(sim: ModbusRelaySimulator,
                                                     make_relay: Callable[..., ModbusRelay]) -> None:
    """The release pre-check sees an active PASS input (after the debounce) and a latched relay."""
    relay = make_relay(sim.port, passage_input=1, debounce_s=0.0)
    sim.set_input(1, True)
    sim.set_coil(0, True)
    assert relay.gate_state() == GateState(relay_on=True, passage_active=True)


# -- options and registry ---------------------------------------------------------------------

@pytest.mark.parametrize(("options", "message"), [
    ({"channel": 3, "channels": 2}, "channel: 3"),
    ({"pulse_s": 4.0, "max_pulse_s": 3.0}, "pulse_s: 4.0"),
    ({"active_high": False}, "use_flash"),
    ({"passage_input_b": 2}, "needs passage_input"),
    ({"passage_input": 2, "passage_input_b": 2}, "same input"),
])
def test_bad_option_combinations(options: dict[str, Any], message: str) -> None:
    """Inconsistent options are refused at construction, naming the option."""
    with pytest.raises(OptionError, match=message):
        ModbusRelay("gate", "loop://", **options)


def test_options_table_and_registry(sim: ModbusRelaySimulator) -> None:
    """The option table bounds the values (retries at most 2) and the registry builds the driver."""
    _values, problems = parse_options({"retries": 3, "unit": 0, "baudrate": 9601}, ModbusRelay.OPTIONS)
    assert sorted(p.split(":")[0] for p in problems) == ["baudrate", "retries", "unit"]
    device = create_device("gate", "modbus", sim.port, {"channel": 2, "channels": 2, "passage_input": 1})
    assert isinstance(device, ModbusRelay)
    assert (device.coil, device.channels) == (1, 2)


def test_runner_delivers_passages_around_a_pulse(sim: ModbusRelaySimulator) -> None:
    """GIVEN the relay on its runner WHEN pulsed via call() and two people pass THEN two readings arrive."""
    readings: queue.Queue[Reading] = queue.Queue()
    health: list[Health] = []

    def on_reading(role: str, reading: Reading, at: datetime) -> None:
        readings.put(reading)

    relay = ModbusRelay("gate", sim.port, channels=2, passage_input=1, debounce_s=0.02, poll_s=0.005)
    runner = DeviceRunner(relay, on_reading=on_reading, on_health=health.append, clock=SystemClock(),
                          poll_s=0.05)
    runner.start()
    try:
        wait_for(lambda: runner.health.state is HealthState.CONNECTED)
        sim.play([(0.1, 1, True), (0.2, 1, False), (0.3, 1, True), (0.4, 1, False)])
        assert runner.call(lambda dev: dev.pulse(0.2)).result(timeout=3) == GatePulsed(1, 0.2)
        assert [readings.get(timeout=2), readings.get(timeout=2)] == [PassageSeen(None), PassageSeen(None)]
    finally:
        runner.stop()
    assert not sim.coil(0) and not sim.coil(1)
