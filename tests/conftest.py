"""Fixtures shared by every test: the fake clock and a folder for test output."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kiosk.clock import FakeClock

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = Path(os.environ.get("KIOSK_TEST_OUTPUT", ROOT / "test-output"))


@pytest.fixture
def clock() -> FakeClock:
    """A clock that moves only when the test says (2026-11-25 12:00 Beijing time)."""
    return FakeClock()


@pytest.fixture(scope="session")
def output_dir() -> Path:
    """Where tests save screenshots and traces (kept after the run)."""
    OUTPUT.mkdir(parents=True, exist_ok=True)
    return OUTPUT
