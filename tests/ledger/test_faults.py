"""Faults: a kiosk killed between hold and commit or in mid-call, the database restarted under load, and a
read-only or full disk. Each test checks the store directly afterwards (tests.ledger.oplog).

The mount-namespace tests (a real full disk, a read-only file system) need root, as `make test` runs.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from kiosk.declaration import HoldResult, Status
from kiosk.errors import LedgerError
from kiosk.ledger import GRACE, Ledger, open_ledger
from kiosk.ledger.admin import migrate
from kiosk.ledger.postgres import PostgresLedger
from kiosk.ledger.sqlite import SqliteLedger
from tests.ledger.oplog import UNCERTAIN, check
from tests.ledger.pg_outage import running
from tests.ledger.support import DAY, LIMIT, RawRows, decl, raw_reader, status_of
from tests.ledger.workers import NOW, TTL, finish, hammer_worker, hold_and_wait, pump, spawn
from tests.pg_cluster import PgCluster, PgTemplate

ROOT = Path(__file__).resolve().parents[2]
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root for mount namespaces (make test runs as root)")


# --- a kiosk process killed -----------------------------------------------------------------------------


def test_kiosk_killed_between_hold_and_commit(ledger_url: str, raw_rows: RawRows) -> None:
    """GIVEN a kiosk SIGKILLed after holding a whole day THEN the quota stays taken until expiry + GRACE only."""
    [worker] = spawn(hold_and_wait, [(ledger_url,)])
    pump([worker], lambda: bool(worker.log), timeout=30)
    assert worker.log == [("hold", "doomed-1", "accepted")], worker.crash
    worker.process.kill()
    worker.process.join(timeout=10)
    assert worker.process.exitcode == -signal.SIGKILL
    [row] = raw_rows()
    assert (row.id, row.status, row.total_fen) == ("doomed-1", "held", LIMIT)

    other = open_ledger(ledger_url)
    try:
        freed_at = NOW + timedelta(seconds=TTL) + GRACE
        refused = other.hold(decl("k2-1", 1, resident="doomed"), now=NOW + timedelta(seconds=1), ttl_s=TTL)
        assert refused == HoldResult(False, LIMIT, 0)
        just_before = freed_at - timedelta(microseconds=1)
        assert other.used("doomed", DAY, now=just_before) == LIMIT
        assert other.hold(decl("k2-2", LIMIT, resident="doomed"), now=freed_at, ttl_s=TTL) == HoldResult(True, LIMIT, 0)
        assert other.commit("doomed-1", now=freed_at) is Status.expired  # too late for the dead kiosk
        assert other.commit("k2-2", now=freed_at) is Status.committed
        assert status_of(other, "doomed-1") is Status.expired
    finally:
        other.close()


def test_kiosks_killed_mid_call_leave_no_half_done_record(ledger_url: str, raw_rows: RawRows) -> None:
    """GIVEN 4 kiosks under load WHEN each is SIGKILLed at a random moment THEN every record is whole and reported."""
    workers = spawn(hammer_worker, [(ledger_url, k, 30.0, None, None) for k in range(4)])
    pump(workers, lambda: all(w.ready_at is not None for w in workers), timeout=30)
    rng = random.Random(7)
    for w in workers:
        pump(workers, lambda: False, timeout=rng.uniform(0.2, 0.5))
        w.process.kill()
    finish(workers, timeout=30)
    assert all(w.process.exitcode == -signal.SIGKILL for w in workers), [w.crash for w in workers]
    assert sum(w.inflight is not None for w in workers) >= 1  # at least one died inside a ledger call
    assert sum(len(w.log) for w in workers) > 50
    assert check(raw_rows(), [w.final_log() for w in workers], LIMIT) == []
    survivor = open_ledger(ledger_url)  # nothing stays locked by the dead
    try:
        start = time.monotonic()
        assert survivor.hold(decl("after", 1, resident="fresh"), now=NOW, ttl_s=TTL).accepted
        assert survivor.commit("after", now=NOW) is Status.committed
        assert time.monotonic() - start < 4.0
    finally:
        survivor.close()


# --- the database restarted under load ------------------------------------------------------------------


@pytest.fixture
def own_cluster(pg_template: PgTemplate) -> Iterator[PgCluster]:
    """A cluster of this test's own, so that restarting it disturbs no other test."""
    with running(PgCluster(pg_template)) as cluster:
        yield cluster


@pytest.mark.postgres
def test_database_restart_under_load(own_cluster: PgCluster) -> None:
    """GIVEN 8 kiosks under load WHEN the server restarts (-m fast) THEN they reconnect, and every call
    either completed or raised LedgerError: the store matches what they reported, with no overspend.

    Kiosks 0-3 have a 10 s retry window, so every call rides through the restart (reconnect, run again);
    kiosks 4-7 have none, so the calls that meet the restart raise LedgerError, as in a longer outage."""
    url = own_cluster.create_database("ledger")
    migrate(url)
    stop = multiprocessing.get_context("spawn").Event()
    workers = spawn(hammer_worker, [(url, k, 60.0, 10.0 if k < 4 else 0.0, stop) for k in range(8)])
    pump(workers, lambda: all(w.ready_at is not None for w in workers), timeout=30)
    pump(workers, lambda: False, timeout=1.0)
    own_cluster.restart("fast")
    back_at = time.monotonic()
    pump(workers, lambda: False, timeout=1.0)
    stop.set()
    finish(workers, timeout=60)

    assert [w.crash for w in workers] == [None] * 8  # nothing but LedgerError escaped a ledger call
    summaries = [w.summary or {} for w in workers]
    assert all(s["reconnects"] >= 1 for s in summaries), summaries
    assert all(any(t > back_at for t in w.done_at) for w in workers)  # every kiosk worked again afterwards
    assert [s["errors"] for s in summaries[:4]] == [0] * 4, summaries  # in-flight calls completed
    assert sum(s["errors"] for s in summaries[4:]) > 0, summaries  # the restart did cut calls short
    logs = [w.final_log() for w in workers]
    assert [sum(op[2] == UNCERTAIN for op in log) for log in logs] == [s["errors"] for s in summaries]
    assert check(raw_reader(url)(), logs, LIMIT) == []


