"""Resident ID numbers (GB 11643-1999): check digit, validation, masking and the keyed identity hash.

Only the checksum and the birth date are checked, never the county code: the county table rejects
codes that have since changed (PROTOCOLS.md §1.7).  Validation returns stable reason keys
(``kiosk.reasons.REASONS``), never exception text.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import date

ID_LENGTH = 18
MIN_SECRET_BYTES = 16
# Earliest birth year accepted: GB 11643 numbers are issued to living people, and this
# keeps "00010101" (a valid Python date) from passing as a birth date.
MIN_BIRTH_YEAR = 1800

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"
_FIRST17 = re.compile(r"[0-9]{17}")
_ID_FORMAT = re.compile(r"[0-9]{17}[0-9X]")


def normalise_id_number(s: str) -> str:
    """Strip surrounding whitespace and upper-case a trailing 'x'."""
    return s.strip().upper()


def check_digit(first17: str) -> str:
    """The GB 11643 / ISO 7064 MOD 11-2 check character ('0'-'9' or 'X') for 17 digits."""
    if not _FIRST17.fullmatch(first17):
        raise ValueError("check_digit needs exactly 17 ASCII digits")
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK_CHARS[total % 11]


def _birth_date_or_none(number: str) -> date | None:
    """Digits 7-14 as a date, or None when they are not a real date."""
    digits = number[6:14]
    try:
        born = date(int(digits[0:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return None
    return born if born.year >= MIN_BIRTH_YEAR else None


def validate_id_number(number: str) -> str | None:
    """None if the number is valid, else the reason key: id_format, id_checksum or id_birth_date."""
    n = normalise_id_number(number)
    if not _ID_FORMAT.fullmatch(n):
        return "id_format"
    if check_digit(n[:17]) != n[17]:
        return "id_checksum"
    if _birth_date_or_none(n) is None:
        return "id_birth_date"
    return None


def _require_valid(number: str) -> str:
    """The normalised number; ValueError naming the reason key when it is not valid."""
    reason = validate_id_number(number)
    if reason is not None:
        raise ValueError(f"invalid ID number ({reason})")
    return normalise_id_number(number)


def birth_date_from_id(number: str) -> date:
    """The birth date encoded in digits 7-14; ValueError if the number is invalid."""
    born = _birth_date_or_none(_require_valid(number))
    if born is None:  # unreachable: _require_valid checked the date
        raise ValueError("invalid ID number (id_birth_date)")
    return born


def gender_from_id(number: str) -> str:
    """GB/T 2261.1 gender code from digit 17: '1' (odd, male) or '2' (even, female)."""
    n = _require_valid(number)
    return "1" if int(n[16]) % 2 else "2"


def mask_id(number: str) -> str:
    """Keep the first and last 4 characters, replace the rest by '*'; short input is fully masked."""
    n = normalise_id_number(number)
    if len(n) < 12:  # keeping 8 of fewer than 12 characters would reveal most of it
        return "*" * len(n)
    return n[:4] + "*" * (len(n) - 8) + n[-4:]


def resident_key(number: str, secret: bytes) -> str:
    """HMAC-SHA256 (hex) of the normalised number: the identity key stored in the ledger."""
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"identity secret must be at least {MIN_SECRET_BYTES} bytes")
    message = normalise_id_number(number).encode("utf-8")
    return hmac.new(secret, message, hashlib.sha256).hexdigest()
