"""Ledger fixtures: one store per test for each back-end, more instances on it, and a raw reader.

Adding a back-end means one more entry in BACKENDS plus its branch in ``ledger_url`` and ``raw_rows``
(the direct, back-end-specific read that verifies the invariant behind the ledger's back).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kiosk.ledger import Ledger, open_ledger
from tests.ledger.support import RawRow, RawRows

# PostgreSQL joins here: pytest.param("postgres", marks=pytest.mark.postgres), skipped without
# KIOSK_TEST_PG_DSN (the "postgres" marker must then be registered in pyproject.toml).
BACKENDS = [pytest.param("sqlite", id="sqlite")]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The back-end under test."""
    return str(request.param)


@pytest.fixture
def ledger_url(backend: str, tmp_path: Path) -> str:
    """A fresh, empty store for the back-end."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    raise AssertionError(f"no store for {backend}")


@pytest.fixture
def open_more(ledger_url: str) -> Iterator[Callable[[], Ledger]]:
    """Opens further instances on the same store (another kiosk); all closed at teardown."""
    opened: list[Ledger] = []

    def _open() -> Ledger:
        opened.append(open_ledger(ledger_url))
        return opened[-1]

    yield _open
    for instance in opened:
        instance.close()


@pytest.fixture
def ledger(open_more: Callable[[], Ledger]) -> Ledger:
    """The ledger under test."""
    return open_more()


@pytest.fixture
def raw_rows(backend: str, ledger_url: str) -> RawRows:
    """Reads every declaration row directly from the store."""
    if backend != "sqlite":
        raise AssertionError(f"no raw reader for {backend}")
    path = ledger_url.removeprefix("sqlite://")

    def _read() -> list[RawRow]:
        conn = sqlite3.connect(path)
        try:
            rows = conn.execute(
                "SELECT id, resident_key, day, total_fen, limit_fen, status FROM declarations"
            ).fetchall()
        finally:
            conn.close()
        return [RawRow(*row) for row in rows]

    return _read
