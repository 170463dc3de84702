"""AuditTrail: what the checkpoint writes to the hash-chained audit log, and how.

Every decision (approved, referred, rejected), every end of a gate release (committed, released)
and every officer alert (tailgating, a passage with no release) is appended with the kiosk as
actor.  Records carry masked ID numbers and keyed hashes only, never a name or a full number.
A failing audit write is logged and never stops the kiosk: the ledger row stays the record of
the decision itself.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol

from .clock import Clock
from .declaration import Declaration

log = logging.getLogger(__name__)


class _Log(Protocol):
    def append(self, kind: str, *, kiosk_id: str, actor: str, data: Mapping[str, Any], now: Any) -> Any: ...


class AuditTrail:
    """Append the checkpoint's events to an audit log (or to nothing when none is configured)."""

    def __init__(self, audit: _Log | None, *, kiosk_id: str, clock: Clock) -> None:
        self._audit = audit
        self._kiosk_id = kiosk_id
        self._clock = clock

    def decision(self, decl: Declaration, outcome: str, reasons: tuple[str, ...]) -> None:
        """A declaration was approved or referred."""
        self._append("decision", {"declaration_id": decl.id, "masked_id": decl.masked_id,
                                  "resident": decl.resident_key[:16], "outcome": outcome,
                                  "reasons": list(reasons), "total_fen": decl.total_fen,
                                  "rule_version": decl.rule_version})

    def refusal(self, masked_id: str, reason: str, outcome: str) -> None:
        """A card was refused (``rejected``) or handed to the officer (``referred``) at identification."""
        self._append("decision", {"masked_id": masked_id, "outcome": outcome, "reasons": [reason]})

    def release(self, decl: Declaration, outcome: str, reasons: tuple[str, ...]) -> None:
        """A gate release ended: committed after the pulse (or passage), or released and referred."""
        self._append("gate_release", {"declaration_id": decl.id, "outcome": outcome, "reasons": list(reasons)})

    def alert(self, kind: str, data: Mapping[str, Any]) -> None:
        """Something an officer must see."""
        self._append("alert", {"alert": kind, **data})

    def officer_action(self, kind: str, actor: str, data: Mapping[str, Any]) -> None:
        """Something a person did (sign-in, a decision, a manual release): ``actor`` is ``role:name``."""
        self._append(kind, data, actor=actor)

    def close(self) -> None:
        """Close the audit log's connection."""
        close = getattr(self._audit, "close", None)
        if close is not None:
            close()

    def _append(self, kind: str, data: Mapping[str, Any], *, actor: str | None = None) -> None:
        if self._audit is None:
            return
        try:
            self._audit.append(kind, kiosk_id=self._kiosk_id, actor=actor or f"kiosk:{self._kiosk_id}", data=data,
                               now=self._clock.now())
        except Exception as exc:
            log.error("audit append failed kind=%s: %s", kind, exc)
