"""The checkpoint's vocabulary: its phases, the rules it decides with, and one resident's session.

Kept apart from ``kiosk/checkpoint.py`` so the state machine reads as transitions only.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from drivers.base import IdCard

from .catalog import Catalog
from .config import ReleaseConfig, SessionConfig
from .declaration import Declaration, Line
from .policy import QuotaRule
from .residents import Registry


class Phase(enum.Enum):
    """Where the resident's session stands."""

    IDLE = "idle"
    IDENTIFIED = "identified"
    SCANNING = "scanning"
    CONFIRMING = "confirming"
    APPROVED = "approved"
    GATE = "gate"
    REFERRED = "referred"
    REJECTED = "rejected"


SHOPPING = frozenset({Phase.IDENTIFIED, Phase.SCANNING})
OUTCOMES = frozenset({Phase.GATE, Phase.REFERRED, Phase.REJECTED})


@dataclass(frozen=True)
class Rules:
    """What the checkpoint decides with: data, quota rules and secrets, all loaded at start."""

    kiosk_id: str
    registry: Registry
    catalog: Catalog
    quota: tuple[QuotaRule, ...]
    timezone: Any
    site_secret: bytes = field(repr=False)
    hold_ttl_s: float = 120.0
    session: SessionConfig = SessionConfig()
    release: ReleaseConfig = ReleaseConfig()


@dataclass
class Session:
    """One resident at the kiosk; lives in memory only and is dropped at reset."""

    card: IdCard
    key: str
    masked_id: str
    rule: QuotaRule
    day: Any
    used_fen: int
    lines: list[Line] = field(default_factory=list)
    declaration: Declaration | None = None
    flags: tuple[str | None, ...] = ()
    """Per line, the goods reason that line alone refers the declaration for (kiosk.basket.line_flags), set when
    the declaration is referred for its goods; the screen names those goods."""
