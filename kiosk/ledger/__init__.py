"""The quota ledger: one interface (hold -> commit / release, refer -> officer decision), back-ends chosen by URL.

``sqlite:///absolute/path.db`` is one kiosk's embedded ledger (kiosk.ledger.sqlite); ``postgresql://…`` is the
port database shared by every kiosk of a port (kiosk.ledger.postgres). kiosk.ledger.admin has what the
``kiosk ledger`` commands call (migrate, remaining, export).

Every write is idempotent by declaration id and every time is passed in by the caller as an aware
datetime: the ledger never reads the clock, so each back-end and each test sees the same behaviour.

A declaration *counts* for its (resident_key, day) when it is ``committed`` or ``approved``, or ``held`` or
``expired`` with ``expires_at + GRACE > now``. The quota rule for a (resident_key, day) is::

    used = sum(total_fen of committed, and of held or expired counting at now)
         + sum(duty_free_fen of approved)
    hold accepted  <=>  used + declaration.total_fen <= declaration.limit_fen
                        and, for every capped goods rule the declaration uses (declaration.rule_uses),
                        sum(quantity of that rule over the declarations that count) + its quantity <= cap

A refused hold stores nothing and reports ``over_cap``, the rules it would exceed. A hold can be committed only
while ``expires_at > now``. Release and refer give quota back at once, and so does an officer's ``void`` of a
committed or approved declaration of the same Beijing day (status ``voided``).

An officer decides a referral of today (``decide``): ``approved`` counts ``duty_free_fen = min(total_fen,
limit_fen - used)`` from that moment on (checked and recorded atomically, under the same lock as a hold; the goods
above it go to a taxed declaration) and its capped goods quantities in full (the officer judged them, so the caps
are not checked); ``taxed`` (the whole declaration is taxed) and ``rejected`` count nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import PurePosixPath
from typing import Protocol, runtime_checkable
from urllib.parse import unquote
from zoneinfo import ZoneInfo

from kiosk.declaration import DECISIONS, Declaration, HoldResult, RuleUse, Status, StoredDeclaration
from kiosk.errors import LedgerError

__all__ = [
    "BEIJING", "GRACE", "TIME_FORMAT", "VOIDABLE", "Ledger", "as_utc", "backend_of", "beijing_day", "cap_totals",
    "check_decide_args", "check_decision", "check_ttl", "check_void_args", "open_ledger", "over_caps", "sqlite_path",
    "utc_text", "void_refusal",
]

# An expired hold keeps counting against the quota for GRACE after expires_at. The ledger never reads
# a clock: each caller (each kiosk, each thread) passes its own `now`, and those clocks and in-flight
# delays differ. Without grace, kiosk B could stop counting A's hold the instant B's clock passes
# expires_at while A, whose clock lags or whose call was delayed, still commits it as "not expired":
# both would spend the same quota. With GRACE, a commit racing an expiry cannot overspend unless the
# clocks (plus delays) disagree by more than 60 s. Counting is purely time-based (it does not matter
# whether anyone marked the hold expired yet), so `used` is the same whether or not a sweeper ran.
GRACE = timedelta(seconds=60)

# The quota day is the calendar day in Beijing (the declaration's ``day`` is decided in this zone).
BEIJING = ZoneInfo("Asia/Shanghai")

_ACCEPTED_FORMS = "sqlite:///absolute/path.db or postgresql://user@host:port/dbname"


@runtime_checkable
class Ledger(Protocol):
    """The quota ledger every back-end implements; see the module docstring for the rule."""

    def hold(self, decl: Declaration, *, now: datetime, ttl_s: float) -> HoldResult:
        """Check the quota and record ``decl`` as held, atomically; a retry returns the first result."""
        ...

    def commit(self, declaration_id: str, *, now: datetime) -> Status:
        """Commit a live hold; an expired hold becomes ``expired`` (the caller then refers)."""
        ...

    def release(self, declaration_id: str, *, now: datetime, reason: str) -> Status:
        """Give a hold's quota back; LedgerError if it is already committed."""
        ...

    def refer(self, decl: Declaration, *, now: datetime, reasons: Sequence[str]) -> None:
        """Record ``decl`` as referred to an officer (no quota used); idempotent."""
        ...

    def void(self, declaration_id: str, *, officer: str, reason: str, now: datetime) -> Status:
        """An officer voids a committed or approved declaration of today (Beijing day of ``now``): its quota
        returns at once.

        Returns ``Status.voided``; voiding a voided declaration is a no-op. LedgerError for an unknown id, a
        declaration that is neither committed nor approved, or one of another day.
        """
        ...

    def decide(
        self, declaration_id: str, *, officer: str, decision: str, reason: str, note: str, now: datetime
    ) -> StoredDeclaration:
        """An officer decides a referral of today (Beijing day of ``now``): ``approved``, ``taxed`` or ``rejected``.

        ``approved`` counts ``duty_free_fen = min(total_fen, remaining quota at now)`` against the resident-day from
        now on, checked and recorded atomically (as a hold); the rest of the goods go to a taxed declaration.
        ``taxed`` sends the whole declaration there and ``rejected`` refuses it; neither uses quota. Returns the
        declaration as recorded, with its ``decision``. The same decision again returns the stored record
        unchanged. LedgerError for an unknown id, a different decision on a decided declaration, a declaration
        that is not referred, or a referral of another day; ValueError for a bad argument (a caller bug).
        """
        ...

    def referrals(self, day: date, *, pending_only: bool = True) -> list[StoredDeclaration]:
        """The referrals of ``day``, oldest referral first: those still waiting for an officer (``referred``), or
        with ``pending_only=False`` also those decided (whatever happened to them since, e.g. voided)."""
        ...

    def used(self, resident_key: str, day: date, *, now: datetime) -> int:
        """Fen counted against the resident-day at ``now``."""
        ...

    def remaining(self, resident_key: str, day: date, *, limit_fen: int, now: datetime) -> int:
        """Fen still available to the resident-day at ``now`` under ``limit_fen`` (never below 0)."""
        ...

    def expire_holds(self, *, now: datetime) -> int:
        """Mark held declarations with ``expires_at <= now`` as expired; return how many."""
        ...

    def get(self, declaration_id: str) -> StoredDeclaration | None:
        """The recorded declaration, or None if the id is unknown."""
        ...

    def list_day(self, day: date) -> list[StoredDeclaration]:
        """Every declaration recorded for ``day``, oldest first (exports, officers)."""
        ...

    def close(self) -> None:
        """Release the back-end's connections; further calls raise LedgerError."""
        ...


