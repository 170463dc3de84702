"""TurnstileLine (production code) against TurnstileLineSimulator over a real pty."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from drivers.errors import DeviceGone
from drivers.gate_events import PassageSeen
from drivers.passage.serial_line import TurnstileLine, parse_pass_line
from drivers.registry import create_device
from drivers.sim.turnstile import TurnstileLineSimulator


@pytest.mark.parametrize(("line", "seen"), [
    (b"PASS A", PassageSeen("A")),
    (b"pass b ", PassageSeen("B")),
    (b"  PASS", PassageSeen(None)),
    (b"PASS C", None),
    (b"PASS A B", None),
    (b"PASSED", None),
    (b"READY", None),
    (b"", None),
    (b"\xffPASS A", None),
])
def test_parse_pass_line(line: bytes, seen: PassageSeen | None) -> None:
    """Only PASS, PASS A and PASS B are passages; everything else is not."""
    assert parse_pass_line(line) == seen


@pytest.fixture
def sim() -> Iterator[TurnstileLineSimulator]:
    """A turnstile controller on a fresh pty."""
    simulator = TurnstileLineSimulator()
    simulator.start()
    yield simulator
    simulator.stop()


@pytest.fixture
def line(sim: TurnstileLineSimulator) -> Iterator[TurnstileLine]:
    """The driver, open on the simulator."""
    device = TurnstileLine("turnstile", sim.port)
    device.open()
    yield device
    device.close()


def test_each_passage_is_one_reading(sim: TurnstileLineSimulator, line: TurnstileLine) -> None:
    """Two passages sent at once (tailgating) come out as two readings, in order; exact bytes on the wire."""
    assert sim.passage("A") == b"PASS A\r\n"
    sim.passage("B")
    assert [line.read(1.0), line.read(1.0), line.read(0.05)] == [PassageSeen("A"), PassageSeen("B"), None]


def test_split_lines_and_noise(sim: TurnstileLineSimulator, line: TurnstileLine) -> None:
    """A status line is ignored and counted; a line split across writes is joined."""
    sim.noise(b"READY\r\nPA")
    assert line.read(0.1) is None
    sim.noise(b"SS\r\n")
    assert line.read(1.0) == PassageSeen(None)
    assert line.ignored == 1


def test_unplug(sim: TurnstileLineSimulator, line: TurnstileLine) -> None:
    """Pulling the cable is DeviceGone; the registry builds the driver by name."""
    sim.unplug()
    with pytest.raises(DeviceGone):
        line.read(1.0)
    assert isinstance(create_device("passage", "turnstile-line", "loop://", {"suffix": "lf"}), TurnstileLine)
