"""The audit log: every decision, override and gate release, appended to a SHA-256 hash chain per kiosk.

The records live in the ledger's own database (table ``audit``, created by migration 0002 on both back-ends), so
one URL names both, and an audit record can never outlive or predate the ledger it describes. Each kiosk has its
own chain (``kiosk_id``, ``seq`` 1, 2, ...): the kiosks of a port append in parallel and never queue on one head.
This module is the log's API, ``AuditLog`` and ``open_audit``; the chain's format (records, hashes, verify) is
kiosk.audit_chain, and the SQLite and PostgreSQL stores, with how appends serialise, are kiosk.audit_stores.

No personal data: callers pass masked ids and keyed hashes only. ``append`` refuses a value that is a whole
18-character ID number, as a last guard.

Why a separate ``open_audit(url)`` and not a ``ledger.audit`` property: the Ledger protocol stays the quota
contract every back-end implements; an AuditLog has its own connection, so an append (or a long ``verify``)
never queues behind the holds on the ledger's one guarded connection, and ``kiosk audit verify`` needs only the
URL. An append is not retried after a lost PostgreSQL session (it is not idempotent: the first attempt may have
committed); the call raises LedgerError and the next call reconnects.

A kiosk must start, and keep its records, while the port's PostgreSQL is down: ``open_audit(url, journal=PATH)``
(what kiosk.runtime does) connects lazily and, while the database cannot be reached, keeps each record in a local
SQLite journal (kiosk.ledger.audit_journal) instead; the next append that finds the database back first writes
the journaled records to the chain, oldest first, then its own, so the chain stays in append order and valid
(seq and hashes are given when a record reaches the database; its time is when it happened). Such an append
returns None. An append whose fate is unknown (the session died during its commit) is journaled too; before the
journal's oldest record is written, it is compared with the chain's last record, so it is never written twice.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from kiosk.audit_chain import (
    GENESIS,
    AuditRecord,
    Builder,
    VerifyResult,
    builder,
    canonical_json,
    format_time,
    record_hash,
    verify_chains,
)
from kiosk.audit_stores import PgStore, SqliteStore
from kiosk.ledger import backend_of, sqlite_path

__all__ = [
    "GENESIS", "AuditLog", "AuditRecord", "Builder", "VerifyResult", "builder", "canonical_json", "format_time",
    "open_audit", "record_hash", "verify_audit",
]

_PgStore = PgStore  # its name when it lived here, which tests/ledger/test_outage.py imports

_ID_NUMBER = re.compile(r"\d{17}[\dXx]")  # a whole resident ID number: never in the audit


def _check_text(name: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"audit {name} must be a non-empty string, got {value!r}")
    if _ID_NUMBER.fullmatch(value):
        raise ValueError(f"audit {name} looks like a full ID number: pass a masked id or a keyed hash")
    return value


def _check_no_id_numbers(value: Any, where: str) -> None:
    """ValueError if any key or string value in ``value`` is a whole ID number."""
    if isinstance(value, str):
        if _ID_NUMBER.fullmatch(value):
            raise ValueError(f"audit data {where} looks like a full ID number: pass a masked id or a keyed hash")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _check_no_id_numbers(str(key), f"key {where}")
            _check_no_id_numbers(item, f"{where}.{key}")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check_no_id_numbers(item, f"{where}[{index}]")



class _Store(Protocol):
    """What a back-end gives the AuditLog."""

    def append(self, kiosk_id: str, build: Builder) -> AuditRecord | None:
        """Under the kiosk's lock: read its head, store ``build(seq, prev_hash)`` and move the head (None: kept
        in a local journal, to be chained later)."""
        ...

    def scan(self) -> tuple[Iterator[AuditRecord], dict[str, tuple[int, str]]]:
        """Every record ordered by (kiosk_id, seq) and every head, from one snapshot (within ``snapshot``)."""
        ...

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """A read transaction around ``scan``."""
        ...

    def close(self) -> None: ...


class AuditLog:
    """Appends to and verifies the audit chains in a ledger database; thread-safe."""

    def __init__(self, store: _Store) -> None:
        self._store = store

    @property
    def pending(self) -> int:
        """Records kept in the local journal, waiting for the database (0 without a journal)."""
        count = getattr(self._store, "pending", None)
        return int(count()) if callable(count) else 0

    def flush_journal(self) -> None:
        """Write the records waiting in the local journal once the database is back (nothing without a journal).
        The kiosk calls this on its loop, so records kept during an outage are chained even if no new record
        follows."""
        flush = getattr(self._store, "flush_due", None)
        if callable(flush):
            flush()

    def append(
        self, kind: str, *, kiosk_id: str, actor: str, data: Mapping[str, Any], now: datetime
    ) -> AuditRecord | None:
        """Append one record to ``kiosk_id``'s chain and return it (seq and hashes filled in); None when it was
        kept in the local journal because the database cannot be reached (it is chained once it can)."""
        _check_text("kind", kind)
        _check_text("kiosk_id", kiosk_id)
        _check_text("actor", actor)
        if not isinstance(data, Mapping):
            raise ValueError(f"audit data must be a mapping, got {type(data).__name__}")
        _check_no_id_numbers(data, "data")
        try:
            data_json = canonical_json(dict(data))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"audit data must be plain JSON (str, int, bool, None, lists, dicts): {exc}") from exc
        return self._store.append(kiosk_id, builder(kiosk_id, format_time(now), kind, actor, data_json))

    def verify(self) -> VerifyResult:
        """Recompute every chain; the first altered, deleted or inserted record, or ok."""
        with self._store.snapshot():
            rows, heads = self._store.scan()
            return verify_chains(rows, heads)

    def records(self, kiosk_id: str | None = None) -> list[AuditRecord]:
        """The stored records (one kiosk's, or all), ordered by kiosk and seq."""
        with self._store.snapshot():
            rows, _ = self._store.scan()
            return [r for r in rows if kiosk_id is None or r.kiosk_id == kiosk_id]

    def close(self) -> None:
        """Release the connection; further calls raise LedgerError. Idempotent."""
        self._store.close()

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()



def open_audit(url: str, *, journal: Path | None = None) -> AuditLog:
    """The audit log in the ledger database named by ``url`` (same URL forms as open_ledger).

    ``journal`` (PostgreSQL only; a SQLite ledger's audit is in the same local file): a local file that keeps the
    records while the database cannot be reached. With it the log opens even when the database is down.
    """
    if backend_of(url) == "sqlite":
        return AuditLog(SqliteStore(Path(sqlite_path(url))))
    if journal is None:
        return AuditLog(PgStore(url))
    from kiosk.ledger.audit_journal import JournaledStore

    return AuditLog(JournaledStore(PgStore(url, lazy=True), journal, builder))


def verify_audit(url: str) -> VerifyResult:
    """What ``kiosk audit verify`` runs: verify every chain in the database at ``url``."""
    with open_audit(url) as log:
        return log.verify()
