"""Contract tests of an officer's decision on a referral (``decide``) and the referral queue (``referrals``), run
against every back-end through the Ledger protocol.

A referral of today becomes approved (its duty-free part, min(total, remaining), counts from now on), taxed or
rejected (no quota); the same decision again answers the stored record; anything else raises LedgerError.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from kiosk.clock import FakeClock
from kiosk.declaration import FINAL_STATES, DecisionRecord, HoldResult, Status, StoredDeclaration
from kiosk.errors import LedgerError
from kiosk.ledger import GRACE, Ledger
from tests.ledger.support import DAY, LIMIT, TTL, RawRows, decl, overspent, status_of


def _committed(ledger: Ledger, clock: FakeClock, decl_id: str, amount: int, **kwargs: object) -> None:
    d = decl(decl_id, amount, **kwargs)  # type: ignore[arg-type]
    assert ledger.hold(d, now=clock.now(), ttl_s=TTL).accepted
    assert ledger.commit(decl_id, now=clock.now()) is Status.committed


def _referred(ledger: Ledger, clock: FakeClock, decl_id: str, amount: int, **kwargs: object) -> None:
    ledger.refer(decl(decl_id, amount, **kwargs), now=clock.now(), reasons=["over_quota"])  # type: ignore[arg-type]


def _decide(ledger: Ledger, clock: FakeClock, decl_id: str, decision: str, *, officer: str = "officer-7",
            reason: str = "goods_checked", note: str = "") -> StoredDeclaration:
    return ledger.decide(decl_id, officer=officer, decision=decision, reason=reason, note=note, now=clock.now())


# --- approved, taxed, rejected ---------------------------------------------------------------------


def test_approval_within_the_remaining_quota_counts_the_whole_total(ledger: Ledger, clock: FakeClock) -> None:
    """GIVEN a 3,000.00 referral and an empty day WHEN approved THEN all of it is duty-free and counts from now on."""
    _referred(ledger, clock, "a", 300_000)
    assert ledger.used("r1", DAY, now=clock.now()) == 0
    clock.advance(30)
    stored = _decide(ledger, clock, "a", "approved", note="checked the carpets")
    assert stored.status is Status.approved
    assert stored.decision == DecisionRecord("officer-7", "approved", "goods_checked", "checked the carpets",
                                             clock.now(), 300_000)
    assert stored.taxed_fen == 0
    assert stored.declaration == decl("a", 300_000)
    assert stored.resolved_at == clock.now() - timedelta(seconds=30)  # the referral time stays
    assert ledger.get("a") == stored
    assert ledger.used("r1", DAY, now=clock.now()) == 300_000
    assert ledger.remaining("r1", DAY, limit_fen=LIMIT, now=clock.now()) == 500_000
    clock.advance(TTL + GRACE.total_seconds() + 3600)  # an approval does not expire
    assert ledger.used("r1", DAY, now=clock.now()) == 300_000


def test_approval_counts_only_what_remains_the_rest_is_taxed(
    ledger: Ledger, raw_rows: RawRows, clock: FakeClock
) -> None:
    """GIVEN 6,000.00 committed WHEN a 5,000.00 referral is approved THEN 2,000.00 is duty-free, 3,000.00 taxed."""
    _committed(ledger, clock, "c", 600_000)
    _referred(ledger, clock, "a", 500_000)
    stored = _decide(ledger, clock, "a", "approved")
    assert stored.decision is not None and stored.decision.duty_free_fen == 200_000
    assert stored.taxed_fen == 300_000
    assert ledger.used("r1", DAY, now=clock.now()) == LIMIT
    assert ledger.hold(decl("b", 1), now=clock.now(), ttl_s=TTL) == HoldResult(False, LIMIT, 0)
    assert {row.id: (row.status, row.duty_free_fen) for row in raw_rows()} == {
        "c": ("committed", None), "a": ("approved", 200_000)}
    assert overspent(raw_rows()) == {}


def test_approval_with_nothing_left_is_all_taxed(ledger: Ledger, clock: FakeClock) -> None:
    """GIVEN the day's quota used up WHEN a referral is approved THEN its duty-free part is 0."""
    _committed(ledger, clock, "c", LIMIT)
    _referred(ledger, clock, "a", 100_000)
    stored = _decide(ledger, clock, "a", "approved")
    assert (stored.status, stored.decision and stored.decision.duty_free_fen, stored.taxed_fen) == (
        Status.approved, 0, 100_000)
    assert ledger.used("r1", DAY, now=clock.now()) == LIMIT


