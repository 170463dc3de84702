"""GET /metrics on the started demo kiosk: values move with a real flow (card and scan from the simulator
panel, confirm through the API), the text parses strictly as Prometheus 0.0.4, and only a technician or the
scraper's bearer token may read it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.prom_text import Family, histogram_count, parse
from web import create_app

from .conftest import wait_for
from .staff import staff_client

FLOUR, CARPET = "4870204100013", "4870204100099"
TOKEN = "scrape-token-0123456789abcdef"


def scrape(client: Any, **headers: str) -> dict[str, Family]:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.content_type == "text/plain; version=0.0.4; charset=utf-8"
    return parse(response.get_data(as_text=True))


def ledger_calls(families: dict[str, Family], operation: str) -> float:
    try:
        return histogram_count(families["kiosk_ledger_call_seconds"], operation=operation)
    except StopIteration:
        return 0


def test_a_real_flow_moves_the_metrics(app: Any, demo: Any) -> None:
    """GIVEN the demo WHEN a resident taps a card, scans flour, confirms through the API and the gate opens,
    then a refused card and an over-quota basket follow THEN decisions, referrals, rejections, latency,
    ledger calls and gate pulses count them."""
    kiosk, panel = demo
    tech = staff_client(app, "technician")
    before = scrape(tech.client)
    assert before["kiosk_decisions_total"].value(outcome="approved") == 0
    assert before["kiosk_gate_pulses_total"].value(result="ok") == 0
    assert before["kiosk_device_up"].value(role="gate") == 1
    resident = app.test_client()
    panel.place_card("eligible")
    wait_for(lambda: kiosk.checkpoint.snapshot()["phase"] == "identified", "identified")
    panel.scan(FLOUR)
    wait_for(lambda: kiosk.checkpoint.snapshot()["lines"], "the scan")
    assert resident.post("/api/v1/resident/confirm", json={}).status_code == 200
    wait_for(lambda: kiosk.checkpoint.snapshot()["phase"] == "gate", "the gate", timeout=10)
    panel.remove_card()
    wait_for(lambda: kiosk.checkpoint.snapshot()["phase"] == "idle", "idle again", timeout=10)
    panel.place_card("card_expired")
    wait_for(lambda: kiosk.checkpoint.snapshot()["phase"] == "rejected", "rejected")
    panel.remove_card()
    wait_for(lambda: kiosk.checkpoint.snapshot()["phase"] == "idle", "idle again", timeout=10)
    panel.place_card("eligible_long_term")
    wait_for(lambda: kiosk.checkpoint.snapshot()["phase"] == "identified", "identified")
    for _ in range(3):
        panel.scan(CARPET)
    wait_for(lambda: kiosk.checkpoint.snapshot()["total_fen"] == 960000, "three carpets")
    assert resident.post("/api/v1/resident/confirm", json={}).status_code == 200
    wait_for(lambda: kiosk.checkpoint.snapshot()["phase"] == "referred", "referred")
    after = scrape(tech.client)
    assert after["kiosk_decisions_total"].value(outcome="approved") == 1
    assert after["kiosk_decisions_total"].value(outcome="rejected") == 1
    assert after["kiosk_decisions_total"].value(outcome="referred") == 1
    assert after["kiosk_rejections_total"].value(reason="card_expired") == 1
    assert after["kiosk_referrals_total"].value(reason="over_quota") == 1
    assert histogram_count(after["kiosk_decision_seconds"], outcome="approved") == 1
    assert histogram_count(after["kiosk_decision_seconds"], outcome="referred") == 1
    assert after["kiosk_gate_pulses_total"].value(result="ok") == 1 == len(panel.gate.on_periods(1))
    assert after["kiosk_gate_releases_total"].value(outcome="committed") == 1
    assert ledger_calls(after, "hold") == ledger_calls(before, "hold") + 1
    assert ledger_calls(after, "used") > ledger_calls(before, "used")
    assert after["kiosk_staff_actions_total"].value(kind="signin") >= 1
    assert after["kiosk_uptime_seconds"].value() >= before["kiosk_uptime_seconds"].value()


def test_device_errors_and_reconnects_count_an_unplugged_scanner(app: Any, demo: Any) -> None:
    _kiosk, panel = demo
    tech = staff_client(app, "technician")
    assert scrape(tech.client)["kiosk_device_errors_total"].value(role="scanner") == 0
    panel.set_plugged("scanner", False)
    wait_for(lambda: scrape(tech.client)["kiosk_device_errors_total"].value(role="scanner") >= 1, "an error",
             timeout=10)
    down = scrape(tech.client)
    assert down["kiosk_device_up"].value(role="scanner") == 0
    assert down["kiosk_device_state"].value(role="scanner", state="disconnected") == 1
    panel.set_plugged("scanner", True)
    wait_for(lambda: scrape(tech.client)["kiosk_device_reconnects_total"].value(role="scanner") == 1,
             "scanner back", timeout=10)
    up = scrape(tech.client)
    assert up["kiosk_device_up"].value(role="scanner") == 1
    assert up["kiosk_device_reconnects_total"].value(role="scanner") == 1


def test_access_needs_a_technician_or_the_scrapers_token(demo: Any) -> None:
    kiosk, panel = demo
    app = create_app({"TESTING": True, "METRICS_TOKEN": TOKEN}, service=kiosk, sim=panel)
    client = app.test_client()
    assert client.get("/metrics").status_code == 401
    wrong = client.get("/metrics", headers={"Authorization": "Bearer " + TOKEN[:-1] + "X"})
    assert wrong.status_code == 401 and wrong.headers["WWW-Authenticate"].startswith("Bearer")
    assert wrong.get_json()["error"] == "unauthorized"
    assert client.get("/metrics", headers={"Authorization": "Basic " + TOKEN}).status_code == 401
    assert client.get("/metrics?token=" + TOKEN).status_code == 401           # never in a URL
    assert scrape(client, Authorization="Bearer " + TOKEN)["kiosk_build_info"].value(version="0.1.0",
                                                                                     kiosk="demo-01") == 1
    officer = staff_client(app, "officer")
    assert officer.client.get("/metrics").status_code == 403
    assert officer.client.get("/metrics").get_json()["error"] == "forbidden"
    tech = staff_client(app, "technician")
    assert tech.client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert scrape(tech.client)["kiosk_device_up"].value(role="idcard") == 1


def test_the_token_comes_from_the_environment_and_a_short_one_is_refused(
        demo: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    kiosk, panel = demo
    monkeypatch.setenv("KIOSK_METRICS_TOKEN", TOKEN)
    app = create_app({"TESTING": True}, service=kiosk, sim=panel)
    assert app.test_client().get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    monkeypatch.setenv("KIOSK_METRICS_TOKEN", "short")
    weak = create_app({"TESTING": True}, service=kiosk, sim=panel)
    assert weak.test_client().get("/metrics", headers={"Authorization": "Bearer short"}).status_code == 401
    assert "shorter than 16" in caplog.text and "short" not in caplog.text.replace("shorter", "")
    monkeypatch.delenv("KIOSK_METRICS_TOKEN")
    none = create_app({"TESTING": True}, service=kiosk, sim=panel)
    assert none.test_client().get("/metrics", headers={"Authorization": "Bearer "}).status_code == 401
