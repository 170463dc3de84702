"""Contract tests of the quota ledger, run against every back-end through the Ledger protocol.

Fixtures (one store per back-end, extra instances, a raw reader) are in conftest.py; back-end
specifics such as URLs, files and schema versions are in test_sqlite.py.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from kiosk.clock import FakeClock
from kiosk.declaration import Declaration, HoldResult, Status
from kiosk.errors import LedgerError
from kiosk.ledger import GRACE, Ledger
from tests.ledger.support import DAY, LIMIT, TTL, RawRow, RawRows, decl, overspent, status_of

# --- hold: the quota rule --------------------------------------------------------------------------


def test_ledger_satisfies_the_protocol(ledger: Ledger) -> None:
    """The back-end is a Ledger."""
    assert isinstance(ledger, Ledger)


def test_hold_within_limit_is_accepted_and_recorded(ledger: Ledger, clock: FakeClock) -> None:
    """GIVEN an empty day WHEN 3,000.00 CNY is held THEN it is accepted and stored as held."""
    result = ledger.hold(decl("d1", 300_000), now=clock.now(), ttl_s=TTL)
    assert result == HoldResult(True, 300_000, 500_000)
    stored = ledger.get("d1")
    assert stored is not None
    assert stored.status is Status.held
    assert stored.declaration == decl("d1", 300_000)
    assert stored.recorded_at == clock.now()
    assert stored.expires_at == clock.now() + timedelta(seconds=TTL)
    assert stored.resolved_at is None
    assert ledger.used("r1", DAY, now=clock.now()) == 300_000
    assert ledger.remaining("r1", DAY, limit_fen=LIMIT, now=clock.now()) == 500_000


def test_exactly_at_limit_is_accepted_one_fen_over_is_refused(
    ledger: Ledger, raw_rows: RawRows, clock: FakeClock
) -> None:
    """GIVEN 5,000.00 used WHEN 3,000.00 then 0.01 are held THEN the first fits, the second stores nothing."""
    now = clock.now()
    assert ledger.hold(decl("a", 500_000), now=now, ttl_s=TTL).accepted
    assert ledger.hold(decl("b", 300_000), now=now, ttl_s=TTL) == HoldResult(True, LIMIT, 0)
    assert ledger.hold(decl("c", 1), now=now, ttl_s=TTL) == HoldResult(False, LIMIT, 0)
    assert ledger.get("c") is None
    assert sorted(row.id for row in raw_rows()) == ["a", "b"]


def test_refused_hold_reports_current_usage(ledger: Ledger, clock: FakeClock) -> None:
    """A refused hold reports what is used and what is left, unchanged."""
    ledger.hold(decl("a", 700_000), now=clock.now(), ttl_s=TTL)
    assert ledger.hold(decl("b", 100_001), now=clock.now(), ttl_s=TTL) == HoldResult(False, 700_000, 100_000)
    assert ledger.used("r1", DAY, now=clock.now()) == 700_000


def test_zero_limit_refuses_any_amount(ledger: Ledger, clock: FakeClock) -> None:
    """A limit of 0 refuses even one fen."""
    assert not ledger.hold(decl("a", 1, limit=0), now=clock.now(), ttl_s=TTL).accepted


def test_days_and_residents_are_independent(ledger: Ledger, clock: FakeClock) -> None:
    """GIVEN r1's day used up THEN r1's next day and r2's same day still have the full limit."""
    now = clock.now()
    nextday = DAY + timedelta(days=1)
    assert ledger.hold(decl("a", LIMIT), now=now, ttl_s=TTL).accepted
    assert ledger.remaining("r1", DAY, limit_fen=LIMIT, now=now) == 0
    assert ledger.remaining("r1", nextday, limit_fen=LIMIT, now=now) == LIMIT
    assert ledger.remaining("r2", DAY, limit_fen=LIMIT, now=now) == LIMIT
    assert ledger.hold(decl("b", LIMIT, day=nextday), now=now, ttl_s=TTL).accepted
    assert ledger.hold(decl("c", LIMIT, resident="r2"), now=now, ttl_s=TTL).accepted
    assert not ledger.hold(decl("d", 1), now=now, ttl_s=TTL).accepted


def test_remaining_never_goes_below_zero(ledger: Ledger, clock: FakeClock) -> None:
    """Under a limit lowered below what is used, remaining is 0."""
    ledger.hold(decl("a", 600_000), now=clock.now(), ttl_s=TTL)
    assert ledger.remaining("r1", DAY, limit_fen=500_000, now=clock.now()) == 0


