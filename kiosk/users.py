"""Officer and technician accounts: PINs hashed with scrypt, badge sign-in, lockout (DESIGN.md §6).

Accounts live in one small SQLite file (``[security] users_db``), apart from the ledger: they are the
kiosk's own, and ``kiosk users add|disable|list`` manages them. Nothing here reads a clock; callers pass
``now`` (an aware datetime from the injected clock).

- A PIN is stored only as ``scrypt$N$r$p$salt$hash`` (hashlib.scrypt, 16 MiB, a fresh 16-byte salt).
- A badge is stored only as the SHA-256 of its PC/SC UID: a copied users file does not list badge numbers.
- After ``max_failures`` wrong PINs in a row an account is locked for ``lockout_s``; a right PIN resets the
  count. An unknown name or badge costs the same hashing time as a wrong PIN and gets the same answer, so
  sign-in does not tell which accounts exist.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

ROLES = ("officer", "technician")
MIN_PIN = 6
MAX_PIN = 64
SCRYPT_N = 2 ** 14
SCRYPT_R = 8
SCRYPT_P = 1
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789._-")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    name          TEXT PRIMARY KEY,
    role          TEXT NOT NULL CHECK (role IN ('officer', 'technician')),
    pin_hash      TEXT NOT NULL,
    badge_sha256  TEXT UNIQUE,
    disabled      INTEGER NOT NULL DEFAULT 0,
    failures      INTEGER NOT NULL DEFAULT 0,
    locked_until  TEXT,
    created_at    TEXT NOT NULL
) STRICT;
"""


class UserError(ValueError):
    """A request to add or change an account that cannot be done (bad name, short PIN, unknown user…)."""


class SignInError(Exception):
    """Sign-in refused; ``reason`` is ``bad_credentials`` or ``locked`` (a disabled account reads as bad)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class User:
    """An account as the rest of the kiosk sees it: never the PIN hash."""

    name: str
    role: str
    disabled: bool
    has_badge: bool
    locked_until: datetime | None
    created_at: datetime


def hash_pin(pin: str, *, n: int = SCRYPT_N) -> str:
    """The storable scrypt hash of ``pin`` with a fresh salt."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=n, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return "$".join(("scrypt", str(n), str(SCRYPT_R), str(SCRYPT_P), _b64(salt), _b64(digest)))


