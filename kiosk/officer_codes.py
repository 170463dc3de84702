"""The officer console's fixed vocabulary: decisions, reason codes for each action, and officer errors.

An officer never types a free reason where a code will do: every decision, manual gate release and
void carries one of the codes below (stable keys, labelled in Chinese and English for the console)
plus an optional note.  Notes are free text, so they are cleaned before they reach the ledger or the
audit log: control characters dropped, length capped, and anything shaped like a whole resident ID
number masked (the audit log refuses whole ID numbers, and an unaudited action is worse than a
masked note).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from .errors import KioskError
from .identity import mask_id

DECISIONS: dict[str, tuple[str, str]] = {
    "approved": ("批准免税部分", "Approve the duty-free part"),
    "taxed": ("转征税申报", "Send to taxed declaration"),
    "rejected": ("不予放行", "Reject"),
}
"""What an officer can decide on a referred declaration (ledger.decide), with its labels."""

DECISION_REASONS: dict[str, tuple[str, str]] = {
    "goods_checked": ("已查验货物，与申报一致", "Goods checked: they match the declaration"),
    "unknown_goods_identified": ("未知商品已人工核定", "Unknown goods identified by the officer"),
    "quota_exceeded_taxed": ("超出免税额度，超出部分征税", "Over the duty-free quota: the rest is taxed"),
    "not_eligible": ("不符合边民免税条件", "Not eligible for the border-resident allowance"),
    "prohibited_goods": ("含禁止或限制类商品", "Prohibited or restricted goods"),
    "documents_missing": ("证件或单据不全", "Documents missing"),
    "identity_doubt": ("身份存疑", "Identity in doubt"),
    "other": ("其他（见备注）", "Other (see note)"),
}
"""Why an officer decided a referral the way they did."""

RELEASE_REASONS: dict[str, tuple[str, str]] = {
    "accessibility": ("无障碍通行（轮椅、婴儿车等）", "Accessibility (wheelchair, pram, …)"),
    "settled_at_desk": ("已在柜台办结", "Referral settled at the desk"),
    "officer_escort": ("工作人员陪同通行", "Officer escorting a person"),
    "device_fault": ("设备故障，人工放行", "Device fault: released by hand"),
    "emergency": ("紧急情况", "Emergency"),
    "other": ("其他（见备注）", "Other (see note)"),
}
"""Why an officer released the gate by hand."""

VOID_REASONS: dict[str, tuple[str, str]] = {
    "scanned_in_error": ("误扫商品", "Goods scanned in error"),
    "goods_returned": ("货物退回市场", "Goods returned to the market"),
    "duplicate": ("重复申报", "Duplicate declaration"),
    "wrong_person": ("申报人有误", "Declared for the wrong person"),
    "other": ("其他（见备注）", "Other (see note)"),
}
"""Why an officer voided a committed declaration of today (its quota returns)."""

NOTE_MAX = 500
"""Longest note an officer can attach, in characters."""

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_ID_LIKE = re.compile(r"(?<![0-9])[0-9]{17}[0-9Xx](?![0-9A-Za-z])")


class OfficerError(KioskError):
    """An officer action that cannot be done; ``key`` is stable (the web layer maps it to a status)."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key
        self.message = message


def check_code(kind: str, value: object, table: Mapping[str, tuple[str, str]]) -> str:
    """``value`` if it is one of ``table``'s codes; OfficerError ``bad_<kind>`` naming the choices otherwise."""
    if not isinstance(value, str) or value not in table:
        raise OfficerError(f"bad_{kind}", f"{kind} must be one of {', '.join(table)}; got {value!r}")
    return value


def clean_note(value: object, *, required: bool = False) -> str:
    """The note as it may be stored: a string of at most NOTE_MAX characters, ID numbers masked."""
    if not isinstance(value, str):
        raise OfficerError("bad_note", f"note must be a string, got {type(value).__name__}")
    if len(value) > NOTE_MAX:
        raise OfficerError("bad_note", f"note is longer than {NOTE_MAX} characters")
    if required and not value.strip():
        raise OfficerError("bad_note", "a note is required with reason 'other'")
    return mask_note(value)


def mask_note(text: str) -> str:
    """A note as it may be stored and audited: control characters blanked, whole ID numbers masked."""
    text = _CONTROL.sub(" ", text[:NOTE_MAX]).strip()
    return _ID_LIKE.sub(lambda m: mask_id(m.group(0)), text)


def labelled(table: Mapping[str, tuple[str, str]]) -> list[dict[str, str]]:
    """A code table as the console lists it: ``[{"code", "zh", "en"}, …]`` in table order."""
    return [{"code": code, "zh": zh, "en": en} for code, (zh, en) in table.items()]
