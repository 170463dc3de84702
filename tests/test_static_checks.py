"""The house style's machine-checkable part: mypy --strict on kiosk/ and drivers/, ruff everywhere."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_mypy_strict_on_the_domain_and_the_drivers() -> None:
    """Full type hints, checked (STYLE.md B9)."""
    result = run("mypy", "--strict", "kiosk", "drivers")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_lints_everything() -> None:
    """No unused imports, undefined names, or style slips anywhere in the project."""
    result = run("ruff", "check", "kiosk", "drivers", "web", "tests")
    assert result.returncode == 0, result.stdout + result.stderr
