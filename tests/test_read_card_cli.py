"""`kiosk read-card` as a technician runs it: a real process against the simulators.

samv: the SAM-V simulator on a real pty; emrtd and badge: the virtual cards in the private pcscd's
vpcd readers (the CLI process inherits PCSCLITE_CSOCK_NAME from tests/conftest.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from drivers.base import CardType, IdCard
from drivers.sim.passport_card import BadgeCard, PassportCard
from drivers.sim.samv import SamvSimulator
from tests.pcsc_support import APPENDIX_D_MRZ, BADGE_SLOT, BADGE_URL, PASSPORT_SLOT, PASSPORT_URL, Slots

ROOT = Path(__file__).resolve().parent.parent
CARD_KEYS = ["card_type", "name", "gender", "nation", "birth_date", "address", "id_number", "authority",
             "valid_from", "valid_to", "document_number", "nationality", "expiry_date", "mrz"]
RESIDENT = IdCard(CardType.RESIDENT, "叶尔兰·测试", "1", "17", date(1990, 1, 1), "新疆塔城市测试路1号",
                  "654201199001010036", "塔城市公安局", date(2010, 1, 1), None)


def read_card(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m kiosk read-card ARGS``."""
    return subprocess.run([sys.executable, "-m", "kiosk", "read-card", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=30)


def failure(result: subprocess.CompletedProcess[str]) -> str:
    """The one-line reason of a failed run (and check it is one line, without a traceback)."""
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if line.startswith("kiosk read-card:")]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


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
     "kiosk read-card: mrz_required: --mrz is needed for emrtd (the chip opens with keys from it), and only there"),
    (["--driver", "badge", "--url", BADGE_URL, "--mrz", APPENDIX_D_MRZ],
     "kiosk read-card: mrz_not_used: --mrz is needed for emrtd (the chip opens with keys from it), and only there"),
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