def test_approval_counts_live_holds_and_holds_in_grace(ledger: Ledger, clock: FakeClock) -> None:
    """The remaining quota an approval uses follows the quota rule: live holds and expired ones in GRACE count."""
    ledger.hold(decl("h", 300_000), now=clock.now(), ttl_s=30)
    clock.advance(45)  # expired, still within grace
    _referred(ledger, clock, "a", 700_000)
    assert _decide(ledger, clock, "a", "approved").decision == DecisionRecord(
        "officer-7", "approved", "goods_checked", "", clock.now(), 500_000)


@pytest.mark.parametrize("decision", ["taxed", "rejected"])
def test_taxed_and_rejected_use_no_quota(ledger: Ledger, clock: FakeClock, decision: str) -> None:
    """Taxed sends the whole declaration to a taxed declaration; rejected refuses it; neither counts."""
    _referred(ledger, clock, "a", 500_000)
    stored = _decide(ledger, clock, "a", decision, reason="over_quota", note="")
    assert stored.status is Status(decision)
    assert stored.decision == DecisionRecord("officer-7", decision, "over_quota", "", clock.now(), 0)
    assert stored.taxed_fen == (500_000 if decision == "taxed" else 0)
    assert ledger.used("r1", DAY, now=clock.now()) == 0
    assert ledger.hold(decl("b", LIMIT), now=clock.now(), ttl_s=TTL).accepted


# --- idempotency and refusals ----------------------------------------------------------------------


def test_the_same_decision_again_returns_the_stored_record(ledger: Ledger, clock: FakeClock) -> None:
    """A repeated approval (another officer, later, other words) answers the first record and counts once."""
    _committed(ledger, clock, "c", 500_000)
    _referred(ledger, clock, "a", 400_000)
    first = _decide(ledger, clock, "a", "approved", note="first")
    clock.advance(60)
    _committed(ledger, clock, "d", 100_000, resident="r2")
    again = _decide(ledger, clock, "a", "approved", officer="officer-9", reason="other", note="second")
    assert again == first == ledger.get("a")
    assert ledger.used("r1", DAY, now=clock.now()) == LIMIT
    clock.advance(86_400)  # even on another day: a repeat changes nothing, so it is not refused
    assert _decide(ledger, clock, "a", "approved") == first


def test_a_different_decision_on_a_decided_referral_is_refused(ledger: Ledger, clock: FakeClock) -> None:
    _referred(ledger, clock, "a", 400_000)
    first = _decide(ledger, clock, "a", "taxed")
    for other in ("approved", "rejected"):
        with pytest.raises(LedgerError, match=f"already decided taxed; a different decision \\({other}\\)"):
            _decide(ledger, clock, "a", other)
    assert ledger.get("a") == first
    assert ledger.used("r1", DAY, now=clock.now()) == 0


def test_an_unknown_id_cannot_be_decided(ledger: Ledger, clock: FakeClock) -> None:
    with pytest.raises(LedgerError, match="unknown declaration 'nope'"):
        _decide(ledger, clock, "nope", "approved")


