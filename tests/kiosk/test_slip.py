"""The slip's signed payload and what the slip shows (pure)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from drivers.printer.document import Columns, QrCode, Text
from drivers.printer.render import SlipRenderer
from kiosk.declaration import Declaration, Line
from kiosk.slip import SLIP_REASONS, SlipCheck, id_tag, sign_slip, slip_document, slip_key, verify_slip

KEY = slip_key(b"site-secret-for-tests-only-32by")
RESIDENT = "a" * 64
ISSUED = datetime(2026, 11, 25, 4, 0, 5, tzinfo=UTC)       # 12:00:05 in Beijing
DECL_ID = "0f8fad5bd9cb469fa16570867728950e"


def payload() -> str:
    """The payload of a 1,234.50 CNY declaration."""
    return sign_slip(DECL_ID, RESIDENT, 123450, ISSUED, KEY)


def test_payload_layout_is_compact_and_stable() -> None:
    """v1|decl|tag|total|ts|mac: 8-char tag, 16-char mac, unix seconds; the same inputs give the same text."""
    text = payload()
    version, decl, tag, total, stamp, mac = text.split("|")
    assert (version, decl, total, stamp) == ("v1", DECL_ID, "123450", "1795579205")
    assert len(tag) == 8 and len(mac) == 16 and tag == id_tag(RESIDENT, KEY)
    assert len(text) <= 80
    assert text == payload()


def test_genuine_slip_verifies() -> None:
    """A fresh payload is genuine and says which declaration, total and time it carries."""
    check = verify_slip(payload(), KEY)
    assert check == SlipCheck(True, None, DECL_ID, id_tag(RESIDENT, KEY), 123450, ISSUED)
    assert check.matches_resident(RESIDENT, KEY)
    assert not check.matches_resident("b" * 64, KEY)
    assert verify_slip(payload() + "\r\n", KEY).genuine      # scanners add a line end


@pytest.mark.parametrize("field", [1, 2, 3, 4, 5])
def test_any_changed_field_is_forged(field: int) -> None:
    """Changing the declaration, tag, total, time or mac breaks the signature."""
    parts = payload().split("|")
    replacement = {1: "0f8fad5bd9cb469fa16570867728950f", 2: "AAAAAAAA", 3: "1", 4: "1795579206",
                   5: "AAAAAAAAAAAAAAAA"}[field]
    parts[field] = replacement
    check = verify_slip("|".join(parts), KEY)
    assert (check.genuine, check.reason) == (False, "slip_forged")


def test_other_site_key_is_forged() -> None:
    """A slip signed by another port's key is not genuine here."""
    other = slip_key(b"another-port-secret-32-bytes-xx!")
    assert verify_slip(payload(), other).reason == "slip_forged"


@pytest.mark.parametrize(("text", "reason"), [
    ("", "slip_malformed"),
    ("hello", "slip_malformed"),
    ("v1|a|b|c|d", "slip_malformed"),
    ("v1|x y|AAAAAAAA|1|2|AAAAAAAAAAAAAAAA", "slip_malformed"),
    ("v1|d|AAAAAAAA|-1|2|AAAAAAAAAAAAAAAA", "slip_malformed"),
    ("v1|d|AAAAAAAA|01|2|AAAAAAAAAAAAAAAA", "slip_malformed"),
    ("v1|d|aaaaaaaa|1|2|AAAAAAAAAAAAAAAA", "slip_malformed"),
    ("v1|d|AAAAAAAA|1|99999999999999999|AAAAAAAAAAAAAAAA", "slip_malformed"),
    ("v2|d|AAAAAAAA|1|2|AAAAAAAAAAAAAAAA", "slip_unknown_version"),
])
def test_bad_payloads_have_named_reasons(text: str, reason: str) -> None:
    """Malformed codes and unknown versions are refused with a stable reason key, never an exception."""
    check = verify_slip(text, KEY)
    assert (check.genuine, check.reason, check.declaration_id) == (False, reason, None)
    assert reason in SLIP_REASONS


