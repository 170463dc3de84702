"""AIM identifiers and the GS substitute, for every line scanner (drivers.scanner.aim), and the serial
scanner's ``gs_substitute`` option against its pty simulator with exact bytes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from drivers.base import ScanRead
from drivers.errors import OptionError
from drivers.registry import check_device
from drivers.scanner.aim import to_scan
from drivers.scanner.serial_line import SerialScanner, parse_line
from drivers.sim.scanner import ScannerSimulator

GS = "\x1d"
GS1 = "010950110153000310AB" + GS + "17290331"


@pytest.mark.parametrize(("line", "expected"), [
    (b"]E05901234123457", ScanRead("5901234123457", "]E0")),     # EAN-13 / UPC-A
    (b"]E496385074", ScanRead("96385074", "]E4")),                # EAN-8
    (b"]E004252614", ScanRead("04252614", "]E0")),                # UPC-E
    (b"]C1" + GS1.encode(), ScanRead(GS1, "]C1")),                # GS1-128, GS kept
    (b"]d2" + GS1.encode(), ScanRead(GS1, "]d2")),                # GS1 DataMatrix
    (b"]Q3" + GS1.encode(), ScanRead(GS1, "]Q3")),                # GS1 QR
    (b"]Q1https://id.gs1.org/01/09501101530003", ScanRead("https://id.gs1.org/01/09501101530003", "]Q1")),
    (b"]C0K1234567890", ScanRead("K1234567890", "]C0")),
])
def test_aim_identifiers_the_kiosk_meets(line: bytes, expected: ScanRead) -> None:
    assert parse_line(line, True) == expected


@pytest.mark.parametrize(("text", "aim", "expected"), [
    ("]C1010950110153000310AB~17290331", True, ScanRead(GS1, "]C1")),
    ("]d2010950110153000310AB~17290331", True, ScanRead(GS1, "]d2")),
    ("]Q1https://x.kz/~user", True, ScanRead("https://x.kz/~user", "]Q1")),   # not GS1: left alone
    ("]E05901234123457", True, ScanRead("5901234123457", "]E0")),
    ("010950110153000310AB~17290331", False, ScanRead(GS1)),                    # no AIM: mapped everywhere
    ("010950110153000310AB~17290331", True, ScanRead(GS1)),                     # AIM on, but none was sent
])
def test_gs_substitute_maps_back_in_gs1_symbologies(text: str, aim: bool, expected: ScanRead) -> None:
    assert to_scan(text, aim_prefix=aim, gs_substitute="~") == expected


def test_without_a_substitute_nothing_is_mapped() -> None:
    assert to_scan("010950110153000310AB~17290331", aim_prefix=False) == ScanRead("010950110153000310AB~17290331")


@pytest.fixture
def sim() -> Iterator[ScannerSimulator]:
    simulator = ScannerSimulator()
    simulator.start()
    yield simulator
    simulator.stop()


def test_serial_scanner_with_caret_substitute_and_crlf(sim: ScannerSimulator) -> None:
    """GIVEN a scanner programmed to send ^ for FNC1, AIM prefix and CR LF WHEN it reads GS1-128
    THEN these exact bytes arrive and the reading has GS back in place."""
    scanner = SerialScanner("scanner", sim.port, suffix="crlf", aim_prefix=True, gs_substitute="^")
    scanner.open()
    try:
        wire = sim.scan("010950110153000310AB^17290331", symbology="]C1", suffix="crlf")
        assert wire == b"]C1010950110153000310AB^17290331\r\n"
        assert scanner.read(2.0) == ScanRead(GS1, "]C1")
    finally:
        scanner.close()


def test_substitute_option_is_checked() -> None:
    assert check_device("scanner", "serial-scanner", {"gs_substitute": "~", "aim_prefix": True}) == []
    for bad in ("~~", "a", "]", " "):
        assert check_device("scanner", "serial-scanner", {"gs_substitute": bad})[0].startswith("gs_substitute:")
        with pytest.raises(OptionError, match="gs_substitute"):
            SerialScanner("scanner", "loop://", gs_substitute=bad)
