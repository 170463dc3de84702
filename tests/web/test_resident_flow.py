"""The resident flow end to end through Flask's test client: /sim panel -> simulated
hardware -> production drivers over ptys -> checkpoint -> JSON API."""

from __future__ import annotations

from typing import Any

from tests.web.conftest import wait_for

FLOUR, CARPET, UNKNOWN = "4870204100013", "4870204100099", "4879999000119"


def state(client: Any) -> dict[str, Any]:
    return client.get("/api/v1/state").get_json()


def phase_is(client: Any, phase: str) -> Any:
    return lambda: (s := state(client))["phase"] == phase and s


def sim(client: Any, path: str, body: dict[str, Any] | None = None) -> Any:
    r = client.post(f"/sim/api/{path}", json=body or {})
    assert r.status_code == 200, r.get_json()
    return r


def command(client: Any, name: str) -> dict[str, Any]:
    r = client.post(f"/api/v1/resident/{name}", json={})
    assert r.status_code == 200
    return r.get_json()


def test_card_to_gate(client: Any, demo: Any) -> None:
    """GIVEN the demo WHEN a resident taps, scans two items and confirms THEN the relay pulses,
    the declaration is committed and the kiosk returns to idle."""
    _kiosk, panel = demo
    sim(client, "card", {"key": "eligible"})
    s = wait_for(phase_is(client, "identified"), "identified")
    assert s["quota"]["remaining_fen"] == 800000
    sim(client, "scan", {"code": FLOUR})
    sim(client, "scan", {"code": FLOUR})
    s = wait_for(lambda: (x := state(client))["lines"] and x["lines"][0]["quantity"] == 2 and x, "two flour")
    assert s["total_fen"] == 19600
    after = command(client, "confirm")
    assert after["phase"] in ("approved", "gate")
    s = wait_for(phase_is(client, "gate"), "gate open")
    assert s["quota"]["remaining_fen"] == 800000 - 19600
    periods = panel.gate.on_periods(1)
    assert len(periods) == 1 and periods[0][1] is not None   # one pulse, relay off again
    assert 0.9 <= periods[0][1] - periods[0][0] <= 2.0   # the configured 1.0 s pulse
    wait_for(phase_is(client, "idle"), "back to idle")


def test_unknown_barcode_shows_reason_and_refers(client: Any) -> None:
    """An unknown barcode gives a plain reason key on screen and the declaration is referred."""
    sim(client, "card", {"key": "eligible"})
    wait_for(phase_is(client, "identified"), "identified")
    sim(client, "scan", {"code": UNKNOWN})
    s = wait_for(lambda: (x := state(client))["notice"] and x, "notice")
    assert s["notice"] == {"reason": "unknown_barcode", "code": UNKNOWN}
    assert command(client, "confirm")["phase"] == "referred"
    assert state(client)["reasons"] == ["unknown_goods"]


def test_expired_and_bad_checksum_cards_are_rejected_with_reasons(client: Any) -> None:
    """Refused cards end on the rejected screen with their reason key, never an error page."""
    for key in ("card_expired", "id_checksum"):
        sim(client, "card/remove")
        wait_for(lambda: state(client)["phase"] == "idle", "idle")
        sim(client, "card", {"key": key})
        s = wait_for(phase_is(client, "rejected"), f"rejected {key}")
        assert s["reasons"] == [key]
        assert s["resident"] is None


def test_over_quota_is_referred(client: Any) -> None:
    """Three carpets are over 8,000.00: referred with over_quota."""
    sim(client, "card", {"key": "eligible_long_term"})
    wait_for(phase_is(client, "identified"), "identified")
    for _ in range(3):
        sim(client, "scan", {"code": CARPET})
    wait_for(lambda: sum(x["quantity"] for x in state(client)["lines"]) == 3, "three carpets")
    assert command(client, "confirm")["reasons"] == ["over_quota"]


