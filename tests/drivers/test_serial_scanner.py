"""SerialScanner (production code) against ScannerSimulator over a real pty: exact bytes, faults, hot-plug."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import serial

from drivers.base import ScanRead
from drivers.errors import DeviceGone, OptionError, ProtocolError
from drivers.options import parse_options
from drivers.registry import check_device, create_device
from drivers.scanner.serial_line import SerialScanner, parse_line
from drivers.sim.scanner import ScannerSimulator, scan_bytes

EAN13 = "5901234123457"
EAN13_KZ = "4870000000015"
GS1_128 = "010541234500001310ABC123\x1d17290331"


@pytest.fixture
def sim() -> Iterator[ScannerSimulator]:
    """A scanner plugged into a fresh pty."""
    simulator = ScannerSimulator()
    simulator.start()
    yield simulator
    simulator.stop()


@pytest.fixture
def make_scanner(sim: ScannerSimulator) -> Iterator[Callable[..., SerialScanner]]:
    """Build and open a SerialScanner on the simulator's link; closed after the test."""
    opened: list[SerialScanner] = []

    def make(**options: Any) -> SerialScanner:
        scanner = SerialScanner("scanner", sim.port, **options)
        scanner.open()
        opened.append(scanner)
        return scanner

    yield make
    for scanner in opened:
        scanner.close()


def send_later(fn: Callable[[], object]) -> threading.Thread:
    """Run ``fn`` (a slow, chunked send) on a thread while the test reads."""
    thread = threading.Thread(target=fn, daemon=True)
    thread.start()
    return thread


# -- parse_line, pure -----------------------------------------------------------------

@pytest.mark.parametrize(("line", "aim", "expected"), [
    (b"5901234123457", False, ScanRead("5901234123457")),
    (b"]E05901234123457", True, ScanRead("5901234123457", "]E0")),
    (b"]E05901234123457", False, ScanRead("]E05901234123457")),
    (b"5901234123457", True, ScanRead("5901234123457")),
    (b"]I198765432109213", True, ScanRead("98765432109213", "]I1")),
    (b"]C1" + GS1_128.encode(), True, ScanRead(GS1_128, "]C1")),
    (b"]Q1\xe4\xb8\xad\xe6\x96\x87", True, ScanRead("中文", "]Q1")),
    (b"", True, None),
    (b"", False, None),
])
def test_parse_line(line: bytes, aim: bool, expected: ScanRead | None) -> None:
    """A framed line becomes the right ScanRead (GS kept, AIM split only when enabled)."""
    assert parse_line(line, aim) == expected


@pytest.mark.parametrize(("line", "aim", "message"), [
    (b"\xff\xfe590", False, "not UTF-8"),
    (b"59\xc3", True, "not UTF-8"),
    (b"]E", True, "malformed AIM"),
    (b"]10123", True, "malformed AIM"),
    (b"]E0", True, "no data after AIM"),
])
def test_parse_line_errors(line: bytes, aim: bool, message: str) -> None:
    """Bad bytes give a ProtocolError saying what is wrong."""
    with pytest.raises(ProtocolError, match=message):
        parse_line(line, aim)


# -- against the simulator ------------------------------------------------------------

def test_plain_ean13_with_cr(sim: ScannerSimulator, make_scanner: Callable[..., SerialScanner]) -> None:
    """GIVEN a scanner with CR suffix WHEN an EAN-13 is scanned THEN one ScanRead with the digits."""
    scanner = make_scanner()
    assert sim.scan(EAN13) == b"5901234123457\x0d"
    assert scanner.read(2.0) == ScanRead(EAN13, None)
    assert scanner.read(0.05) is None


def test_read_times_out_with_none(make_scanner: Callable[..., SerialScanner]) -> None:
    """No scan: read returns None after about the timeout, not before and not much later."""
    scanner = make_scanner()
    start = time.monotonic()
    assert scanner.read(0.2) is None
    assert 0.15 <= time.monotonic() - start < 0.6