# --- idempotency -----------------------------------------------------------------------------------


def test_hold_retry_returns_the_original_result_and_changes_nothing(ledger: Ledger, clock: FakeClock) -> None:
    """GIVEN a, then b held WHEN a is retried (also after commit) THEN a's first result returns, once."""
    first = ledger.hold(decl("a", 300_000), now=clock.now(), ttl_s=TTL)
    ledger.hold(decl("b", 200_000), now=clock.now(), ttl_s=TTL)
    clock.advance(5)
    assert ledger.hold(decl("a", 300_000), now=clock.now(), ttl_s=TTL) == first
    assert ledger.used("r1", DAY, now=clock.now()) == 500_000
    stored = ledger.get("a")
    assert stored is not None and stored.recorded_at == clock.now() - timedelta(seconds=5)
    assert ledger.commit("a", now=clock.now()) is Status.committed
    assert ledger.hold(decl("a", 300_000), now=clock.now(), ttl_s=TTL) == first
    assert status_of(ledger, "a") is Status.committed


def test_refused_hold_can_be_retried_once_quota_frees(ledger: Ledger, clock: FakeClock) -> None:
    """A refused hold stored nothing, so its retry is a fresh attempt."""
    ledger.hold(decl("a", 600_000), now=clock.now(), ttl_s=TTL)
    assert not ledger.hold(decl("b", 300_000), now=clock.now(), ttl_s=TTL).accepted
    ledger.release("a", now=clock.now(), reason="cancelled")
    assert ledger.hold(decl("b", 300_000), now=clock.now(), ttl_s=TTL) == HoldResult(True, 300_000, 500_000)


def test_hold_with_a_reused_id_and_other_content_is_an_error(ledger: Ledger, clock: FakeClock) -> None:
    """The same id with another amount or resident is refused loudly, and nothing changes."""
    ledger.hold(decl("a", 300_000), now=clock.now(), ttl_s=TTL)
    with pytest.raises(LedgerError, match="different content"):
        ledger.hold(decl("a", 300_001), now=clock.now(), ttl_s=TTL)
    with pytest.raises(LedgerError, match="different content"):
        ledger.refer(decl("a", 300_000, resident="r2"), now=clock.now(), reasons=["x"])
    assert ledger.used("r1", DAY, now=clock.now()) == 300_000


def test_commit_is_idempotent(ledger: Ledger, clock: FakeClock) -> None:
    """Committing twice (even after the hold would have expired) stays committed and counts once."""
    ledger.hold(decl("a", 300_000), now=clock.now(), ttl_s=TTL)
    assert ledger.commit("a", now=clock.now()) is Status.committed
    clock.advance(TTL + GRACE.total_seconds() + 1)
    assert ledger.commit("a", now=clock.now()) is Status.committed
    assert ledger.expire_holds(now=clock.now()) == 0
    assert ledger.used("r1", DAY, now=clock.now()) == 300_000


def test_release_returns_quota_and_is_idempotent(ledger: Ledger, clock: FakeClock) -> None:
    """GIVEN the whole limit held WHEN released (twice) THEN the quota is back at once."""
    ledger.hold(decl("a", LIMIT), now=clock.now(), ttl_s=TTL)
    assert not ledger.hold(decl("b", 1), now=clock.now(), ttl_s=TTL).accepted
    assert ledger.release("a", now=clock.now(), reason="cancelled") is Status.released
    assert ledger.release("a", now=clock.now(), reason="again") is Status.released
    stored = ledger.get("a")
    assert stored is not None and stored.reasons == ("cancelled",) and stored.resolved_at == clock.now()
    assert ledger.used("r1", DAY, now=clock.now()) == 0
    assert ledger.hold(decl("b", LIMIT), now=clock.now(), ttl_s=TTL).accepted
    assert ledger.commit("a", now=clock.now()) is Status.released


def test_refer_records_without_quota_and_is_idempotent(ledger: Ledger, clock: FakeClock) -> None:
    """GIVEN a referral WHEN referred again or held with its id THEN nothing changes and no quota is used."""
    d = decl("a", 900_000)
    ledger.refer(d, now=clock.now(), reasons=["over_quota"])
    ledger.refer(d, now=clock.now() + timedelta(seconds=1), reasons=["other"])
    stored = ledger.get("a")
    assert stored is not None
    assert (stored.status, stored.reasons, stored.declaration) == (Status.referred, ("over_quota",), d)
    assert stored.expires_at is None and stored.resolved_at == clock.now()
    assert ledger.used("r1", DAY, now=clock.now()) == 0
    assert ledger.hold(d, now=clock.now(), ttl_s=TTL) == HoldResult(False, 0, LIMIT)
    assert ledger.commit("a", now=clock.now()) is Status.referred
    assert ledger.release("a", now=clock.now(), reason="x") is Status.referred
    assert ledger.get("a") == stored


