"""Contract tests of the goods caps by quantity (``Declaration.rule_uses``), run against every back-end.

The hold checks, with the money and in the same transaction, that each capped rule's quantity over the
declarations that count (as money counts, plus approved referrals) and this declaration's stays within the cap;
if not, it is refused with ``over_cap`` and nothing is stored.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from kiosk.clock import FakeClock
from kiosk.declaration import HoldResult, RuleUse, Status
from kiosk.ledger import GRACE, Ledger
from tests.ledger.support import (
    DAY,
    FOOD,
    LIMIT,
    SUGAR,
    TTL,
    RawRows,
    decl,
    food,
    over_cap,
    raw_uses,
    status_of,
    sugar,
)


def _hold(ledger: Ledger, clock: FakeClock, decl_id: str, *uses: RuleUse, amount: int = 1_000,
          **kwargs: object) -> HoldResult:
    return ledger.hold(decl(decl_id, amount, uses=uses, **kwargs), now=clock.now(), ttl_s=TTL)  # type: ignore[arg-type]


def test_rule_uses_are_stored_with_the_hold_in_their_order(ledger: Ledger, clock: FakeClock) -> None:
    """A held declaration comes back with its rule uses, duplicates and order kept."""
    uses = (sugar(300), food(2_000), RuleUse("carpet@2026", "piece", 1, 3), sugar(200))
    assert _hold(ledger, clock, "a", *uses).accepted
    stored = ledger.get("a")
    assert stored is not None and stored.declaration.rule_uses == uses
    assert stored.declaration == decl("a", 1_000, uses=uses)
    assert ledger.list_day(DAY) == [stored]


def test_a_cap_is_summed_over_the_day_exactly_at_the_cap_is_accepted(
    ledger: Ledger, ledger_url: str, clock: FakeClock
) -> None:
    """GIVEN 600 g of sugar held WHEN 500 g more THEN refused (over_cap, money untouched, nothing stored);
    400 g fits exactly; then one gram more is refused."""
    assert _hold(ledger, clock, "a", sugar(600), amount=10_000) == HoldResult(True, 10_000, LIMIT - 10_000)
    assert _hold(ledger, clock, "b", sugar(500)) == HoldResult(False, 10_000, LIMIT - 10_000, (SUGAR,))
    assert ledger.get("b") is None
    assert _hold(ledger, clock, "c", sugar(400)).accepted
    assert _hold(ledger, clock, "d", sugar(1)).over_cap == (SUGAR,)
    assert [(u.declaration_id, u.quantity) for u in raw_uses(ledger_url)] == [("a", 600), ("c", 400)]
    assert over_cap(raw_uses(ledger_url)) == {}


def test_only_the_rules_over_their_cap_are_named_in_order(ledger: Ledger, clock: FakeClock) -> None:
    _hold(ledger, clock, "a", sugar(900), food(49_000))
    assert _hold(ledger, clock, "b", food(500), sugar(200)).over_cap == (SUGAR,)
    assert _hold(ledger, clock, "c", food(1_001), sugar(200)).over_cap == (FOOD, SUGAR)
    assert _hold(ledger, clock, "d", food(1_000), sugar(100)).accepted


def test_money_and_caps_are_both_reported(ledger: Ledger, clock: FakeClock) -> None:
    """Over the money limit and a cap at once: refused, with the money figures and the rule."""
    _hold(ledger, clock, "a", sugar(1_000), amount=LIMIT)
    assert _hold(ledger, clock, "b", sugar(1), amount=1) == HoldResult(False, LIMIT, 0, (SUGAR,))
    assert _hold(ledger, clock, "c", amount=1) == HoldResult(False, LIMIT, 0)  # money alone: no rule named


def test_a_rule_named_twice_in_one_declaration_is_summed(ledger: Ledger, clock: FakeClock) -> None:
    """Two lines of sugar in one declaration: their grams add up, against the smaller cap given."""
    assert _hold(ledger, clock, "a", sugar(600), sugar(500)).over_cap == (SUGAR,)
    assert _hold(ledger, clock, "b", sugar(600), sugar(300, cap=800)).over_cap == (SUGAR,)
    assert _hold(ledger, clock, "c", sugar(600), sugar(400)).accepted


def test_pieces_residents_days_and_rules_are_independent(ledger: Ledger, clock: FakeClock) -> None:
    carpets = RuleUse("carpet@2026", "piece", 2, 2)
    assert _hold(ledger, clock, "a", carpets, sugar(1_000)).accepted
    assert _hold(ledger, clock, "b", RuleUse("carpet@2026", "piece", 1, 2)).over_cap == ("carpet@2026",)
    assert _hold(ledger, clock, "c", carpets, sugar(1_000), resident="r2").accepted
    assert _hold(ledger, clock, "d", carpets, sugar(1_000), day=DAY + timedelta(days=1)).accepted
    assert _hold(ledger, clock, "e", food(50_000)).accepted  # another rule, same resident-day


def test_quantities_count_exactly_as_money_does(ledger: Ledger, clock: FakeClock) -> None:
    """Committed and live holds count; a release gives the grams back at once; an expired hold after GRACE; a void
    at once; a referral counts nothing until it is approved."""
    _hold(ledger, clock, "held", sugar(300), amount=1)
    _hold(ledger, clock, "committed", sugar(300))
    ledger.commit("committed", now=clock.now())
    _hold(ledger, clock, "released", sugar(400))
    assert _hold(ledger, clock, "x", sugar(1)).over_cap == (SUGAR,)
    ledger.release("released", now=clock.now(), reason="cancelled")
    ledger.refer(decl("referred", 1, uses=(sugar(400),)), now=clock.now(), reasons=["excluded"])
    assert _hold(ledger, clock, "y", sugar(400), amount=1).accepted  # 300 + 300 + 400: release and referral free
    ledger.release("y", now=clock.now(), reason="cancelled")
    clock.advance(TTL)  # the first hold expires; it still counts for GRACE
    assert ledger.commit("held", now=clock.now()) is Status.expired
    assert _hold(ledger, clock, "z", sugar(401)).over_cap == (SUGAR,)
    clock.advance(GRACE.total_seconds())
    assert _hold(ledger, clock, "z", sugar(700)).accepted
    ledger.commit("z", now=clock.now())
    assert _hold(ledger, clock, "w", sugar(1)).over_cap == (SUGAR,)
    ledger.void("z", officer="o1", reason="r", now=clock.now())
    assert _hold(ledger, clock, "w", sugar(700)).accepted


def test_an_approval_counts_its_quantities_without_checking_the_cap(
    ledger: Ledger, ledger_url: str, clock: FakeClock
) -> None:
    """GIVEN 800 g of sugar committed and a 500 g referral WHEN an officer approves it THEN it is approved (the
    officer judged it) and its grams count: no more sugar today; taxed and rejected referrals count none."""
    _hold(ledger, clock, "c", sugar(800))
    ledger.commit("c", now=clock.now())
    for decl_id, decision in (("t", "taxed"), ("n", "rejected"), ("a", "approved")):
        ledger.refer(decl(decl_id, 1_000, uses=(sugar(500),)), now=clock.now(), reasons=["over_cap"])
        if decision != "approved":
            ledger.decide(decl_id, officer="o1", decision=decision, reason="r", note="", now=clock.now())
            assert _hold(ledger, clock, f"probe-{decl_id}", sugar(200), amount=1).accepted
            ledger.release(f"probe-{decl_id}", now=clock.now(), reason="cancelled")
    stored = ledger.decide("a", officer="o1", decision="approved", reason="r", note="", now=clock.now())
    assert stored.status is Status.approved and stored.declaration.rule_uses == (sugar(500),)
    assert _hold(ledger, clock, "more", sugar(1)).over_cap == (SUGAR,)
    assert over_cap(raw_uses(ledger_url)) == {("r1", "2026-11-25", SUGAR): 1_300}  # what the officer allowed
    ledger.void("a", officer="o1", reason="r", now=clock.now())
    assert _hold(ledger, clock, "more", sugar(200)).accepted


def test_a_retried_hold_replays_its_first_result_and_stores_its_uses_once(
    ledger: Ledger, ledger_url: str, clock: FakeClock
) -> None:
    first = _hold(ledger, clock, "a", sugar(600))
    assert _hold(ledger, clock, "b", sugar(300)).accepted
    assert _hold(ledger, clock, "a", sugar(600)) == first
    assert len(raw_uses(ledger_url)) == 2
    refused = _hold(ledger, clock, "c", sugar(200))
    assert refused.over_cap == (SUGAR,)
    ledger.release("b", now=clock.now(), reason="cancelled")
    assert _hold(ledger, clock, "c", sugar(200)).accepted  # a refused hold stored nothing: its retry is fresh
    assert status_of(ledger, "c") is Status.held


def test_the_referral_keeps_its_uses(ledger: Ledger, raw_rows: RawRows, clock: FakeClock) -> None:
    d = decl("a", 900_000, uses=(sugar(2_000), food(100)))
    ledger.refer(d, now=clock.now(), reasons=["over_cap"])
    stored = ledger.get("a")
    assert stored is not None and stored.declaration == d
    assert [r.declaration.rule_uses for r in ledger.referrals(DAY)] == [d.rule_uses]
    assert [row.status for row in raw_rows()] == ["referred"]


@pytest.mark.parametrize("cap", [0, 1])
def test_small_caps(ledger: Ledger, clock: FakeClock, cap: int) -> None:
    """A cap of 0 refuses any quantity; a cap of 1 takes exactly one."""
    one = RuleUse("seeds@2026", "piece", 1, cap)
    assert _hold(ledger, clock, "a", one).accepted is (cap == 1)
    assert _hold(ledger, clock, "b", one).over_cap == ("seeds@2026",)
