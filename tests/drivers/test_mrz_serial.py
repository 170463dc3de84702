"""MrzScanner (production code) against ScannerSimulator over a real pty: an OCR page reader sending MRZ lines.

The lines are the ICAO specimens of PROTOCOLS.md §2.2, sent as the exact bytes a reader sends.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import serial

from drivers.base import MrzRead
from drivers.cardreader import mrz_serial
from drivers.cardreader.mrz_serial import MrzScanner, decode_line
from drivers.errors import DeviceGone, OptionError
from drivers.registry import DRIVERS, check_device, create_device
from drivers.sim.scanner import ScannerSimulator

TD3 = ("P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L898902C36UTO7408122F1204159ZE184226B<<<<<10")
TD1 = ("I<UTOD231458907<<<<<<<<<<<<<<<", "7408122F1204159UTO<<<<<<<<<<<6", "ERIKSSON<<ANNA<MARIA<<<<<<<<<<")
BAD_TD3 = (TD3[0], TD3[1][:27] + "8" + TD3[1][28:])      # expiry check digit 8, expected 9
STX, ETX = b"\x02", b"\x03"


def wire(lines: tuple[str, ...], end: bytes = b"\r", *, stx: bool = False) -> bytes:
    """The bytes a page reader sends for one MRZ: each line + its end, optionally STX ... ETX."""
    body = b"".join(line.encode() + end for line in lines)
    return STX + body + ETX if stx else body


def read_of(lines: tuple[str, ...]) -> MrzRead:
    """The reading expected for these lines."""
    return MrzRead("\n".join(lines))


@pytest.fixture
def sim() -> Iterator[ScannerSimulator]:
    """A page reader plugged into a fresh pty."""
    simulator = ScannerSimulator("mrz")
    simulator.start()
    yield simulator
    simulator.stop()


@pytest.fixture
def make_scanner(sim: ScannerSimulator) -> Iterator[Callable[..., MrzScanner]]:
    """Build and open an MrzScanner on the simulator's link; closed after the test."""
    opened: list[MrzScanner] = []

    def make(**options: Any) -> MrzScanner:
        scanner = MrzScanner("mrz", sim.port, **options)
        scanner.open()
        opened.append(scanner)
        return scanner

    yield make
    for scanner in opened:
        scanner.close()


def test_td3_specimen_with_cr(sim: ScannerSimulator, make_scanner: Callable[..., MrzScanner]) -> None:
    """The ICAO TD3 specimen, two lines ended by CR: one MrzRead with the lines joined by a newline."""
    scanner = make_scanner()
    sim.scan(TD3[0])
    sim.scan(TD3[1])
    assert scanner.read(2.0) == read_of(TD3)
    assert scanner.read(0.05) is None


@pytest.mark.parametrize("suffix", ["cr", "crlf"])
def test_td1_specimen_with_crlf(suffix: str, sim: ScannerSimulator, make_scanner: Callable[..., MrzScanner]) -> None:
    """The ICAO TD1 specimen, three lines ended by CR LF: read with suffix cr (which takes CR LF) or crlf."""
    scanner = make_scanner(suffix=suffix)
    sim.send(wire(TD1, b"\r\n"))
    assert scanner.read(2.0) == read_of(TD1)
    assert scanner.read(0.05) is None


def test_lf_suffix_and_stx_etx(sim: ScannerSimulator, make_scanner: Callable[..., MrzScanner]) -> None:
    """A reader set to LF that frames the MRZ in STX ... ETX."""
    scanner = make_scanner(suffix="lf")
    sim.send(wire(TD3, b"\n", stx=True) + b"\n")
    assert scanner.read(2.0) == read_of(TD3)


def test_noise_before(sim: ScannerSimulator, make_scanner: Callable[..., MrzScanner]) -> None:
    """Line noise, a status line, bytes that are not UTF-8 and an over-long run, then the MRZ: it is read."""
    scanner = make_scanner()
    sim.noise(b"\x00\xff\xfe READY\r" + b"#" * 300 + b"\rP<UTO\r")
    sim.send(wire(TD3, b"\r\n"))
    assert scanner.read(2.0) == read_of(TD3)
    assert scanner.read(0.05) is None


def test_corrupted_check_digit_gives_nothing_then_the_good_one(
        sim: ScannerSimulator, make_scanner: Callable[..., MrzScanner]) -> None:
    """A misread check digit: no reading and the reason kept; the rescan that follows is read."""
    scanner = make_scanner()
    sim.send(wire(BAD_TD3, b"\r\n", stx=True))
    assert scanner.read(0.3) is None
    assert (scanner.last_reason, scanner.last_detail) == (
        "mrz_check_digit", "TD3 (expiry_date): check digit of expiry_date is '8', expected 9")
    sim.send(wire(TD3, b"\r\n", stx=True))
    assert scanner.read(2.0) == read_of(TD3)


def test_corrupted_then_good_in_one_burst(sim: ScannerSimulator, make_scanner: Callable[..., MrzScanner]) -> None:
    """A bad TD1 (birth date check digit) and its rescan back to back: only the good one."""
    bad = (TD1[0], TD1[1][:6] + "7" + TD1[1][7:], TD1[2])
    scanner = make_scanner()
    sim.send(wire(bad, b"\r\n") + wire(TD1, b"\r\n"))
    assert scanner.read(2.0) == read_of(TD1)
    assert scanner.read(0.05) is None


