"""The offline allowance (kiosk.ledger.offline): fail closed by default, a small journaled cap when the port
ledger is down, reconcile when it returns, conflicts for officers.

Each test stops its PostgreSQL server for real (``pg_ctl stop``) and starts it again on the same port.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from kiosk.declaration import HoldResult, Status
from kiosk.errors import LedgerError
from kiosk.ledger.offline import Conflict, OfflineLedger, ReconcileReport
from kiosk.ledger.postgres import PostgresLedger
from tests.ledger.pg_outage import fresh_database, running, stop
from tests.ledger.support import DAY, LIMIT, TTL, decl, raw_reader, status_of, sugar
from tests.ledger.workers import NOW
from tests.pg_cluster import PgCluster, PgTemplate

pytestmark = pytest.mark.postgres

CAP = 50_000  # 500.00 CNY
LATER = NOW + timedelta(seconds=5)


@pytest.fixture(scope="module")
def cluster(pg_template: PgTemplate) -> Iterator[PgCluster]:
    """A cluster of this module's own: its tests stop and start it."""
    with running(PgCluster(pg_template)) as own:
        yield own


@pytest.fixture
def url(cluster: PgCluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, migrated database; the server is running again after the test, whatever happened."""
    with fresh_database(cluster, f"offline_{request.node.name.replace('[', '_').replace(']', '')}"[:60]) as db_url:
        yield db_url


def port(url: str) -> PostgresLedger:
    """A port ledger that gives up quickly when the server is down (the tests stay fast)."""
    return PostgresLedger(url, retry_window_s=0.2, connect_timeout_s=1.0)


def offline(url: str, journal: Path, cap_fen: int = CAP) -> OfflineLedger:
    return OfflineLedger(port(url), journal, cap_fen=cap_fen)


def test_default_cap_fails_closed(cluster: PgCluster, url: str, tmp_path: Path) -> None:
    """GIVEN no allowance WHEN the port is down THEN every call raises LedgerError (the kiosk refers)."""
    ledger = OfflineLedger(port(url), tmp_path / "journal.db", cap_fen=0)
    try:
        stop(cluster)
        with pytest.raises(LedgerError, match="cannot reach|connection was lost"):
            ledger.hold(decl("d1", 30_000), now=NOW, ttl_s=TTL)
        with pytest.raises(LedgerError):
            ledger.used("r1", DAY, now=NOW)
        with pytest.raises(LedgerError):
            ledger.refer(decl("d1", 30_000), now=NOW, reasons=("ledger_unavailable",))
        assert ledger.pending() == 0  # nothing journaled
    finally:
        cluster.start()
        ledger.close()


def test_offline_hold_within_cap_then_reconcile(cluster: PgCluster, url: str, tmp_path: Path) -> None:
    """GIVEN a 500 CNY allowance WHEN the port is down THEN 300 CNY is journaled and committed, a second 300 is
    refused; WHEN it returns THEN reconcile writes it to the port once, however often it runs."""
    ledger = offline(url, tmp_path / "journal.db")
    other = port(url)
    try:
        stop(cluster)
        assert ledger.hold(decl("d1", 30_000), now=NOW, ttl_s=TTL) == HoldResult(True, 30_000, 20_000)
        assert ledger.commit("d1", now=NOW) is Status.committed
        assert ledger.used("r1", DAY, now=NOW) == 30_000  # the journal's figure: the port's is unknown
        assert ledger.hold(decl("d2", 30_000), now=NOW, ttl_s=TTL) == HoldResult(False, 30_000, 20_000)
        assert ledger.hold(decl("d1", 30_000), now=NOW, ttl_s=TTL) == HoldResult(True, 30_000, 20_000)  # retry
        assert ledger.hold(decl("d3", 10_000, resident="r2"), now=NOW, ttl_s=TTL).accepted  # per resident
        assert ledger.release("d3", now=NOW, reason="gate_failed") is Status.released
        assert status_of(ledger, "d1") is Status.committed
        assert ledger.pending() == 1
        report = ledger.reconcile(LATER)  # still down: nothing lost, nothing written
        assert (report.reconciled, report.pending) == (0, 1) and report.error

        cluster.start()
        assert other.used("r1", DAY, now=LATER) == 0
        assert ledger.used("r1", DAY, now=LATER) == 30_000  # port 0 + not yet replayed 30,000
        assert ledger.reconcile(LATER) == ReconcileReport(reconciled=1, conflicts=0, pending=0)
        assert status_of(other, "d1") is Status.committed
        assert other.used("r1", DAY, now=LATER) == 30_000
        assert ledger.used("r1", DAY, now=LATER) == 30_000  # counted once
        assert ledger.reconcile(LATER) == ReconcileReport()
        rows = raw_reader(url)()
        assert [(r.id, r.status, r.total_fen) for r in rows] == [("d1", "committed", 30_000)]
        assert ledger.conflicts() == []
    finally:
        other.close()
        ledger.close()


def test_reconcile_after_a_crash_between_hold_and_commit(cluster: PgCluster, url: str, tmp_path: Path) -> None:
    """GIVEN a reconcile that held at the port and died before commit THEN the next one commits it by id."""
    ledger = offline(url, tmp_path / "journal.db")
    try:
        stop(cluster)
        assert ledger.hold(decl("d1", 30_000), now=NOW, ttl_s=TTL).accepted
        assert ledger.commit("d1", now=NOW) is Status.committed
        cluster.start()
        assert ledger.port.hold(decl("d1", 30_000), now=LATER, ttl_s=600).accepted  # what the crash left
        assert ledger.reconcile(LATER) == ReconcileReport(reconciled=1)
        assert status_of(ledger.port, "d1") is Status.committed
        assert ledger.port.used("r1", DAY, now=LATER) == 30_000
    finally:
        ledger.close()


def test_conflict_is_listed_for_officers(cluster: PgCluster, url: str, tmp_path: Path) -> None:
    """GIVEN a resident who spent the day's quota at another kiosk meanwhile THEN the port refuses the offline
    declaration on reconcile: it is marked conflict, listed for officers and recorded at the port as referred."""
    ledger = offline(url, tmp_path / "journal.db")
    other = port(url)
    try:
        stop(cluster)
        assert ledger.hold(decl("d1", 30_000), now=NOW, ttl_s=TTL).accepted
        assert ledger.commit("d1", now=NOW) is Status.committed
        cluster.start()
        assert other.hold(decl("k2", LIMIT - 10_000, kiosk="k2"), now=NOW, ttl_s=TTL).accepted
        assert other.commit("k2", now=NOW) is Status.committed

        assert ledger.reconcile(LATER) == ReconcileReport(reconciled=0, conflicts=1, pending=0)
        [conflict] = ledger.conflicts()
        assert isinstance(conflict, Conflict)
        assert (conflict.declaration_id, conflict.masked_id, conflict.amount_fen, conflict.day) == (
            "d1", "6501**********123X", 30_000, DAY)
        assert "over the limit" in conflict.reason
        assert status_of(other, "d1") is Status.referred  # no quota taken at the port, but on record
        assert other.used("r1", DAY, now=LATER) == LIMIT - 10_000  # the port never overspends
        assert ledger.used("r1", DAY, now=LATER) == LIMIT + 20_000  # this kiosk counts what left offline
        stored = ledger.get("d1")
        assert stored is not None and stored.reasons[0] == "offline_conflict"
        assert ledger.reconcile(LATER) == ReconcileReport()  # not replayed again
        assert len(ledger.conflicts()) == 1
    finally:
        other.close()
        ledger.close()


def test_journal_survives_a_process_restart(cluster: PgCluster, url: str, tmp_path: Path) -> None:
    """GIVEN declarations journaled offline WHEN the kiosk process restarts THEN the reopened journal has them,
    still counts them and reconciles them."""
    journal = tmp_path / "journal.db"
    first = offline(url, journal)
    stop(cluster)
    try:
        assert first.hold(decl("d1", 30_000), now=NOW, ttl_s=TTL).accepted
        assert first.commit("d1", now=NOW) is Status.committed
        first.refer(decl("d2", 90_000), now=NOW, reasons=("over_quota",))
    finally:
        first.close()
    cluster.start()
    second = offline(url, journal)
    try:
        assert second.pending() == 2
        assert second.get("d1") is not None and status_of(second, "d1") is Status.committed
        assert second.hold(decl("d1", 30_000), now=NOW, ttl_s=TTL) == HoldResult(True, 30_000, 20_000)  # replay
        assert second.reconcile(LATER) == ReconcileReport(reconciled=2)
        assert status_of(second.port, "d1") is Status.committed
        assert status_of(second.port, "d2") is Status.referred
    finally:
        second.close()


def test_refusals_by_the_port_are_not_taken_offline(url: str, tmp_path: Path) -> None:
    """GIVEN the port up THEN a refusal (over quota, releasing a committed one) is the port's answer, never
    turned into an offline grant; and a port hold that the journal's pending amount would overspend is refused."""
    ledger = offline(url, tmp_path / "journal.db")
    try:
        assert ledger.hold(decl("big", LIMIT), now=NOW, ttl_s=TTL).accepted
        assert ledger.commit("big", now=NOW) is Status.committed
        assert ledger.hold(decl("more", 1), now=NOW, ttl_s=TTL).accepted is False
        with pytest.raises(LedgerError, match="cannot be released"):
            ledger.release("big", now=NOW, reason="x")
        assert ledger.pending() == 0
    finally:
        ledger.close()


def test_maybe_reconcile_is_rate_limited_and_never_raises(cluster: PgCluster, url: str, tmp_path: Path) -> None:
    """GIVEN something to replay THEN maybe_reconcile runs at most every 30 s of the caller's clock, quietly."""
    ledger = offline(url, tmp_path / "journal.db")
    try:
        stop(cluster)
        assert ledger.hold(decl("d1", 30_000), now=NOW, ttl_s=TTL).accepted
        assert ledger.commit("d1", now=NOW) is Status.committed
        assert ledger.maybe_reconcile(NOW, background=False) is True  # port down: logged, not raised
        assert ledger.pending() == 1
        cluster.start()
        assert ledger.maybe_reconcile(NOW + timedelta(seconds=10), background=False) is False  # too soon
        assert ledger.maybe_reconcile(NOW + timedelta(seconds=31)) is True  # on its thread
        ledger.close()  # waits for it
        check = port(url)
        try:
            assert status_of(check, "d1") is Status.committed
        finally:
            check.close()
    finally:
        ledger.close()


# --- officers and capped goods -----------------------------------------------------------------------------


def test_officers_decide_against_the_port_only(cluster: PgCluster, url: str, tmp_path: Path) -> None:
    """GIVEN a referral at the port THEN an officer decides it through the wrapper; WHEN the port is down THEN
    decide raises (allowance on or not) and nothing is journaled."""
    ledger = offline(url, tmp_path / "journal.db")
    try:
        ledger.refer(decl("a", 90_000), now=NOW, reasons=("over_quota",))
        ledger.refer(decl("b", 90_000), now=NOW, reasons=("over_quota",))
        [pending_a, pending_b] = ledger.referrals(DAY)
        assert (pending_a.declaration.id, pending_b.declaration.id) == ("a", "b")
        stored = ledger.decide("a", officer="o1", decision="approved", reason="ok", note="", now=LATER)
        assert stored.status is Status.approved and stored.decision is not None
        assert stored.decision.duty_free_fen == 90_000 and ledger.used("r1", DAY, now=LATER) == 90_000
        stop(cluster)
        with pytest.raises(LedgerError, match="cannot reach"):
            ledger.decide("b", officer="o1", decision="taxed", reason="ok", note="", now=LATER)
        with pytest.raises(LedgerError, match="cannot reach"):
            ledger.referrals(DAY)
        assert ledger.pending() == 0
    finally:
        if not (cluster.data / "postmaster.pid").exists():
            cluster.start()
        ledger.close()


def test_a_referral_journaled_offline_is_written_to_the_port_then_decided(
    cluster: PgCluster, url: str, tmp_path: Path
) -> None:
    """GIVEN a referral journaled while the port was down WHEN it is back THEN officers see it in the queue; deciding
    it first writes it to the port, and a later reconcile does not undo the decision."""
    ledger = offline(url, tmp_path / "journal.db")
    try:
        stop(cluster)
        ledger.refer(decl("j", 90_000), now=NOW, reasons=("over_quota",))
        assert ledger.pending() == 1
        cluster.start()
        assert [r.declaration.id for r in ledger.referrals(DAY)] == ["j"]  # from the journal: not at the port yet
        assert ledger.port.get("j") is None
        stored = ledger.decide("j", officer="o1", decision="approved", reason="ok", note="", now=LATER)
        assert stored.status is Status.approved and status_of(ledger.port, "j") is Status.approved
        assert ledger.pending() == 0 and ledger.referrals(DAY) == []
        assert ledger.reconcile(LATER) == ReconcileReport()
        assert status_of(ledger, "j") is Status.approved and ledger.used("r1", DAY, now=LATER) == 90_000
    finally:
        ledger.close()


def test_a_declaration_held_offline_is_not_a_referral(cluster: PgCluster, url: str, tmp_path: Path) -> None:
    ledger = offline(url, tmp_path / "journal.db")
    try:
        stop(cluster)
        assert ledger.hold(decl("h", 30_000), now=NOW, ttl_s=TTL).accepted
        with pytest.raises(LedgerError, match="is held, not referred"):
            ledger.decide("h", officer="o1", decision="approved", reason="ok", note="", now=LATER)
    finally:
        if not (cluster.data / "postmaster.pid").exists():
            cluster.start()
        ledger.close()


def test_capped_goods_are_never_held_offline(cluster: PgCluster, url: str, tmp_path: Path) -> None:
    """GIVEN the port down and an allowance WHEN a declaration uses a capped goods rule THEN it fails closed (the
    port's quantities are unknown); one without capped goods is held offline as before."""
    ledger = offline(url, tmp_path / "journal.db")
    try:
        stop(cluster)
        with pytest.raises(LedgerError, match="cannot reach"):
            ledger.hold(decl("s", 1_000, uses=(sugar(100),)), now=NOW, ttl_s=TTL)
        assert ledger.used("r1", DAY, now=NOW) == 0  # the journal's figure: nothing was taken
        assert ledger.hold(decl("t", 1_000), now=NOW, ttl_s=TTL).accepted
        cluster.start()
        assert ledger.get("s") is None and ledger.port.get("s") is None
    finally:
        if not (cluster.data / "postmaster.pid").exists():
            cluster.start()
        ledger.close()


# --- configuration ---------------------------------------------------------------------------------------


def test_config_allowance_is_off_by_default_and_bounded(tmp_path: Path) -> None:
    """GIVEN [ledger] without the keys THEN no allowance, journal next to the SQLite ledger; bounds are checked."""
    from kiosk.config import STATE_DIR, KioskConfig, load_config
    from kiosk.errors import ConfigError
    from tests.kiosk.test_config import ENV, GOOD

    def load(text: str) -> KioskConfig:
        path = tmp_path / "kiosk.toml"
        path.write_text(text, encoding="utf-8")
        return load_config(path, env=ENV)

    cfg = load(GOOD)
    assert cfg.offline_allowance_fen == 0
    assert cfg.offline_journal == (tmp_path / "ledger-offline-journal.db").resolve()
    pg = GOOD.replace('url = "sqlite:///ledger.db"', 'url = "postgresql://k@db/port"\noffline_allowance_fen = 50000')
    cfg = load(pg)
    assert cfg.offline_allowance_fen == 50_000
    assert cfg.offline_journal == STATE_DIR / "offline-journal.db"
    cfg = load(pg.replace("offline_allowance_fen = 50000", 'offline_allowance_fen = 1\noffline_journal = "j.db"'))
    assert cfg.offline_journal == tmp_path / "j.db"
    with pytest.raises(ConfigError) as err:
        load(pg.replace("50000", "100001"))
    assert err.value.problems == ["ledger.offline_allowance_fen: 100001 is above the maximum 100000"]
    with pytest.raises(ConfigError) as err:
        load(pg.replace("50000", "-1"))
    assert err.value.problems == ["ledger.offline_allowance_fen: -1 is below the minimum 0"]
