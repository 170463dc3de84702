"""PostgreSQL back-end specifics: URLs, schema versions and `kiosk ledger migrate`, session settings, timeouts."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from kiosk.declaration import Status
from kiosk.errors import LedgerError
from kiosk.ledger import GRACE, open_ledger
from kiosk.ledger.admin import MigrationResult, migrate
from kiosk.ledger.postgres import SWEEP_DAYS, PostgresLedger
from tests.ledger.support import APPLIED, DAY, LATEST, PG_MIGRATIONS, decl, status_of
from tests.ledger.workers import NOW, TTL
from tests.pg_cluster import PgCluster, free_port

pytestmark = pytest.mark.postgres


@pytest.fixture
def empty_database(pg_cluster: PgCluster) -> str:
    """The URL of a new database without the ledger schema."""
    name = f"empty_{time.monotonic_ns()}"
    return pg_cluster.create_database(name)


def test_postgres_urls_open_the_postgres_back_end(pg_database: str) -> None:
    """Both postgresql:// and postgres:// open a PostgresLedger."""
    for url in (pg_database, pg_database.replace("postgresql://", "postgres://", 1)):
        led = open_ledger(url)
        assert isinstance(led, PostgresLedger)
        assert led.shown_url == pg_database
        led.close()


def test_unreachable_server_is_named_without_the_password() -> None:
    """A server that does not answer gives LedgerError naming user, host, port and database, never the password."""
    port = free_port()
    with pytest.raises(LedgerError, match=rf"cannot reach ledger postgresql://kiosk@127.0.0.1:{port}/ledger") as info:
        open_ledger(f"postgresql://kiosk:secret@127.0.0.1:{port}/ledger")
    assert "secret" not in str(info.value)


@pytest.mark.parametrize("url", ["postgresql://kiosk:secret@[::1/ledger", "postgresql://kiosk:s%zzecret@db/ledger",
                                 "postgresql://kiosk:secret@db/ledger?sslmode"])
def test_malformed_url_is_refused_without_echoing_it(url: str) -> None:
    """A URL libpq cannot parse is refused without repeating it (libpq's own message would show the password)."""
    with pytest.raises(LedgerError, match="malformed PostgreSQL ledger URL") as info:
        open_ledger(url)
    assert "ecret" not in str(info.value) and info.value.__cause__ is None and info.value.__suppress_context__


def test_unmigrated_database_is_refused_until_migrated(empty_database: str) -> None:
    """GIVEN an empty database THEN a kiosk refuses it (no auto-migration of a shared database); migrate fixes it."""
    needs = rf"schema version 0, this software needs {LATEST}: run `kiosk ledger migrate`"
    with pytest.raises(LedgerError, match=needs):
        PostgresLedger(empty_database)
    assert migrate(empty_database) == MigrationResult(empty_database, 0, LATEST)
    assert migrate(empty_database) == MigrationResult(empty_database, LATEST, LATEST)
    PostgresLedger(empty_database).close()
    with psycopg.connect(empty_database) as conn:
        applied = conn.execute("SELECT version, name FROM schema_migrations ORDER BY version").fetchall()
        assert applied == APPLIED


def test_newer_schema_is_refused_and_left_alone(pg_database: str) -> None:
    """A database migrated by newer software (version LATEST + 1) is refused by kiosks and by migrate, unchanged."""
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, 'future')", (LATEST + 1,))
    with pytest.raises(LedgerError, match=f"schema version {LATEST + 1}, newer than this software knows"):
        PostgresLedger(pg_database)
    with pytest.raises(LedgerError, match="newer"):
        migrate(pg_database)
    with psycopg.connect(pg_database) as conn:
        assert conn.execute("SELECT max(version) FROM schema_migrations").fetchone() == (LATEST + 1,)


def test_later_migrations_apply_in_order_and_keep_data(pg_database: str, tmp_path: Path) -> None:
    """GIVEN a current ledger with data WHEN migrated with one more migration THEN it runs once, the data stays,
    and kiosks of the current software refuse the database."""
    newer = tmp_path / "migrations"
    newer.mkdir()
    for source in PG_MIGRATIONS.glob("*.sql"):
        (newer / source.name).write_text(source.read_text())
    (newer / f"{LATEST + 1:04d}_note.sql").write_text("-- a; comment\nALTER TABLE declarations ADD COLUMN note text;\n")
    old = PostgresLedger(pg_database)
    old.hold(decl("a", 100), now=NOW, ttl_s=TTL)
    with pytest.raises(LedgerError, match=f"schema version {LATEST}, this software needs {LATEST + 1}"):
        PostgresLedger(pg_database, migrations_dir=newer)
    assert migrate(pg_database, migrations_dir=newer).after == LATEST + 1
    assert migrate(pg_database, migrations_dir=newer).before == LATEST + 1
    upgraded = PostgresLedger(pg_database, migrations_dir=newer)
    assert upgraded.get("a") is not None
    upgraded.close()
    old.close()
    with pytest.raises(LedgerError, match="newer"):
        PostgresLedger(pg_database)


def test_concurrent_migrations_apply_once(empty_database: str) -> None:
    """Four operators migrating one new database at once all succeed; the schema is applied once."""
    results: list[MigrationResult] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def run() -> None:
        try:
            barrier.wait(timeout=10)
            results.append(migrate(empty_database))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors and len(results) == 4
    assert all(r.after == LATEST for r in results)
    with psycopg.connect(empty_database) as conn:
        assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone() == (LATEST,)


