"""What the officer console shows, as JSON-ready dicts: declarations, alerts, conflicts and the day report.

Pure functions over ledger records: no I/O, no clock.  Nothing here carries a full ID number or a name:
declarations hold only the masked number and the keyed resident hash (of which 16 characters are shown,
enough to tell two residents apart on one screen).  Times are ISO 8601 in Beijing time, the quota's day.
Amounts are integer fen, each with its ``format_fen`` text beside it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

from .declaration import Line, StoredDeclaration
from .ledger import BEIJING
from .money import format_fen
from .officer_codes import DECISION_REASONS, DECISIONS
from .officer_labels import alert_label, reason_label

RESIDENT_CHARS = 16

STATUS_LABELS: dict[str, tuple[str, str]] = {
    "held": ("预留中", "Held"),
    "committed": ("已入账", "Committed"),
    "released": ("已释放", "Released"),
    "expired": ("已过期", "Expired"),
    "referred": ("待关员处理", "Referred"),
    "approved": ("关员已批准", "Approved by officer"),
    "taxed": ("转征税申报", "Sent to taxed declaration"),
    "rejected": ("不予放行", "Rejected by officer"),
    "voided": ("已作废", "Voided"),
}
"""Every declaration status the ledger records, labelled (an unknown one shows its key)."""


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 in Beijing time, or None."""
    return None if moment is None else moment.astimezone(BEIJING).isoformat()


def label(table: Mapping[str, tuple[str, str]], key: str) -> dict[str, str]:
    """``{"key", "zh", "en"}`` from a (zh, en) table; the key itself where it is not in the table."""
    zh, en = table.get(key, (key, key))
    return {"key": key, "zh": zh, "en": en}


def line_view(line: Line) -> dict[str, Any]:
    """One declared article."""
    return {"code": line.code, "name": line.name, "quantity": line.quantity, "unit": line.unit,
            "unit_price_fen": line.unit_price_fen, "amount_fen": line.amount_fen, "known": line.known}


def declaration_view(stored: StoredDeclaration, *, at_kiosk: bool = False) -> dict[str, Any]:
    """A recorded declaration for the console (``at_kiosk``: its resident stands at this kiosk's screen now)."""
    d = stored.declaration
    return {
        "id": d.id, "kiosk_id": d.kiosk_id, "masked_id": d.masked_id, "resident": d.resident_key[:RESIDENT_CHARS],
        "day": d.day.isoformat(), "status": label(STATUS_LABELS, stored.status.value),
        "reasons": [reason_label(r) for r in stored.reasons],
        "lines": [line_view(line) for line in d.lines],
        "total_fen": d.total_fen, "total": format_fen(d.total_fen), "limit_fen": d.limit_fen,
        "created_at": iso(d.created_at), "recorded_at": iso(stored.recorded_at), "resolved_at": iso(stored.resolved_at),
        "decision": decision_view(stored), "void": void_view(stored), "at_kiosk": at_kiosk,
    }


def decision_view(stored: StoredDeclaration) -> dict[str, Any] | None:
    """The officer's decision on a referral, or None while it waits."""
    record = stored.decision
    if record is None:
        return None
    duty_free = record.duty_free_fen
    return {"officer": record.officer, "decision": label(DECISIONS, record.decision),
            "reason": label(DECISION_REASONS, record.reason), "note": record.note or "", "at": iso(record.at),
            "duty_free_fen": duty_free, "duty_free": format_fen(duty_free),
            "taxed_fen": stored.taxed_fen}


def void_view(stored: StoredDeclaration) -> dict[str, Any] | None:
    """Who voided the declaration, why and when, or None."""
    record = stored.void
    if record is None:
        return None
    return {"officer": record.officer, "reason": record.reason, "at": iso(record.at)}


def alert_view(alert: Mapping[str, Any]) -> dict[str, Any]:
    """An officer alert (``checkpoint.alert``) with its labels."""
    kind = str(alert.get("kind", "unknown"))
    zh, en = alert_label(kind)
    return {**alert, "kind": kind, "at": str(alert.get("at", "")), "label": {"key": kind, "zh": zh, "en": en}}


def conflict_view(conflict: Any) -> dict[str, Any]:
    """An offline-journal conflict (kiosk.ledger.offline.Conflict)."""
    return {"declaration_id": conflict.declaration_id, "masked_id": conflict.masked_id,
            "day": conflict.day.isoformat(), "amount_fen": conflict.amount_fen,
            "amount": format_fen(conflict.amount_fen), "reason": str(conflict.reason),
            "recorded_at": iso(conflict.recorded_at)}


def day_report(day: date, records: Iterable[StoredDeclaration]) -> dict[str, Any]:
    """Counts by status, by referral reason and by officer decision, with totals in fen, for one day."""
    records = list(records)
    by_status: Counter[str] = Counter()
    fen_by_status: Counter[str] = Counter()
    by_reason: Counter[str] = Counter()
    by_decision: Counter[str] = Counter()
    duty_free = 0
    for stored in records:
        status = stored.status.value
        by_status[status] += 1
        fen_by_status[status] += stored.declaration.total_fen
        by_reason.update(stored.reasons)
        record = stored.decision
        if record is not None:
            by_decision[record.decision] += 1
            if status == "approved":
                duty_free += record.duty_free_fen
        elif status == "committed":
            duty_free += stored.declaration.total_fen
    statuses = [s for s in STATUS_LABELS if s in by_status] + sorted(set(by_status) - set(STATUS_LABELS))
    return {
        "day": day.isoformat(),
        "declarations": len(records),
        "by_status": [{**label(STATUS_LABELS, s), "count": by_status[s], "total_fen": fen_by_status[s],
                       "total": format_fen(fen_by_status[s])} for s in statuses],
        "by_reason": [{**reason_label(r), "count": n}
                      for r, n in sorted(by_reason.items(), key=lambda kv: (-kv[1], kv[0]))],
        "by_decision": [{**label(DECISIONS, d), "count": by_decision[d]} for d in
                        [*DECISIONS, *sorted(set(by_decision) - set(DECISIONS))] if by_decision[d]],
        "duty_free_fen": duty_free, "duty_free": format_fen(duty_free),
    }
