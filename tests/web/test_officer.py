"""The officer console's API end to end: the demo kiosk on its simulators (production drivers over ptys),
the real SQLite ledger and audit chain, Flask's test client signed in as the demo officer.

Declarations are made the way a resident makes them: a card on the simulated reader, goods on the simulated
scanner, "confirm" on the screen's API.  Three wool carpets (3 x 3,200.00) go over the 8,000.00 quota and are
referred; flour goes through the gate and is committed.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from kiosk.identity import resident_key
from kiosk.slip import sign_slip, slip_key
from tests.web.conftest import audit_records, wait_for
from web import create_app

from .staff import Staff, staff_client

FLOUR, CARPET = "4870204100013", "4870204100099"
ELIGIBLE_ID = "654201198503120046"
API = "/api/v1/officer"
LIMIT = 800000


# -- making declarations the way a resident does -----------------------------------------------------------


def snapshot(kiosk: Any) -> dict[str, Any]:
    return kiosk.checkpoint.snapshot()  # type: ignore[no-any-return]


def wait_phase(kiosk: Any, phase: str, timeout: float = 8.0) -> dict[str, Any]:
    return wait_for(lambda: (s := snapshot(kiosk))["phase"] == phase and s, f"phase {phase}", timeout)  # type: ignore[no-any-return]


def shop(kiosk: Any, panel: Any, client: Any, codes: list[str], card: str = "eligible") -> dict[str, Any]:
    """Card, scans and confirm through the simulators and the screen's API; the snapshot after confirm."""
    wait_phase(kiosk, "idle")
    panel.place_card(card)
    wait_phase(kiosk, "identified")
    for i, code in enumerate(codes, 1):
        panel.scan(code)
        wait_for(lambda n=i: sum(line["quantity"] for line in snapshot(kiosk)["lines"]) == n, f"{i} scans")
    response = client.post("/api/v1/resident/confirm", json={})
    assert response.status_code == 200
    panel.remove_card()
    return response.get_json()  # type: ignore[no-any-return]


def refer(kiosk: Any, panel: Any, client: Any) -> str:
    """An over-quota declaration (three carpets), referred; its id."""
    shop(kiosk, panel, client, [CARPET] * 3)
    return wait_phase(kiosk, "referred")["declaration_id"]  # type: ignore[no-any-return]


def commit(kiosk: Any, panel: Any, client: Any, codes: list[str] | None = None) -> str:
    """A declaration through the gate (no passage sensor: committed on the pulse); its id."""
    shop(kiosk, panel, client, codes or [FLOUR])
    decl_id = wait_phase(kiosk, "gate")["declaration_id"]
    wait_for(lambda: kiosk.ledger.get(decl_id).status.value == "committed", "committed")
    return decl_id  # type: ignore[no-any-return]


def today(kiosk: Any) -> date:
    from kiosk.policy import trade_day
    return trade_day(kiosk.checkpoint.clock.now(), kiosk.checkpoint.rules.timezone)


def remaining(kiosk: Any, key: str | None = None) -> int:
    key = key or resident_key(ELIGIBLE_ID, kiosk.checkpoint.rules.site_secret)
    return kiosk.ledger.remaining(key, today(kiosk), limit_fen=LIMIT,  # type: ignore[no-any-return]
                                  now=kiosk.checkpoint.clock.now())


# -- who may use it ------------------------------------------------------------------------------------------