@pytest.mark.parametrize("suffix", ["crlf", "lf", "cr"])
def test_crlf_split_across_chunks(
        sim: ScannerSimulator, make_scanner: Callable[..., SerialScanner], suffix: str) -> None:
    """GIVEN CR LF codes arriving 3 bytes at a time THEN each code once, with no CR or LF left in it."""
    scanner = make_scanner(suffix=suffix)
    sender = send_later(lambda: [sim.scan(code, suffix="crlf", chunk=3, gap_s=0.02)
                                 for code in (EAN13_KZ, EAN13)])
    assert scanner.read(2.0) == ScanRead(EAN13_KZ)
    assert scanner.read(2.0) == ScanRead(EAN13)
    sender.join()
    assert scanner.read(0.1) is None


def test_cr_and_lf_in_separate_reads(sim: ScannerSimulator, make_scanner: Callable[..., SerialScanner]) -> None:
    """GIVEN suffix lf WHEN the CR arrives in one read and the LF in the next THEN the text has no CR."""
    scanner = make_scanner(suffix="lf")
    sim.send(EAN13.encode() + b"\r")
    assert scanner.read(0.1) is None
    sim.send(b"\n")
    assert scanner.read(2.0) == ScanRead(EAN13)


def test_aim_prefix_is_split_into_symbology(
        sim: ScannerSimulator, make_scanner: Callable[..., SerialScanner]) -> None:
    """GIVEN aim_prefix on WHEN the scanner sends ]E0 + EAN-13 THEN symbology ]E0 and the bare digits."""
    scanner = make_scanner(aim_prefix=True)
    assert sim.scan(EAN13, symbology="]E0") == b"]E05901234123457\r"
    assert scanner.read(2.0) == ScanRead(EAN13, "]E0")


def test_gs1_128_keeps_gs(sim: ScannerSimulator, make_scanner: Callable[..., SerialScanner]) -> None:
    """GIVEN a GS1-128 code with FNC1 sent as GS THEN the 0x1D byte is kept in the text."""
    scanner = make_scanner(aim_prefix=True)
    wire_bytes = sim.scan(GS1_128, symbology="]C1")
    assert wire_bytes == b"]C1010541234500001310ABC123\x1d17290331\r"
    reading = scanner.read(2.0)
    assert reading == ScanRead(GS1_128, "]C1")
    assert reading is not None and "\x1d" in reading.text


def test_two_codes_in_one_burst(sim: ScannerSimulator, make_scanner: Callable[..., SerialScanner]) -> None:
    """GIVEN two codes in a single write THEN two reads, the second without waiting for the port."""
    scanner = make_scanner()
    sim.send(scan_bytes(EAN13) + scan_bytes(EAN13_KZ))
    assert scanner.read(2.0) == ScanRead(EAN13)
    assert scanner.read(0.0) == ScanRead(EAN13_KZ)
    assert scanner.read(0.05) is None


def test_invalid_utf8_is_an_error_then_recovers(
        sim: ScannerSimulator, make_scanner: Callable[..., SerialScanner]) -> None:
    """GIVEN garbage then a good code in one burst THEN a ProtocolError, then the good code."""
    scanner = make_scanner()
    sim.noise(b"\xff\xfe\x80\r")
    sim.scan(EAN13)
    with pytest.raises(ProtocolError, match="not UTF-8") as info:
        scanner.read(2.0)
    assert info.value.device == "scanner" and info.value.url == sim.port
    assert scanner.read(2.0) == ScanRead(EAN13)


def test_over_long_noise_is_an_error_then_recovers(
        sim: ScannerSimulator, make_scanner: Callable[..., SerialScanner]) -> None:
    """GIVEN 300 bytes of noise without terminator THEN a ProtocolError, and the next code reads clean."""
    scanner = make_scanner(max_length=256)
    sim.noise(b"\x00\x7f" * 150)
    with pytest.raises(ProtocolError, match="longer than 256"):
        scanner.read(2.0)
    sim.noise(b"tail of the noise\r")
    sim.scan(EAN13)
    assert scanner.read(2.0) == ScanRead(EAN13)


