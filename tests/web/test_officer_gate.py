"""The officer console and the kiosk together: the resident still standing on a referral sees the officer's decision
live (and the gate opens on approval, with or without a turnstile), the gate released by hand (one pulse on the
LCUS relay simulator, audited, refused while a declaration is in flight), and the officer's event stream.

The helpers that make declarations the way a resident does are test_officer.py's.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kiosk.demo import make_demo
from tests.web.conftest import audit_records, wait_for
from web import create_app

from .staff import Staff, staff_client
from .test_officer import API, FLOUR, refer, shop, snapshot, today, wait_phase


@pytest.fixture
def waiting(tmp_path: Path) -> Iterator[tuple[Any, Any, Any, Staff]]:
    """The demo with outcome screens that stay 30 s: the resident waits on the referral for the officer."""
    kiosk, panel, _ = make_demo(tmp_path / "slow", result_s=30.0, pulse_s=0.5)
    kiosk.start()
    wait_for(lambda: snapshot(kiosk)["service"] == "ok", "devices connected", timeout=15)
    app = create_app({"TESTING": True}, service=kiosk, sim=panel)
    yield kiosk, panel, app.test_client(), staff_client(app, "officer")
    kiosk.stop()
    panel.stop()



# -- the resident still at the kiosk --------------------------------------------------------------------------


def test_approval_opens_the_gate_for_the_resident_still_at_the_kiosk(waiting: Any) -> None:
    """GIVEN a resident on the referral screen WHEN the officer approves THEN the screen goes to approved, the
    relay pulses once (no hold, no commit: the decision counted the quota) and the gate screen follows."""
    kiosk, panel, client, officer = waiting
    decl_id = refer(kiosk, panel, client)
    assert officer.client.get(f"{API}/queue").get_json()["referrals"][0]["at_kiosk"] is True
    response = officer.post(f"{API}/referrals/{decl_id}/decision",
                            json={"decision": "approved", "reason": "goods_checked"})
    assert response.status_code == 200
    assert response.get_json()["at_kiosk"] is True and response.get_json()["gate"] == "pulsing"
    assert snapshot(kiosk)["phase"] in ("approved", "gate")
    s = wait_phase(kiosk, "gate")
    assert s["reasons"] == ["officer_approved"] and s["declaration_id"] == decl_id
    assert s["quota"]["remaining_fen"] == 0
    periods = panel.gate.on_periods(1)
    assert len(periods) == 1 and periods[0][1] is not None
    assert kiosk.ledger.get(decl_id).status.value == "approved"
    releases = [r for r in audit_records(kiosk) if r.kind == "gate_release" and r.actor == "officer:officer"]
    assert [r.data["outcome"] for r in releases] == ["released"]


def test_approval_with_a_turnstile_waits_for_the_passage(tmp_path: Path) -> None:
    """GIVEN the demo with a turnstile and the resident on the referral screen WHEN the officer approves THEN the
    gate screen holds until the resident walks through; the passage is the release's (no alert), audited."""
    kiosk, panel, _ = make_demo(tmp_path / "turnstile", result_s=30.0, pulse_s=0.3, passage=True)
    kiosk.start()
    try:
        wait_for(lambda: snapshot(kiosk)["service"] == "ok" and kiosk.health()["passage"].usable, "devices",
                 timeout=15)
        app = create_app({"TESTING": True}, service=kiosk, sim=panel)
        officer = staff_client(app, "officer")
        decl_id = refer(kiosk, panel, app.test_client())
        response = officer.post(f"{API}/referrals/{decl_id}/decision",
                                json={"decision": "approved", "reason": "goods_checked"})
        assert response.status_code == 200 and response.get_json()["gate"] == "pulsing"
        wait_for(lambda: panel.gate.on_periods(1) and panel.gate.on_periods(1)[0][1] is not None, "pulsed")
        s = wait_phase(kiosk, "gate")
        assert s["reasons"] == ["officer_approved"] and kiosk.checkpoint.officer.hand.watching()
        panel.walk_through()
        outcomes = lambda: [r.data["outcome"] for r in audit_records(kiosk) if r.kind == "gate_release"]  # noqa: E731
        wait_for(lambda: outcomes() == ["waiting", "passed"], "the passage recorded")
        assert [a["kind"] for a in kiosk.checkpoint.alerts] == []
        assert len(panel.gate.on_periods(1)) == 1 and snapshot(kiosk)["phase"] == "gate"
    finally:
        kiosk.stop()
        panel.stop()


