"""What the `kiosk ledger` commands call (kiosk.ledger.admin), on both back-ends."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path

import pytest

from kiosk.clock import FakeClock
from kiosk.declaration import Status
from kiosk.errors import LedgerError
from kiosk.ledger import Ledger
from kiosk.ledger.admin import CSV_COLUMNS, MigrationResult, Quota, export_csv, migrate, remaining
from tests.ledger.support import DAY, LATEST, LIMIT, TTL, decl, sugar


def test_list_day_returns_the_days_records_oldest_first(ledger: Ledger, clock: FakeClock) -> None:
    """Only the asked day's declarations come back, in the order the ledger recorded them, whatever their status."""
    ledger.hold(decl("b", 100_000), now=clock.now(), ttl_s=TTL)
    clock.advance(1)
    ledger.refer(decl("a", 900_000), now=clock.now(), reasons=["over_quota"])
    ledger.hold(decl("other-day", 1, day=DAY + timedelta(days=1)), now=clock.now(), ttl_s=TTL)
    clock.advance(1)
    ledger.hold(decl("c", 1, resident="r2"), now=clock.now(), ttl_s=TTL)
    ledger.commit("b", now=clock.now())
    records = ledger.list_day(DAY)
    assert [(r.declaration.id, r.status) for r in records] == [
        ("b", Status.committed), ("a", Status.referred), ("c", Status.held)]
    assert records[0] == ledger.get("b")
    assert ledger.list_day(DAY - timedelta(days=1)) == []


def test_export_csv_writes_one_row_per_declaration(ledger: Ledger, clock: FakeClock) -> None:
    """The CSV has the header, then each declaration with masked ID and keyed hash, never a full ID number."""
    ledger.hold(decl("a", 123_456), now=clock.now(), ttl_s=TTL)
    ledger.commit("a", now=clock.now())
    ledger.refer(decl("b", 900_000), now=clock.now(), reasons=["over_quota", "excluded_goods"])
    out = io.StringIO()
    assert export_csv(ledger, DAY, out) == 2
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert list(rows[0]) == list(CSV_COLUMNS)
    first, second = rows
    assert (first["declaration_id"], first["status"], first["total_fen"], first["total_cny"]) == (
        "a", "committed", "123456", "1,234.56")
    assert (first["masked_id"], first["resident_key"], first["day"]) == ("6501**********123X", "r1", "2026-11-25")
    assert first["recorded_at"] == clock.now().isoformat() and first["expires_at"] != ""
    assert (second["status"], second["reasons"], second["expires_at"]) == ("referred", "over_quota excluded_goods", "")
    assert '"茶叶 tea"' in first["lines_json"]


def test_export_csv_has_the_void_and_decision_columns(ledger: Ledger, clock: FakeClock) -> None:
    """GIVEN a voided declaration, an approved referral (partly duty-free) and a taxed one THEN the CSV shows who,
    why, when and how much for each, and empty columns where there was nothing."""
    start = clock.now()
    ledger.hold(decl("v", 600_000), now=start, ttl_s=TTL)
    ledger.commit("v", now=start)
    clock.advance(10)
    ledger.void("v", officer="officer-2", reason="wrong goods", now=clock.now())
    voided_at = clock.now()
    ledger.hold(decl("c", 500_000, uses=(sugar(700),)), now=clock.now(), ttl_s=TTL)
    ledger.commit("c", now=clock.now())
    ledger.refer(decl("a", 400_000), now=clock.now(), reasons=["over_quota"])
    ledger.refer(decl("t", 100_000), now=clock.now(), reasons=["excluded_goods"])
    clock.advance(5)
    ledger.decide("a", officer="officer-7", decision="approved", reason="resident_need", note="药 medicine, 2 boxes",
                  now=clock.now())
    ledger.decide("t", officer="officer-7", decision="taxed", reason="commercial", note="", now=clock.now())
    out = io.StringIO()
    assert export_csv(ledger, DAY, out) == 4
    rows = {row["declaration_id"]: row for row in csv.DictReader(io.StringIO(out.getvalue()))}
    assert list(rows["v"]) == list(CSV_COLUMNS)
    v, c, a, t = rows["v"], rows["c"], rows["a"], rows["t"]
    assert (v["status"], v["voided_by"], v["void_reason"], v["voided_at"]) == (
        "voided", "officer-2", "wrong goods", voided_at.isoformat())
    assert (v["decision"], v["decided_by"], v["duty_free_fen"], v["taxed_fen"]) == ("", "", "", "")
    assert (c["voided_by"], c["decision"], c["rule_uses_json"]) == (
        "", "", '[{"rule_id": "sugar@2026-01-01", "unit": "kg", "quantity": 700, "cap": 1000}]')
    decided = ("decision", "decided_by", "decision_reason", "decision_note", "decided_at", "duty_free_fen", "taxed_fen")
    assert tuple(a[k] for k in decided) == (
        "approved", "officer-7", "resident_need", "药 medicine, 2 boxes", clock.now().isoformat(), "300000", "100000")
    assert a["status"] == "approved" and a["voided_at"] == ""
    assert tuple(t[k] for k in decided) == ("taxed", "officer-7", "commercial", "", clock.now().isoformat(), "0",
                                            "100000")


def test_remaining_reports_used_and_left(ledger: Ledger, clock: FakeClock) -> None:
    """remaining() gives used, limit and what is left, never below zero."""
    ledger.hold(decl("a", 300_000), now=clock.now(), ttl_s=TTL)
    assert remaining(ledger, "r1", DAY, limit_fen=LIMIT, now=clock.now()) == Quota(300_000, LIMIT, 500_000)
    assert remaining(ledger, "r1", DAY, limit_fen=200_000, now=clock.now()) == Quota(300_000, 200_000, 0)


def test_migrate_a_sqlite_ledger(tmp_path: Path) -> None:
    """migrate() creates and versions a SQLite ledger, then has nothing more to do."""
    path = tmp_path / "ledger.db"
    assert migrate(f"sqlite://{path}") == MigrationResult(str(path), 0, LATEST)
    assert migrate(f"sqlite://{path}") == MigrationResult(str(path), LATEST, LATEST)


def test_migrate_refuses_an_unknown_url() -> None:
    """migrate() names the accepted URL forms."""
    with pytest.raises(LedgerError, match="accepted: sqlite:///absolute/path.db or postgresql://"):
        migrate("mysql://db/ledger")
