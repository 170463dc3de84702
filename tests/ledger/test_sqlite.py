"""SQLite back-end specifics: ledger URLs, unusable files, schema versions and migrations (PostgreSQL URLs and
schema: test_postgres.py)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from kiosk.clock import FakeClock
from kiosk.errors import LedgerError
from kiosk.ledger import open_ledger
from kiosk.ledger.sqlite import SqliteLedger
from tests.ledger.support import APPLIED, LATEST, MIGRATIONS, TTL, decl


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite:///:memory:", "in-memory"),
        ("sqlite://", "absolute path"),
        ("sqlite://relative/ledger.db", "absolute path"),
        ("sqlite:///tmp/ledger.db?mode=ro", "no query"),
        ("mysql://kiosk:secret@db/ledger", "scheme 'mysql'.*sqlite:///absolute/path.db or postgresql://"),
        ("/var/lib/kiosk/ledger.db", "without a scheme.*sqlite:///absolute/path.db"),
        ("", "without a scheme"),
    ],
)
def test_bad_urls_are_refused(url: str, message: str) -> None:
    """A URL no back-end accepts gives a LedgerError naming the accepted forms, never the password."""
    with pytest.raises(LedgerError, match=message) as info:
        open_ledger(url)
    assert "secret" not in str(info.value)


def test_missing_directory_is_named(tmp_path: Path) -> None:
    """A ledger in a directory that does not exist fails with the path in the message."""
    path = tmp_path / "nowhere" / "ledger.db"
    with pytest.raises(LedgerError, match=str(tmp_path / "nowhere")):
        open_ledger(f"sqlite:///{path}")


@pytest.mark.parametrize("kind", ["parent_is_file", "path_is_directory", "not_a_database"])
def test_unusable_paths_are_named(tmp_path: Path, kind: str) -> None:
    """A path that cannot hold a database fails with a LedgerError naming it."""
    path = tmp_path / "ledger.db"
    if kind == "parent_is_file":
        (tmp_path / "file").write_text("x")
        path = tmp_path / "file" / "ledger.db"
    elif kind == "path_is_directory":
        path.mkdir()
    else:
        path.write_bytes(b"this is not a database, just some text" * 100)
    with pytest.raises(LedgerError, match=str(path)):
        SqliteLedger(path)


def test_schema_is_versioned_and_migrated_once(tmp_path: Path) -> None:
    """A new file gets user_version LATEST (the newest migration), WAL and FULL sync; reopening applies nothing."""
    path = tmp_path / "ledger.db"
    for _ in range(2):
        led = SqliteLedger(path)
        assert led._conn is not None and led._conn.execute("PRAGMA synchronous").fetchone()[0] == 2
        led.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == LATEST == 5
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        applied = conn.execute("SELECT version, name FROM schema_migrations").fetchall()
        assert applied == APPLIED
    conn.close()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    """A database written by newer code (user_version LATEST + 1) is refused, and left untouched."""
    path = tmp_path / "ledger.db"
    SqliteLedger(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {LATEST + 1}")
    conn.close()
    with pytest.raises(LedgerError, match=f"schema version {LATEST + 1}, newer"):
        open_ledger(f"sqlite:///{path}")
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == LATEST + 1
    conn.close()


def test_later_migrations_apply_in_order_and_keep_data(tmp_path: Path, clock: FakeClock) -> None:
    """GIVEN a current ledger with data WHEN code with one more migration opens it THEN that one runs once and the
    data stays."""
    path, newer = tmp_path / "ledger.db", tmp_path / "migrations"
    newer.mkdir()
    for source in MIGRATIONS.glob("*.sql"):
        (newer / source.name).write_text(source.read_text())
    (newer / f"{LATEST + 1:04d}_note.sql").write_text("-- a; comment\nALTER TABLE declarations ADD COLUMN note TEXT;\n")
    old = SqliteLedger(path)
    old.hold(decl("a", 100), now=clock.now(), ttl_s=TTL)
    old.close()
    SqliteLedger(path, migrations_dir=newer).close()
    upgraded = SqliteLedger(path, migrations_dir=newer)
    assert upgraded.get("a") is not None
    upgraded.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == LATEST + 1
        applied = conn.execute("SELECT * FROM schema_migrations").fetchall()
        assert applied == [*APPLIED, (LATEST + 1, "note")]
        assert conn.execute("SELECT note FROM declarations").fetchall() == [(None,)]
    conn.close()
    with pytest.raises(LedgerError, match="newer"):
        SqliteLedger(path)


def test_gap_in_migrations_is_refused(tmp_path: Path) -> None:
    """Migrations must be numbered 1..N without gaps."""
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "0001_init.sql").write_text((MIGRATIONS / "0001_init.sql").read_text())
    (folder / "0003_late.sql").write_text("SELECT 1;")
    with pytest.raises(LedgerError, match="without gaps"):
        SqliteLedger(tmp_path / "ledger.db", migrations_dir=folder)


def test_concurrent_first_open_migrates_once(tmp_path: Path) -> None:
    """Four kiosks opening a new file at once all succeed and the schema is applied once."""
    path, opened, errors = tmp_path / "ledger.db", [], []
    barrier = threading.Barrier(4)

    def run() -> None:
        try:
            barrier.wait(timeout=10)
            opened.append(SqliteLedger(path))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    for led in opened:
        led.close()
    assert not errors and len(opened) == 4
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version, name FROM schema_migrations").fetchall() == APPLIED
    conn.close()


def test_sqlite_errors_are_wrapped(tmp_path: Path, clock: FakeClock) -> None:
    """A failure inside SQLite reaches the caller as LedgerError naming the file, with the cause chained."""
    path = tmp_path / "ledger.db"
    led = SqliteLedger(path)
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE declarations")
    conn.close()
    with pytest.raises(LedgerError, match=f"hold failed on {path}") as info:
        led.hold(decl("a", 1), now=clock.now(), ttl_s=TTL)
    assert isinstance(info.value.__cause__, sqlite3.Error)
    led.close()


def test_undecodable_row_is_a_ledger_error(tmp_path: Path, clock: FakeClock) -> None:
    """A row damaged behind the ledger's back is reported as LedgerError, not a raw ValueError."""
    path = tmp_path / "ledger.db"
    led = SqliteLedger(path)
    led.hold(decl("a", 100), now=clock.now(), ttl_s=TTL)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE declarations SET lines_json = '[{\"code\": 1}]'")
    conn.close()
    with pytest.raises(LedgerError, match="'a' does not decode"):
        led.get("a")
    led.close()
