"""Contract tests of an officer's void, run against every back-end through the Ledger protocol.

A committed declaration of today (Beijing day) can be voided: status ``voided``, quota back at once, officer,
reason and time recorded; voiding again is a no-op; anything else raises LedgerError with the reason.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kiosk.clock import FakeClock
from kiosk.declaration import FINAL_STATES, Status, VoidRecord
from kiosk.errors import LedgerError
from kiosk.ledger import GRACE, Ledger, beijing_day, utc_text
from kiosk.ledger.sqlite import _INSERT, SqliteLedger, _row
from tests.ledger.support import DAY, LATEST, LIMIT, MIGRATIONS, TTL, RawRows, decl, status_of


def _committed(ledger: Ledger, clock: FakeClock, decl_id: str, amount: int, **kwargs: object) -> None:
    d = decl(decl_id, amount, **kwargs)  # type: ignore[arg-type]
    assert ledger.hold(d, now=clock.now(), ttl_s=TTL).accepted
    assert ledger.commit(decl_id, now=clock.now()) is Status.committed


def test_void_gives_the_quota_back_at_once_and_records_who_why_when(
    ledger: Ledger, raw_rows: RawRows, clock: FakeClock
) -> None:
    """GIVEN the whole limit committed WHEN an officer voids it THEN it is voided and the quota is free at once."""
    _committed(ledger, clock, "a", LIMIT)
    assert not ledger.hold(decl("b", 1), now=clock.now(), ttl_s=TTL).accepted
    clock.advance(5)
    assert ledger.void("a", officer="officer-7", reason="wrong goods scanned", now=clock.now()) is Status.voided
    stored = ledger.get("a")
    assert stored is not None and stored.status is Status.voided
    assert stored.void == VoidRecord("officer-7", "wrong goods scanned", clock.now())
    assert stored.resolved_at == clock.now() - timedelta(seconds=5)  # the commit time stays
    assert ledger.used("r1", DAY, now=clock.now()) == 0
    assert ledger.remaining("r1", DAY, limit_fen=LIMIT, now=clock.now()) == LIMIT
    assert ledger.hold(decl("b", LIMIT), now=clock.now(), ttl_s=TTL).accepted
    assert {row.id: row.status for row in raw_rows()} == {"a": "voided", "b": "held"}
    clock.advance(TTL + GRACE.total_seconds() + 1)  # still not counted long after
    assert ledger.used("r1", DAY, now=clock.now()) == 0


def test_void_is_idempotent_and_keeps_the_first_record(ledger: Ledger, clock: FakeClock) -> None:
    """Voiding a voided declaration is a no-op returning voided, even the next day."""
    _committed(ledger, clock, "a", 300_000)
    first = clock.now()
    assert ledger.void("a", officer="o1", reason="first", now=first) is Status.voided
    clock.advance(86_400)
    assert ledger.void("a", officer="o2", reason="second", now=clock.now()) is Status.voided
    stored = ledger.get("a")
    assert stored is not None and stored.void == VoidRecord("o1", "first", first)


@pytest.mark.parametrize("how", ["held", "released", "expired", "referred"])
def test_only_committed_declarations_can_be_voided(ledger: Ledger, clock: FakeClock, how: str) -> None:
    """A held, released, expired or referred declaration is not voided: LedgerError naming its status."""
    d = decl("a", 300_000)
    if how == "referred":
        ledger.refer(d, now=clock.now(), reasons=["over_quota"])
    else:
        ledger.hold(d, now=clock.now(), ttl_s=TTL)
    if how == "released":
        ledger.release("a", now=clock.now(), reason="cancelled")
    if how == "expired":
        clock.advance(TTL + 1)
        ledger.expire_holds(now=clock.now())
    before = ledger.get("a")
    with pytest.raises(LedgerError, match=f"is {how}, not committed"):
        ledger.void("a", officer="o1", reason="r", now=clock.now())
    assert ledger.get("a") == before


def test_unknown_id_cannot_be_voided(ledger: Ledger, clock: FakeClock) -> None:
    with pytest.raises(LedgerError, match="unknown declaration"):
        ledger.void("nope", officer="o1", reason="r", now=clock.now())


def test_a_committed_declaration_of_another_day_cannot_be_voided(ledger: Ledger, clock: FakeClock) -> None:
    """Yesterday's committed declaration stays committed and keeps counting against yesterday."""
    yesterday = DAY - timedelta(days=1)
    _committed(ledger, clock, "old", 300_000, day=yesterday)
    with pytest.raises(LedgerError, match=r"committed for 2026-11-24; only a declaration of today \(2026-11-25"):
        ledger.void("old", officer="o1", reason="r", now=clock.now())
    assert status_of(ledger, "old") is Status.committed
    assert ledger.used("r1", yesterday, now=clock.now()) == 300_000


