"""A port PostgreSQL that is down when the kiosk starts: the ledger and the audit log open lazily, the kiosk starts
and fails closed (or uses the offline allowance), audit records are journaled locally and chained in order once the
database is back, and everything works then.

Each test stops its PostgreSQL server for real (``pg_ctl stop``) and starts it again on the same port.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from drivers.base import CardRead
from drivers.registry import check_device
from kiosk.audit import AuditLog, _PgStore, builder, format_time, open_audit, verify_audit
from kiosk.checkpoint import Checkpoint, Phase
from kiosk.clock import FakeClock
from kiosk.config import SECRET_ENV, KioskConfig, load_config
from kiosk.declaration import Status
from kiosk.demo import CONFIG_TEMPLATE, DATA
from kiosk.demo_data import DEMO_CARDS
from kiosk.errors import LedgerError
from kiosk.events import DeviceReading
from kiosk.ledger import open_ledger
from kiosk.ledger.audit_journal import RETRY_S, JournaledStore
from kiosk.ledger.offline import OfflineLedger, port_unavailable
from kiosk.ledger.postgres import PostgresLedger
from kiosk.runtime import build_kiosk
from tests.ledger.pg_outage import fresh_database, running, stop
from tests.ledger.support import DAY, decl
from tests.ledger.workers import NOW, TTL
from tests.pg_cluster import PgCluster, PgTemplate

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def cluster(pg_template: PgTemplate) -> Iterator[PgCluster]:
    """A cluster of this module's own: its tests stop and start it."""
    with running(PgCluster(pg_template)) as own:
        yield own