# --- read-only stores -------------------------------------------------------------------------------------

_WRITES: list[tuple[str, Callable[[Ledger], object]]] = [
    ("hold", lambda led: led.hold(decl("b", 1), now=NOW, ttl_s=TTL)),
    ("commit", lambda led: led.commit("a", now=NOW)),
    ("release", lambda led: led.release("a", now=NOW, reason="cancelled")),
    ("refer", lambda led: led.refer(decl("c", 1), now=NOW, reasons=["x"])),
    ("expire_holds", lambda led: led.expire_holds(now=NOW + timedelta(days=1))),
]


def _assert_writes_refused(led: Ledger, pattern: str) -> None:
    """Every write raises a LedgerError matching ``pattern``; reads still answer."""
    for op, write in _WRITES:
        with pytest.raises(LedgerError, match=pattern):
            write(led)
            pytest.fail(f"{op} succeeded on a read-only store")
    assert led.used("r1", DAY, now=NOW) == 100_000
    assert status_of(led, "a") is Status.held


@pytest.mark.postgres
def test_read_only_database_is_a_clear_error(pg_database: str, pg_cluster: PgCluster) -> None:
    """GIVEN a database turned read-only (as a standby is) under an open ledger THEN writes raise 'read-only'."""
    led = PostgresLedger(pg_database)
    led.hold(decl("a", 100_000), now=NOW, ttl_s=TTL)
    dbname = pg_database.rsplit("/", 1)[1]
    with pg_cluster.admin() as admin:
        admin.execute(f'ALTER DATABASE "{dbname}" SET default_transaction_read_only = on'.encode())
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (dbname,))
    try:
        _assert_writes_refused(led, "read-only")
        assert led.reconnects == 1
    finally:
        with pg_cluster.admin() as admin:
            admin.execute(f'ALTER DATABASE "{dbname}" RESET default_transaction_read_only'.encode())
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (dbname,))
    assert led.commit("a", now=NOW) is Status.committed  # writable again: the next session just works
    led.close()


def test_read_only_sqlite_file_is_a_clear_error(tmp_path: Path) -> None:
    """GIVEN a ledger file made immutable (read-only even for root) THEN writes raise 'read-only'."""
    path = tmp_path / "ledger.db"
    led = SqliteLedger(path)
    led.hold(decl("a", 100_000), now=NOW, ttl_s=TTL)
    led.close()
    made = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"chattr +i is not supported here: {made.stderr.strip()}")
    try:
        ro = SqliteLedger(path)
        _assert_writes_refused(ro, f"{path}: the ledger file is read-only")
        ro.close()
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


# --- full disks (real ones, in a private mount namespace) ------------------------------------------------


@needs_root
def test_sqlite_full_disk_and_read_only_file_system(tmp_path: Path) -> None:
    """GIVEN a ledger on a tiny tmpfs WHEN it fills up, is freed, then is remounted read-only THEN clear errors."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    done = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "--", sys.executable, "-m", "tests.ledger.fs_child",
         str(mnt)], cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["first"] == "ok"
    assert seen["full_hold"].startswith(f"LedgerError: ledger hold failed on {mnt}/ledger.db: the disk is full")
    assert seen["full_commit"].startswith("LedgerError: ledger commit failed") and "disk is full" in seen["full_commit"]
    assert seen["full_used"] == 100_000  # reads still work, and the failed hold left nothing behind
    assert seen["freed_hold"] == "ok"  # no restart needed once space is back
    assert "read-only file system" in seen["readonly_open"]


@pytest.fixture
def tiny_disk_cluster(pg_template: PgTemplate) -> Iterator[PgCluster]:
    """A cluster with a 1 MiB tmpfs tablespace folder that only the server sees."""
    cluster = PgCluster(pg_template, tiny_tablespace_kb=1024)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@needs_root
@pytest.mark.postgres
def test_postgres_full_disk_is_a_clear_error(tiny_disk_cluster: PgCluster) -> None:
    """GIVEN the ledger's tables on a disk that fills up THEN holds raise 'disk is full', reads work, and
    freeing space is enough to hold again."""
    url = tiny_disk_cluster.create_database("ledger")
    with tiny_disk_cluster.admin() as admin:
        admin.execute(f"CREATE TABLESPACE tiny LOCATION '{tiny_disk_cluster.tiny_dir}'".encode())
        admin.execute("ALTER DATABASE ledger SET default_tablespace = tiny")
    migrate(url)
    led = PostgresLedger(url)
    led.hold(decl("a", 100_000), now=NOW, ttl_s=TTL)
    with tiny_disk_cluster.admin("ledger") as admin:
        admin.execute("CREATE TABLE filler (n bigint)")
        with pytest.raises(Exception, match="No space left on device|could not extend"):
            admin.execute("INSERT INTO filler SELECT generate_series(1, 10000000)")
        with pytest.raises(LedgerError, match="disk is full"):
            for i in range(200):  # until the first page of the new resident-day needs a new block
                led.hold(decl(f"fill{i}", 1, resident=f"filler{i}"), now=NOW, ttl_s=TTL)
        assert led.used("r1", DAY, now=NOW) == 100_000
        admin.execute("DROP TABLE filler")
    assert led.hold(decl("b", 100_000), now=NOW, ttl_s=TTL).accepted
    led.close()
