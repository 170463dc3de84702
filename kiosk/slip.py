"""The declaration slip, pure: the signed QR payload, its verification, and what the slip shows.

Payload (one line, fits a small QR code; PROTOCOLS.md §5 suggests ``txn|id_hash|total|ts|hmac``)::

    v1|<declaration id>|<id tag>|<total fen>|<unix seconds>|<mac>

- ``id tag``: 8 base32 characters (40 bits) of HMAC(slip key, resident key).  It tells an
  officer whether the slip belongs to the card in front of them (``SlipCheck.matches_resident``)
  and says nothing about the ID number to anyone without the site key.
- ``mac``: 16 base32 characters (80 bits) of HMAC-SHA256(slip key, everything before it).
  Checking is online (an officer's scanner), so 80 bits leaves no room for guessing.
- The slip key is derived from the site secret (``slip_key``), so the secret itself is never
  used for two purposes.

``verify_slip`` never raises on bad input: it returns a ``SlipCheck`` with ``genuine`` and a
stable reason key from ``SLIP_REASONS``.  Whether the declaration exists and was committed is
the ledger's answer, not the slip's.  The time printed on the slip is Beijing time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from drivers.printer.document import Columns, Feed, QrCode, Rule, SlipDocument, Text

from .declaration import Declaration
from .money import format_fen

VERSION = "v1"
SEPARATOR = "|"
MAC_BYTES = 10          # 16 base32 characters
TAG_BYTES = 5           # 8 base32 characters
BEIJING = ZoneInfo("Asia/Shanghai")
MIN_KEY_BYTES = 16

SLIP_REASONS: dict[str, str] = {
    "slip_malformed": "The scanned code is not a declaration slip of this kiosk system.",
    "slip_unknown_version": "The slip was made by a version of the kiosk this one does not know.",
    "slip_forged": "The slip's signature does not match: it was altered or not made by this port.",
}
"""Stable reason keys of a failed check, with the officer's sentence (candidates for kiosk.reasons)."""

_DECLARATION_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")
_TAG = re.compile(r"[A-Z2-7]{8}")
_MAC = re.compile(r"[A-Z2-7]{16}")
_NUMBER = re.compile(r"0|[1-9][0-9]{0,15}")
_VERSION = re.compile(r"v[0-9]{1,3}")


def _b32(data: bytes) -> str:
    return base64.b32encode(data).decode("ascii").rstrip("=")


def _mac(key: bytes, message: str, size: int) -> str:
    return _b32(hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()[:size])


def slip_key(site_secret: bytes) -> bytes:
    """The slip-signing key derived from the site secret (domain-separated from its other uses)."""
    if len(site_secret) < MIN_KEY_BYTES:
        raise ValueError(f"site secret must be at least {MIN_KEY_BYTES} bytes")
    return hmac.new(site_secret, b"kiosk slip key v1", hashlib.sha256).digest()


def id_tag(resident_key: str, key: bytes) -> str:
    """The 8-character tag binding a slip to one resident (from the ledger's resident key)."""
    return _mac(key, "id" + SEPARATOR + resident_key, TAG_BYTES)


def sign_slip(declaration_id: str, resident_key: str, total_fen: int, issued_at: datetime, key: bytes) -> str:
    """The signed payload for the slip's QR code."""
    if not _DECLARATION_ID.fullmatch(declaration_id):
        raise ValueError(f"declaration id {declaration_id!r} is not 1-64 characters of [0-9A-Za-z_-]")
    if isinstance(total_fen, bool) or not isinstance(total_fen, int) or total_fen < 0:
        raise ValueError(f"total_fen must be a non-negative int, got {total_fen!r}")
    if issued_at.utcoffset() is None:
        raise ValueError("issued_at must be an aware datetime")
    body = SEPARATOR.join((VERSION, declaration_id, id_tag(resident_key, key), str(total_fen),
                           str(int(issued_at.timestamp()))))
    return body + SEPARATOR + _mac(key, body, MAC_BYTES)