def test_gate_unplugged_means_out_of_service_and_no_grant(client: Any, demo: Any) -> None:
    """With the relay unplugged the screen says out of service and a confirm is referred."""
    _kiosk, panel = demo
    sim(client, "device/gate", {"plugged": False})
    wait_for(lambda: state(client)["service"] == "out_of_service", "out of service")
    sim(client, "card", {"key": "eligible"})
    wait_for(phase_is(client, "identified"), "identified")
    sim(client, "scan", {"code": FLOUR})
    wait_for(lambda: state(client)["lines"], "a line")
    assert command(client, "confirm")["reasons"] == ["gate_unavailable"]
    sim(client, "device/gate", {"plugged": True})
    wait_for(lambda: state(client)["service"] == "ok", "gate back")
    assert panel.gate.on_periods(1) == []


def test_bad_requests_get_clear_json_errors(client: Any) -> None:
    """Bad input is refused with a reason and changes nothing."""
    r = client.post("/api/v1/resident/confirm", data="x")
    assert r.status_code == 415 and "json" in r.get_json()["message"]
    r = client.post("/api/v1/resident/explode", json={})
    assert r.status_code == 404 and r.get_json()["error"] == "not_found"
    r = client.post("/sim/api/card", json={"key": "nobody"})
    assert r.status_code == 400 and "nobody" in r.get_json()["message"]
    r = client.post("/sim/api/scan", json={"code": ""})
    assert r.status_code == 400
    assert state(client)["phase"] == "idle"


def test_resident_page_and_no_sim_panel_outside_demo(demo: Any) -> None:
    """The screen is served; /sim exists only when a simulator panel is given."""
    from web import create_app

    kiosk, _panel = demo
    app = create_app({"TESTING": True}, service=kiosk)
    c = app.test_client()
    page = c.get("/")
    assert page.status_code == 200 and "resident.js" in page.get_data(as_text=True)
    assert c.get("/sim/").status_code == 404
    assert c.post("/sim/api/scan", json={"code": "1"}).status_code == 404


def test_demo_with_turnstile_commits_on_passage_and_prints_the_slip(passage_demo: Any) -> None:
    """As `kiosk demo` runs: the gate opens, the hold waits for the turnstile; walking through (from
    /sim) commits the declaration and a signed slip prints."""
    from web import create_app

    kiosk, panel = passage_demo
    client = create_app({"TESTING": True}, service=kiosk, sim=panel).test_client()
    assert b"Walk through the gate" in client.get("/sim/").data
    sim(client, "card", {"key": "eligible"})
    wait_for(phase_is(client, "identified"), "identified")
    sim(client, "scan", {"code": FLOUR})
    wait_for(lambda: state(client)["lines"], "a line")
    command(client, "confirm")
    s = wait_for(phase_is(client, "gate"), "gate open, waiting for the passage")
    decl_id = s["declaration_id"]
    time_open = kiosk.ledger.get(decl_id)
    assert time_open is not None and time_open.status.value == "held"
    sim(client, "passage")
    wait_for(lambda: kiosk.ledger.get(decl_id).status.value == "committed", "committed on passage")
    printer = kiosk.runners["printer"].device
    wait_for(lambda: printer.captured, "slip printed")
    assert decl_id.encode() in b"".join(printer.captured)
    wait_for(phase_is(client, "idle"), "back to idle")


def test_demo_without_a_walk_refers_after_the_window(passage_demo: Any) -> None:
    """Nobody walks through: the hold is released and the resident referred (not_passed)."""
    kiosk, panel = passage_demo
    kiosk.checkpoint.release.config = type(kiosk.checkpoint.release.config)(wait_for_passage=True,
                                                                           passage_timeout_s=2.0)
    panel.place_card("eligible")
    wait_for(lambda: kiosk.checkpoint.snapshot()["phase"] == "identified", "identified")
    panel.scan(FLOUR)
    wait_for(lambda: kiosk.checkpoint.snapshot()["lines"], "a line")
    from kiosk.events import Confirm
    kiosk.checkpoint.submit(Confirm()).result(timeout=5)
    s = wait_for(lambda: (x := kiosk.checkpoint.snapshot())["phase"] == "referred" and x, "referred", timeout=8)
    assert s["reasons"] == ["not_passed"]
    assert kiosk.ledger.get(s["declaration_id"]).status.value == "referred"