def test_lower_case_latin1_guillemets_and_slow_chunks(
        sim: ScannerSimulator, make_scanner: Callable[..., MrzScanner]) -> None:
    """Lower case with a single-byte '«' (0xAB) for '<', trickling in 7-byte chunks: still the MRZ."""
    scanner = make_scanner()
    data = wire(tuple(line.lower() for line in TD1), b"\r\n").replace(b"<", b"\xab")
    sim.send(data, chunk=7, gap_s=0.005)
    assert scanner.read(3.0) == read_of(TD1)


def test_two_mrzs_in_one_burst_come_one_per_read(
        sim: ScannerSimulator, make_scanner: Callable[..., MrzScanner]) -> None:
    """A TD1 and a TD3 in one burst: two readings, in order."""
    scanner = make_scanner()
    sim.send(wire(TD1) + wire(TD3))
    assert scanner.read(2.0) == read_of(TD1)
    assert scanner.read(0.0) == read_of(TD3)


def test_a_pause_ends_a_half_scan(monkeypatch: pytest.MonkeyPatch, sim: ScannerSimulator,
                                  make_scanner: Callable[..., MrzScanner]) -> None:
    """Line 1 of one scan, a pause, line 2 of another: they never combine (mrz_incomplete)."""
    monkeypatch.setattr(mrz_serial, "LINE_GAP_S", 0.1)
    scanner = make_scanner()
    sim.scan(TD3[0])
    assert scanner.read(0.3) is None
    sim.scan(TD3[1])
    assert scanner.read(0.3) is None
    assert (scanner.last_reason, scanner.last_detail) == (
        "mrz_incomplete", "TD3 group of 1 of 2 lines ended by a pause of more than 0.1 s")
    sim.send(wire(TD3))
    assert scanner.read(2.0) == read_of(TD3)


def test_wire_trace_and_repr_never_show_the_mrz(caplog: pytest.LogCaptureFixture, sim: ScannerSimulator,
                                                make_scanner: Callable[..., MrzScanner]) -> None:
    """With every logger at DEBUG, no log line holds the document number or the name; nor does repr."""
    caplog.set_level(logging.DEBUG)
    logging.getLogger("kiosk.wire").setLevel(logging.DEBUG)
    try:
        scanner = make_scanner()
        sim.send(wire(BAD_TD3) + wire(TD3))
        reading = scanner.read(2.0)
    finally:
        logging.getLogger("kiosk.wire").setLevel(logging.NOTSET)
    assert reading == read_of(TD3)
    assert "bytes (MRZ text withheld)" in caplog.text and "reason=mrz_check_digit" in caplog.text
    for secret in ("L898902C", "ERIKSSON", b"L898902C".hex(" "), b"L898902C".hex()):
        assert secret.lower() not in caplog.text.lower()
        assert secret not in repr(reading)


def test_unplug_raises_device_gone(sim: ScannerSimulator, make_scanner: Callable[..., MrzScanner]) -> None:
    """A pulled cable: DeviceGone at once, wrapping the cause; open fails until plugged back."""
    scanner = make_scanner()
    sim.unplug()
    start = time.monotonic()
    with pytest.raises(DeviceGone) as info:
        scanner.read(2.0)
    assert time.monotonic() - start < 1.0
    assert isinstance(info.value.__cause__, serial.SerialException) and info.value.device == "mrz"
    scanner.close()
    with pytest.raises(DeviceGone, match="cannot open"):
        scanner.open()
    sim.plug()
    scanner.open()
    sim.send(wire(TD1))
    assert scanner.read(2.0) == read_of(TD1)


def test_read_when_not_open_is_device_gone(sim: ScannerSimulator) -> None:
    """Never opened: DeviceGone; close is idempotent."""
    scanner = MrzScanner("mrz", sim.port)
    scanner.close()
    with pytest.raises(DeviceGone):
        scanner.read(0.1)


def test_registry_entry_and_options(sim: ScannerSimulator) -> None:
    """Driver mrz-serial, kind mrz: baudrate and suffix checked, unknown options named."""
    assert DRIVERS["mrz-serial"].kind == "mrz"
    assert check_device("mrz", "mrz-serial", {"baudrate": 19200, "suffix": "crlf"}) == []
    assert check_device("mrz", "mrz-serial", {"suffix": "tab", "parity": "E"}) == [
        "suffix: 'tab' is not one of 'cr', 'lf', 'crlf'", "parity: unknown option (known: baudrate, suffix)"]
    device = create_device("mrz", "mrz-serial", sim.port, {"baudrate": 19200})
    assert isinstance(device, MrzScanner) and device.baudrate == 19200
    with pytest.raises(OptionError, match="suffix 'tab'"):
        MrzScanner("mrz", sim.port, suffix="tab")


def test_bad_url_is_an_option_error() -> None:
    """A URL pyserial cannot parse: OptionError on open, naming the URL."""
    scanner = MrzScanner("mrz", "nosuchscheme://x")
    with pytest.raises(OptionError, match="nosuchscheme"):
        scanner.open()


@pytest.mark.parametrize(("raw", "text"), [
    (b"P<UTO", "P<UTO"), ("p\u00abuto".encode(), "p\u00abuto"), (b"p\xabuto", "p\u00abuto"),
    (b"\x02\xff\x03", "\x02\xff\x03"),
])
def test_decode_line(raw: bytes, text: str) -> None:
    """UTF-8 first; bytes that are not UTF-8 are Latin-1 (a lone 0xAB is '«')."""
    assert decode_line(raw) == text