@dataclass(frozen=True)
class SlipCheck:
    """The result of checking a scanned slip: genuine or not, why not, and what it claims."""

    genuine: bool
    reason: str | None = None
    declaration_id: str | None = None
    id_tag: str | None = None
    total_fen: int | None = None
    issued_at: datetime | None = None

    def matches_resident(self, resident_key: str, key: bytes) -> bool:
        """True when a genuine slip was issued to the resident with ``resident_key``."""
        return self.genuine and self.id_tag is not None and hmac.compare_digest(
            self.id_tag, id_tag(resident_key, key))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: times as ISO 8601 in Beijing time, the reason's sentence alongside its key."""
        data = asdict(self)
        data["issued_at"] = None if self.issued_at is None else self.issued_at.astimezone(BEIJING).isoformat()
        data["reason_text"] = None if self.reason is None else SLIP_REASONS[self.reason]
        return data


def verify_slip(payload: str, key: bytes) -> SlipCheck:
    """Check a scanned payload against the slip key; never raises on bad input."""
    parts = payload.strip().split(SEPARATOR) if isinstance(payload, str) else []
    if len(parts) != 6 or not _VERSION.fullmatch(parts[0]):
        return SlipCheck(False, "slip_malformed")
    version, declaration_id, tag, total, stamp, mac = parts
    if version != VERSION:
        return SlipCheck(False, "slip_unknown_version")
    if not (_DECLARATION_ID.fullmatch(declaration_id) and _TAG.fullmatch(tag) and _NUMBER.fullmatch(total)
            and _NUMBER.fullmatch(stamp) and _MAC.fullmatch(mac)):
        return SlipCheck(False, "slip_malformed")
    body = payload.strip()[: -len(mac) - 1]
    if not hmac.compare_digest(mac, _mac(key, body, MAC_BYTES)):
        return SlipCheck(False, "slip_forged", declaration_id=declaration_id)
    try:
        issued = datetime.fromtimestamp(int(stamp), UTC)
    except (OverflowError, ValueError, OSError):
        return SlipCheck(False, "slip_malformed")
    return SlipCheck(True, None, declaration_id, tag, int(total), issued)


def slip_document(declaration: Declaration, *, remaining_fen: int, key: bytes, issued_at: datetime,
                  notes: Sequence[str] = ()) -> SlipDocument:
    """What the slip shows: number, Beijing time, masked ID, items, total, remaining quota, signed QR.

    Labels are Chinese with English; ``notes`` are extra lines in the resident's language (the
    printer draws any script it cannot print as an image).
    """
    payload = sign_slip(declaration.id, declaration.resident_key, declaration.total_fen, issued_at, key)
    local = issued_at.astimezone(BEIJING)
    blocks: list[Text | Columns | Rule | QrCode | Feed] = [
        Text("边民互市申报单", align="center", large=True),
        Text("Border trade declaration", align="center"),
        Rule(),
        Text("单号 No."),
        Text(declaration.id),
        Text(f"时间 Time: {local:%Y-%m-%d %H:%M:%S}"),
        Text("(北京时间 Beijing time)"),
        Text(f"证件 ID: {declaration.masked_id}"),
        Rule(),
    ]
    for line in declaration.lines:
        price = "-" if line.unit_price_fen is None else format_fen(line.unit_price_fen)
        blocks.append(Text(line.name or line.code))
        if line.unit == "kg":
            grams = f"{line.quantity // 1000}.{line.quantity % 1000:03d}"
            blocks.append(Columns(f"  {grams} kg x {price}/kg", format_fen(line.amount_fen)))
        else:
            blocks.append(Columns(f"  {line.quantity} x {price}", format_fen(line.amount_fen)))
        if line.currency != "CNY" and line.catalog_price is not None and line.rate is not None:
            blocks.append(Text(f"  {line.currency} {format_fen(line.catalog_price)} @ {line.rate} ({line.rate_date})"))
    blocks += [
        Rule(),
        Columns("合计 Total (CNY)", format_fen(declaration.total_fen), bold=True),
        Columns("今日剩余 Left today", format_fen(remaining_fen)),
        Feed(),
        QrCode(payload),
        *(Text(note, align="center") for note in notes),
        Feed(2),
    ]
    return SlipDocument(tuple(blocks))