@pytest.fixture
def url(cluster: PgCluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, migrated database; the server is running again after the test, whatever happened."""
    with fresh_database(cluster, f"outage_{request.node.name.replace('[', '_').replace(']', '')}"[:60]) as db_url:
        yield db_url


class Ticker:
    """A monotonic clock the test moves (the journal's retry pause)."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def journaled(url: str, path: Path, ticker: Ticker) -> AuditLog:
    """The audit log as open_audit(url, journal=path) builds it, with the test's monotonic clock."""
    return AuditLog(JournaledStore(_PgStore(url, lazy=True), path, builder, monotonic=ticker))


def _append(log: AuditLog, clock: FakeClock, kiosk: str, n: int) -> object:
    clock.advance(1)
    return log.append("decision", kiosk_id=kiosk, actor=f"kiosk:{kiosk}", data={"n": n}, now=clock.now())


# --- the ledger ---------------------------------------------------------------------------------------


def test_a_lazy_ledger_opens_while_the_database_is_down_and_works_once_it_is_up(cluster: PgCluster, url: str) -> None:
    """GIVEN the server stopped THEN an eager open fails (doctor's check), a lazy one opens; its calls fail fast
    and closed, as 'port unavailable'; once the server is up the same instance works."""
    stop(cluster)
    with pytest.raises(LedgerError, match="cannot reach ledger"):
        open_ledger(url)
    led = open_ledger(url, lazy=True)
    try:
        for _ in range(3):
            started = time.monotonic()
            with pytest.raises(LedgerError, match="cannot reach ledger") as info:
                led.hold(decl("a", 100_000), now=NOW, ttl_s=TTL)
            assert time.monotonic() - started < 1.0  # one connection attempt, no retry window while it is down
            assert port_unavailable(info.value)
        cluster.start()
        assert led.hold(decl("a", 100_000), now=NOW, ttl_s=TTL).accepted
        assert led.commit("a", now=NOW) is Status.committed
        assert led.used("r1", DAY, now=NOW) == 100_000
        assert isinstance(led, PostgresLedger) and led.reconnects == 0  # the first session, not a replacement
    finally:
        led.close()


def test_a_lazy_ledger_still_refuses_a_schema_it_does_not_know(cluster: PgCluster, url: str) -> None:
    """Laziness is for an unreachable server only: a database behind the software's schema is refused at once,
    and one found behind when the server comes back is refused on every call."""
    name = url.rsplit("/", 1)[1] + "_empty"
    empty = cluster.create_database(name)
    try:
        with pytest.raises(LedgerError, match="run `kiosk ledger migrate`"):
            open_ledger(empty, lazy=True)
        stop(cluster)
        led = open_ledger(empty, lazy=True)
        cluster.start()
        with pytest.raises(LedgerError, match="run `kiosk ledger migrate`"):
            led.used("r1", DAY, now=NOW)
        led.close()
    finally:
        cluster.drop_database(name)


# --- the audit log ------------------------------------------------------------------------------------


def test_audit_records_written_while_the_database_is_down_are_chained_in_order(
    cluster: PgCluster, url: str, tmp_path: Path, clock: FakeClock
) -> None:
    """GIVEN the server stopped WHEN a kiosk appends THEN the records wait in the journal (append returns None);
    WHEN it is back THEN the next append writes them first, in order, with their own times, and the chains verify."""
    ticker = Ticker()
    stop(cluster)
    log = journaled(url, tmp_path / "audit-journal.db", ticker)
    try:
        assert [_append(log, clock, "k1", 1), _append(log, clock, "k1", 2), _append(log, clock, "k2", 3)] == [None] * 3
        assert log.pending == 3
        with pytest.raises(LedgerError):
            log.verify()
        cluster.start()
        ticker.t += RETRY_S / 2
        assert _append(log, clock, "k1", 4) is None and log.pending == 4  # still pausing after the failure
        ticker.t += RETRY_S
        record = _append(log, clock, "k1", 5)
        assert record is not None and (record.kiosk_id, record.seq) == ("k1", 4)
        assert log.pending == 0
        k1 = log.records("k1")
        assert [(r.seq, r.data["n"]) for r in k1] == [(1, 1), (2, 2), (3, 4), (4, 5)]
        assert [format_time(r.time) for r in k1] == [format_time(NOW.replace(second=s)) for s in (1, 2, 4, 5)]
        assert [(r.seq, r.data["n"]) for r in log.records("k2")] == [(1, 3)]
        assert log.verify().ok and verify_audit(url).ok
    finally:
        log.close()


def test_journaled_records_are_written_without_a_further_append(
    cluster: PgCluster, url: str, tmp_path: Path, clock: FakeClock
) -> None:
    """GIVEN records journaled during an outage WHEN the database is back and nothing more is appended THEN
    flush_due (the kiosk's loop) writes them once the pause is over, not before; with nothing waiting it answers
    True at once."""
    ticker = Ticker()
    stop(cluster)
    log = journaled(url, tmp_path / "audit-journal.db", ticker)
    try:
        assert [_append(log, clock, "k1", 1), _append(log, clock, "k1", 2)] == [None, None]
        cluster.start()
        store = log._store
        assert isinstance(store, JournaledStore)
        assert store.flush_due() is False and log.pending == 2  # still pausing after the failure
        ticker.t += RETRY_S
        assert store.flush_due() is True and log.pending == 0
        assert [(r.seq, r.data["n"]) for r in log.records("k1")] == [(1, 1), (2, 2)] and log.verify().ok
        assert store.flush_due() is True
    finally:
        log.close()


def test_the_journal_outlives_the_kiosk_process(cluster: PgCluster, url: str, tmp_path: Path, clock: FakeClock) -> None:
    """Records journaled by a kiosk that then stopped are written by the next one, before its own."""
    path = tmp_path / "audit-journal.db"
    stop(cluster)
    first = open_audit(url, journal=path)
    _append(first, clock, "k1", 1)
    first.close()
    cluster.start()
    second = open_audit(url, journal=path)  # the real factory; a new process has no pause pending
    try:
        assert second.pending == 1
        record = _append(second, clock, "k1", 2)
        assert record is not None and record.seq == 2 and second.pending == 0
        assert [r.data["n"] for r in second.records("k1")] == [1, 2] and second.verify().ok
    finally:
        second.close()


def test_an_append_that_did_commit_is_not_written_twice(url: str, tmp_path: Path, clock: FakeClock) -> None:
    """GIVEN a record that reached the chain but was journaled too (its session died before the answer) THEN the
    flush finds it is the chain's last record and does not write it again."""
    path = tmp_path / "audit-journal.db"
    log = journaled(url, path, Ticker())
    try:
        done = _append(log, clock, "k1", 1)
        assert done is not None
        with sqlite3.connect(path) as conn:  # what _keep would have written for it
            conn.execute("INSERT INTO audit_journal (kiosk_id, at, kind, actor, data_json) VALUES (?, ?, ?, ?, ?)",
                         ("k1", format_time(done.time), done.kind, done.actor, done.data_json))
        conn.close()
        assert log.pending == 1
        _append(log, clock, "k1", 2)
        assert [(r.seq, r.data["n"]) for r in log.records("k1")] == [(1, 1), (2, 2)]
        assert log.pending == 0 and log.verify().ok
    finally:
        log.close()


def test_a_record_the_database_refuses_fails_loudly(url: str, tmp_path: Path, clock: FakeClock) -> None:
    """A refusal that is not an outage (here: the audit table is gone) is raised, not journaled as if it were."""
    log = journaled(url, tmp_path / "audit-journal.db", Ticker())
    try:
        _append(log, clock, "k1", 1)
        with open_audit(url) as plain:
            assert len(plain.records()) == 1
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("ALTER TABLE audit RENAME TO audit_gone")
        with pytest.raises(LedgerError, match="audit append failed"):
            _append(log, clock, "k1", 2)
        assert log.pending == 0
    finally:
        log.close()


# --- the whole kiosk ----------------------------------------------------------------------------------------


def _config(tmp_path: Path, url: str, allowance: int = 0) -> KioskConfig:
    text = CONFIG_TEMPLATE.format(ledger="unused", residents=DATA / "residents.csv", catalog=DATA / "catalog.csv",
                                  idcard="/dev/null", scanner="/dev/null", gate="/dev/null", result_s=8, pulse_s=0.5)
    text = text.replace('url = "sqlite:///unused"', f'url = "{url}"\noffline_journal = "{tmp_path}/offline.db"')
    if allowance:
        text = text.replace("hold_ttl_s = 120", f"hold_ttl_s = 120\noffline_allowance_fen = {allowance}")
    path = tmp_path / "kiosk.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(path, env={SECRET_ENV: "0123456789abcdef0123"}, check_device=check_device)


def card(clock: FakeClock, key: str) -> DeviceReading:
    """The ID reader's reading of a demo card."""
    return DeviceReading("idcard", CardRead(next(c.card for c in DEMO_CARDS if c.key == key)), clock.now())


def _tap(cp: Checkpoint, key: str, clock: FakeClock) -> None:
    """A demo card on the reader, then long enough for the result screen to end."""
    cp.handle(card(clock, key))
    clock.advance(9)
    cp.tick()


def test_the_kiosk_starts_while_the_database_is_down_refers_and_recovers(
    cluster: PgCluster, url: str, tmp_path: Path, clock: FakeClock
) -> None:
    """GIVEN the port database down WHEN the kiosk is built THEN it starts; a resident is referred (ledger
    unavailable), a refused card's audit record is journaled; WHEN the database is up THEN residents are served and
    the journaled records reach the chain first."""
    cfg = _config(tmp_path, url)
    stop(cluster)
    kiosk = build_kiosk(cfg, clock, devices={})
    try:
        cp = kiosk.checkpoint
        _tap(cp, "card_expired", clock)  # an audited refusal, while the database is down
        cp.handle(card(clock, "eligible"))
        assert cp.phase is Phase.REFERRED and cp.reasons == ("ledger_unavailable",)
        assert (tmp_path / "audit-journal.db").exists()
        cluster.start()
        time.sleep(RETRY_S + 0.2)  # the audit journal's pause after the failed attempt
        clock.advance(9)
        cp.tick()
        cp.handle(card(clock, "eligible"))
        assert cp.phase is Phase.IDENTIFIED and cp.snapshot()["quota"]["remaining_fen"] == 800_000
        clock.advance(60)
        cp.tick()
        _tap(cp, "not_registered", clock)  # audited: writes the journaled refusal first
        with open_audit(url) as log:
            reasons = [r.data["reasons"] for r in log.records(cfg.kiosk_id)]
            assert reasons[:2] == [["card_expired"], ["not_registered"]] and log.verify().ok
    finally:
        kiosk.stop()


def test_an_idle_kiosk_chains_its_journaled_records_once_the_database_is_back(
    cluster: PgCluster, url: str, tmp_path: Path, clock: FakeClock
) -> None:
    """GIVEN a refusal audited while the database is down WHEN it is back and no resident comes THEN the kiosk's loop
    alone writes the journaled record to the chain."""
    cfg = _config(tmp_path, url)
    stop(cluster)
    kiosk = build_kiosk(cfg, clock, devices={})
    try:
        cp = kiosk.checkpoint
        _tap(cp, "card_expired", clock)
        journal = tmp_path / "audit-journal.db"
        assert _journal_rows(journal) == 1
        cluster.start()
        time.sleep(RETRY_S + 0.2)  # the audit journal's pause after the failed attempt
        cp.tick()
        assert _journal_rows(journal) == 0
        with open_audit(url) as log:
            assert [r.data["reasons"] for r in log.records(cfg.kiosk_id)] == [["card_expired"]] and log.verify().ok
    finally:
        kiosk.stop()


def _journal_rows(path: Path) -> int:
    with closing(sqlite3.connect(path)) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM audit_journal").fetchone()[0])


def test_the_kiosk_uses_the_offline_allowance_when_the_database_is_down_at_start(
    cluster: PgCluster, url: str, tmp_path: Path, clock: FakeClock
) -> None:
    """With an offline allowance, a kiosk started while the port is down identifies residents and holds within the
    allowance in its journal; the hold is written to the port once it is back."""
    cfg = _config(tmp_path, url, allowance=50_000)
    stop(cluster)
    kiosk = build_kiosk(cfg, clock, devices={})
    try:
        assert isinstance(kiosk.ledger, OfflineLedger)
        kiosk.checkpoint.handle(card(clock, "eligible"))
        assert kiosk.checkpoint.phase is Phase.IDENTIFIED
        assert kiosk.ledger.hold(decl("off-1", 30_000), now=clock.now(), ttl_s=TTL).accepted
        assert kiosk.ledger.commit("off-1", now=clock.now()) is Status.committed
        cluster.start()
        assert kiosk.ledger.reconcile(clock.now()).reconciled == 1
        assert kiosk.ledger.port.get("off-1") is not None
    finally:
        kiosk.stop()

