"""Negative controls of the store-versus-reports check (tests.ledger.oplog): it must be able to fail."""

from __future__ import annotations

from tests.ledger.oplog import UNCERTAIN, check
from tests.ledger.support import RawRow

LIMIT = 1000


def row(decl_id: str, total: int, status: str, hold_used: int | None = None, resident: str = "r1") -> RawRow:
    """A raw row of resident ``resident`` on one day."""
    return RawRow(decl_id, resident, "2026-11-25", total, LIMIT, status, hold_used)


def test_agreeing_store_passes() -> None:
    """Reported holds, commits, releases and referrals that match the store give no problem."""
    rows = [row("a", 600, "committed", 600), row("b", 300, "released", 900), row("c", 5000, "referred")]
    logs = [[("hold", "a", "accepted"), ("commit", "a", "committed"), ("hold", "b", "accepted"),
             ("release", "b", "released"), ("hold", "x", "refused"), ("refer", "c", "referred")]]
    assert check(rows, logs, LIMIT) == []


def test_overspend_now_and_in_the_past_are_caught() -> None:
    """Over the limit now, and an accepted hold whose running total was over the limit, even if since released."""
    rows = [row("a", 600, "held", 600), row("b", 600, "committed", 1200)]
    log = [("hold", "a", "accepted"), ("hold", "b", "accepted"), ("commit", "b", "committed")]
    assert check(rows, [log], LIMIT) == [
        "hold b accepted at a running total of 1200 > 1000", "('r1', '2026-11-25') holds 1200 > 1000 now"]
    released = [rows[0], rows[1]._replace(status="released")]
    logs = [[("hold", "a", "accepted"), ("hold", "b", "accepted"), ("release", "b", "released")]]
    assert check(released, logs, LIMIT) == ["hold b accepted at a running total of 1200 > 1000"]


def test_lost_unreported_and_wrong_status_are_caught() -> None:
    """A reported hold missing, a row nobody reported, and a status other than reported are each named."""
    rows = [row("b", 100, "held", 100), row("c", 100, "held", 200)]
    logs = [[("hold", "a", "accepted"), ("hold", "c", "accepted"), ("commit", "c", "committed")]]
    assert check(rows, logs, LIMIT) == [
        "a: absent in the store, workers reported held",
        "b: held in the store, workers reported absent",
        "c: held in the store, workers reported committed",
    ]
    assert check(rows + rows[:1], [[("hold", "b", "accepted"), ("hold", "c", "accepted")]], LIMIT) == [
        "1 declaration ids recorded twice"]


def test_uncertain_calls_allow_before_or_after_only() -> None:
    """A call that raised may have happened or not, but nothing else."""
    logs = [[("hold", "a", UNCERTAIN), ("hold", "b", "accepted"), ("commit", "b", UNCERTAIN)]]
    assert check([row("b", 100, "held", 100)], logs, LIMIT) == []
    assert check([row("a", 100, "held", 100), row("b", 100, "expired", 200)], logs, LIMIT) == []
    assert check([row("a", 100, "released", 100), row("b", 100, "held", 200)], logs, LIMIT) == [
        "a: released in the store, workers reported absent/held"]
