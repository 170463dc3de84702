"""The declaration as the ledger records it: lines, totals in integer fen, and its recorded status."""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any


def _check_int(name: str, value: object, *, minimum: int) -> int:
    """Return ``value`` if it is a real int (never bool or float) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return value


def _check_text(name: str, value: object) -> str:
    """Return ``value`` if it is a non-empty string."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    return value


UNITS = ("piece", "kg")


@dataclass(frozen=True)
class Line:
    """One scanned article: unit price in fen, or ``None`` when the goods are unknown.

    ``unit`` is ``piece`` (``quantity`` counts pieces, the price is per piece) or ``kg`` (``quantity`` is
    grams, the price is per kilogram). The price's origin is kept on the line so a declaration always shows
    what it used: ``currency`` and ``catalog_price`` (minor units of that currency: fen, tiyn), the dated
    exchange ``rate`` (decimal text, CNY per one unit of ``currency``) and ``rate_date`` when it was
    converted, ``price_from`` (the ISO date the catalog price took effect) and the ``hs_code``.
    """

    code: str
    name: str | None
    unit_price_fen: int | None
    quantity: int
    unit: str = "piece"
    hs_code: str | None = None
    currency: str = "CNY"
    catalog_price: int | None = None
    rate: str | None = None
    rate_date: str | None = None
    price_from: str | None = None

    def __post_init__(self) -> None:
        _check_text("code", self.code)
        if self.name is not None and not isinstance(self.name, str):
            raise ValueError(f"name must be a string or None, got {self.name!r}")
        if self.unit_price_fen is not None:
            _check_int("unit_price_fen", self.unit_price_fen, minimum=0)
        _check_int("quantity", self.quantity, minimum=1)
        if self.unit not in UNITS:
            raise ValueError(f"unit must be one of {', '.join(UNITS)}, got {self.unit!r}")
        if self.catalog_price is not None:
            _check_int("catalog_price", self.catalog_price, minimum=0)
        for name in ("hs_code", "rate", "rate_date", "price_from"):
            value = getattr(self, name)
            if value is not None:
                _check_text(name, value)
        _check_text("currency", self.currency)

    @property
    def known(self) -> bool:
        """True when the catalog priced these goods."""
        return self.unit_price_fen is not None

    @property
    def amount_fen(self) -> int:
        """Line total in fen; 0 for unknown goods (they refer the declaration instead).

        By weight the total is price per kg x grams / 1000, rounded half up to the fen.
        """
        if self.unit_price_fen is None:
            return 0
        if self.unit == "kg":
            return (self.unit_price_fen * self.quantity + 500) // 1000
        return self.unit_price_fen * self.quantity

    def to_dict(self) -> dict[str, Any]:
        """The line as a JSON-ready dict (the optional price-origin fields only when set)."""
        out: dict[str, Any] = {
            "code": self.code,
            "name": self.name,
            "unit_price_fen": self.unit_price_fen,
            "quantity": self.quantity,
        }
        for name in _OPTIONAL_LINE_FIELDS:
            value = getattr(self, name)
            if value != _LINE_DEFAULTS[name]:
                out[name] = value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Line:
        """Rebuild a line from ``to_dict`` output; ValueError on any missing or mistyped field."""
        try:
            return cls(
                code=data["code"],
                name=data["name"],
                unit_price_fen=data["unit_price_fen"],
                quantity=data["quantity"],
                **{name: data[name] for name in _OPTIONAL_LINE_FIELDS if name in data},
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed line {data!r}: {exc}") from exc


_LINE_DEFAULTS: dict[str, Any] = {"unit": "piece", "hs_code": None, "currency": "CNY", "catalog_price": None,
                                  "rate": None, "rate_date": None, "price_from": None}
_OPTIONAL_LINE_FIELDS = tuple(_LINE_DEFAULTS)


@dataclass(frozen=True)
class RuleUse:
    """How much of one capped goods rule a declaration uses: the ledger sums these per resident-day.

    ``quantity`` and ``cap`` are in the rule's base unit: grams for ``kg`` rules, pieces for ``piece`` rules.
    ``rule_id`` names the rule and its version (e.g. ``"sugar@2026-01-01"``), so a changed cap is a new id.
    """

    rule_id: str
    unit: str
    quantity: int
    cap: int

    def __post_init__(self) -> None:
        _check_text("rule_id", self.rule_id)
        if self.unit not in UNITS:
            raise ValueError(f"unit must be one of {', '.join(UNITS)}, got {self.unit!r}")
        _check_int("quantity", self.quantity, minimum=1)
        _check_int("cap", self.cap, minimum=0)

    def to_dict(self) -> dict[str, Any]:
        """The rule use as a JSON-ready dict."""
        return {"rule_id": self.rule_id, "unit": self.unit, "quantity": self.quantity, "cap": self.cap}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RuleUse:
        """Rebuild from ``to_dict`` output; ValueError on a missing or mistyped field."""
        try:
            return cls(rule_id=data["rule_id"], unit=data["unit"], quantity=data["quantity"], cap=data["cap"])
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed rule use {data!r}: {exc}") from exc


def lines_to_json(lines: Sequence[Line]) -> str:
    """Serialise lines as a compact JSON array (the ledger's storage form)."""
    return json.dumps([line.to_dict() for line in lines], ensure_ascii=False, separators=(",", ":"))


def lines_from_json(text: str) -> tuple[Line, ...]:
    """Parse ``lines_to_json`` output; ValueError if it is not a list of valid lines."""
    data = json.loads(text)
    if not isinstance(data, list):
        raise ValueError("lines JSON must be an array")
    return tuple(Line.from_dict(item) for item in data)


@dataclass(frozen=True)
class Declaration:
    """What one resident takes through one kiosk at one time: the unit the ledger holds and commits."""

    id: str
    kiosk_id: str
    resident_key: str
    masked_id: str
    day: date
    created_at: datetime
    lines: tuple[Line, ...]
    limit_fen: int
    rule_version: str
    rule_uses: tuple[RuleUse, ...] = ()
    """Quantities counted against capped goods rules (kiosk.goods_rules); the hold checks them with the money."""

    def __post_init__(self) -> None:
        for name in ("id", "kiosk_id", "resident_key", "masked_id", "rule_version"):
            _check_text(name, getattr(self, name))
        # datetime is a subclass of date; a datetime here would silently split one day into many keys.
        if not isinstance(self.day, date) or isinstance(self.day, datetime):
            raise ValueError(f"day must be a date, got {self.day!r}")
        if not isinstance(self.created_at, datetime) or self.created_at.utcoffset() is None:
            raise ValueError(f"created_at must be an aware datetime, got {self.created_at!r}")
        if not isinstance(self.lines, tuple):
            object.__setattr__(self, "lines", tuple(self.lines))
        for line in self.lines:
            if not isinstance(line, Line):
                raise ValueError(f"lines must hold Line objects, got {line!r}")
        _check_int("limit_fen", self.limit_fen, minimum=0)
        if not isinstance(self.rule_uses, tuple):
            object.__setattr__(self, "rule_uses", tuple(self.rule_uses))
        for use in self.rule_uses:
            if not isinstance(use, RuleUse):
                raise ValueError(f"rule_uses must hold RuleUse objects, got {use!r}")

    @property
    def total_fen(self) -> int:
        """Sum of the line amounts in fen (unknown goods count 0)."""
        return sum(line.amount_fen for line in self.lines)

    def to_json(self) -> str:
        """The whole declaration, lines included, as JSON (no raw ID number: only key and mask)."""
        return json.dumps(
            {
                "id": self.id,
                "kiosk_id": self.kiosk_id,
                "resident_key": self.resident_key,
                "masked_id": self.masked_id,
                "day": self.day.isoformat(),
                "created_at": self.created_at.isoformat(),
                "lines": [line.to_dict() for line in self.lines],
                "limit_fen": self.limit_fen,
                "rule_version": self.rule_version,
                **({"rule_uses": [u.to_dict() for u in self.rule_uses]} if self.rule_uses else {}),
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> Declaration:
        """Rebuild a declaration from ``to_json`` output; ValueError on any bad field."""
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("declaration JSON must be an object")
        try:
            return cls(
                id=data["id"],
                kiosk_id=data["kiosk_id"],
                resident_key=data["resident_key"],
                masked_id=data["masked_id"],
                day=date.fromisoformat(data["day"]),
                created_at=datetime.fromisoformat(data["created_at"]),
                lines=tuple(Line.from_dict(item) for item in data["lines"]),
                limit_fen=data["limit_fen"],
                rule_version=data["rule_version"],
                rule_uses=tuple(RuleUse.from_dict(item) for item in data.get("rule_uses", ())),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed declaration JSON: {exc}") from exc


@dataclass(frozen=True)
class HoldResult:
    """Outcome of a hold: used and remaining quota (fen) of that resident-day after the call."""

    accepted: bool
    used_fen: int
    remaining_fen: int
    over_cap: tuple[str, ...] = ()
    """Rule ids of capped goods rules the declaration would exceed (the hold is then refused)."""


class Status(enum.Enum):
    """Where a recorded declaration stands in hold -> commit / release / expiry, or referral -> officer decision."""

    held = "held"
    committed = "committed"
    released = "released"
    expired = "expired"
    referred = "referred"
    voided = "voided"  # an officer cancelled a committed (or approved) declaration of the same day; its quota returned
    approved = "approved"  # an officer approved a referral: its duty-free part counts against the quota
    taxed = "taxed"  # an officer sent the whole referral to a taxed declaration: no quota used
    rejected = "rejected"  # an officer refused the goods: no quota used


DECISIONS = ("approved", "taxed", "rejected")
"""What an officer can decide on a referred declaration (``Ledger.decide``); each is also the resulting status."""

#: Statuses no kiosk call (hold, commit, release, refer, expiry) moves a declaration out of. Only an officer moves
#: ``referred`` on (``decide``: to ``approved``, ``taxed`` or ``rejected``) and ``committed`` or ``approved`` on
#: (``void``: to ``voided``, which nothing leaves).
FINAL_STATES: frozenset[Status] = frozenset({Status.committed, Status.referred, Status.voided, Status.approved,
                                             Status.taxed, Status.rejected})


@dataclass(frozen=True)
class StoredDeclaration:
    """A declaration as recorded: status, outcome reasons and the ledger's timestamps (aware UTC)."""

    declaration: Declaration
    status: Status
    reasons: tuple[str, ...]
    recorded_at: datetime
    expires_at: datetime | None
    resolved_at: datetime | None
    void: VoidRecord | None = None
    decision: DecisionRecord | None = None
    """The officer's decision on this referral; it stays recorded when an approved declaration is later voided."""

    @property
    def taxed_fen(self) -> int:
        """Fen that go to a taxed declaration by the officer's decision: the part of an approved declaration above
        its duty-free part, a whole taxed one; 0 when rejected or not decided."""
        record = self.decision
        if record is None or record.decision == "rejected":
            return 0
        return self.declaration.total_fen - record.duty_free_fen


@dataclass(frozen=True)
class VoidRecord:
    """Who voided a declaration, why and when (aware UTC)."""

    officer: str
    reason: str
    at: datetime


@dataclass(frozen=True)
class DecisionRecord:
    """An officer's decision on a referred declaration: who, which decision, the reason code, the officer's note,
    when (aware UTC), and the duty-free part in fen (approved: what counted against the quota at that moment,
    ``min(total, remaining)``; taxed and rejected: 0)."""

    officer: str
    decision: str
    reason: str
    note: str
    at: datetime
    duty_free_fen: int