def as_utc(moment: datetime, name: str = "now") -> datetime:
    """Return ``moment`` in UTC; ValueError for a naive datetime (a caller bug, not a ledger fault)."""
    if not isinstance(moment, datetime) or moment.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, got {moment!r}")
    return moment.astimezone(UTC)


TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
"""Fixed-width ISO-8601 UTC with microseconds: how the SQLite stores keep a time (text order is time order) and
the text of a time the audit chain hashes."""


def utc_text(moment: datetime) -> str:
    """An aware ``moment`` as TIME_FORMAT text."""
    return as_utc(moment).strftime(TIME_FORMAT)


def beijing_day(moment: datetime) -> date:
    """The Asia/Shanghai calendar day of an aware ``moment``."""
    return as_utc(moment).astimezone(BEIJING).date()


def check_void_args(officer: str, reason: str) -> None:
    """ValueError unless officer and reason are non-empty strings (a caller bug)."""
    for name, value in (("officer", officer), ("reason", reason)):
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"void needs a non-empty {name}, got {value!r}")


#: What an officer can void (a declaration of today that let goods through).
VOIDABLE = frozenset({Status.committed, Status.approved})


def void_refusal(declaration_id: str, status: Status, day: date, today: date) -> LedgerError:
    """The error for a void that may not happen: not committed or approved, or of another day."""
    if status in VOIDABLE:
        return LedgerError(
            f"declaration {declaration_id} was {status.value} for {day.isoformat()}; only a declaration of today "
            f"({today.isoformat()}, Beijing time) can be voided"
        )
    return LedgerError(
        f"declaration {declaration_id} is {status.value}, not committed: only a committed or approved declaration "
        "can be voided"
    )


def check_decide_args(officer: str, decision: str, reason: str, note: str) -> None:
    """ValueError unless officer and reason are non-empty, decision is one of DECISIONS and note a string."""
    check_void_args(officer, reason)
    if decision not in DECISIONS:
        raise ValueError(f"decision must be one of {', '.join(DECISIONS)}, got {decision!r}")
    if not isinstance(note, str):
        raise ValueError(f"note must be a string (empty for none), got {note!r}")


