"""Every reason key the domain modules return has a sentence in kiosk.reasons.REASONS."""

from __future__ import annotations

import re
from pathlib import Path

import kiosk
from kiosk.reasons import REASONS

REQUIRED = [
    "card_type_not_accepted", "id_format", "id_checksum", "id_birth_date", "id_mismatch",
    "card_not_yet_valid", "card_expired", "not_registered", "filing_suspended", "filing_expired",
    "unknown_barcode", "bad_check_digit", "unknown_goods", "over_quota", "quota_exhausted",
    "ledger_unavailable", "gate_fault", "gate_unavailable", "card_unreadable", "card_removed_early",
    "card_type_unknown", "hold_expired", "session_timeout", "cancelled",
    "visitor_no_quota", "card_type_unverified",
]


def test_every_required_key_is_present() -> None:
    """The keys the checkpoint, drivers and domain modules use are all mapped."""
    assert [k for k in REQUIRED if k not in REASONS] == []


def test_keys_and_sentences_are_well_formed() -> None:
    """Keys are snake_case; sentences start upper-case, end with a full stop and are distinct."""
    for key, sentence in REASONS.items():
        assert re.fullmatch(r"[a-z][a-z_]*[a-z]", key), key
        assert sentence[0].isupper() and sentence.endswith("."), key
    assert len(set(REASONS.values())) == len(REASONS)


def test_domain_modules_return_only_mapped_keys() -> None:
    """Reason keys that appear as string literals in the domain modules are mapped."""
    root = Path(kiosk.__file__).parent
    literals: set[str] = set()
    for name in ("identity.py", "residents.py", "catalog.py", "policy.py"):
        text = (root / name).read_text(encoding="utf-8")
        literals |= set(re.findall(r'return (?:None, )?"([a-z_]+)"', text))
        literals |= set(re.findall(r'reasons\.append\("([a-z_]+)"\)', text))
    assert len(literals) >= 12, f"the scan found only {sorted(literals)}: the pattern is out of date"
    assert sorted(literals - REASONS.keys()) == []