def test_referring_a_held_declaration_gives_its_quota_back(ledger: Ledger, clock: FakeClock) -> None:
    """A hold that must go to an officer (e.g. a gate fault) becomes referred and frees its quota."""
    ledger.hold(decl("a", 500_000), now=clock.now(), ttl_s=TTL)
    ledger.refer(decl("a", 500_000), now=clock.now(), reasons=["gate_fault"])
    assert status_of(ledger, "a") is Status.referred
    assert ledger.used("r1", DAY, now=clock.now()) == 0
    assert ledger.commit("a", now=clock.now()) is Status.referred


def test_committed_cannot_be_released_or_referred(ledger: Ledger, clock: FakeClock) -> None:
    """Committing is final: release and refer raise, and the quota stays spent."""
    ledger.hold(decl("a", 500_000), now=clock.now(), ttl_s=TTL)
    ledger.commit("a", now=clock.now())
    with pytest.raises(LedgerError, match="committed"):
        ledger.release("a", now=clock.now(), reason="cancelled")
    with pytest.raises(LedgerError, match="committed"):
        ledger.refer(decl("a", 500_000), now=clock.now(), reasons=["late"])
    assert status_of(ledger, "a") is Status.committed
    assert ledger.used("r1", DAY, now=clock.now()) == 500_000


def test_unknown_ids(ledger: Ledger, clock: FakeClock) -> None:
    """Commit and release of an unknown id raise; get returns None."""
    with pytest.raises(LedgerError, match="unknown declaration"):
        ledger.commit("nope", now=clock.now())
    with pytest.raises(LedgerError, match="unknown declaration"):
        ledger.release("nope", now=clock.now(), reason="x")
    assert ledger.get("nope") is None


# --- expiry and grace ------------------------------------------------------------------------------


def test_commit_just_before_expiry_succeeds(ledger: Ledger, clock: FakeClock) -> None:
    """A hold is committable while expires_at > now."""
    ledger.hold(decl("a", 100), now=clock.now(), ttl_s=30)
    clock.advance(30 - 1e-6)
    assert ledger.commit("a", now=clock.now()) is Status.committed


def test_commit_after_expiry_is_expired_and_quota_returns_after_grace(
    ledger: Ledger, clock: FakeClock
) -> None:
    """GIVEN a 30 s hold WHEN committed at expiry THEN expired; its quota comes back only after GRACE."""
    ledger.hold(decl("a", 500_000), now=clock.now(), ttl_s=30)
    clock.advance(30)
    assert ledger.commit("a", now=clock.now()) is Status.expired
    assert ledger.commit("a", now=clock.now()) is Status.expired
    stored = ledger.get("a")
    assert stored is not None and stored.reasons == ("hold_expired",) and stored.resolved_at == clock.now()
    assert ledger.used("r1", DAY, now=clock.now()) == 500_000
    assert not ledger.hold(decl("b", 400_000), now=clock.now(), ttl_s=30).accepted
    clock.advance(GRACE.total_seconds() - 1e-6)
    assert ledger.used("r1", DAY, now=clock.now()) == 500_000
    clock.advance(1e-6)
    assert ledger.used("r1", DAY, now=clock.now()) == 0
    assert ledger.hold(decl("b", 400_000), now=clock.now(), ttl_s=30) == HoldResult(True, 400_000, 400_000)


def test_expired_hold_can_then_be_referred(ledger: Ledger, clock: FakeClock) -> None:
    """After commit says expired, the caller refers the same declaration."""
    ledger.hold(decl("a", 500_000), now=clock.now(), ttl_s=30)
    clock.advance(31)
    assert ledger.commit("a", now=clock.now()) is Status.expired
    ledger.refer(decl("a", 500_000), now=clock.now(), reasons=["hold_expired"])
    assert status_of(ledger, "a") is Status.referred
    assert ledger.release("a", now=clock.now(), reason="x") is Status.referred


