"""What workers report doing, and the check of the store against it (tests and benchmark).

Each worker logs its own declaration ids, in order: ``(kind, id, outcome)`` with kind ``hold``, ``commit``,
``release`` or ``refer``. An outcome is what the ledger answered (``accepted``/``refused`` for a hold, the
resulting status otherwise), or ``UNCERTAIN`` when the call raised LedgerError or the worker was killed while
it ran: then either the state before or the state the call would produce is allowed, nothing else.

``check`` reads the rows straight from the store and lists every problem: a resident-day over the limit now
(held + committed + the duty-free part of approved referrals), an accepted hold whose recorded running total went
over the limit when it was accepted (the database's own serial order, so an overspend that was later released is
still caught), a reported declaration missing or in another status, and a row nobody reported.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from tests.ledger.support import RawRow

UNCERTAIN = "?"
OpLog = list[tuple[str, str, str]]
_ABSENT = ""

# The statuses an operation can produce, when it is not known whether it did.
_EFFECTS = {
    "hold": {"held"},
    "commit": {"committed", "expired"},
    "release": {"released"},
    "refer": {"referred"},
}


def expected_states(logs: Iterable[OpLog]) -> dict[str, set[str]]:
    """For each id, the statuses its row may have (``""`` = no row), replaying each worker's log in order."""
    allowed: dict[str, set[str]] = {}
    for log in logs:
        for kind, decl_id, outcome in log:
            before = allowed.get(decl_id, {_ABSENT})
            allowed[decl_id] = _after(kind, outcome, before)
    return allowed


def _after(kind: str, outcome: str, before: set[str]) -> set[str]:
    """The allowed statuses after one operation with a known or uncertain outcome."""
    if outcome == UNCERTAIN:
        return before | _EFFECTS[kind]
    if kind == "hold" and outcome == "accepted":
        # New, it is held; retried, the recorded hold answers again and nothing changes.
        return (before - {_ABSENT}) | ({"held"} if _ABSENT in before else set())
    if kind == "hold":
        # Refused: no accepted hold exists under this id (none, or a referral).
        return (before & {_ABSENT, "referred"}) or before
    if kind == "refer":
        return {"referred"}
    return {outcome}


def check(rows: list[RawRow], logs: Iterable[OpLog], limit_fen: int) -> list[str]:
    """Every way the store disagrees with the quota rule or with what the workers reported."""
    problems: list[str] = []
    ids = [row.id for row in rows]
    if len(ids) != len(set(ids)):
        problems.append(f"{len(ids) - len(set(ids))} declaration ids recorded twice")
    live: dict[tuple[str, str], int] = defaultdict(int)
    for row in rows:
        if row.status in ("held", "committed"):
            live[(row.resident_key, row.day)] += row.total_fen
        elif row.status == "approved":  # an officer's approval counts its duty-free part
            live[(row.resident_key, row.day)] += row.duty_free_fen or 0
        if row.hold_used_fen is not None and row.hold_used_fen > limit_fen:
            problems.append(f"hold {row.id} accepted at a running total of {row.hold_used_fen} > {limit_fen}")
    problems += [f"{key} holds {total} > {limit_fen} now" for key, total in live.items() if total > limit_fen]
    allowed = expected_states(logs)
    stored = {row.id: row.status for row in rows}
    for decl_id in sorted(set(allowed) | set(stored)):
        actual = stored.get(decl_id, _ABSENT)
        expected = allowed.get(decl_id, {_ABSENT})
        if actual not in expected:
            shown = "/".join(sorted(s or "absent" for s in expected))
            problems.append(f"{decl_id}: {actual or 'absent'} in the store, workers reported {shown}")
    return problems