def verify_pin(stored: str, pin: str) -> bool:
    """True if ``pin`` matches ``stored`` (a ``hash_pin`` result); constant-time comparison."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(pin.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                                dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def badge_digest(uid: str) -> str:
    """The stored form of a badge UID (hex, case and spaces ignored)."""
    return hashlib.sha256("".join(uid.split()).upper().encode()).hexdigest()


class UserStore:
    """The accounts file. Thread-safe: web threads sign in concurrently."""

    def __init__(self, path: Path, *, max_failures: int = 5, lockout_s: float = 300.0, scrypt_n: int = SCRYPT_N
                 ) -> None:
        self.path = Path(path)
        self.max_failures = max_failures
        self.lockout = timedelta(seconds=lockout_s)
        self._n = scrypt_n
        self._dummy: str | None = None      # made on first need: a hash to spend time on for unknown names
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.executescript(_SCHEMA)

    # -- managing accounts (kiosk users …) ----------------------------------------------------------

    def add(self, name: str, role: str, pin: str, *, now: datetime, badge_uid: str | None = None) -> User:
        """Create an account; UserError if the name is taken or invalid, the role unknown or the PIN short."""
        _check_name(name)
        if role not in ROLES:
            raise UserError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        _check_pin(pin)
        badge = badge_digest(badge_uid) if badge_uid else None
        try:
            with self._tx() as conn:
                conn.execute("INSERT INTO users (name, role, pin_hash, badge_sha256, created_at) VALUES (?,?,?,?,?)",
                             (name, role, hash_pin(pin, n=self._n), badge, now.isoformat()))
        except sqlite3.IntegrityError as exc:
            what = "badge is already enrolled" if "badge" in str(exc) else f"user {name!r} already exists"
            raise UserError(what) from exc
        return self.get(name)  # type: ignore[return-value]

    def set_disabled(self, name: str, disabled: bool) -> User:
        """Disable (or enable again) an account; its open sessions end at their next request."""
        with self._tx() as conn:
            if conn.execute("UPDATE users SET disabled = ? WHERE name = ?", (int(disabled), name)).rowcount == 0:
                raise UserError(f"no user {name!r}")
        return self.get(name)  # type: ignore[return-value]

    def get(self, name: str) -> User | None:
        """The account ``name``, or None."""
        row = self._conn.execute("SELECT * FROM users WHERE name = ?", (name,)).fetchone()
        return None if row is None else _user(row)

    def list(self) -> list[User]:
        """Every account, by name."""
        return [_user(row) for row in self._conn.execute("SELECT * FROM users ORDER BY name")]

    # -- signing in ---------------------------------------------------------------------------------

    def authenticate(self, name: str, pin: str, *, now: datetime) -> User:
        """The account for ``name`` + ``pin``; SignInError otherwise (and a failure counted)."""
        row = self._conn.execute("SELECT * FROM users WHERE name = ?", (name,)).fetchone()
        return self._check(row, pin, now)

    def authenticate_badge(self, uid: str, pin: str, *, now: datetime) -> User:
        """The account enrolled with badge ``uid``, checked with ``pin``; SignInError otherwise."""
        row = self._conn.execute("SELECT * FROM users WHERE badge_sha256 = ?", (badge_digest(uid),)).fetchone()
        return self._check(row, pin, now)

    def close(self) -> None:
        """Close the file."""
        self._conn.close()

    def _check(self, row: sqlite3.Row | None, pin: str, now: datetime) -> User:
        bad = SignInError("bad_credentials", "wrong name, badge or PIN")
        if row is None:
            if self._dummy is None:
                self._dummy = hash_pin(secrets.token_hex(8), n=self._n)
            verify_pin(self._dummy, pin)       # the same cost as a real check
            raise bad
        locked_until = _time(row["locked_until"])
        if locked_until is not None and now < locked_until:
            raise SignInError("locked", f"too many wrong PINs; try again after {locked_until:%H:%M}")
        ok = verify_pin(row["pin_hash"], pin)
        failures = 0 if ok and not row["disabled"] else row["failures"] + 1
        locks = failures >= self.max_failures
        with self._tx() as conn:       # record the outcome first: an exception inside would roll it back
            conn.execute("UPDATE users SET failures = ?, locked_until = ? WHERE name = ?",
                         (0 if locks else failures, (now + self.lockout).isoformat() if locks else None,
                          row["name"]))
        if failures == 0:
            return _user(row, locked_until=None)
        if locks:
            raise SignInError("locked", "too many wrong PINs; the account is locked for a while")
        raise bad

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")


def _check_name(name: str) -> None:
    if not name or len(name) > 32 or not set(name) <= _NAME_CHARS:
        raise UserError("a user name is 1-32 characters of a-z, 0-9, '.', '_' and '-'")


def _check_pin(pin: str) -> None:
    if not MIN_PIN <= len(pin) <= MAX_PIN:
        raise UserError(f"a PIN has {MIN_PIN} to {MAX_PIN} characters")
    if len(set(pin)) == 1:
        raise UserError("a PIN must not repeat one character")


def _user(row: sqlite3.Row, **override: object) -> User:
    values = {
        "name": row["name"], "role": row["role"], "disabled": bool(row["disabled"]),
        "has_badge": row["badge_sha256"] is not None, "locked_until": _time(row["locked_until"]),
        "created_at": datetime.fromisoformat(row["created_at"]),
    }
    values.update(override)
    return User(**values)


def _time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
