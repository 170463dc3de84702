"""The audit chain (kiosk.audit) on every back-end: append, verify, and tampering caught at the right record.

Tampering is done behind the AuditLog's back, with sqlite3 or psycopg straight on the database.
"""

from __future__ import annotations

import hashlib
import threading
from datetime import timedelta
from typing import Any

import psycopg
import pytest

from kiosk.audit import GENESIS, AuditLog, VerifyResult, canonical_json, open_audit, verify_audit
from kiosk.clock import FakeClock
from kiosk.errors import LedgerError
from kiosk.ledger import backend_of, sqlite_path

_KINDS = ("decision", "override", "gate_release")


def _tamper(url: str, sql: str, *params: Any) -> int:
    """Run one write straight on the database (``?`` placeholders); return the rows it changed."""
    if backend_of(url) == "sqlite":
        import sqlite3

        with sqlite3.connect(sqlite_path(url)) as conn:
            changed = conn.execute(sql, params).rowcount
        conn.close()
        return changed
    with psycopg.connect(url, autocommit=True) as pg:
        return pg.execute(sql.replace("?", "%s").encode(), params).rowcount


@pytest.fixture
def audit(ledger_url: str) -> Any:
    log = open_audit(ledger_url)
    yield log
    log.close()


def _fill(audit: AuditLog, clock: FakeClock, kiosk: str, n: int) -> None:
    for i in range(n):
        clock.advance(1)
        audit.append(_KINDS[i % 3], kiosk_id=kiosk, actor="kiosk" if i % 3 != 1 else "officer-7",
                     data={"declaration_id": f"{kiosk}-d{i}", "masked_id": "6501**********123X", "total_fen": i},
                     now=clock.now())


def test_append_builds_one_chain_per_kiosk_and_verifies(audit: AuditLog, ledger_url: str, clock: FakeClock) -> None:
    """Records get seq 1.. per kiosk, link by prev_hash, and hash = SHA-256(prev_hash + canonical record)."""
    first = audit.append("decision", kiosk_id="k1", actor="kiosk", data={"b": 1, "a": "甲"}, now=clock.now())
    assert (first.seq, first.prev_hash, first.data_json) == (1, GENESIS, '{"a":"甲","b":1}')
    body = canonical_json({"actor": "kiosk", "data": {"a": "甲", "b": 1}, "kind": "decision", "kiosk_id": "k1",
                           "seq": 1, "time": "2026-11-25T04:00:00.000000Z"})
    assert first.hash == hashlib.sha256((GENESIS + body).encode()).hexdigest()
    _fill(audit, clock, "k1", 4)
    _fill(audit, clock, "k2", 3)
    k1 = audit.records("k1")
    assert [r.seq for r in k1] == [1, 2, 3, 4, 5]
    assert all(b.prev_hash == a.hash for a, b in zip(k1, k1[1:], strict=False))
    assert audit.records("k2")[0].prev_hash == GENESIS
    result = audit.verify()
    assert result == VerifyResult(True, 8, None, "8 records in 2 chains verified")
    assert verify_audit(ledger_url) == result


def test_empty_log_verifies(audit: AuditLog) -> None:
    assert audit.verify().ok and audit.verify().records == 0


def test_altered_data_is_caught_at_exactly_that_record(audit: AuditLog, ledger_url: str, clock: FakeClock) -> None:
    """GIVEN 5 records of k1 WHEN record 3's data is edited in the database THEN verify points at (k1, 3)."""
    _fill(audit, clock, "k1", 5)
    _fill(audit, clock, "k2", 2)
    assert _tamper(ledger_url, "UPDATE audit SET data_json = ? WHERE kiosk_id = 'k1' AND seq = 3",
                   '{"declaration_id":"k1-d2","masked_id":"6501**********123X","total_fen":0}') == 1
    result = audit.verify()
    assert not result.ok
    assert result.first_bad == ("k1", 3)
    assert "altered" in result.reason and result.records == 2


@pytest.mark.parametrize(("column", "value"), [("actor", "'officer-9'"), ("kind", "'gate_release'"), ("at", "")])
def test_any_altered_field_is_caught(
    audit: AuditLog, ledger_url: str, clock: FakeClock, column: str, value: str
) -> None:
    _fill(audit, clock, "k1", 4)
    if column == "at":  # the time, moved by one second
        sql = "UPDATE audit SET at = ? WHERE kiosk_id = 'k1' AND seq = 2"
        moved = audit.records("k1")[1].time + timedelta(seconds=1)
        param: Any = moved.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if backend_of(ledger_url) == "sqlite" else moved
        assert _tamper(ledger_url, sql, param) == 1
    else:
        assert _tamper(ledger_url, f"UPDATE audit SET {column} = {value} WHERE kiosk_id = 'k1' AND seq = 2") == 1
    assert audit.verify().first_bad == ("k1", 2)