@pytest.mark.parametrize("how", ["held", "committed", "released", "expired", "voided"])
def test_only_a_referral_can_be_decided(ledger: Ledger, clock: FakeClock, how: str) -> None:
    """A held, committed, released, expired or voided declaration is not decided: LedgerError naming its status."""
    ledger.hold(decl("a", 300_000), now=clock.now(), ttl_s=TTL)
    if how in ("committed", "voided"):
        ledger.commit("a", now=clock.now())
    if how == "voided":
        ledger.void("a", officer="o1", reason="r", now=clock.now())
    if how == "released":
        ledger.release("a", now=clock.now(), reason="cancelled")
    if how == "expired":
        clock.advance(TTL + 1)
        ledger.expire_holds(now=clock.now())
    before, used = ledger.get("a"), ledger.used("r1", DAY, now=clock.now())
    for decision in ("approved", "taxed", "rejected"):
        with pytest.raises(LedgerError, match=f"is {how}, not referred: only a referral can be decided"):
            _decide(ledger, clock, "a", decision)
    assert ledger.get("a") == before
    assert ledger.used("r1", DAY, now=clock.now()) == used


def test_only_a_referral_of_today_can_be_decided(ledger: Ledger, clock: FakeClock) -> None:
    """Beijing midnight is 16:00 UTC: a second before it today's referral is decided, a second after it is not."""
    _referred(ledger, clock, "a", 100_000)
    _referred(ledger, clock, "b", 100_000)
    _referred(ledger, clock, "old", 100_000, day=DAY - timedelta(days=1))
    before_midnight = datetime(2026, 11, 25, 15, 59, 59, tzinfo=UTC)
    after_midnight = before_midnight + timedelta(seconds=2)
    with pytest.raises(LedgerError, match=r"referred for 2026-11-24; only a referral of today \(2026-11-25"):
        ledger.decide("old", officer="o1", decision="approved", reason="r", note="", now=before_midnight)
    assert ledger.decide("a", officer="o1", decision="approved", reason="r", note="", now=before_midnight).status \
        is Status.approved
    with pytest.raises(LedgerError, match=r"only a referral of today \(2026-11-26"):
        ledger.decide("b", officer="o1", decision="taxed", reason="r", note="", now=after_midnight)
    assert status_of(ledger, "b") is Status.referred and status_of(ledger, "old") is Status.referred


def test_decide_arguments_are_checked(ledger: Ledger, clock: FakeClock) -> None:
    """An unknown decision, an empty officer or reason, a note that is not text, a naive time: ValueError."""
    _referred(ledger, clock, "a", 100_000)
    now = clock.now()
    with pytest.raises(ValueError, match="decision must be one of approved, taxed, rejected"):
        ledger.decide("a", officer="o1", decision="maybe", reason="r", note="", now=now)
    with pytest.raises(ValueError, match="officer"):
        ledger.decide("a", officer=" ", decision="approved", reason="r", note="", now=now)
    with pytest.raises(ValueError, match="reason"):
        ledger.decide("a", officer="o1", decision="approved", reason="", note="", now=now)
    with pytest.raises(ValueError, match="note"):
        ledger.decide("a", officer="o1", decision="approved", reason="r", note=None, now=now)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="aware"):
        ledger.decide("a", officer="o1", decision="approved", reason="r", note="", now=datetime(2026, 11, 25, 12))
    assert status_of(ledger, "a") is Status.referred and ledger.used("r1", DAY, now=now) == 0


# --- after a decision -------------------------------------------------------------------------------


@pytest.mark.parametrize("decision", ["approved", "taxed", "rejected"])
def test_a_decided_referral_is_final_for_kiosk_calls(ledger: Ledger, clock: FakeClock, decision: str) -> None:
    """Commit and release leave it as it is; a refer (a kiosk's retry, a late replay) changes nothing; a hold of
    its id is refused and stores nothing."""
    d = decl("a", 500_000)
    ledger.refer(d, now=clock.now(), reasons=["over_quota"])
    stored = _decide(ledger, clock, "a", decision)
    assert Status(decision) in FINAL_STATES
    assert ledger.commit("a", now=clock.now()) is Status(decision)
    assert ledger.release("a", now=clock.now(), reason="x") is Status(decision)
    ledger.refer(d, now=clock.now() + timedelta(seconds=5), reasons=["late"])
    assert not ledger.hold(d, now=clock.now(), ttl_s=TTL).accepted
    assert ledger.expire_holds(now=clock.now() + timedelta(hours=1)) == 0
    assert ledger.get("a") == stored