def test_empty_lines_are_ignored(sim: ScannerSimulator, make_scanner: Callable[..., SerialScanner]) -> None:
    """Bare terminators produce no reading."""
    scanner = make_scanner()
    sim.noise(b"\r\r\r")
    assert scanner.read(0.1) is None
    sim.noise(b"\r" + scan_bytes(EAN13))
    assert scanner.read(2.0) == ScanRead(EAN13)


def test_unplug_raises_device_gone(sim: ScannerSimulator, make_scanner: Callable[..., SerialScanner]) -> None:
    """GIVEN an open scanner WHEN the cable is pulled THEN read raises DeviceGone at once, wrapping the cause."""
    scanner = make_scanner()
    sim.unplug()
    start = time.monotonic()
    with pytest.raises(DeviceGone) as info:
        scanner.read(2.0)
    assert time.monotonic() - start < 1.0
    assert isinstance(info.value.__cause__, serial.SerialException)
    assert info.value.device == "scanner"


def test_replug_works(sim: ScannerSimulator, make_scanner: Callable[..., SerialScanner]) -> None:
    """GIVEN a pulled cable THEN open fails with DeviceGone; once plugged back, open and scanning work."""
    scanner = make_scanner()
    sim.unplug()
    with pytest.raises(DeviceGone):
        scanner.read(1.0)
    scanner.close()
    with pytest.raises(DeviceGone, match="cannot open"):
        scanner.open()
    sim.plug()
    scanner.open()
    sim.scan(EAN13_KZ)
    assert scanner.read(2.0) == ScanRead(EAN13_KZ)


def test_read_when_not_open_is_device_gone(sim: ScannerSimulator) -> None:
    """A scanner never opened (or closed) reports DeviceGone, and close is idempotent."""
    scanner = SerialScanner("scanner", sim.port)
    scanner.close()
    with pytest.raises(DeviceGone):
        scanner.read(0.0)


def test_wire_bytes_logged_in_hex(
        sim: ScannerSimulator, make_scanner: Callable[..., SerialScanner], caplog: pytest.LogCaptureFixture) -> None:
    """Received bytes appear on the kiosk.wire logger at DEBUG, as hex."""
    scanner = make_scanner()
    caplog.set_level(logging.DEBUG, logger="kiosk.wire")
    sim.scan("12")
    assert scanner.read(2.0) == ScanRead("12")
    assert [r.getMessage() for r in caplog.records if r.name == "kiosk.wire"] == ["scanner < 31 32 0d"]


def test_opens_through_serial_for_url() -> None:
    """loop:// works with no extra code: bytes written to the loop come back as a reading."""
    scanner = SerialScanner("scanner", "loop://", suffix="lf")
    scanner.open()
    try:
        assert scanner._port is not None
        scanner._port.write(b"4870000000015\n")
        assert scanner.read(1.0) == ScanRead(EAN13_KZ)
    finally:
        scanner.close()


def test_bad_url_is_an_option_error() -> None:
    """An unknown URL scheme is a configuration problem, not a lost device."""
    scanner = SerialScanner("scanner", "nosuchscheme://x")
    with pytest.raises(OptionError):
        scanner.open()


def test_options_table_and_registry(sim: ScannerSimulator) -> None:
    """The option table checks suffix choices, and the registry builds the driver from it."""
    _values, problems = parse_options({"suffix": "cr\n"}, SerialScanner.OPTIONS)
    assert problems and problems[0].startswith("suffix:")
    assert check_device("scanner", "serial-scanner", {"suffix": "tab", "aim_prefix": True}) == []
    device = create_device("scanner", "serial-scanner", sim.port, {"suffix": "crlf"})
    assert isinstance(device, SerialScanner)
    with pytest.raises(OptionError):
        SerialScanner("scanner", sim.port, suffix="semicolon")
