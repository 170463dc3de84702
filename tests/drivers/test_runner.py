"""DeviceRunner with the production drivers against their pty simulators and the real clock."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from datetime import datetime

import pytest

from drivers.base import GatePulsed, Reading, ScanRead
from drivers.errors import DeviceGone, ProtocolError
from drivers.relay.lcus import LcusRelay
from drivers.runner import DeviceRunner, Health, HealthState
from drivers.scanner.serial_line import SerialScanner
from drivers.sim.lcus import LcusSimulator
from drivers.sim.scanner import ScannerSimulator
from kiosk.clock import SystemClock
from tests.drivers.waiting import wait_for

CH1_ON, CH1_OFF = bytes.fromhex("A0 01 01 A2"), bytes.fromhex("A0 01 00 A1")
EAN13 = "5901234123457"


class Recorder:
    """Collects what a runner reports, from its thread."""

    def __init__(self) -> None:
        self.readings: queue.Queue[tuple[str, Reading, datetime]] = queue.Queue()
        self.healths: list[Health] = []
        self._lock = threading.Lock()

    def on_reading(self, name: str, reading: Reading, at: datetime) -> None:
        """Runner callback for readings."""
        self.readings.put((name, reading, at))

    def on_health(self, health: Health) -> None:
        """Runner callback for health changes."""
        with self._lock:
            self.healths.append(health)

    def count(self, state: HealthState) -> int:
        """How many times the runner entered ``state``."""
        with self._lock:
            return sum(1 for h in self.healths if h.state is state)


@pytest.fixture
def recorder() -> Recorder:
    """A fresh recorder of runner callbacks."""
    return Recorder()


@pytest.fixture
def run(recorder: Recorder) -> Iterator[Callable[[object], DeviceRunner]]:
    """Start a fast-polling, fast-retrying runner for a device; stopped after the test."""
    runners: list[DeviceRunner] = []

    def start(device: object) -> DeviceRunner:
        runner = DeviceRunner(device,  # type: ignore[arg-type]
                              on_reading=recorder.on_reading, on_health=recorder.on_health,
                              clock=SystemClock(), poll_s=0.05, backoff=lambda attempt: 0.05)
        runner.start()
        runners.append(runner)
        return runner

    yield start
    for runner in runners:
        runner.stop()


@pytest.fixture
def scanner_sim() -> Iterator[ScannerSimulator]:
    """A plugged-in scanner simulator."""
    sim = ScannerSimulator()
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture
def relay_sim() -> Iterator[LcusSimulator]:
    """A plugged-in one-channel LCUS board."""
    sim = LcusSimulator()
    sim.start()
    yield sim
    sim.stop()


def connected(runner: DeviceRunner) -> Callable[[], bool]:
    """Predicate: the runner reports CONNECTED."""
    return lambda: runner.health.state is HealthState.CONNECTED


def test_readings_arrive_via_on_reading(
        run: Callable[[object], DeviceRunner], recorder: Recorder, scanner_sim: ScannerSimulator) -> None:
    """GIVEN a running scanner WHEN a code is scanned THEN on_reading gets it with an aware timestamp."""
    runner = run(SerialScanner("scanner", scanner_sim.port))
    wait_for(connected(runner))
    scanner_sim.scan(EAN13, suffix="crlf")
    name, reading, at = recorder.readings.get(timeout=2.0)
    assert (name, reading) == ("scanner", ScanRead(EAN13))
    assert at.tzinfo is not None
    assert recorder.healths[:2] == [Health("scanner", HealthState.CONNECTING),
                                    Health("scanner", HealthState.CONNECTED)]


def test_protocol_error_is_health_error_then_recovers(
        run: Callable[[object], DeviceRunner], recorder: Recorder, scanner_sim: ScannerSimulator) -> None:
    """GIVEN garbage on the line THEN health ERROR naming it; the next good code brings CONNECTED back."""
    runner = run(SerialScanner("scanner", scanner_sim.port))
    wait_for(connected(runner))
    scanner_sim.noise(b"\xff\xff\r")
    wait_for(lambda: runner.health.state is HealthState.ERROR)
    assert "not UTF-8" in (runner.health.last_error or "")
    scanner_sim.scan(EAN13)
    assert recorder.readings.get(timeout=2.0)[1] == ScanRead(EAN13)
    wait_for(connected(runner))


def test_unplug_then_plug_reconnects_once(
        run: Callable[[object], DeviceRunner], recorder: Recorder, scanner_sim: ScannerSimulator) -> None:
    """GIVEN a running scanner WHEN unplugged THEN DISCONNECTED with the error; WHEN plugged THEN reconnects == 1."""
    runner = run(SerialScanner("scanner", scanner_sim.port))
    wait_for(connected(runner))
    scanner_sim.unplug()
    wait_for(lambda: runner.health.state is HealthState.DISCONNECTED)
    assert runner.health.last_error
    # let several reopen attempts fail while the cable is out
    wait_for(lambda: recorder.count(HealthState.CONNECTING) >= 4)
    assert "cannot open" in (runner.health.last_error or "")
    scanner_sim.plug()
    wait_for(connected(runner))
    assert runner.health.reconnects == 1
    assert runner.health.last_error is None
    scanner_sim.scan(EAN13)
    assert recorder.readings.get(timeout=2.0)[1] == ScanRead(EAN13)


def test_relay_pulse_through_call(
        run: Callable[[object], DeviceRunner], relay_sim: LcusSimulator) -> None:
    """GIVEN a running relay WHEN call(pulse) THEN the future holds GatePulsed and the board saw on then off."""
    runner = run(LcusRelay("gate", relay_sim.port))
    wait_for(connected(runner))
    fut: Future[GatePulsed] = runner.call(lambda dev: dev.pulse(0.05))
    assert fut.result(timeout=2.0) == GatePulsed(1, 0.05)
    wait_for(lambda: bytes(relay_sim.received) == CH1_OFF + CH1_ON + CH1_OFF)
    ((on_at, off_at),) = relay_sim.on_periods(1)
    assert off_at is not None and 0.03 <= off_at - on_at <= 0.3


def test_relay_call_fails_fast_while_disconnected(
        run: Callable[[object], DeviceRunner], relay_sim: LcusSimulator) -> None:
    """GIVEN an idle relay WHEN unplugged THEN the liveness poll reports DISCONNECTED and call() fails at once."""
    runner = run(LcusRelay("gate", relay_sim.port))
    wait_for(lambda: bytes(relay_sim.received) == CH1_OFF)  # unplugging loses bytes not yet read
    relay_sim.unplug()
    wait_for(lambda: runner.health.state is HealthState.DISCONNECTED, timeout=1.0)
    fut = runner.call(lambda dev: dev.pulse(0.05))
    assert fut.done()
    assert isinstance(fut.exception(timeout=0), DeviceGone)
    relay_sim.plug()
    wait_for(connected(runner))
    assert runner.call(lambda dev: dev.pulse(0.05)).result(timeout=2.0) == GatePulsed(1, 0.05)
    wait_for(lambda: bytes(relay_sim.received).endswith(CH1_OFF + CH1_ON + CH1_OFF))
    assert bytes(relay_sim.received) == CH1_OFF * 2 + CH1_ON + CH1_OFF  # each open drove all off first


def test_stop_closes_and_de_energises(
        run: Callable[[object], DeviceRunner], relay_sim: LcusSimulator) -> None:
    """GIVEN a running relay WHEN stop() THEN the board gets the all-off frame and the device is closed."""
    relay = LcusRelay("gate", relay_sim.port)
    runner = run(relay)
    wait_for(connected(runner))
    wait_for(lambda: bytes(relay_sim.received) == CH1_OFF)
    runner.stop()
    wait_for(lambda: bytes(relay_sim.received) == CH1_OFF * 2)
    with pytest.raises(DeviceGone, match="not open"):
        relay.read(0.0)


def test_stop_closes_the_scanner(run: Callable[[object], DeviceRunner], scanner_sim: ScannerSimulator) -> None:
    """stop() ends the thread and closes the scanner port."""
    scanner = SerialScanner("scanner", scanner_sim.port)
    runner = run(scanner)
    wait_for(connected(runner))
    runner.stop()
    with pytest.raises(DeviceGone, match="not open"):
        scanner.read(0.0)


# -- problems found in drivers/runner.py, reported rather than fixed ---------------------------

def test_call_after_stop_fails_fast(
        run: Callable[[object], DeviceRunner], relay_sim: LcusSimulator) -> None:
    """GIVEN a stopped runner WHEN call() THEN the future fails at once instead of never completing."""
    runner = run(LcusRelay("gate", relay_sim.port))
    wait_for(connected(runner))
    runner.stop()
    fut = runner.call(lambda dev: dev.pulse(0.05))
    assert isinstance(fut.exception(timeout=0.5), DeviceGone)


class _FailsFirstOpen(LcusRelay):
    """An LCUS relay whose first open fails with a non-DeviceGone DriverError."""

    opens = 0

    def open(self) -> None:
        self.opens += 1
        if self.opens == 1:
            raise ProtocolError("first open fails", device=self.name, url=self.url)
        super().open()


def test_pulse_requested_while_open_failed_does_not_fire_late(recorder: Recorder, relay_sim: LcusSimulator) -> None:
    """GIVEN the relay failed to open WHEN a pulse is requested THEN it fails fast, never fires on a later open."""
    runner = DeviceRunner(_FailsFirstOpen("gate", relay_sim.port), on_reading=recorder.on_reading,
                          on_health=recorder.on_health, clock=SystemClock(), poll_s=0.05,
                          backoff=lambda attempt: 0.5)
    runner.start()
    try:
        wait_for(lambda: runner.health.last_error == "first open fails")
        assert runner.health.state is HealthState.DISCONNECTED      # not usable, so nothing queues
        fut = runner.call(lambda dev: dev.pulse(0.05))
        with pytest.raises(DeviceGone):
            fut.result(timeout=2.0)
    finally:
        runner.stop()
    assert relay_sim.on_periods(1) == []


def test_a_pulse_does_not_wait_for_the_poll_read(recorder: Recorder, relay_sim: LcusSimulator) -> None:
    """GIVEN a gate runner polling with a long read WHEN a pulse is asked for THEN the relay switches
    long before the read would have timed out (the runner wakes the driver)."""
    runner = DeviceRunner(LcusRelay("gate", relay_sim.port), on_reading=recorder.on_reading,
                          on_health=recorder.on_health, clock=SystemClock(), poll_s=2.0)
    runner.start()
    try:
        wait_for(lambda: runner.health.state is HealthState.CONNECTED)
        time.sleep(0.1)                          # the runner is now inside its 2 s read
        asked = time.monotonic()
        runner.call(lambda dev: dev.pulse(0.05)).result(timeout=3)
        first_on = relay_sim.on_periods(1)[0][0]
        assert first_on - asked < 0.5
    finally:
        runner.stop()