def test_sessions_run_in_utc_with_a_statement_timeout_far_below_grace(pg_database: str) -> None:
    """Every ledger session has TimeZone UTC and statement_timeout 5 s: a commit cannot lag by anything near GRACE."""
    led = PostgresLedger(pg_database)
    assert led._conn is not None
    assert led._conn.execute("SHOW statement_timeout").fetchone() == ("5s",)
    assert led._conn.execute("SHOW TimeZone").fetchone() == ("UTC",)
    assert led._conn.autocommit
    assert led.worst_call_s <= GRACE.total_seconds() / 3  # a late commit stays far inside the grace period
    led.close()


def test_a_stuck_lock_times_out_into_a_clear_error(pg_database: str) -> None:
    """GIVEN another session holding the resident-day's lock row THEN a hold gives up after statement_timeout."""
    led = PostgresLedger(pg_database, statement_timeout_s=0.3)
    led.hold(decl("a", 100), now=NOW, ttl_s=TTL)
    with psycopg.connect(pg_database) as blocker:
        blocker.execute("SELECT 1 FROM resident_days WHERE resident_key = 'r1' AND day = %s FOR UPDATE", (DAY,))
        start = time.monotonic()
        with pytest.raises(LedgerError, match=r"hold failed on .*: no answer within statement_timeout \(0.3 s\)"):
            led.hold(decl("b", 100), now=NOW, ttl_s=TTL)
        assert time.monotonic() - start < 2.0
        assert led.used("r1", DAY, now=NOW) == 100  # the session is still good
        blocker.rollback()
    assert led.hold(decl("b", 100), now=NOW, ttl_s=TTL).accepted
    led.close()


def test_missing_schema_objects_are_a_clear_error(pg_database: str) -> None:
    """A function dropped behind the ledger's back is reported as a missing schema, not a raw psycopg error."""
    led = PostgresLedger(pg_database)
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("DROP FUNCTION ledger_hold")
    with pytest.raises(LedgerError, match=r"the ledger schema is missing: run `kiosk ledger migrate`") as info:
        led.hold(decl("a", 1), now=NOW, ttl_s=TTL)
    assert isinstance(info.value.__cause__, psycopg.Error)
    led.close()


def test_undecodable_row_is_a_ledger_error(pg_database: str) -> None:
    """A row damaged behind the ledger's back is reported as LedgerError, not a raw ValueError."""
    led = PostgresLedger(pg_database)
    led.hold(decl("a", 100), now=NOW, ttl_s=TTL)
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("""UPDATE declarations SET lines_json = '[{"code": 1}]'""")
    with pytest.raises(LedgerError, match="'a' does not decode"):
        led.get("a")
    led.close()


# --- HOT updates (migration 0005) ------------------------------------------------------------------------------

# What commit, release and expiry change in a declarations row: no index may cover them, nor test them in a
# partial index's WHERE clause, or PostgreSQL cannot update the row in place (a HOT update).
_CHANGED_BY_COMMIT = {"status", "reasons_json", "resolved_at"}


def test_no_index_stops_commit_and_release_from_being_hot(pg_database: str) -> None:
    """The indexes of declarations cover only columns that commit and release never change."""
    with psycopg.connect(pg_database) as conn:
        rows = conn.execute(
            "SELECT c.relname, pg_get_indexdef(i.indexrelid), COALESCE(pg_get_expr(i.indpred, i.indrelid), '')"
            " FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = 'declarations'::regclass"
        ).fetchall()
    assert sorted(name for name, _, _ in rows) == ["declarations_day", "declarations_pkey", "declarations_resident_day"]
    for name, definition, predicate in rows:
        used = definition.split(" USING ", 1)[1] + " " + predicate
        assert not any(column in used for column in _CHANGED_BY_COMMIT), (name, definition, predicate)


def test_commits_and_releases_are_hot_updates(pg_database: str) -> None:
    """GIVEN 20 holds WHEN 15 are committed and 5 released THEN all 20 updates are HOT (no index entries)."""
    led = PostgresLedger(pg_database)
    for i in range(20):
        assert led.hold(decl(f"h{i}", 100, resident=f"r{i}"), now=NOW, ttl_s=TTL).accepted
    for i in range(20):
        if i % 4:
            led.commit(f"h{i}", now=NOW)
        else:
            led.release(f"h{i}", now=NOW, reason="cancelled")
    led.close()  # the session's statistics are flushed when it ends
    deadline = time.monotonic() + 10
    with psycopg.connect(pg_database, autocommit=True) as conn:
        while True:
            updated, hot = conn.execute("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables"
                                        " WHERE relname = 'declarations'").fetchone() or (0, 0)
            if updated >= 20 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    assert (updated, hot) == (20, 20)


def test_expire_holds_sweeps_the_last_days_through_the_day_index(pg_database: str) -> None:
    """A held row of yesterday is swept; one older than SWEEP_DAYS stays 'held' on record, but counts nothing and
    a commit of it still answers expired (the quota rule is time-based)."""
    led = PostgresLedger(pg_database)
    late = NOW + timedelta(hours=2)
    led.hold(decl("yesterday", 100, day=DAY - timedelta(days=1)), now=NOW, ttl_s=TTL)
    led.hold(decl("old", 100, day=DAY - timedelta(days=SWEEP_DAYS + 1)), now=NOW, ttl_s=TTL)
    led.hold(decl("live", 100), now=late, ttl_s=TTL)
    assert led.expire_holds(now=late) == 1
    assert [status_of(led, i) for i in ("yesterday", "old", "live")] == [Status.expired, Status.held, Status.held]
    assert led.used("r1", DAY - timedelta(days=SWEEP_DAYS + 1), now=late) == 0
    assert led.commit("old", now=late) is Status.expired
    led.close()
