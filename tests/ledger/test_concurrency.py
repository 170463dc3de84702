"""Many kiosk processes on one store: nobody overspends, nothing is lost or counted twice (both back-ends).

Eight spawned processes, each with its own ledger instance (as eight kiosks of a port), race round after
round for the last quota of a few hot residents, then run a mixed load; and for the last kilograms of one capped
goods rule. The store is then read directly (tests.ledger.oplog, tests.ledger.support.raw_uses) and compared with
what every process reported.
"""

from __future__ import annotations

import multiprocessing
from datetime import timedelta

from kiosk.ledger import open_ledger
from tests.ledger.oplog import OpLog, check
from tests.ledger.support import DAY, FOOD, LIMIT, RawRows, decl, food, over_cap, raw_uses
from tests.ledger.workers import NOW, TTL, cap_race_worker, finish, race_worker, spawn

WORKERS = 8
ROUNDS = 12
AMOUNT = 300_000  # with 200,000 already committed, exactly two of the eight fit in each round
BASE = 200_000


def test_eight_processes_race_for_the_last_quota(ledger_url: str, raw_rows: RawRows) -> None:
    """GIVEN 6,000.00 left on a hot resident-day WHEN 8 kiosks hold 3,000.00 at once (x12, then mixed load)
    THEN exactly two win each round, and the store holds exactly what every kiosk reported."""
    base_log: OpLog = []
    setup = open_ledger(ledger_url)
    for r in range(ROUNDS):
        d = decl(f"base{r}", BASE, resident=f"hot{r % 3}", day=DAY + timedelta(days=r // 3))
        assert setup.hold(d, now=NOW, ttl_s=TTL).accepted
        setup.commit(d.id, now=NOW)
        base_log += [("hold", d.id, "accepted"), ("commit", d.id, "committed")]
    setup.close()
    barrier = multiprocessing.get_context("spawn").Barrier(WORKERS)
    workers = spawn(race_worker, [(ledger_url, k, ROUNDS, AMOUNT, barrier) for k in range(WORKERS)])
    finish(workers, timeout=60)

    assert [w.crash for w in workers] == [None] * WORKERS
    assert all(w.summary is not None and w.summary["errors"] == 0 for w in workers)
    winners = [sum(r in (w.summary or {})["won"] for w in workers) for r in range(ROUNDS)]
    assert winners == [2] * ROUNDS
    logs = [base_log] + [w.final_log() for w in workers]
    rows = raw_rows()
    assert check(rows, logs, LIMIT) == []
    mixed = [op for w in workers for op in w.log if op[1].startswith("mix-")]
    accepted = sum(op[0] == "hold" and op[2] == "accepted" for op in mixed)
    refused = sum(op[0] == "hold" and op[2] == "refused" for op in mixed)
    assert accepted > 20 and refused > 20, (accepted, refused)  # the mixed load really contended


CAP_ROUNDS = 10
FOOD_BASE = 44_000  # grams of the 50 kg food cap already committed: two more 2.5 kg holds fit, not three
FOOD_GRAMS = 2_500


def test_eight_processes_race_for_the_last_kilograms_of_a_capped_rule(ledger_url: str, raw_rows: RawRows) -> None:
    """GIVEN 44 kg of a 50 kg food cap committed WHEN 8 kiosks hold 2.5 kg at once (x10, money far below the limit)
    THEN exactly two win each round, and in the store the food of every resident-day is exactly 49 kg."""
    base_log: OpLog = []
    setup = open_ledger(ledger_url)
    for r in range(CAP_ROUNDS):
        d = decl(f"pantry{r}", 1_000, resident=f"cook{r}", uses=(food(FOOD_BASE),))
        assert setup.hold(d, now=NOW, ttl_s=TTL).accepted
        setup.commit(d.id, now=NOW)
        base_log += [("hold", d.id, "accepted"), ("commit", d.id, "committed")]
    setup.close()
    barrier = multiprocessing.get_context("spawn").Barrier(WORKERS)
    workers = spawn(cap_race_worker, [(ledger_url, k, CAP_ROUNDS, FOOD_GRAMS, barrier) for k in range(WORKERS)])
    finish(workers, timeout=60)

    assert [w.crash for w in workers] == [None] * WORKERS
    assert all(w.summary is not None and w.summary["errors"] == 0 for w in workers)
    winners = [sum(r in (w.summary or {})["won"] for w in workers) for r in range(CAP_ROUNDS)]
    assert winners == [2] * CAP_ROUNDS
    uses = raw_uses(ledger_url)
    assert over_cap(uses) == {}
    grams: dict[str, int] = {}
    for use in uses:
        assert (use.rule_id, use.status) == (FOOD, "committed")
        grams[use.resident_key] = grams.get(use.resident_key, 0) + use.quantity
    assert grams == {f"cook{r}": FOOD_BASE + 2 * FOOD_GRAMS for r in range(CAP_ROUNDS)}
    assert check(raw_rows(), [base_log] + [w.final_log() for w in workers], LIMIT) == []