def test_expire_holds_marks_only_due_holds(ledger: Ledger, clock: FakeClock) -> None:
    """GIVEN holds expiring at 10, 20, 30 s and one committed WHEN swept at 20 s THEN two expire, once."""
    for i, ttl in enumerate((10, 20, 30)):
        ledger.hold(decl(f"h{i}", 100_000), now=clock.now(), ttl_s=ttl)
    ledger.hold(decl("c", 100_000), now=clock.now(), ttl_s=10)
    ledger.commit("c", now=clock.now())
    clock.advance(20)
    before = ledger.used("r1", DAY, now=clock.now())
    assert ledger.expire_holds(now=clock.now()) == 2
    assert ledger.expire_holds(now=clock.now()) == 0
    statuses = [status_of(ledger, i) for i in ("h0", "h1", "h2", "c")]
    assert statuses == [Status.expired, Status.expired, Status.held, Status.committed]
    assert ledger.used("r1", DAY, now=clock.now()) == before == 400_000  # grace: sweeping frees nothing yet
    assert ledger.commit("h0", now=clock.now()) is Status.expired
    assert ledger.commit("h2", now=clock.now()) is Status.committed
    assert ledger.release("h1", now=clock.now(), reason="x") is Status.expired
    clock.advance(GRACE.total_seconds())
    assert ledger.used("r1", DAY, now=clock.now()) == 200_000


def test_unswept_expired_hold_stops_counting_after_grace(ledger: Ledger, clock: FakeClock) -> None:
    """Counting is time-based: a crashed kiosk's hold frees its quota even if nobody sweeps."""
    ledger.hold(decl("a", LIMIT), now=clock.now(), ttl_s=TTL)
    clock.advance(TTL + GRACE.total_seconds())
    assert ledger.hold(decl("b", LIMIT), now=clock.now(), ttl_s=TTL).accepted
    assert status_of(ledger, "a") is Status.held
    assert ledger.commit("a", now=clock.now()) is Status.expired


# --- arguments, lifecycle, durability --------------------------------------------------------------


def test_naive_or_bad_arguments_are_rejected(ledger: Ledger) -> None:
    """Naive datetimes, a non-positive TTL and empty reasons are caller bugs: ValueError."""
    naive = datetime(2026, 11, 25, 4, 0)
    aware = naive.replace(tzinfo=UTC)
    with pytest.raises(ValueError, match="aware"):
        ledger.hold(decl("a", 1), now=naive, ttl_s=TTL)
    with pytest.raises(ValueError, match="aware"):
        ledger.used("r1", DAY, now=naive)
    with pytest.raises(ValueError, match="ttl_s"):
        ledger.hold(decl("a", 1), now=aware, ttl_s=0)
    with pytest.raises(ValueError, match="reason"):
        ledger.refer(decl("a", 1), now=aware, reasons=[])
    assert ledger.get("a") is None


def test_closed_ledger_raises(ledger: Ledger, clock: FakeClock) -> None:
    """After close every call raises LedgerError; close is idempotent."""
    ledger.close()
    ledger.close()
    with pytest.raises(LedgerError, match="closed"):
        ledger.hold(decl("a", 1), now=clock.now(), ttl_s=TTL)
    with pytest.raises(LedgerError, match="closed"):
        ledger.get("a")


def test_reopening_keeps_everything(
    ledger: Ledger, open_more: Callable[[], Ledger], clock: FakeClock
) -> None:
    """GIVEN every kind of record WHEN the ledger is closed and reopened THEN all is there, unchanged."""
    now = clock.now()
    ledger.hold(decl("held", 100_000), now=now, ttl_s=TTL)
    ledger.hold(decl("committed", 200_000), now=now, ttl_s=TTL)
    ledger.commit("committed", now=now)
    ledger.hold(decl("released", 300_000), now=now, ttl_s=TTL)
    ledger.release("released", now=now, reason="cancelled")
    ledger.refer(decl("referred", 900_000), now=now, reasons=["over_quota", "excluded_goods"])
    ids = ("held", "committed", "released", "referred")
    before = [ledger.get(i) for i in ids]
    ledger.close()
    again = open_more()
    assert [again.get(i) for i in ids] == before
    assert again.used("r1", DAY, now=now) == 300_000
    assert again.commit("held", now=now) is Status.committed


def test_a_second_instance_sees_writes_at_once(open_more: Callable[[], Ledger], clock: FakeClock) -> None:
    """Two kiosks on one store share the quota."""
    one, two = open_more(), open_more()
    one.hold(decl("a", 500_000), now=clock.now(), ttl_s=TTL)
    assert two.used("r1", DAY, now=clock.now()) == 500_000
    assert not two.hold(decl("b", 300_001, kiosk="k2"), now=clock.now(), ttl_s=TTL).accepted
    assert two.commit("a", now=clock.now()) is Status.committed


# --- concurrency -----------------------------------------------------------------------------------