def test_console_page_is_for_officers_only(app: Any, officer: Staff) -> None:
    """No session: to the sign-in page; a technician: 403; an officer: the console with its CSRF token."""
    anonymous = app.test_client().get("/officer/")
    assert anonymous.status_code == 302 and "/signin" in anonymous.headers["Location"]
    assert staff_client(app, "technician").client.get("/officer/").status_code == 403
    page = officer.client.get("/officer/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f'<meta name="csrf-token" content="{officer.csrf}">' in html
    assert "海关关员台" in html and "officer.js" in html and 'value="quota_exceeded_taxed"' in html


@pytest.mark.parametrize("method, path", [
    ("GET", f"{API}/queue"), ("GET", f"{API}/codes"), ("GET", f"{API}/declarations/x"), ("GET", f"{API}/report"),
    ("GET", f"{API}/export"), ("POST", f"{API}/referrals/x/decision"), ("POST", f"{API}/declarations/x/void"),
    ("POST", f"{API}/declarations/x/reprint"), ("POST", f"{API}/gate/release"), ("POST", f"{API}/lookup"),
    ("POST", f"{API}/slips/verify"), ("GET", "/api/v1/events/officer"),
])
def test_api_refuses_no_session_and_technicians(app: Any, method: str, path: str) -> None:
    anonymous = app.test_client().open(path, method=method, json={})
    assert anonymous.status_code == 401 and anonymous.get_json()["error"] == "unauthorized"
    tech = staff_client(app, "technician")
    response = tech.post(path, json={}) if method == "POST" else tech.client.get(path)
    assert response.status_code == 403 and response.get_json()["error"] == "forbidden"


def test_writes_without_the_csrf_token_are_refused(kit: Any, officer: Staff) -> None:
    kiosk, panel, _client = kit
    response = officer.client.post(f"{API}/gate/release", json={"reason": "accessibility"})
    assert response.status_code == 403 and response.get_json()["error"] == "csrf"
    forged = officer.client.post(f"{API}/gate/release", json={"reason": "accessibility"},
                                 headers={"X-CSRF-Token": "forged"})
    assert forged.status_code == 403
    assert panel.gate.on_periods(1) == []


# -- the queue and decisions ---------------------------------------------------------------------------------


def test_queue_shows_the_referral_with_reasons_items_and_total(kit: Any, officer: Staff) -> None:
    kiosk, panel, client = kit
    decl_id = refer(kiosk, panel, client)
    queue = officer.client.get(f"{API}/queue").get_json()
    assert queue["day"] == today(kiosk).isoformat() and queue["kiosk_id"] == "demo-01"
    [item] = queue["referrals"]
    assert item["id"] == decl_id and item["kiosk_id"] == "demo-01"
    assert item["masked_id"] == "6542**********0046"
    assert item["reasons"] == [{"key": "over_quota", "zh": "超出今日免税额度",
                                "en": "The declaration exceeds the remaining duty-free quota for today."}]
    assert [(line["code"], line["quantity"], line["amount_fen"]) for line in item["lines"]] == [(CARPET, 3, 960000)]
    assert item["total_fen"] == 960000 and item["total"] == "9,600.00"
    assert item["status"]["key"] == "referred" and item["decision"] is None
    assert ELIGIBLE_ID not in officer.client.get(f"{API}/queue").get_data(as_text=True)


def test_approve_counts_the_duty_free_part_and_is_idempotent(kit: Any, officer: Staff) -> None:
    """GIVEN a referral of 9,600.00 with 8,000.00 left WHEN approved THEN 8,000.00 counts against the quota,
    1,600.00 goes to taxed declaration, the decision is audited; the same decision again changes nothing and
    a different one is refused."""
    kiosk, panel, client = kit
    decl_id = refer(kiosk, panel, client)
    assert remaining(kiosk) == LIMIT
    body = {"decision": "approved", "reason": "quota_exceeded_taxed", "note": "checked three carpets"}
    first = officer.post(f"{API}/referrals/{decl_id}/decision", json=body)
    assert first.status_code == 200, first.get_json()
    result = first.get_json()
    assert result["repeat"] is False
    decision = result["declaration"]["decision"]
    assert decision["decision"]["key"] == "approved" and decision["officer"] == "officer:officer"
    assert decision["reason"]["key"] == "quota_exceeded_taxed" and decision["note"] == "checked three carpets"
    assert decision["duty_free_fen"] == LIMIT and decision["taxed_fen"] == 160000
    assert remaining(kiosk) == 0
    again = officer.post(f"{API}/referrals/{decl_id}/decision", json=body)
    assert again.status_code == 200 and again.get_json()["repeat"] is True
    assert again.get_json()["declaration"]["decision"] == decision
    assert remaining(kiosk) == 0
    other = officer.post(f"{API}/referrals/{decl_id}/decision", json={**body, "decision": "rejected"})
    assert other.status_code == 409 and other.get_json()["error"] == "already_decided"
    assert officer.client.get(f"{API}/queue").get_json()["referrals"] == []
    decided = [r for r in audit_records(kiosk) if r.kind == "officer_decision"]
    assert len(decided) == 1 and decided[0].actor == "officer:officer"
    assert decided[0].data["decision"] == "approved" and decided[0].data["reason"] == "quota_exceeded_taxed"
    assert decided[0].data["masked_id"] == "6542**********0046" and ELIGIBLE_ID not in decided[0].data_json
    voided = officer.post(f"{API}/declarations/{decl_id}/void", json={"reason": "goods_returned"})
    assert voided.status_code == 200 and voided.get_json()["remaining_fen"] == LIMIT    # an approval voided too
    assert remaining(kiosk) == LIMIT


@pytest.mark.parametrize("decision, reason", [("taxed", "quota_exceeded_taxed"), ("rejected", "prohibited_goods")])
def test_taxed_and_rejected_leave_the_quota_untouched(kit: Any, officer: Staff, decision: str, reason: str) -> None:
    kiosk, panel, client = kit
    decl_id = refer(kiosk, panel, client)
    response = officer.post(f"{API}/referrals/{decl_id}/decision", json={"decision": decision, "reason": reason})
    assert response.status_code == 200
    record = response.get_json()["declaration"]
    assert record["status"]["key"] == decision and record["decision"]["decision"]["key"] == decision
    assert remaining(kiosk) == LIMIT
    assert kiosk.ledger.get(decl_id).status.value == decision


def test_decision_errors_are_4xx_json(kit: Any, officer: Staff) -> None:
    kiosk, panel, client = kit
    committed = commit(kiosk, panel, client)
    decl_id = refer(kiosk, panel, client)
    good = {"decision": "approved", "reason": "goods_checked"}
    cases = [
        ("nope", good, 404, "unknown_declaration"),
        ("bad id!", good, 404, "unknown_declaration"),
        (committed, good, 409, "not_referred"),
        (decl_id, {**good, "decision": "maybe"}, 400, "bad_decision"),
        (decl_id, {**good, "reason": "because"}, 400, "bad_reason"),
        (decl_id, {**good, "reason": "other"}, 400, "bad_note"),
        (decl_id, {**good, "note": 7}, 400, "bad_note"),
        (decl_id, {**good, "decision": ["approved"]}, 400, "bad_decision"),
        (decl_id, {"decision": "approved"}, 400, "bad_request"),
        (decl_id, {**good, "officer": "someone else"}, 400, "bad_request"),
        (decl_id, ["approved"], 400, "bad_request"),
    ]
    for target, body, status, key in cases:
        response = officer.post(f"{API}/referrals/{target}/decision", json=body)
        assert (response.status_code, response.get_json()["error"]) == (status, key), (target, body)
    form = officer.post(f"{API}/referrals/{decl_id}/decision", data={"decision": "approved"})
    assert form.status_code == 415 and form.get_json()["error"] == "unsupported_media_type"
    assert kiosk.ledger.get(decl_id).status.value == "referred"


# -- void, lookup, reprint, slips ------------------------------------------------------------------------------


def test_void_returns_the_quota_and_is_audited(kit: Any, officer: Staff) -> None:
    kiosk, panel, client = kit
    decl_id = commit(kiosk, panel, client)
    assert remaining(kiosk) == LIMIT - 9800
    response = officer.post(f"{API}/declarations/{decl_id}/void", json={"reason": "goods_returned"})
    assert response.status_code == 200, response.get_json()
    result = response.get_json()
    assert result["declaration"]["status"]["key"] == "voided" and result["remaining_fen"] == LIMIT
    assert result["declaration"]["void"]["officer"] == "officer:officer"
    assert remaining(kiosk) == LIMIT
    again = officer.post(f"{API}/declarations/{decl_id}/void", json={"reason": "goods_returned"})
    assert again.status_code == 200 and again.get_json()["repeat"] is True
    voids = [r for r in audit_records(kiosk) if r.kind == "void"]
    assert len(voids) == 1 and voids[0].actor == "officer:officer" and voids[0].data["reason"] == "goods_returned"
    referred = refer(kiosk, panel, client)
    refused = officer.post(f"{API}/declarations/{referred}/void", json={"reason": "duplicate"})
    assert refused.status_code == 409 and refused.get_json()["error"] == "not_voidable"
    assert officer.post(f"{API}/declarations/none/void", json={"reason": "duplicate"}).status_code == 404
    assert officer.post(f"{API}/declarations/{decl_id}/void", json={"reason": "x"}).status_code == 400


def test_lookup_shows_today_s_use_and_never_echoes_the_number(kit: Any, officer: Staff) -> None:
    kiosk, panel, client = kit
    decl_id = commit(kiosk, panel, client)
    response = officer.post(f"{API}/lookup", json={"id_number": ELIGIBLE_ID.lower()})
    assert response.status_code == 200, response.get_json()
    text = response.get_data(as_text=True)
    assert ELIGIBLE_ID not in text
    result = response.get_json()
    assert result["masked_id"] == "6542**********0046"
    assert (result["used_fen"], result["remaining_fen"], result["limit_fen"]) == (9800, LIMIT - 9800, LIMIT)
    assert [d["id"] for d in result["declarations"]] == [decl_id]
    assert result["registry"]["status"] == "active"
    bad = officer.post(f"{API}/lookup", json={"id_number": "654201198503120047"})      # wrong check digit
    assert bad.status_code == 400 and bad.get_json()["error"] == "bad_id_number"
    assert "654201198503120047" not in bad.get_data(as_text=True)
    assert officer.post(f"{API}/lookup", json={"id_number": 654201}).status_code == 400
    lookups = [r for r in audit_records(kiosk) if r.kind == "resident_lookup"]
    assert len(lookups) == 1 and lookups[0].data == {"masked_id": "6542**********0046",
                                                     "resident": result["resident"]}


def test_reprint_goes_to_the_kiosk_printer(passage_demo: Any) -> None:
    kiosk, panel = passage_demo
    app = create_app({"TESTING": True}, service=kiosk, sim=panel)
    client, officer = app.test_client(), staff_client(app, "officer")
    shop(kiosk, panel, client, [FLOUR])
    decl_id = wait_phase(kiosk, "gate")["declaration_id"]
    panel.walk_through()
    wait_for(lambda: kiosk.ledger.get(decl_id).status.value == "committed", "committed on passage")
    printer = kiosk.runners["printer"].device
    wait_for(lambda: len(printer.captured) == 1, "the slip printed once")
    response = officer.post(f"{API}/declarations/{decl_id}/reprint", json={})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["printed"] is True and response.get_json()["bytes_sent"] > 0
    assert len(printer.captured) == 2 and decl_id.encode() in printer.captured[1]
    assert [r.data["printed"] for r in audit_records(kiosk) if r.kind == "slip_reprint"] == [True]
    refer(kiosk, panel, client)
    referred = snapshot(kiosk)["declaration_id"]
    refused = officer.post(f"{API}/declarations/{referred}/reprint", json={})
    assert refused.status_code == 409 and refused.get_json()["error"] == "not_printable"


def test_reprint_without_a_printer_is_503(kit: Any, officer: Staff) -> None:
    kiosk, panel, client = kit
    decl_id = commit(kiosk, panel, client)
    response = officer.post(f"{API}/declarations/{decl_id}/reprint", json={})
    assert response.status_code == 503 and response.get_json()["error"] == "no_printer"


def test_verify_slip_checks_signature_and_ledger(kit: Any, officer: Staff) -> None:
    kiosk, panel, client = kit
    decl_id = commit(kiosk, panel, client)
    key = slip_key(kiosk.checkpoint.rules.site_secret)
    stored = kiosk.ledger.get(decl_id)
    payload = sign_slip(decl_id, stored.declaration.resident_key, 9800, stored.resolved_at, key)
    good = officer.post(f"{API}/slips/verify", json={"payload": payload}).get_json()
    assert good["slip"]["genuine"] is True and good["consistent"] is True
    assert good["declaration"]["id"] == decl_id
    altered = officer.post(f"{API}/slips/verify", json={"payload": payload.replace("|9800|", "|980|")}).get_json()
    assert altered["slip"] == {**altered["slip"], "genuine": False, "reason": "slip_forged"}
    assert altered["declaration"] is None and altered["consistent"] is False
    wrong_total = sign_slip(decl_id, stored.declaration.resident_key, 100, stored.resolved_at, key)
    assert officer.post(f"{API}/slips/verify", json={"payload": wrong_total}).get_json()["consistent"] is False
    assert officer.post(f"{API}/slips/verify", json={"payload": "hello"}).get_json()["slip"]["reason"] == \
        "slip_malformed"
    assert officer.post(f"{API}/slips/verify", json={"payload": ""}).status_code == 400


# -- report and export -----------------------------------------------------------------------------------------


def test_day_report_and_csv_export(kit: Any, officer: Staff) -> None:
    kiosk, panel, client = kit
    commit(kiosk, panel, client)
    decided = refer(kiosk, panel, client)
    officer.post(f"{API}/referrals/{decided}/decision", json={"decision": "taxed", "reason": "quota_exceeded_taxed"})
    refer(kiosk, panel, client)
    report = officer.client.get(f"{API}/report").get_json()
    assert report["declarations"] == 3
    by_status = {row["key"]: (row["count"], row["total_fen"], row["total"]) for row in report["by_status"]}
    assert by_status == {"committed": (1, 9800, "98.00"), "referred": (1, 960000, "9,600.00"),
                         "taxed": (1, 960000, "9,600.00")}
    assert [(r["key"], r["count"]) for r in report["by_reason"]] == [("over_quota", 2)]
    assert [(r["key"], r["count"]) for r in report["by_decision"]] == [("taxed", 1)]
    assert report["duty_free_fen"] == 9800
    page = officer.client.get(f"/officer/report?day={today(kiosk).isoformat()}").get_data(as_text=True)
    assert 'data-status="taxed"' in page and "9,600.00" in page
    export = officer.client.get(f"{API}/export?day={today(kiosk).isoformat()}")
    assert export.status_code == 200 and export.mimetype == "text/csv"
    assert export.headers["Content-Disposition"] == f'attachment; filename="declarations-{today(kiosk)}.csv"'
    rows = list(csv.DictReader(io.StringIO(export.get_data(as_text=True))))
    assert sorted(row["status"] for row in rows) == ["committed", "referred", "taxed"]
    assert ELIGIBLE_ID not in export.get_data(as_text=True)
    empty = officer.client.get(f"{API}/report?day=2020-01-01").get_json()
    assert empty["declarations"] == 0 and empty["by_status"] == []
    for bad in ("yesterday", "2026-02-30", "2026-1-1"):
        response = officer.client.get(f"{API}/report?day={bad}")
        assert response.status_code == 400 and response.get_json()["error"] == "bad_day"


# -- offline conflicts -----------------------------------------------------------------------------------------


class UnreachablePort:
    """The demo's SQLite ledger as the port ledger, which the test can take off the network: while ``down``,
    every call fails the way an unreachable port does (a LedgerError chained to the store's own error)."""

    def __init__(self, port: Any) -> None:
        self.port = port
        self.down = False

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.port, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            if self.down:
                from kiosk.errors import LedgerError
                try:
                    raise ConnectionRefusedError("port ledger unreachable")
                except ConnectionRefusedError as exc:
                    raise LedgerError("cannot reach the port ledger") from exc
            return attr(*args, **kwargs)
        return call


def test_queue_lists_offline_conflicts(tmp_path: Path) -> None:
    """GIVEN a kiosk with the offline allowance WHEN a declaration granted offline is refused by the port on
    reconcile (the resident spent the quota at another kiosk meanwhile) THEN the console lists the conflict,
    and the port's record of it waits in the referral queue with its reason."""
    from kiosk.declaration import Declaration, Line
    from kiosk.ledger.offline import OfflineLedger

    from .idle_app import idle_demo_app

    with idle_demo_app(tmp_path / "demo") as (app, kiosk, clock):
        port = UnreachablePort(kiosk.ledger)
        offline = OfflineLedger(port, tmp_path / "journal.db", cap_fen=50_000)    # type: ignore[arg-type]
        kiosk.checkpoint.ledger = offline
        key = resident_key(ELIGIBLE_ID, kiosk.checkpoint.rules.site_secret)

        def declaration(decl_id: str, fen: int, kiosk_id: str) -> Declaration:
            return Declaration(id=decl_id, kiosk_id=kiosk_id, resident_key=key, masked_id="6542**********0046",
                               day=today(kiosk), created_at=clock.now(), lines=(Line(FLOUR, "flour", fen, 1),),
                               limit_fen=LIMIT, rule_version="quota-2020-01-01")
        port.down = True
        assert offline.hold(declaration("off-1", 30_000, "demo-01"), now=clock.now(), ttl_s=60).accepted
        offline.commit("off-1", now=clock.now())
        port.down = False
        kiosk.ledger.hold(declaration("k2-1", LIMIT - 10_000, "k2"), now=clock.now(), ttl_s=60)
        kiosk.ledger.commit("k2-1", now=clock.now())
        clock.advance(5)
        assert offline.reconcile(clock.now()).conflicts == 1

        queue = staff_client(app, "officer").client.get(f"{API}/queue").get_json()
        assert queue["offline_allowance"] is True
        [conflict] = queue["conflicts"]
        assert (conflict["declaration_id"], conflict["masked_id"], conflict["amount_fen"], conflict["amount"]) == \
            ("off-1", "6542**********0046", 30_000, "300.00")
        assert "over the limit" in conflict["reason"]
        [referral] = queue["referrals"]
        assert referral["id"] == "off-1" and referral["reasons"][0]["key"] == "offline_conflict"
        assert referral["reasons"][0]["zh"] == "离线放行后额度账本拒绝（需核查）"
