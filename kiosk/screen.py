"""The resident screen's view of the checkpoint: one JSON-ready snapshot.

The page renders only from this snapshot (first paint from ``GET /api/v1/state``, then
every ``checkpoint.state`` event), so a dropped stream can always be repaired by
fetching it again.  It never holds the full ID number; the name is masked the way
Chinese public screens do (张*三).  Product names travel in every language so the
resident can switch language without a round trip.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .checkpoint import Checkpoint

BLOCKING = ("idcard", "gate")


def mask_name(name: str) -> str:
    """Keep the first and last character of a name: 张三 -> 张*, 买买提·艾力 -> 买****力."""
    name = name.strip()
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def service_state(health: dict[str, str]) -> str:
    """``ok``, ``degraded`` (scanner missing) or ``out_of_service`` (reader or gate missing)."""
    usable = ("connected", "error")
    if any(health.get(role) not in usable for role in BLOCKING):
        return "out_of_service"
    if health.get("scanner") not in usable:
        return "degraded"
    return "ok"


def snapshot(cp: Checkpoint, now: float) -> dict[str, Any]:
    """Build the screen state from the checkpoint (called on the checkpoint thread)."""
    from .checkpoint import OUTCOMES, SHOPPING

    s = cp.session
    rules = cp.rules
    snap: dict[str, Any] = {
        "phase": cp.phase.value,
        "service": service_state(cp.health),
        "devices": dict(sorted(cp.health.items())),
        "reasons": list(cp.reasons),
        "notice": dict(cp.notice) if cp.notice else None,
        "resident": None,
        "quota": None,
        "lines": [],
        "total_fen": 0,
        "declaration_id": None,
        "warning": None,
        "timer_s": rules.session.result_s if cp.phase in OUTCOMES else None,
    }
    if s is not None:
        total = sum(line.amount_fen for line in s.lines)
        limit = s.rule.daily_limit_fen
        remaining = max(0, limit - s.used_fen)
        snap["resident"] = {"name": mask_name(s.card.name), "masked_id": s.masked_id}
        snap["quota"] = {"limit_fen": limit, "used_fen": s.used_fen, "remaining_fen": remaining,
                         "currency": s.rule.currency, "over_by_fen": max(0, total - remaining)}
        flags = s.flags if len(s.flags) == len(s.lines) else (None,) * len(s.lines)
        snap["lines"] = [_line(rules.catalog, line, flag) for line, flag in zip(s.lines, flags, strict=True)]
        snap["total_fen"] = total
        snap["declaration_id"] = s.declaration.id if s.declaration else None
    if cp.phase in SHOPPING:
        idle = cp.idle_seconds(now)
        if idle >= rules.session.idle_warning_after_s:
            snap["warning"] = {"seconds": rules.session.idle_warning_s}
    return snap


def _line(catalog: Any, line: Any, flag: str | None) -> dict[str, Any]:
    product, _reason = catalog.lookup(line.code) if line.known else (None, None)
    return {
        "code": line.code,
        "names": dict(product.names) if product is not None else {},
        "unit_price_fen": line.unit_price_fen,
        "quantity": line.quantity,
        "amount_fen": line.amount_fen,
        "known": line.known,
        "unit": line.unit,                  # "kg": quantity is grams and the price is per kg
        "flag": flag,                       # the goods reason this line alone refers the declaration for
    }