def test_an_approved_declaration_of_today_can_be_voided(ledger: Ledger, raw_rows: RawRows, clock: FakeClock) -> None:
    """GIVEN an approval that took the last quota WHEN an officer voids it THEN its duty-free part returns at once;
    its decision stays recorded; it is no longer pending nor decidable."""
    _committed(ledger, clock, "c", 300_000)
    _referred(ledger, clock, "a", 900_000)
    approved = _decide(ledger, clock, "a", "approved")
    assert not ledger.hold(decl("b", 1), now=clock.now(), ttl_s=TTL).accepted
    clock.advance(10)
    assert ledger.void("a", officer="officer-2", reason="wrong resident", now=clock.now()) is Status.voided
    stored = ledger.get("a")
    assert stored is not None and stored.status is Status.voided
    assert stored.decision == approved.decision and stored.void is not None and stored.void.officer == "officer-2"
    assert ledger.used("r1", DAY, now=clock.now()) == 300_000
    assert ledger.hold(decl("b", 500_000), now=clock.now(), ttl_s=TTL).accepted
    assert _decide(ledger, clock, "a", "approved") == stored  # the same decision: the stored record
    with pytest.raises(LedgerError, match="already decided approved"):
        _decide(ledger, clock, "a", "taxed")
    assert {row.id: row.status for row in raw_rows()} == {"c": "committed", "a": "voided", "b": "held"}


def test_an_approval_of_another_day_cannot_be_voided_nor_a_taxed_one(ledger: Ledger, clock: FakeClock) -> None:
    _referred(ledger, clock, "a", 100_000)
    _referred(ledger, clock, "t", 100_000)
    _decide(ledger, clock, "a", "approved")
    _decide(ledger, clock, "t", "taxed")
    with pytest.raises(LedgerError, match=r"was approved for 2026-11-25; only a declaration of today \(2026-11-26"):
        ledger.void("a", officer="o1", reason="r", now=clock.now() + timedelta(days=1))
    with pytest.raises(LedgerError, match="is taxed, not committed: only a committed or approved declaration"):
        ledger.void("t", officer="o1", reason="r", now=clock.now())
    assert status_of(ledger, "a") is Status.approved and status_of(ledger, "t") is Status.taxed


def test_a_decision_survives_reopening(ledger: Ledger, open_more: Callable[[], Ledger], clock: FakeClock) -> None:
    _referred(ledger, clock, "a", 100_000)
    stored = _decide(ledger, clock, "a", "approved", note="长途 long way")
    ledger.close()
    again = open_more()
    assert again.get("a") == stored and again.used("r1", DAY, now=clock.now()) == 100_000


# --- the referral queue ----------------------------------------------------------------------------


def test_referrals_lists_the_days_referrals_oldest_referral_first(ledger: Ledger, clock: FakeClock) -> None:
    """Pending: still referred, by referral time; all: also decided ones (even voided since); never other days
    or declarations that were never referred."""
    ledger.hold(decl("gate", 100_000), now=clock.now(), ttl_s=TTL)  # held first, referred last (a gate fault)
    clock.advance(1)
    _referred(ledger, clock, "a", 100_000)
    clock.advance(1)
    _referred(ledger, clock, "b", 200_000)
    _referred(ledger, clock, "other-day", 1, day=DAY + timedelta(days=1))
    _committed(ledger, clock, "c", 100_000)
    clock.advance(1)
    _referred(ledger, clock, "t", 300_000)
    clock.advance(1)
    ledger.refer(decl("gate", 100_000), now=clock.now(), reasons=["gate_fault"])
    assert [s.declaration.id for s in ledger.referrals(DAY)] == ["a", "b", "t", "gate"]
    _decide(ledger, clock, "b", "approved")
    _decide(ledger, clock, "t", "taxed")
    ledger.void("b", officer="o1", reason="r", now=clock.now())
    pending = ledger.referrals(DAY)
    assert [s.declaration.id for s in pending] == ["a", "gate"]
    assert pending[0] == ledger.get("a") and all(s.status is Status.referred for s in pending)
    every = ledger.referrals(DAY, pending_only=False)
    assert [(s.declaration.id, s.status) for s in every] == [
        ("a", Status.referred), ("b", Status.voided), ("t", Status.taxed), ("gate", Status.referred)]
    assert ledger.referrals(DAY - timedelta(days=1), pending_only=False) == []
    assert [s.declaration.id for s in ledger.referrals(DAY + timedelta(days=1))] == ["other-day"]