def test_the_day_is_the_beijing_day_of_now(ledger: Ledger, clock: FakeClock) -> None:
    """Beijing midnight is 16:00 UTC: a second before it today's declaration is voidable, a second after not."""
    _committed(ledger, clock, "a", 100)
    _committed(ledger, clock, "b", 100)
    before_midnight = datetime(2026, 11, 25, 15, 59, 59, tzinfo=UTC)
    after_midnight = before_midnight + timedelta(seconds=2)
    assert (beijing_day(before_midnight), beijing_day(after_midnight)) == (DAY, DAY + timedelta(days=1))
    assert ledger.void("a", officer="o1", reason="r", now=before_midnight) is Status.voided
    with pytest.raises(LedgerError, match="only a declaration of today"):
        ledger.void("b", officer="o1", reason="r", now=after_midnight)


def test_a_voided_declaration_is_final(ledger: Ledger, clock: FakeClock) -> None:
    """Commit and release leave it voided; refer raises; a hold retry does not bring its quota back."""
    d = decl("a", 500_000)
    _committed(ledger, clock, "a", 500_000)
    ledger.void("a", officer="o1", reason="r", now=clock.now())
    assert Status.voided in FINAL_STATES
    assert ledger.commit("a", now=clock.now()) is Status.voided
    assert ledger.release("a", now=clock.now(), reason="x") is Status.voided
    with pytest.raises(LedgerError, match="voided and cannot be referred"):
        ledger.refer(d, now=clock.now(), reasons=["late"])
    assert ledger.hold(d, now=clock.now(), ttl_s=TTL).accepted  # the replay of the first result
    assert status_of(ledger, "a") is Status.voided
    assert ledger.used("r1", DAY, now=clock.now()) == 0


def test_void_needs_an_officer_and_a_reason(ledger: Ledger, clock: FakeClock) -> None:
    _committed(ledger, clock, "a", 100)
    with pytest.raises(ValueError, match="officer"):
        ledger.void("a", officer="", reason="r", now=clock.now())
    with pytest.raises(ValueError, match="reason"):
        ledger.void("a", officer="o1", reason="  ", now=clock.now())
    with pytest.raises(ValueError, match="aware"):
        ledger.void("a", officer="o1", reason="r", now=datetime(2026, 11, 25, 12, 0))
    assert status_of(ledger, "a") is Status.committed


def test_list_day_shows_voids(ledger: Ledger, clock: FakeClock) -> None:
    _committed(ledger, clock, "a", 100)
    ledger.void("a", officer="o1", reason="r", now=clock.now())
    [stored] = ledger.list_day(DAY)
    assert stored.status is Status.voided and stored.void is not None and stored.void.officer == "o1"


def test_sqlite_v1_ledger_is_upgraded_with_its_data(tmp_path: Path, clock: FakeClock) -> None:
    """GIVEN a ledger file made by the 0001 schema, with data WHEN opened now THEN 0002 runs and the data stays."""
    path, v1 = tmp_path / "ledger.db", tmp_path / "v1"
    v1.mkdir()
    (v1 / "0001_init.sql").write_text((MIGRATIONS / "0001_init.sql").read_text())
    SqliteLedger(path, migrations_dir=v1).close()
    stamp, later = utc_text(clock.now()), utc_text(clock.now() + timedelta(seconds=TTL))
    with sqlite3.connect(path) as conn:  # rows as the v1 code wrote them
        conn.execute(_INSERT, _row(decl("a", 300_000), Status.committed, (), stamp, later, stamp, 300_000))
        conn.execute(_INSERT, _row(decl("b", 1), Status.referred, ("x",), stamp, None, stamp, None))
    conn.close()
    led = SqliteLedger(path)
    try:
        assert status_of(led, "a") is Status.committed and status_of(led, "b") is Status.referred
        assert led.void("a", officer="o1", reason="r", now=clock.now()) is Status.voided
    finally:
        led.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == LATEST
        assert conn.execute("SELECT count(*) FROM audit").fetchone()[0] == 0
        names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert {"declarations_resident_day", "declarations_status_expiry"} <= names
    conn.close()