@pytest.mark.parametrize("decision, phase, reason", [("taxed", "referred", "officer_taxed"),
                                                      ("rejected", "rejected", "officer_rejected")])
def test_taxed_or_rejected_tells_the_resident_where_to_go(waiting: Any, decision: str, phase: str,
                                                         reason: str) -> None:
    kiosk, panel, client, officer = waiting
    decl_id = refer(kiosk, panel, client)
    response = officer.post(f"{API}/referrals/{decl_id}/decision", json={"decision": decision, "reason": "other",
                                                                          "note": "see desk"})
    assert response.status_code == 200 and response.get_json()["gate"] is None
    s = wait_phase(kiosk, phase)
    assert s["reasons"] == [reason]
    assert panel.gate.on_periods(1) == []


def test_a_resident_who_left_sees_nothing_and_nothing_pulses(kit: Any, officer: Staff) -> None:
    kiosk, panel, client = kit
    decl_id = refer(kiosk, panel, client)
    wait_phase(kiosk, "idle")                          # the referral screen ended (2 s in this demo)
    response = officer.post(f"{API}/referrals/{decl_id}/decision",
                            json={"decision": "approved", "reason": "goods_checked"})
    assert response.status_code == 200 and response.get_json()["at_kiosk"] is False
    assert snapshot(kiosk)["phase"] == "idle" and panel.gate.on_periods(1) == []


# -- the gate by hand ------------------------------------------------------------------------------------------


def test_manual_release_pulses_the_relay_once_and_is_audited(kit: Any, officer: Staff) -> None:
    kiosk, panel, _client = kit
    response = officer.post(f"{API}/gate/release", json={"reason": "accessibility", "note": "wheelchair"})
    assert response.status_code == 200, response.get_json()
    result = response.get_json()
    assert result["released"] is True and result["reason"]["key"] == "accessibility"
    periods = panel.gate.on_periods(1)
    assert len(periods) == 1 and periods[0][1] is not None           # one pulse, the relay off again
    assert 0.9 <= periods[0][1] - periods[0][0] <= 2.0               # the configured 1.0 s pulse
    records = [r for r in audit_records(kiosk) if r.kind in ("manual_release", "manual_release_done")]
    assert [(r.kind, r.actor) for r in records] == [("manual_release", "officer:officer"),
                                                    ("manual_release_done", "officer:officer")]
    assert records[0].data["reason"] == "accessibility" and records[0].data["note"] == "wheelchair"
    assert records[1].data["outcome"] == "released" and records[1].data["pulse_id"] == result["pulse_id"]
    assert kiosk.ledger.list_day(today(kiosk)) == []                   # the ledger is never touched


def test_manual_release_is_refused_while_a_declaration_is_in_flight(kit: Any, officer: Staff) -> None:
    kiosk, panel, client = kit
    after = shop(kiosk, panel, client, [FLOUR])
    assert after["phase"] in ("approved", "gate")                     # the 1 s pulse is running
    response = officer.post(f"{API}/gate/release", json={"reason": "accessibility"})
    assert response.status_code == 409 and response.get_json()["error"] == "declaration_in_flight"
    wait_phase(kiosk, "idle")
    assert len(panel.gate.on_periods(1)) == 1                        # the resident's pulse only
    bad = officer.post(f"{API}/gate/release", json={"reason": "because"})
    assert bad.status_code == 400 and bad.get_json()["error"] == "bad_reason"


# -- live updates -----------------------------------------------------------------------------------------------


def test_officer_stream_announces_queue_changes(live: Any, demo: Any, app: Any) -> None:
    """GIVEN an officer's event stream WHEN a referral is decided THEN an officer.queue event arrives."""
    import http.client

    from tests.web.test_stream import read_events

    kiosk, panel = demo
    console = staff_client(app, "officer")
    decl_id = refer(kiosk, panel, app.test_client())
    cookie = console.client.get_cookie("kiosk_session").value
    conn = http.client.HTTPConnection("127.0.0.1", live.port, timeout=5)
    conn.request("GET", "/api/v1/events/officer", headers={"Cookie": f"kiosk_session={cookie}"})
    resp = conn.getresponse()
    assert resp.status == 200
    events = read_events(resp)
    console.post(f"{API}/referrals/{decl_id}/decision", json={"decision": "rejected", "reason": "identity_doubt"})
    for event, data in events:
        if event == "officer.queue":
            assert data == {"change": "decided", "declaration_id": decl_id}
            break
    conn.close()


