"""The daily duty-free quota as pure functions: dated rules, the Beijing trade day, the decision.

No I/O and no clock reads: the time and the ledger's remaining quota are passed in.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

_CURRENCY = re.compile(r"[A-Z]{3}")


@dataclass(frozen=True)
class QuotaRule:
    """The per-resident daily limit in force from ``effective_from`` (a Beijing calendar day)."""

    effective_from: date
    daily_limit_fen: int
    currency: str = "CNY"

    def __post_init__(self) -> None:
        if isinstance(self.daily_limit_fen, bool) or not isinstance(self.daily_limit_fen, int):
            raise TypeError("daily_limit_fen must be an int")
        if self.daily_limit_fen < 0:
            raise ValueError("daily_limit_fen must not be negative")
        if not _CURRENCY.fullmatch(self.currency):
            raise ValueError(f"currency must be an ISO 4217 code such as CNY, not {self.currency!r}")

    @property
    def version(self) -> str:
        """The rule version recorded on each declaration, e.g. "quota-2026-01-01"."""
        return f"quota-{self.effective_from.isoformat()}"


def trade_day(at: datetime, tz: ZoneInfo) -> date:
    """The calendar day in ``tz`` (Asia/Shanghai for the quota) of an aware datetime."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("trade_day needs an aware datetime")
    return at.astimezone(tz).date()


def rule_for(rules: Sequence[QuotaRule], day: date) -> QuotaRule:
    """The rule with the latest ``effective_from`` on or before ``day``; LookupError if none."""
    in_force = [r for r in rules if r.effective_from <= day]
    if not in_force:
        raise LookupError(f"no quota rule in force on {day.isoformat()}")
    best = max(in_force, key=lambda r: r.effective_from)
    if sum(1 for r in in_force if r.effective_from == best.effective_from) > 1:
        raise ValueError(f"two quota rules take effect on {best.effective_from.isoformat()}")
    return best


@dataclass(frozen=True)
class Decision:
    """The kiosk's decision on a declaration: approve, or refer to an officer with reason keys."""

    approve: bool
    reasons: tuple[str, ...]
    over_by_fen: int


def decide(total_fen: int, remaining_fen: int, unknown_lines: int) -> Decision:
    """Approve within quota; refer with ``unknown_goods`` and/or ``over_quota`` otherwise.

    ``remaining_fen`` may be negative (an officer approved an over-quota declaration earlier
    today); it counts as zero.  An empty declaration is a ValueError: the caller never confirms one.
    """
    for name, value in (("total_fen", total_fen), ("remaining_fen", remaining_fen),
                        ("unknown_lines", unknown_lines)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int")
    if total_fen < 0 or unknown_lines < 0:
        raise ValueError("total_fen and unknown_lines must not be negative")
    if total_fen == 0 and unknown_lines == 0:
        raise ValueError("empty declaration: nothing to decide")
    over_by = max(0, total_fen - max(0, remaining_fen))
    reasons: list[str] = []
    if unknown_lines:
        reasons.append("unknown_goods")
    if over_by:
        reasons.append("over_quota")
    return Decision(approve=not reasons, reasons=tuple(reasons), over_by_fen=over_by)
