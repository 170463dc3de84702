"""The officer console's vocabulary, views and service layer: codes and labels, cleaned notes, the day report,
and OfficerDesk against the demo kiosk (real SQLite ledger, fake clock, the checkpoint's loop running)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from kiosk.declaration import Declaration, Line, Status, StoredDeclaration, VoidRecord
from kiosk.demo import make_demo
from kiosk.officer_codes import (
    DECISION_REASONS,
    DECISIONS,
    NOTE_MAX,
    RELEASE_REASONS,
    VOID_REASONS,
    OfficerError,
    check_code,
    clean_note,
)
from kiosk.officer_desk import OfficerDesk
from kiosk.officer_labels import ALERTS, OFFICER_ONLY, REASON_ZH, reason_label
from kiosk.officer_views import STATUS_LABELS, day_report, declaration_view
from kiosk.reasons import REASONS

CJK = re.compile(r"[\u3400-\u9FFF]")
DAY = date(2026, 11, 25)
AT = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)


def test_every_reason_key_has_a_chinese_label_for_officers() -> None:
    assert sorted(REASONS.keys() - REASON_ZH.keys()) == []
    assert sorted(REASON_ZH.keys() - REASONS.keys() - OFFICER_ONLY.keys()) == []
    assert sorted(OFFICER_ONLY.keys() & REASONS.keys()) == []
    assert all(CJK.search(text) for text in REASON_ZH.values())
    assert reason_label("over_quota") == {"key": "over_quota", "zh": "超出今日免税额度", "en": REASONS["over_quota"]}
    assert reason_label("brand_new_key") == {"key": "brand_new_key", "zh": "brand_new_key", "en": "brand_new_key"}


@pytest.mark.parametrize("table", [DECISIONS, DECISION_REASONS, RELEASE_REASONS, VOID_REASONS, ALERTS, STATUS_LABELS])
def test_code_tables_are_stable_keys_with_chinese_and_english(table: dict[str, tuple[str, str]]) -> None:
    for code, (zh, en) in table.items():
        assert re.fullmatch(r"[a-z][a-z_]*[a-z]", code), code
        assert CJK.search(zh) and en and not CJK.search(en), code


def test_decisions_are_the_ledger_s() -> None:
    assert list(DECISIONS) == ["approved", "taxed", "rejected"]
    assert {"goods_checked", "quota_exceeded_taxed", "prohibited_goods", "documents_missing", "other"} \
        <= DECISION_REASONS.keys()


def test_check_code_names_the_choices() -> None:
    assert check_code("reason", "duplicate", VOID_REASONS) == "duplicate"
    for bad in ("nope", None, 3, ["duplicate"]):
        with pytest.raises(OfficerError) as refused:
            check_code("reason", bad, VOID_REASONS)
        assert refused.value.key == "bad_reason" and "duplicate" in refused.value.message


def test_notes_are_capped_cleaned_and_never_carry_a_whole_id_number() -> None:
    assert clean_note("  goods ok\x00\x07 ") == "goods ok"
    assert clean_note("card 654201198503120046, twin 65420119850312004X.") == \
        "card 6542**********0046, twin 6542**********004X."
    assert clean_note("order 1234567890123456789012") == "order 1234567890123456789012"   # not an ID number
    assert clean_note("x" * NOTE_MAX) == "x" * NOTE_MAX
    for bad in ("x" * (NOTE_MAX + 1), None, 5):
        with pytest.raises(OfficerError) as refused:
            clean_note(bad)
        assert refused.value.key == "bad_note"
    with pytest.raises(OfficerError):
        clean_note("   ", required=True)
    assert clean_note("", required=False) == ""


def stored(decl_id: str, status: Status, total_fen: int, reasons: tuple[str, ...] = (),
           **extra: Any) -> StoredDeclaration:
    decl = Declaration(id=decl_id, kiosk_id="k1", resident_key="ab" * 32, masked_id="6542**********0046", day=DAY,
                       created_at=AT, lines=(Line("4870204100013", "小麦面粉", total_fen, 1),), limit_fen=800000,
                       rule_version="quota-2020-01-01")
    return StoredDeclaration(decl, status, reasons, AT, None, AT, **extra)


def test_declaration_view_has_masked_id_labels_and_beijing_times() -> None:
    view = declaration_view(stored("d1", Status.voided, 9800, void=VoidRecord("officer:li", "duplicate", AT)))
    assert view["masked_id"] == "6542**********0046" and view["resident"] == "ab" * 8
    assert view["status"] == {"key": "voided", "zh": "已作废", "en": "Voided"}
    assert view["created_at"] == "2026-11-25T12:00:00+08:00"
    assert view["void"] == {"officer": "officer:li", "reason": "duplicate", "at": "2026-11-25T12:00:00+08:00"}
    assert view["total"] == "98.00" and view["decision"] is None and view["at_kiosk"] is False


def test_day_report_counts_by_status_and_reason_with_totals() -> None:
    records = [stored("a", Status.committed, 9800), stored("b", Status.committed, 6500),
               stored("c", Status.referred, 960000, ("over_quota",)),
               stored("d", Status.referred, 0, ("unknown_goods", "over_quota")),
               stored("e", Status.voided, 1200)]
    report = day_report(DAY, records)
    assert report["day"] == "2026-11-25" and report["declarations"] == 5
    assert [(r["key"], r["count"], r["total_fen"], r["total"]) for r in report["by_status"]] == [
        ("committed", 2, 16300, "163.00"), ("referred", 2, 960000, "9,600.00"), ("voided", 1, 1200, "12.00")]
    assert [(r["key"], r["count"]) for r in report["by_reason"]] == [("over_quota", 2), ("unknown_goods", 1)]
    assert report["by_reason"][0]["zh"] == "超出今日免税额度"
    assert report["by_decision"] == [] and report["duty_free_fen"] == 16300 and report["duty_free"] == "163.00"


# -- OfficerDesk on the demo kiosk ---------------------------------------------------------------------------


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[tuple[OfficerDesk, Any]]:
    from kiosk.clock import FakeClock

    kiosk, panel, _ = make_demo(tmp_path / "demo", clock=FakeClock())
    kiosk.checkpoint.start()
    try:
        yield OfficerDesk(kiosk.checkpoint, wait_s=2.0), kiosk
    finally:
        kiosk.stop()
        panel.stop()


def test_lookup_refuses_bad_numbers_without_echoing_them(desk: Any) -> None:
    officer_desk, _kiosk = desk
    for bad in ("654201198503120047", "12345", "", 654201198503120046):
        with pytest.raises(OfficerError) as refused:
            officer_desk.lookup(bad, officer="officer:li")
        assert refused.value.key == "bad_id_number"
        assert "65420119850312004" not in refused.value.message


def test_lookup_of_an_unregistered_resident_with_no_use(desk: Any) -> None:
    officer_desk, _kiosk = desk
    result = officer_desk.lookup("654202198807300018", officer="officer:li")     # valid card, not registered
    assert result["registry"] is None and result["used_fen"] == 0 and result["remaining_fen"] == 800000
    assert result["masked_id"] == "6542**********0018" and result["declarations"] == []


def test_release_by_hand_needs_a_connected_gate(desk: Any) -> None:
    """The demo built but its devices not started: no relay, so a release by hand is refused, never queued."""
    officer_desk, kiosk = desk
    with pytest.raises(OfficerError) as refused:
        officer_desk.release(reason="accessibility", note="", officer="officer:li")
    assert refused.value.key == "gate_unavailable"
    assert not kiosk.checkpoint.officer.hand.busy()


def test_actions_on_unknown_or_malformed_ids(desk: Any) -> None:
    officer_desk, _kiosk = desk
    for call in (lambda i: officer_desk.declaration(i),
                 lambda i: officer_desk.void(i, reason="duplicate", note="", officer="officer:li"),
                 lambda i: officer_desk.reprint(i, officer="officer:li")):
        for declaration_id in ("missing", "../etc", "x" * 65):
            with pytest.raises(OfficerError) as refused:
                call(declaration_id)
            assert refused.value.key == "unknown_declaration"


def test_codes_for_the_console(desk: Any) -> None:
    officer_desk, _kiosk = desk
    codes = officer_desk.codes()
    assert [c["code"] for c in codes["decisions"]] == ["approved", "taxed", "rejected"]
    accessibility = {"code": "accessibility", "zh": "无障碍通行（轮椅、婴儿车等）",
                     "en": "Accessibility (wheelchair, pram, …)"}
    assert accessibility in codes["release_reasons"]