def test_overspend_check_can_fail() -> None:
    """Negative control: the invariant check flags a resident-day over its limit."""
    rows = [
        RawRow("a", "r1", "2026-11-25", 600, 1000, "held"),
        RawRow("b", "r1", "2026-11-25", 600, 1000, "committed"),
    ]
    assert overspent(rows) == {("r1", "2026-11-25"): 1200}
    assert overspent([*rows[:1], rows[1]._replace(status="released")]) == {}


def test_two_kiosks_race_for_the_last_quota(
    open_more: Callable[[], Ledger], raw_rows: RawRows, clock: FakeClock
) -> None:
    """GIVEN 400 of 1000 committed WHEN two kiosks hold 600 at once (x50) THEN exactly one wins each time."""
    rounds, now = 50, clock.now()
    kiosks = [open_more(), open_more()]
    for r in range(rounds):
        kiosks[0].hold(decl(f"base-{r}", 400, resident=f"racer-{r}", limit=1000), now=now, ttl_s=300)
        kiosks[0].commit(f"base-{r}", now=now)
    barrier = threading.Barrier(2)
    results: list[list[HoldResult]] = [[], []]
    errors: list[BaseException] = []

    def run(k: int) -> None:
        try:
            for r in range(rounds):
                d = decl(f"race-{r}-{k}", 600, resident=f"racer-{r}", limit=1000, kiosk=f"k{k}")
                barrier.wait(timeout=10)
                results[k].append(kiosks[k].hold(d, now=now, ttl_s=300))
        except BaseException as exc:  # reported below, never lost in the thread
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=run, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors
    for r in range(rounds):
        pair = (results[0][r], results[1][r])
        assert sorted(res.accepted for res in pair) == [False, True], f"round {r}: {pair}"
        assert all((res.used_fen, res.remaining_fen) == (1000, 0) for res in pair)
    rows = raw_rows()
    assert overspent(rows) == {}
    assert sum(row.id.startswith("race-") for row in rows) == rounds


def test_soak_many_threads_never_overspend(
    open_more: Callable[[], Ledger], raw_rows: RawRows, clock: FakeClock
) -> None:
    """GIVEN 8 threads on 4 instances WHEN they hold/retry/commit/release/refer THEN the store agrees."""
    now, days = clock.now(), (DAY, DAY + timedelta(days=1))
    instances = [open_more() for _ in range(4)]
    expected: dict[str, str] = {}
    errors: list[BaseException] = []
    counts = {"accepted": 0, "refused": 0}
    guard = threading.Lock()

    def run(t: int) -> None:
        rng, led, pending = random.Random(t), instances[t // 2], []
        try:
            for i in range(40):
                d = decl(f"t{t}-{i}", rng.randrange(5_000, 300_000), resident=f"r{rng.randrange(4)}",
                         day=rng.choice(days), kiosk=f"k{t}")
                mine = _soak_step(led, d, rng, now, pending, expected, guard)
                with guard:
                    counts[mine] += 1
            for d_id in pending:
                assert led.commit(d_id, now=now) is Status.committed
                expected[d_id] = "committed"
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    assert not errors
    assert counts["accepted"] > 20 and counts["refused"] > 20  # the limit was really contended
    rows = raw_rows()
    assert overspent(rows) == {}
    assert len(rows) == len({row.id for row in rows})
    assert {row.id: row.status for row in rows} == expected


def _soak_step(
    led: Ledger,
    d: Declaration,
    rng: random.Random,
    now: datetime,
    pending: list[str],
    expected: dict[str, str],
    guard: threading.Lock,
) -> str:
    """One soak operation: refer, or hold (maybe retried) then maybe resolve the oldest pending hold."""
    if rng.random() < 0.1:
        led.refer(d, now=now, reasons=["excluded_goods"])
        with guard:
            expected[d.id] = "referred"
        return "refused"
    result = led.hold(d, now=now, ttl_s=300)
    assert result.used_fen <= d.limit_fen
    if rng.random() < 0.2:  # a retry: replays an accepted hold; after a refusal it is a fresh attempt
        again = led.hold(d, now=now, ttl_s=300)
        assert again == result or not result.accepted
        result = again
    if not result.accepted:
        return "refused"
    with guard:
        expected[d.id] = "held"
    pending.append(d.id)
    if len(pending) > 3:
        oldest = pending.pop(0)
        commit = rng.random() < 0.75
        status = led.commit(oldest, now=now) if commit else led.release(oldest, now=now, reason="cancelled")
        assert status is (Status.committed if commit else Status.released)
        with guard:
            expected[oldest] = status.value
    return "accepted"