# --- two officers at once ------------------------------------------------------------------------------


def test_two_officers_approving_referrals_of_one_resident_cannot_overspend(
    open_more: Callable[[], Ledger], raw_rows: RawRows, clock: FakeClock
) -> None:
    """GIVEN 5,000.00 committed and two 3,000.00 referrals WHEN two officers (own connections) approve them at once
    (x20) THEN one gets 3,000.00 duty-free and the other 0: together never more than the 3,000.00 left."""
    rounds, now = 20, clock.now()
    desks = [open_more(), open_more()]
    for r in range(rounds):
        resident = f"hot-{r}"
        _committed(desks[0], clock, f"c{r}", 500_000, resident=resident)
        for k in (0, 1):
            _referred(desks[0], clock, f"r{r}-{k}", 300_000, resident=resident)
    results: list[list[int]] = [[], []]
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def officer(k: int) -> None:
        try:
            for r in range(rounds):
                barrier.wait(timeout=10)
                stored = desks[k].decide(f"r{r}-{k}", officer=f"officer-{k}", decision="approved", reason="ok",
                                         note="", now=now)
                assert stored.decision is not None
                results[k].append(stored.decision.duty_free_fen)
        except BaseException as exc:  # reported below, never lost in the thread
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=officer, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert [sorted((results[0][r], results[1][r])) for r in range(rounds)] == [[0, 300_000]] * rounds
    assert all(desks[1].used(f"hot-{r}", DAY, now=now) == LIMIT for r in range(rounds))
    assert overspent(raw_rows()) == {}


def test_an_approval_racing_a_hold_shares_the_quota(
    open_more: Callable[[], Ledger], raw_rows: RawRows, clock: FakeClock
) -> None:
    """GIVEN 5,000.00 left WHEN a kiosk holds 4,000.00 while an officer approves a 4,000.00 referral (x20) THEN
    either the hold wins and 1,000.00 is duty-free, or the approval takes 4,000.00 and the hold is refused."""
    rounds, now = 20, clock.now()
    kiosk, desk = open_more(), open_more()
    for r in range(rounds):
        _committed(kiosk, clock, f"c{r}", 300_000, resident=f"hot-{r}")
        _referred(kiosk, clock, f"ref{r}", 400_000, resident=f"hot-{r}")
    holds: list[bool] = []
    frees: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def run(side: str) -> None:
        try:
            for r in range(rounds):
                barrier.wait(timeout=10)
                if side == "kiosk":
                    holds.append(kiosk.hold(decl(f"h{r}", 400_000, resident=f"hot-{r}"), now=now, ttl_s=TTL).accepted)
                else:
                    record = desk.decide(f"ref{r}", officer="o1", decision="approved", reason="ok", note="",
                                         now=now).decision
                    assert record is not None
                    frees.append(record.duty_free_fen)
        except BaseException as exc:  # reported below
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=run, args=(side,)) for side in ("kiosk", "desk")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert all((held, free) in ((True, 100_000), (False, 400_000)) for held, free in zip(holds, frees, strict=True))
    assert overspent(raw_rows()) == {}
