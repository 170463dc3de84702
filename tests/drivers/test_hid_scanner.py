"""HidScanner (production code) on WedgeSimulator: real input_event records through pipes, read by
python-evdev's own C reader; grab, two nodes, AIM, GS substitute, refusals, unplug and replug."""

from __future__ import annotations

import errno
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from evdev import ecodes as e

from drivers.base import ScanRead
from drivers.errors import DeviceGone, OptionError, ProtocolError
from drivers.registry import check_device, create_device
from drivers.runner import DeviceRunner, HealthState, backoff_delays
from drivers.scanner.hid import HidScanner, find_nodes
from drivers.sim.wedge import PipeNode, WedgeSimulator
from kiosk.clock import FakeClock

from .test_runner import Recorder, wait_for

NODE = "/dev/input/by-id/usb-Honeywell_1900-event-kbd"
NODE2 = "/dev/input/by-id/usb-Honeywell_1900-if01-event-kbd"
EAN13 = "5901234123457"


@pytest.fixture
def recorder() -> Recorder:
    """A fresh recorder of runner callbacks."""
    return Recorder()


@pytest.fixture
def sim() -> Iterator[WedgeSimulator]:
    """A scanner with two event nodes, as some Honeywell models present."""
    simulator = WedgeSimulator([NODE, NODE2])
    yield simulator
    simulator.close()


@pytest.fixture
def make_scanner(sim: WedgeSimulator) -> Iterator[Callable[..., HidScanner]]:
    """Build and open a HidScanner wired to the simulator; closed after the test."""
    made: list[HidScanner] = []

    def make(url: str = NODE, **options: Any) -> HidScanner:
        scanner = HidScanner("scanner", url, open_node=sim.open_node, list_nodes=sim.list_nodes, **options)
        scanner.open()
        made.append(scanner)
        return scanner

    yield make
    for scanner in made:
        scanner.close()


def test_grabs_on_open_and_releases_on_close(sim: WedgeSimulator, make_scanner: Callable[..., HidScanner]) -> None:
    """GIVEN a wedge scanner WHEN opened THEN its node is grabbed (no keystroke leaks); close releases it."""
    scanner = make_scanner()
    node = sim.nodes[NODE]
    assert node.grabbed
    scanner.close()
    assert not node.grabbed and node.fd == -1


def test_a_code_then_nothing(sim: WedgeSimulator, make_scanner: Callable[..., HidScanner]) -> None:
    scanner = make_scanner()
    sim.scan(EAN13)
    assert scanner.read(1.0) == ScanRead(EAN13)
    started = time.monotonic()
    assert scanner.read(0.1) is None
    assert 0.08 < time.monotonic() - started < 1.0


def test_a_burst_longer_than_one_kernel_read(sim: WedgeSimulator, make_scanner: Callable[..., HidScanner]) -> None:
    """evdev returns at most 64 events per read(2): 20 codes (1,300 events) all arrive, in order."""
    scanner = make_scanner()
    codes = [f"{i:013d}" for i in range(20)]   # 31 KiB: the simulator writes it all before the driver reads
    for code in codes:
        sim.scan(code)
    assert [scanner.read(1.0) for _ in codes] == [ScanRead(c) for c in codes]


def test_both_nodes_of_one_scanner_are_read(sim: WedgeSimulator, make_scanner: Callable[..., HidScanner]) -> None:
    """GIVEN a glob matching both nodes WHEN keys arrive on the second THEN they are read too."""
    scanner = make_scanner("/dev/input/by-id/usb-Honeywell_1900*-event-kbd")
    assert sim.nodes[NODE].grabbed and sim.nodes[NODE2].grabbed
    sim.scan("Badge-00042/A", node=1)
    assert scanner.read(1.0) == ScanRead("Badge-00042/A")


@pytest.mark.parametrize(("typed", "options", "expected"), [
    ("]E0" + EAN13, {"aim_prefix": True}, ScanRead(EAN13, "]E0")),
    ("]C1010950110153000310AB~17290331", {"aim_prefix": True, "gs_substitute": "~"},
     ScanRead("010950110153000310AB\x1d17290331", "]C1")),
    ("]Q1https://x.kz/~a", {"aim_prefix": True, "gs_substitute": "~"}, ScanRead("https://x.kz/~a", "]Q1")),
    ("]C1010950110153000310AB\x1d17290331", {"aim_prefix": True},
     ScanRead("010950110153000310AB\x1d17290331", "]C1")),   # GS typed as Ctrl+]
])
def test_aim_prefix_and_gs(sim: WedgeSimulator, make_scanner: Callable[..., HidScanner], typed: str,
                           options: dict[str, Any], expected: ScanRead) -> None:
    """AIM identifiers are split off; the GS substitute becomes GS in GS1 symbologies only."""
    scanner = make_scanner(**options)
    sim.scan(typed)
    assert scanner.read(1.0) == expected