def check_decision(
    declaration_id: str, status: Status, recorded: str | None, wanted: str, day: date, today: date
) -> bool:
    """Whether ``wanted`` repeats the decision already recorded (True: answer the stored record, change nothing).

    False means the decision may be made now; LedgerError when it may not: another decision is recorded, the
    declaration is not referred, or it was referred on another day than ``today``.
    """
    if recorded is not None:
        if recorded == wanted:
            return True
        raise LedgerError(
            f"declaration {declaration_id} was already decided {recorded}; a different decision ({wanted}) is refused"
        )
    if status is not Status.referred:
        raise LedgerError(
            f"declaration {declaration_id} is {status.value}, not referred: only a referral can be decided"
        )
    if day != today:
        raise LedgerError(
            f"declaration {declaration_id} was referred for {day.isoformat()}; only a referral of today "
            f"({today.isoformat()}, Beijing time) can be decided"
        )
    return False


def cap_totals(uses: Sequence[RuleUse]) -> dict[str, tuple[int, int]]:
    """Per capped rule id, in order of first use: the declaration's total quantity and the smallest cap given."""
    totals: dict[str, tuple[int, int]] = {}
    for use in uses:
        quantity, cap = totals.get(use.rule_id, (0, use.cap))
        totals[use.rule_id] = (quantity + use.quantity, min(cap, use.cap))
    return totals


def over_caps(uses: Sequence[RuleUse], counted: Mapping[str, int]) -> tuple[str, ...]:
    """The rule ids whose quantity already counted (``counted``) plus the declaration's would pass the cap."""
    return tuple(rule for rule, (quantity, cap) in cap_totals(uses).items() if counted.get(rule, 0) + quantity > cap)


def check_ttl(ttl_s: float) -> timedelta:
    """Return the hold lifetime as a timedelta; ValueError unless it is a finite number above 0."""
    if isinstance(ttl_s, bool) or not isinstance(ttl_s, (int, float)) or not math.isfinite(ttl_s):
        raise ValueError(f"ttl_s must be a finite number of seconds, got {ttl_s!r}")
    if ttl_s <= 0:
        raise ValueError(f"ttl_s must be above 0, got {ttl_s}")
    return timedelta(seconds=ttl_s)


def backend_of(url: str) -> str:
    """``"sqlite"`` or ``"postgres"``: the back-end a ledger URL names; LedgerError for any other URL."""
    if not isinstance(url, str):
        raise LedgerError(f"ledger URL must be a string; accepted: {_ACCEPTED_FORMS}")
    scheme = url.split(":", 1)[0] if ":" in url else ""
    if scheme == "sqlite":
        return "sqlite"
    if scheme in ("postgresql", "postgres"):
        return "postgres"
    # Only the scheme is echoed: a URL may carry a password.
    shown = f"scheme {scheme!r}" if scheme else "a URL without a scheme"
    raise LedgerError(f"unsupported ledger URL ({shown}); accepted: {_ACCEPTED_FORMS}")


def open_ledger(url: str, *, lazy: bool = False) -> Ledger:
    """Open the ledger named by ``url``; LedgerError for a URL no back-end accepts.

    ``lazy=True`` (the kiosk's choice) lets a PostgreSQL server that cannot be reached yet be reached later: the
    ledger opens anyway and each call connects (or raises LedgerError, so the checkpoint refers) until it is back.
    Without it an unreachable server is a LedgerError here (``kiosk doctor`` and the admin commands want that).
    """
    if backend_of(url) == "sqlite":
        from kiosk.ledger.sqlite import SqliteLedger  # deferred: keeps the package import light

        return SqliteLedger(sqlite_path(url))
    from kiosk.ledger.postgres import PostgresLedger  # deferred: psycopg only when it is used

    return PostgresLedger(url, lazy=lazy)


def sqlite_path(url: str) -> str:
    """The absolute file path of a ``sqlite:///absolute/path.db`` URL; LedgerError otherwise."""
    if not url.startswith("sqlite:///"):
        raise LedgerError(f"SQLite ledger URL {url!r} needs an absolute path: {_ACCEPTED_FORMS}")
    raw = url[len("sqlite://") :]
    if "?" in raw or "#" in raw:
        raise LedgerError(f"SQLite ledger URL {url!r} takes no query or fragment: {_ACCEPTED_FORMS}")
    path = unquote(raw)
    if ":memory:" in path or path.rstrip("/") == "":
        # Each connection to :memory: is its own private database: two kiosks (or the checkpoint and
        # a web thread with their own instances) would each see an empty ledger and both grant quota.
        raise LedgerError(
            f"SQLite ledger URL {url!r}: an in-memory database is not allowed, because every "
            f"connection must see the same data; give a file: {_ACCEPTED_FORMS}"
        )
    if not PurePosixPath(path).is_absolute():
        raise LedgerError(f"SQLite ledger URL {url!r} needs an absolute path: {_ACCEPTED_FORMS}")
    return path
