"""Fixtures shared by every test: the fake clock, a folder for test output, a private pcscd."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from kiosk.clock import FakeClock

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = Path(os.environ.get("KIOSK_TEST_OUTPUT", ROOT / "test-output"))
_PCSC_RUN_DIR = pytest.StashKey[str]()

if TYPE_CHECKING:
    from drivers.sim.pcscd import PrivatePcscd
    from tests.pcsc_support import Slots


@pytest.fixture
def clock() -> FakeClock:
    """A clock that moves only when the test says (2026-11-25 12:00 Beijing time)."""
    return FakeClock()


@pytest.fixture(scope="session")
def output_dir() -> Path:
    """Where tests save screenshots and traces (kept after the run)."""
    OUTPUT.mkdir(parents=True, exist_ok=True)
    return OUTPUT


# ---- PC/SC: a private pcscd with vpcd readers (TESTING.md §1b) ---------------------------------

def pytest_configure(config: pytest.Config) -> None:
    """Point every PC/SC client of this run (this process and the CLIs it starts) at a private pcscd.

    libpcsclite reads PCSCLITE_CSOCK_NAME once per process and keeps it, so it is set before any
    test can talk PC/SC; the ``pcscd`` fixture then starts (and restarts) its daemon there.
    """
    run_dir = tempfile.mkdtemp(prefix="kiosk-pcsc-run-")
    config.stash[_PCSC_RUN_DIR] = run_dir
    os.environ["PCSCLITE_CSOCK_NAME"] = os.path.join(run_dir, "pcscd.comm")


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the private pcscd's socket folder."""
    run_dir = config.stash.get(_PCSC_RUN_DIR, None)
    if run_dir:
        shutil.rmtree(run_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def pcscd(pytestconfig: pytest.Config) -> Iterator[PrivatePcscd]:
    """A private pcscd with one vpcd entry: readers 'Kiosk Test Reader 00 00' and '... 00 01'."""
    from drivers.sim.pcscd import PrivatePcscd, missing_requirements

    problem = missing_requirements()
    if problem and os.geteuid() != 0:
        pytest.skip(problem)       # as root (CI) a missing package fails below instead of hiding
    rig = PrivatePcscd(run_dir=pytestconfig.stash[_PCSC_RUN_DIR]).start()
    yield rig
    rig.close()


@pytest.fixture
def slots(pcscd: PrivatePcscd) -> Iterator[Slots]:
    """The two vpcd readers, empty at the start and at the end of the test (pcscd running)."""
    from tests.pcsc_support import Slots

    if not pcscd.running:           # a test that stopped it could not start it again
        pcscd.start()
    placed = Slots(pcscd)
    yield placed
    placed.clear()
