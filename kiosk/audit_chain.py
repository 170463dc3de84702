"""The audit chain's format: records, their hashes, and verify, which recomputes every chain.

A record's hash is ``SHA-256(prev_hash + canonical)``, where ``canonical`` is the compact JSON, keys sorted, of
seq, time, kind, kiosk_id, actor and data; the first record of a chain links to ``GENESIS``. ``audit_heads``
keeps each chain's last seq and hash, so records cut from the end are noticed too. ``verify`` recomputes every
chain and names the first record that was altered, deleted or inserted. What it cannot prove: someone with
write access who rewrites a chain from some record to its end and its head (every hash recomputed); only an
anchor kept outside the database (a head hash exported or printed each day) shows that.

Pure: no database, no clock. kiosk.audit (the AuditLog) and its stores (kiosk.audit_stores,
kiosk.ledger.audit_journal) build on it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kiosk.ledger import TIME_FORMAT, utc_text

__all__ = [
    "GENESIS", "AuditRecord", "Builder", "VerifyResult", "builder", "canonical_json", "format_time", "record_hash",
    "verify_chains",
]

GENESIS = "0" * 64


@dataclass(frozen=True)
class AuditRecord:
    """One link of a kiosk's chain, as stored."""

    kiosk_id: str
    seq: int
    time: datetime  # aware UTC, microseconds
    kind: str
    actor: str
    data_json: str  # canonical JSON
    prev_hash: str
    hash: str

    @property
    def data(self) -> Any:
        """The decoded data."""
        return json.loads(self.data_json)


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of ``verify``: the first bad record as (kiosk_id, seq), and why; ``reason`` sums up when ok."""

    ok: bool
    records: int
    first_bad: tuple[str, int] | None
    reason: str


def canonical_json(value: Any) -> str:
    """Compact JSON, keys sorted, non-ASCII kept: the one text form that is hashed."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


format_time = utc_text
"""Fixed-width ISO-8601 UTC text with microseconds, as hashed and as stored on SQLite."""


def record_hash(prev_hash: str, *, kiosk_id: str, seq: int, time: str, kind: str, actor: str, data_json: str) -> str:
    """SHA-256 (hex) of ``prev_hash`` followed by the canonical record."""
    body = canonical_json(
        {"actor": actor, "data": json.loads(data_json), "kind": kind, "kiosk_id": kiosk_id, "seq": seq, "time": time}
    )
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


Builder = Callable[[int, str], AuditRecord]
"""Makes a kiosk's next record from its seq and the previous record's hash (the content is fixed already)."""


def builder(kiosk_id: str, stamp: str, kind: str, actor: str, data_json: str) -> Builder:
    """The Builder of one record: ``stamp`` is its fixed-width time text, ``data_json`` its canonical data."""
    moment = datetime.strptime(stamp, TIME_FORMAT).replace(tzinfo=UTC)

    def build(seq: int, prev_hash: str) -> AuditRecord:
        digest = record_hash(prev_hash, kiosk_id=kiosk_id, seq=seq, time=stamp, kind=kind, actor=actor,
                             data_json=data_json)
        return AuditRecord(kiosk_id, seq, moment, kind, actor, data_json, prev_hash, digest)

    return build


def verify_chains(rows: Iterator[AuditRecord], heads: dict[str, tuple[int, str]]) -> VerifyResult:
    """Walk the chains in (kiosk_id, seq) order; stop at the first bad record."""
    count = 0
    chains: list[str] = []
    kiosk: str | None = None
    expected_seq, prev = 1, GENESIS

    def bad(where: tuple[str, int], why: str) -> VerifyResult:
        return VerifyResult(False, count, where, f"kiosk {where[0]} record {where[1]}: {why}")

    def end_of_chain(name: str, last_seq: int, last_hash: str) -> VerifyResult | None:
        head = heads.get(name)
        if head is None:
            return bad((name, 1), "this chain has no head in audit_heads (inserted chain, or its head deleted)")
        head_seq, head_hash = head
        if head_seq > last_seq:
            return bad((name, last_seq + 1), f"missing: the chain ends at {last_seq} but its head says {head_seq}"
                       " (records deleted from the end)")
        if (head_seq, head_hash) != (last_seq, last_hash):
            return bad((name, head_seq + 1 if head_seq < last_seq else last_seq),
                       "does not match the chain head in audit_heads (record inserted after the head, or head altered)")
        return None

    last_hash = GENESIS
    for row in rows:
        if row.kiosk_id != kiosk:
            if kiosk is not None:
                problem = end_of_chain(kiosk, expected_seq - 1, last_hash)
                if problem:
                    return problem
            kiosk, expected_seq, prev = row.kiosk_id, 1, GENESIS
            chains.append(kiosk)
        where = (row.kiosk_id, row.seq)
        if row.seq != expected_seq:
            missing = (row.kiosk_id, expected_seq)
            return bad(missing, f"missing: the chain jumps from {expected_seq - 1} to {row.seq} (record deleted)")
        if row.prev_hash != prev:
            if row.seq == 1:
                return bad(where, "the first record does not link to GENESIS (inserted or altered)")
            return bad(where, f"does not link to record {row.seq - 1}: prev_hash differs (a record before it "
                              "was deleted, or this one inserted)")
        try:
            decoded = json.loads(row.data_json)
            canonical = canonical_json(decoded)
        except ValueError:
            return bad(where, "data is not valid JSON (altered)")
        if canonical != row.data_json:
            return bad(where, "data is not in canonical form (altered)")
        digest = record_hash(
            row.prev_hash, kiosk_id=row.kiosk_id, seq=row.seq, time=format_time(row.time), kind=row.kind,
            actor=row.actor, data_json=row.data_json,
        )
        if digest != row.hash:
            return bad(where, "hash does not match its content (record altered)")
        count += 1
        expected_seq, prev, last_hash = row.seq + 1, row.hash, row.hash
    if kiosk is not None:
        problem = end_of_chain(kiosk, expected_seq - 1, last_hash)
        if problem:
            return problem
    for name, (head_seq, _) in sorted(heads.items()):
        if name not in chains and head_seq > 0:
            return bad((name, 1), f"missing: the head says {head_seq} records, none is stored (chain deleted)")
    return VerifyResult(True, count, None, f"{count} records in {len(chains)} chains verified")
