"""`kiosk read-card` as a technician runs it: a real process against the simulators.

samv: the SAM-V simulator on a real pty; emrtd and badge: the virtual cards in the private pcscd's
vpcd readers (the CLI process inherits PCSCLITE_CSOCK_NAME from tests/conftest.py); the MRZ of
``--mrz-url``: a document scanner simulated on a real pty.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from drivers.base import CardType, IdCard
from drivers.sim.passport_card import BadgeCard, PassportCard
from drivers.sim.samv import SamvSimulator
from drivers.sim.scanner import ScannerSimulator
from tests.pcsc_support import APPENDIX_D_MRZ, BADGE_SLOT, BADGE_URL, PASSPORT_SLOT, PASSPORT_URL, Slots

ROOT = Path(__file__).resolve().parent.parent
CARD_KEYS = ["card_type", "name", "gender", "nation", "birth_date", "address", "id_number", "authority",
             "valid_from", "valid_to", "document_number", "nationality", "expiry_date", "mrz"]
OTHER_MRZ = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C36UTO7408122F1204159ZE184226B<<<<<10"
RESIDENT = IdCard(CardType.RESIDENT, "叶尔兰·测试", "1", "17", date(1990, 1, 1), "新疆塔城市测试路1号",
                  "654201199001010036", "塔城市公安局", date(2010, 1, 1), None)


def read_card(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m kiosk read-card ARGS``."""
    return subprocess.run([sys.executable, "-m", "kiosk", "read-card", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=30)


def read_card_scanned(sim: ScannerSimulator, mrz: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m kiosk read-card ARGS`` while the document scanner ``sim`` sends ``mrz`` (STX, lines
    ended by CR LF, ETX) every 0.25 s, the way an officer lays the page on again until the chip is read:
    the CLI opens the port (which flushes it) at a moment the test does not know."""
    data = b"\x02" + b"".join(line.encode() + b"\r\n" for line in mrz.split("\n")) + b"\x03"
    proc = subprocess.Popen([sys.executable, "-m", "kiosk", "read-card", *args], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:
            sim.send(data)
            try:
                proc.wait(0.25)
            except subprocess.TimeoutExpired:
                pass
        out, err = proc.communicate(timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def failure(result: subprocess.CompletedProcess[str]) -> str:
    """The one-line reason of a failed run (and check it is one line, without a traceback)."""
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if line.startswith("kiosk read-card:")]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


@pytest.fixture
def mrz_scanner() -> Iterator[ScannerSimulator]:
    """A document (passport page) scanner on a real pty."""
    sim = ScannerSimulator("mrz")
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture
def samv() -> Iterator[SamvSimulator]:
    """A SAM-V reader simulator with a resident card on it."""
    sim = SamvSimulator("idcard")
    sim.start()
    sim.place(RESIDENT)
    yield sim
    sim.stop()


def test_samv_resident_card(samv: SamvSimulator) -> None:
    """A SAM-V reader on a serial path: the resident card's JSON with every stable key."""
    result = read_card("--driver", "samv", "--url", samv.port, "--timeout", "5")
    assert result.returncode == 0, result.stderr
    card = json.loads(result.stdout)
    assert list(card) == CARD_KEYS
    assert card["card_type"] == "resident" and card["name"] == "叶尔兰·测试"
    assert (card["id_number"], card["birth_date"], card["valid_from"], card["valid_to"]) == (
        "654201199001010036", "1990-01-01", "2010-01-01", None)
    assert (card["document_number"], card["mrz"], card["expiry_date"]) == ("", "", None)


def test_emrtd_passport(slots: Slots) -> None:
    """A passport chip in a PC/SC reader opened with --mrz: the document keys filled in."""
    slots.insert(PassportCard(APPENDIX_D_MRZ), PASSPORT_SLOT)
    result = read_card("--driver", "emrtd", "--url", PASSPORT_URL, "--mrz", APPENDIX_D_MRZ.replace("\n", " "),
                       "--timeout", "5")
    assert result.returncode == 0, result.stderr
    card = json.loads(result.stdout)
    assert list(card) == CARD_KEYS
    assert card["card_type"] == "passport" and card["name"] == "ERIKSSON, ANNA MARIA"
    assert (card["document_number"], card["nationality"], card["birth_date"], card["expiry_date"]) == (
        "L898902C", "UTO", "1969-08-06", "1994-06-23")
    assert card["valid_from"] is None and card["mrz"] == APPENDIX_D_MRZ


def test_badge_uid(slots: Slots) -> None:
    """An officer badge: card_type badge and its UID in hex."""
    slots.insert(BadgeCard(bytes.fromhex("04A1B2C3D4E5F6")), BADGE_SLOT)
    result = read_card("--driver", "badge", "--url", BADGE_URL, "--timeout", "5")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"card_type": "badge", "uid": "04A1B2C3D4E5F6"}


def test_timeout_without_a_card(slots: Slots) -> None:
    """Nothing placed: exit 1 with 'timeout' once the time is up."""
    assert failure(read_card("--driver", "badge", "--url", BADGE_URL, "--timeout", "0.5")) == (
        "kiosk read-card: timeout: no card within 0.5 s")


def test_wrong_mrz_is_access_denied(slots: Slots) -> None:
    """An MRZ that is valid but not this passport's: access_denied."""
    slots.insert(PassportCard(APPENDIX_D_MRZ), PASSPORT_SLOT)
    other = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<L898902C36UTO7408122F1204159ZE184226B<<<<<10"
    line = failure(read_card("--driver", "emrtd", "--url", PASSPORT_URL, "--mrz", other, "--timeout", "5"))
    assert line.startswith("kiosk read-card: access_denied: mutual authenticate: SW 6300")


@pytest.mark.parametrize(("args", "expected"), [
    (["--driver", "emrtd", "--url", PASSPORT_URL, "--mrz", APPENDIX_D_MRZ[:-1] + "5"],
     "kiosk read-card: mrz_check_digit: check digit of composite is '5', expected 4"),
    (["--driver", "emrtd", "--url", PASSPORT_URL, "--mrz", "P<UTO"],
     "kiosk read-card: mrz_format: 5 characters is no MRZ size (TD1 3x30, TD2 2x36, TD3 2x44)"),
    (["--driver", "emrtd", "--url", PASSPORT_URL],
     "kiosk read-card: mrz_required: --mrz or --mrz-url is needed for emrtd (the chip opens with keys from it), "
     "and only there"),
    (["--driver", "badge", "--url", BADGE_URL, "--mrz", APPENDIX_D_MRZ],
     "kiosk read-card: mrz_not_used: --mrz or --mrz-url is needed for emrtd (the chip opens with keys from it), "
     "and only there"),
    (["--driver", "samv", "--url", "/dev/ttyUSB0", "--mrz-url", "/dev/ttyACM0"],
     "kiosk read-card: mrz_not_used: --mrz or --mrz-url is needed for emrtd (the chip opens with keys from it), "
     "and only there"),
    (["--driver", "badge", "--url", "/dev/ttyUSB0"],
     "kiosk read-card: bad_url: URL '/dev/ttyUSB0' is not of the form pcsc:[reader name substring]"),
])
def test_bad_input_is_named_before_any_card(args: list[str], expected: str) -> None:
    """Bad MRZ or URL: a one-line reason, exit 1, no reader touched."""
    assert failure(read_card(*args, "--timeout", "1")) == expected


def test_no_such_reader(slots: Slots) -> None:
    """A reader name nobody has: device_gone, naming the readers there are."""
    line = failure(read_card("--driver", "badge", "--url", "pcsc:Nonexistent", "--timeout", "1"))
    assert line.startswith("kiosk read-card: device_gone: no PC/SC reader matching 'Nonexistent'")
    assert "Kiosk Test Reader 00 01" in line


def test_missing_serial_port() -> None:
    """A SAM-V reader path that does not exist: device_gone."""
    line = failure(read_card("--driver", "samv", "--url", "/nonexistent/ttyUSB9", "--timeout", "1"))
    assert line.startswith("kiosk read-card: device_gone: cannot open /nonexistent/ttyUSB9")


# -- the MRZ from a document scanner (--mrz-url) ------------------------------------------

def test_emrtd_passport_with_the_mrz_from_a_scanner(slots: Slots, mrz_scanner: ScannerSimulator) -> None:
    """The page reader sends the passport's MRZ: the chip opens with it and the document's JSON is printed."""
    slots.insert(PassportCard(APPENDIX_D_MRZ), PASSPORT_SLOT)
    result = read_card_scanned(mrz_scanner, APPENDIX_D_MRZ, "--driver", "emrtd", "--url", PASSPORT_URL,
                               "--mrz-url", mrz_scanner.port, "--timeout", "5")
    assert result.returncode == 0, result.stderr
    card = json.loads(result.stdout)
    assert list(card) == CARD_KEYS
    assert card["card_type"] == "passport" and card["name"] == "ERIKSSON, ANNA MARIA"
    assert (card["document_number"], card["birth_date"], card["expiry_date"]) == ("L898902C", "1969-08-06",
                                                                                 "1994-06-23")
    assert card["mrz"] == APPENDIX_D_MRZ


def test_wrong_mrz_from_the_scanner_is_access_denied(slots: Slots, mrz_scanner: ScannerSimulator) -> None:
    """The scanner read another (valid) MRZ: the chip refuses the keys, exit 1 with access_denied."""
    slots.insert(PassportCard(APPENDIX_D_MRZ), PASSPORT_SLOT)
    line = failure(read_card_scanned(mrz_scanner, OTHER_MRZ, "--driver", "emrtd", "--url", PASSPORT_URL,
                                     "--mrz-url", mrz_scanner.port, "--timeout", "5"))
    assert line.startswith("kiosk read-card: access_denied: mutual authenticate: SW 6300")


def test_misread_mrz_from_the_scanner_times_out_naming_why(slots: Slots, mrz_scanner: ScannerSimulator) -> None:
    """Only a misread MRZ (bad check digit) arrives: timeout, naming the last MRZ dropped."""
    slots.insert(PassportCard(APPENDIX_D_MRZ), PASSPORT_SLOT)
    misread = APPENDIX_D_MRZ[:-1] + "5"
    line = failure(read_card_scanned(mrz_scanner, misread, "--driver", "emrtd", "--url", PASSPORT_URL,
                                     "--mrz-url", mrz_scanner.port, "--timeout", "0.6"))
    assert line == ("kiosk read-card: timeout: no valid MRZ from the document scanner within 0.6 s (last MRZ "
                    "dropped: mrz_check_digit: TD3 (composite): check digit of composite is '5', expected 4)")


def test_missing_scanner_port(slots: Slots) -> None:
    """A document scanner path that does not exist: device_gone, naming the scanner."""
    line = failure(read_card("--driver", "emrtd", "--url", PASSPORT_URL, "--mrz-url", "/nonexistent/ttyACM9",
                             "--timeout", "1"))
    assert line.startswith("kiosk read-card: device_gone: document scanner: cannot open /nonexistent/ttyACM9")


def test_mrz_and_mrz_url_together_is_a_usage_error() -> None:
    """--mrz and --mrz-url are alternatives: argparse refuses both (exit 2, usage)."""
    result = read_card("--driver", "emrtd", "--url", PASSPORT_URL, "--mrz", APPENDIX_D_MRZ, "--mrz-url", "/dev/x")
    assert result.returncode == 2 and result.stdout == ""
    assert "argument --mrz-url: not allowed with argument --mrz" in result.stderr


def test_mrz_and_mrz_url_together_in_the_api() -> None:
    """Called as a function (no argparse in front), the two MRZ sources together are mrz_conflict."""
    from drivers.readcard import ReadFailed, make_device

    with pytest.raises(ReadFailed) as info:
        make_device("emrtd", PASSPORT_URL, APPENDIX_D_MRZ, mrz_url="/dev/ttyACM0")
    assert info.value.reason == "mrz_conflict"