def test_to_dict_is_json_ready_in_beijing_time() -> None:
    """The officer's view: Beijing time, the reason sentence next to the key."""
    assert verify_slip(payload(), KEY).to_dict() == {
        "genuine": True, "reason": None, "reason_text": None, "declaration_id": DECL_ID,
        "id_tag": id_tag(RESIDENT, KEY), "total_fen": 123450, "issued_at": "2026-11-25T12:00:05+08:00"}
    assert verify_slip("x", KEY).to_dict()["reason_text"] == SLIP_REASONS["slip_malformed"]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"declaration_id": "a|b"}, "declaration id"),
    ({"total_fen": -1}, "total_fen"),
    ({"issued_at": datetime(2026, 1, 1)}, "aware"),
])
def test_sign_refuses_bad_input(kwargs: dict[str, object], message: str) -> None:
    """Separators in the id, negative totals and naive times are programming errors."""
    args: dict[str, object] = {"declaration_id": DECL_ID, "resident_key": RESIDENT, "total_fen": 1,
                               "issued_at": ISSUED, "key": KEY}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        sign_slip(**args)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        slip_key(b"short")


def declaration() -> Declaration:
    """An approved declaration of two lines."""
    return Declaration(
        id=DECL_ID, kiosk_id="baktu-01", resident_key=RESIDENT, masked_id="6542**********0036",
        day=date(2026, 11, 25), created_at=ISSUED,
        lines=(Line("6901234567892", "羊毛地毯", 100000, 1), Line("4870001234560", "Конфеты", 11725, 2)),
        limit_fen=800000, rule_version="2026-11")


def test_slip_document_shows_what_the_issue_asks() -> None:
    """Number, Beijing time, masked ID, items with amounts, total, remaining quota, and a QR that verifies."""
    doc = slip_document(declaration(), remaining_fen=566550, key=KEY, issued_at=ISSUED, notes=("Рақмет!",))
    texts = [b.text for b in doc.blocks if isinstance(b, Text)]
    rows = [(b.left, b.right) for b in doc.blocks if isinstance(b, Columns)]
    assert DECL_ID in texts and "时间 Time: 2026-11-25 12:00:05" in texts
    assert "证件 ID: 6542**********0036" in texts and "Рақмет!" in texts
    assert "羊毛地毯" in texts and "Конфеты" in texts
    assert rows == [("  1 x 1,000.00", "1,000.00"), ("  2 x 117.25", "234.50"),
                    ("合计 Total (CNY)", "1,234.50"), ("今日剩余 Left today", "5,665.50")]
    (qr,) = [b for b in doc.blocks if isinstance(b, QrCode)]
    assert verify_slip(qr.data, KEY).declaration_id == DECL_ID
    renderer = SlipRenderer()
    out = renderer.render(doc)
    assert "合计 Total (CNY)".encode("gb18030") in out and out.endswith(bytes.fromhex("1B 64 06 1D 56 00"))
    assert renderer.image_lines == 2          # the Russian item name and the Kazakh note


def test_unknown_goods_line_prints_its_code() -> None:
    """A line without a name shows the barcode."""
    decl = replace(declaration(), lines=(Line("123", None, None, 1),))
    texts = [b.text for b in slip_document(decl, remaining_fen=0, key=KEY, issued_at=ISSUED).blocks
             if isinstance(b, Text)]
    assert "123" in texts


def test_weighed_and_tenge_lines_show_kilograms_and_the_rate_used() -> None:
    """1,250 g at 128.00/kg prints as kilograms; a KZT price shows its tenge amount, rate and rate date."""
    decl = replace(declaration(), lines=(
        Line("2100012012508", "香肠", 12800, 1250, unit="kg"),
        Line("4870001234560", "Шоколад", 895, 1, currency="KZT", catalog_price=65000, rate="0.013765",
             rate_date="2026-11-20"),
    ))
    doc = slip_document(decl, remaining_fen=0, key=KEY, issued_at=ISSUED)
    rows = [(b.left, b.right) for b in doc.blocks if isinstance(b, Columns)]
    texts = [b.text for b in doc.blocks if isinstance(b, Text)]
    assert ("  1.250 kg x 128.00/kg", "160.00") in rows and ("  1 x 8.95", "8.95") in rows
    assert "  KZT 650.00 @ 0.013765 (2026-11-20)" in texts
