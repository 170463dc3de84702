"""Ledger fixtures: one store per test for each back-end, more instances on it, and a raw reader.

Adding a back-end means one more entry in BACKENDS plus its branch in ``ledger_url`` and ``raw_rows``
(the direct, back-end-specific read that verifies the invariant behind the ledger's back).

PostgreSQL runs on a throwaway cluster this session starts (tests/pg_cluster.py: 127.0.0.1 only, a free port,
fsync off); each test gets a fresh, migrated database. Without the postgresql-15 binaries those tests fail
with a message naming the package: they are never skipped silently.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kiosk.ledger import Ledger, open_ledger
from kiosk.ledger.admin import migrate
from tests.ledger.pg_outage import running
from tests.ledger.support import RawRows, raw_reader
from tests.pg_cluster import PgCluster, PgTemplate, PgUnavailable, require_binaries

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]
_db_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def pg_template() -> Iterator[PgTemplate]:
    """An initdb'ed data folder, made once per session; fails (never skips) when PostgreSQL is missing."""
    try:
        require_binaries()
    except PgUnavailable as exc:
        missing = str(exc)
    else:
        missing = ""
    if missing:
        pytest.fail(missing, pytrace=False)
    template = PgTemplate()
    yield template
    template.remove()


@pytest.fixture(scope="session")
def pg_cluster(pg_template: PgTemplate) -> Iterator[PgCluster]:
    """The session's throwaway cluster (fsync off: speed; durability is not what these tests check)."""
    with running(PgCluster(pg_template)) as cluster:
        yield cluster


@pytest.fixture
def pg_database(pg_cluster: PgCluster) -> Iterator[str]:
    """The URL of a fresh, migrated database, dropped after the test."""
    name = f"ledger_{next(_db_numbers)}"
    url = pg_cluster.create_database(name)
    migrate(url)
    yield url
    pg_cluster.drop_database(name)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The back-end under test."""
    return str(request.param)


@pytest.fixture
def ledger_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A fresh, empty store for the back-end."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    if backend == "postgres":
        return str(request.getfixturevalue("pg_database"))
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
def raw_rows(ledger_url: str) -> RawRows:
    """Reads every declaration row directly from the store."""
    return raw_reader(ledger_url)