def test_deleted_middle_record_is_caught(audit: AuditLog, ledger_url: str, clock: FakeClock) -> None:
    """Deleting record 3 of 5 is reported at (k1, 3), as missing."""
    _fill(audit, clock, "k1", 5)
    assert _tamper(ledger_url, "DELETE FROM audit WHERE kiosk_id = 'k1' AND seq = 3") == 1
    result = audit.verify()
    assert (result.ok, result.first_bad) == (False, ("k1", 3))
    assert "missing" in result.reason and "deleted" in result.reason


def test_deleted_and_renumbered_record_is_caught(audit: AuditLog, ledger_url: str, clock: FakeClock) -> None:
    """Deleting record 3 and renumbering 4, 5 to 3, 4 (and the head) still breaks the links at the new 3."""
    _fill(audit, clock, "k1", 5)
    _tamper(ledger_url, "DELETE FROM audit WHERE kiosk_id = 'k1' AND seq = 3")
    _tamper(ledger_url, "UPDATE audit SET seq = seq - 1 WHERE kiosk_id = 'k1' AND seq = 4")
    _tamper(ledger_url, "UPDATE audit SET seq = seq - 1 WHERE kiosk_id = 'k1' AND seq = 5")
    _tamper(ledger_url, "UPDATE audit_heads SET seq = 4 WHERE kiosk_id = 'k1'")
    result = audit.verify()
    assert result.first_bad == ("k1", 3) and "link" in result.reason


def test_records_cut_from_the_end_are_caught(audit: AuditLog, ledger_url: str, clock: FakeClock) -> None:
    """The links cannot show a shortened chain; the head can."""
    _fill(audit, clock, "k1", 5)
    _tamper(ledger_url, "DELETE FROM audit WHERE kiosk_id = 'k1' AND seq >= 4")
    result = audit.verify()
    assert result.first_bad == ("k1", 4) and "deleted from the end" in result.reason


def test_inserted_record_is_caught(audit: AuditLog, ledger_url: str, clock: FakeClock) -> None:
    """A record added after the head (even with a correct link) is reported, as is a whole forged chain."""
    _fill(audit, clock, "k1", 3)
    last = audit.records("k1")[-1]
    at: Any = last.time.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if backend_of(ledger_url) == "sqlite" else last.time
    _tamper(ledger_url, "INSERT INTO audit (kiosk_id, seq, at, kind, actor, data_json, prev_hash, hash)"
                        " VALUES ('k1', 4, ?, 'override', 'x', '{}', ?, 'f00')", at, last.hash)
    result = audit.verify()
    assert result.first_bad == ("k1", 4)
    _tamper(ledger_url, "DELETE FROM audit WHERE kiosk_id = 'k1' AND seq = 4")
    assert audit.verify().ok
    _tamper(ledger_url, "INSERT INTO audit (kiosk_id, seq, at, kind, actor, data_json, prev_hash, hash)"
                        " VALUES ('k9', 1, ?, 'override', 'x', '{}', ?, 'f00')", at, GENESIS)
    assert audit.verify().first_bad == ("k9", 1)


def test_two_kiosks_appending_concurrently_keep_valid_chains(ledger_url: str, clock: FakeClock) -> None:
    """Four threads with their own connections, two per kiosk, append 40 records each: both chains verify."""
    per_thread, errors = 40, []
    barrier = threading.Barrier(4)

    def run(kiosk: str, actor: str) -> None:
        log = open_audit(ledger_url)
        try:
            barrier.wait(timeout=10)
            for i in range(per_thread):
                log.append("decision", kiosk_id=kiosk, actor=actor, data={"i": i}, now=clock.now())
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            log.close()

    threads = [threading.Thread(target=run, args=(k, f"t{n}")) for k in ("k1", "k2") for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    with open_audit(ledger_url) as log:
        result = log.verify()
        assert result.ok, result.reason
        assert result.records == 4 * per_thread
        assert [r.seq for r in log.records("k1")] == list(range(1, 2 * per_thread + 1))


def test_personal_data_and_bad_input_are_refused(audit: AuditLog, clock: FakeClock) -> None:
    """A whole ID number anywhere in a record is refused; data must be plain JSON."""
    with pytest.raises(ValueError, match="ID number"):
        audit.append("decision", kiosk_id="k1", actor="kiosk", data={"id": "11010519491231002X"}, now=clock.now())
    with pytest.raises(ValueError, match="ID number"):
        audit.append("decision", kiosk_id="k1", actor="110105194912310021", data={}, now=clock.now())
    with pytest.raises(ValueError, match="plain JSON"):
        audit.append("decision", kiosk_id="k1", actor="kiosk", data={"x": object()}, now=clock.now())
    with pytest.raises(ValueError, match="kind"):
        audit.append("", kiosk_id="k1", actor="kiosk", data={}, now=clock.now())
    assert audit.verify().records == 0


def test_closed_log_raises(audit: AuditLog, clock: FakeClock) -> None:
    audit.close()
    with pytest.raises(LedgerError, match="closed"):
        audit.append("decision", kiosk_id="k1", actor="kiosk", data={}, now=clock.now())