def test_tab_suffix(sim: WedgeSimulator, make_scanner: Callable[..., HidScanner]) -> None:
    """Tab ends a code; an Enter inside one is a key with no character, so that code is refused."""
    scanner = make_scanner(suffix="tab")
    sim.scan("123", "tab")
    assert scanner.read(1.0) == ScanRead("123")
    sim.scan("456", "enter")
    sim.scan("789", "tab")
    with pytest.raises(ProtocolError, match=r"keys \[28\]"):
        scanner.read(1.0)


def test_a_key_without_a_us_character_refuses_the_code(sim: WedgeSimulator,
                                                        make_scanner: Callable[..., HidScanner]) -> None:
    """GIVEN a scanner set to another layout (keys the US map lacks) THEN ProtocolError, and the next code is fine."""
    scanner = make_scanner()
    sim.send([(e.EV_KEY, e.KEY_1, 1), (e.EV_KEY, e.KEY_102ND, 1), (e.EV_KEY, e.KEY_ENTER, 1)])
    sim.scan(EAN13)
    with pytest.raises(ProtocolError, match="USA keyboard") as info:
        scanner.read(1.0)
    assert info.value.device == "scanner"
    assert scanner.read(1.0) == ScanRead(EAN13)


def test_unplug_and_replug(sim: WedgeSimulator, make_scanner: Callable[..., HidScanner]) -> None:
    """Unplugged: read raises DeviceGone (ENODEV), reopening fails; plugged back: a fresh node works."""
    scanner = make_scanner()
    sim.unplug()
    with pytest.raises(DeviceGone) as info:
        scanner.read(1.0)
    assert info.value.code == errno.ENODEV
    with pytest.raises(DeviceGone, match="no input device"):
        scanner.open()
    sim.plug()
    scanner.open()
    sim.scan(EAN13)
    assert scanner.read(1.0) == ScanRead(EAN13)
    assert sim.opens == 2


def test_a_node_grabbed_by_another_program(sim: WedgeSimulator) -> None:
    class Busy(PipeNode):
        def grab(self) -> None:
            raise OSError(errno.EBUSY, "Device or resource busy")

    scanner = HidScanner("scanner", NODE, open_node=Busy, list_nodes=sim.list_nodes)
    with pytest.raises(DeviceGone, match="grabbed by another program"):
        scanner.open()
    assert HidScanner("s", NODE, open_node=Busy, list_nodes=sim.list_nodes, grab=False).open() is None


def test_runner_reconnects_and_stamps_time(sim: WedgeSimulator, recorder: Recorder) -> None:
    """GIVEN the runner WHEN the scanner is pulled and plugged back THEN disconnected, connected, scans resume,
    each stamped with the device name and the clock's time."""
    clock = FakeClock()
    scanner = HidScanner("wedge", NODE, open_node=sim.open_node, list_nodes=sim.list_nodes)
    runner = DeviceRunner(scanner, on_reading=recorder.on_reading, on_health=recorder.on_health, clock=clock,
                          poll_s=0.05, backoff=backoff_delays(0.02, 1.0, 0.02))
    runner.start()
    try:
        wait_for(lambda: runner.health.state is HealthState.CONNECTED)
        sim.scan(EAN13)
        assert recorder.readings.get(timeout=2.0) == ("wedge", ScanRead(EAN13), clock.now())
        sim.unplug()
        wait_for(lambda: recorder.count(HealthState.DISCONNECTED) >= 1)
        sim.plug()
        wait_for(lambda: runner.health.state is HealthState.CONNECTED and runner.health.reconnects == 1)
        sim.scan("4870000000012")
        assert recorder.readings.get(timeout=2.0)[1] == ScanRead("4870000000012")
    finally:
        runner.stop()


def test_registry_and_options() -> None:
    assert check_device("scanner", "hid-scanner", {"suffix": "tab", "aim_prefix": True, "gs_substitute": "^"}) == []
    assert check_device("scanner", "hid-scanner", {"suffix": "space"})[0].startswith("suffix:")
    assert check_device("scanner", "hid-scanner", {"gs_substitute": "ab"})[0].startswith("gs_substitute:")
    with pytest.raises(OptionError, match="gs_substitute"):
        HidScanner("scanner", NODE, gs_substitute="ab")
    assert isinstance(create_device("scanner", "hid-scanner", NODE, {}), HidScanner)


def test_find_nodes(tmp_path: Any) -> None:
    """A path names itself if present; a glob names every match, sorted."""
    for name in ("usb-X-event-kbd", "usb-X-if01-event-kbd", "usb-Y-event-kbd"):
        (tmp_path / name).touch()
    assert find_nodes(str(tmp_path / "usb-X*-event-kbd")) == [str(tmp_path / "usb-X-event-kbd"),
                                                             str(tmp_path / "usb-X-if01-event-kbd")]
    assert find_nodes(str(tmp_path / "usb-Y-event-kbd")) == [str(tmp_path / "usb-Y-event-kbd")]
    assert find_nodes(str(tmp_path / "absent")) == []
