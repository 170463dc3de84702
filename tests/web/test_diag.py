"""The technician's diagnostics (/diag pages, /api/v1/diag) on the started demo kiosk: production drivers on
their simulators over real ptys, the real checkpoint, ledger and audit chain, Flask's test client signed in
as the demo technician."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import pytest

from kiosk.demo_data import DEMO_CARDS
from kiosk.diagnostics import mask_url
from kiosk.identity import mask_id

from .conftest import audit_records, wait_for
from .staff import Staff, staff_client

FLOUR = "4870204100013"
CH1_ON, CH1_OFF = "a0 01 01 a2", "a0 01 00 a1"
CARD = next(c.card for c in DEMO_CARDS if c.key == "eligible")


@pytest.fixture
def tech(app: Any) -> Staff:
    return staff_client(app, "technician")


def in_background(fn: Callable[[], Any]) -> Future[Any]:
    """Run ``fn`` on a thread (a self-test waits for the next card while the test places it)."""
    fut: Future[Any] = Future()

    def run() -> None:
        try:
            fut.set_result(fn())
        except BaseException as exc:
            fut.set_exception(exc)

    threading.Thread(target=run, daemon=True).start()
    return fut


def forms(secret: str) -> list[str]:
    """The ways a value could show up in a page or a frame: text, and hex of its UTF-8 and UTF-16LE bytes."""
    out = [secret]
    for codec in ("utf-8", "utf-16-le"):
        raw = secret.encode(codec)
        out += [raw.hex(), raw.hex(" "), raw.hex().upper()]
    return out


def test_every_device_with_driver_url_health_and_frames(tech: Staff, demo: Any) -> None:
    kiosk, panel = demo
    body = tech.client.get("/api/v1/diag").get_json()
    assert body["version"] == "0.1.0" and body["kiosk_id"] == "demo-01" and body["phase"] == "idle"
    assert body["uptime_s"] >= 0 and body["started_at"]
    devices = {d["role"]: d for d in body["devices"]}
    assert list(devices) == ["idcard", "scanner", "gate"]
    assert devices["gate"]["driver"] == "lcus" and devices["gate"]["url"] == panel.gate.port
    assert {d["state"] for d in devices.values()} == {"connected"}
    assert devices["gate"]["frames"][0]["hex"] == CH1_OFF          # all relays off when the driver opened it
    assert devices["idcard"]["frames"][-1]["direction"] == "rx"    # the find-card polls
    assert devices["scanner"]["last_reading_at"] is None
    panel.scan(FLOUR)
    wait_for(lambda: tech.client.get("/api/v1/diag/devices/scanner").get_json()["last_reading_at"], "a reading")
    scanner = tech.client.get("/api/v1/diag/devices/scanner").get_json()
    assert scanner["frames"][-1]["hex"] == (FLOUR + "\r").encode().hex(" ")
    assert scanner["frames"][-1]["text"] == FLOUR + "."


def test_a_lost_device_shows_its_state_error_and_reconnects(tech: Staff, demo: Any) -> None:
    _kiosk, panel = demo
    panel.set_plugged("scanner", False)
    gone = wait_for(lambda: (d := tech.client.get("/api/v1/diag/devices/scanner").get_json())["state"]
                    == "disconnected" and d, "scanner disconnected", timeout=10)
    assert gone["last_error"]
    panel.set_plugged("scanner", True)
    back = wait_for(lambda: (d := tech.client.get("/api/v1/diag/devices/scanner").get_json())["state"]
                    == "connected" and d, "scanner back", timeout=10)
    assert back["reconnects"] == 1
    page = tech.client.get("/diag/").get_data(as_text=True)
    assert 'data-role="scanner"' in page and "重连次数" in page


def test_the_gate_pulses_only_with_confirmation_and_its_exact_frames_show(tech: Staff, demo: Any) -> None:
    """GIVEN an idle kiosk WHEN the technician asks for a gate pulse without "confirm": "pulse" THEN 400 and the
    relay never moved; WITH it THEN one pulse, frames A0 01 01 A2 then A0 01 00 A1, and an audit record."""
    kiosk, panel = demo
    for body in ({}, {"confirm": "yes"}, {"confirm": True}):
        refused = tech.post("/api/v1/diag/selftest/gate", json=body)
        assert refused.status_code == 400 and refused.get_json()["error"] == "confirmation_required"
    assert panel.gate.on_periods(1) == []
    done = tech.post("/api/v1/diag/selftest/gate", json={"confirm": "pulse", "ms": 200})
    assert done.status_code == 200, done.get_json()
    result = done.get_json()
    assert result["ok"] is True and result["test"] == "gate" and result["channel"] == 1 and result["seconds"] == 0.2
    periods = panel.gate.on_periods(1)
    assert len(periods) == 1 and periods[0][1] is not None and 0.15 < periods[0][1] - periods[0][0] < 0.6
    gate = tech.client.get("/api/v1/diag/devices/gate").get_json()
    assert [f["hex"] for f in gate["frames"]][-2:] == [CH1_ON, CH1_OFF]
    assert all(f["direction"] == "tx" for f in gate["frames"])
    pulses = [r for r in audit_records(kiosk) if r.kind == "diag_gate_pulse"]
    assert len(pulses) == 1 and pulses[0].actor == "technician:tech" and pulses[0].data["ok"] is True


def test_the_card_self_test_reports_a_masked_number_and_starts_no_session(tech: Staff, demo: Any) -> None:
    """GIVEN the card self-test waiting WHEN a card is placed THEN the result holds its type and masked number
    only, and the checkpoint never saw it: still idle, no resident on the screen."""
    kiosk, panel = demo
    fut = in_background(lambda: tech.post("/api/v1/diag/selftest/card", json={"timeout_s": 10}))
    wait_for(lambda: kiosk.taps.waiting() == ["idcard"], "the self-test waiting")
    panel.place_card("eligible")
    response = fut.result(timeout=15)
    result = response.get_json()
    assert response.status_code == 200 and result["ok"] is True, result
    assert result["masked_id"] == mask_id(CARD.id_number) and result["card_type"] == "resident"
    assert result["photo_bytes"] == 1024
    text = response.get_data(as_text=True)
    assert not any(form in text for form in forms(CARD.id_number) + forms(CARD.name))
    snap = kiosk.checkpoint.snapshot()
    assert snap["phase"] == "idle" and snap["resident"] is None and kiosk.checkpoint.session is None
    records = [r for r in audit_records(kiosk) if r.kind == "diag_selftest"]
    assert records[-1].actor == "technician:tech" and records[-1].data == {"test": "card", "ok": True, "error": None}


def test_the_card_self_test_times_out_cleanly(tech: Staff, demo: Any) -> None:
    kiosk, _panel = demo
    result = tech.post("/api/v1/diag/selftest/card", json={"timeout_s": 1}).get_json()
    assert result["ok"] is False and result["error"] == "timeout" and 0.9 < result["duration_s"] < 3
    assert kiosk.taps.waiting() == []


def test_the_scan_self_test_reports_symbology_and_text_and_the_screen_sees_nothing(tech: Staff, demo: Any) -> None:
    kiosk, panel = demo
    fut = in_background(lambda: tech.post("/api/v1/diag/selftest/scan", json={"timeout_s": 10}))
    wait_for(lambda: kiosk.taps.waiting() == ["scanner"], "the self-test waiting")
    panel.scan(FLOUR)
    result = fut.result(timeout=15).get_json()
    assert result == {**result, "ok": True, "test": "scan", "text": FLOUR, "length": 13, "symbology": None}
    assert kiosk.checkpoint.snapshot()["notice"] is None          # no "identify first" on the resident screen


def test_self_tests_are_refused_while_a_resident_is_in_a_session(tech: Staff, demo: Any) -> None:
    kiosk, panel = demo
    panel.place_card("eligible")
    wait_for(lambda: kiosk.checkpoint.snapshot()["phase"] == "identified", "identified")
    for test, body in (("gate", {"confirm": "pulse"}), ("card", {}), ("scan", {})):
        refused = tech.post(f"/api/v1/diag/selftest/{test}", json=body)
        assert refused.status_code == 409 and refused.get_json()["error"] == "resident_session", test
    assert panel.gate.on_periods(1) == []
    assert kiosk.checkpoint.snapshot()["phase"] == "identified"


def test_the_slip_self_test_prints_on_the_configured_printer(passage_demo: Any) -> None:
    from web import create_app

    kiosk, panel = passage_demo
    app = create_app({"TESTING": True}, service=kiosk, sim=panel)
    tech = staff_client(app, "technician")
    result = tech.post("/api/v1/diag/selftest/slip", json={}).get_json()
    assert result["ok"] is True and result["bytes_sent"] > 100
    printer = kiosk.runners["printer"].device
    assert len(printer.captured) == 1 and b"PRINTER TEST" in printer.captured[0]


def test_the_slip_self_test_without_a_printer_is_refused(tech: Staff) -> None:
    refused = tech.post("/api/v1/diag/selftest/slip", json={})
    assert refused.status_code == 409 and refused.get_json() == {
        "error": "not_configured", "message": "no printer is configured on this kiosk"}


@pytest.mark.parametrize(("path", "kwargs", "status"), [
    ("/api/v1/diag/selftest/nope", {"json": {}}, 404),
    ("/api/v1/diag/selftest/gate", {"data": "confirm=pulse"}, 415),
    ("/api/v1/diag/selftest/gate", {"json": ["pulse"]}, 400),
    ("/api/v1/diag/selftest/gate", {"json": {"confirm": "pulse", "ms": 99999}}, 400),
    ("/api/v1/diag/selftest/gate", {"json": {"confirm": "pulse", "ms": 2.5}}, 400),
    ("/api/v1/diag/selftest/card", {"json": {"timeout_s": 0}}, 400),
    ("/api/v1/diag/selftest/card", {"json": {"timeout_s": "10"}}, 400),
    ("/api/v1/diag/selftest/card", {"json": {"confirm": "pulse"}}, 400),
    ("/api/v1/diag/selftest/slip", {"json": {"x": 1}}, 400),
])
def test_bad_input_gets_a_json_error_and_moves_nothing(tech: Staff, demo: Any, path: str, kwargs: dict[str, Any],
                                                        status: int) -> None:
    _kiosk, panel = demo
    response = tech.post(path, **kwargs)
    assert response.status_code == status and set(response.get_json()) == {"error", "message"}
    assert panel.gate.on_periods(1) == []


@pytest.mark.parametrize(("path", "status"), [
    ("/api/v1/diag/devices/nope", 404), ("/api/v1/diag/logs?level=DEBUG", 400), ("/api/v1/diag/logs?limit=0", 400),
    ("/api/v1/diag/logs?limit=x", 400), ("/api/v1/diag/logs?limit=501", 400)])
def test_bad_queries_get_a_json_error(tech: Staff, path: str, status: int) -> None:
    response = tech.client.get(path)
    assert response.status_code == status and set(response.get_json()) == {"error", "message"}


def test_no_full_id_number_or_name_in_any_diagnostic_answer_after_a_card_read(
        tech: Staff, demo: Any, caplog: pytest.LogCaptureFixture) -> None:
    """GIVEN a resident's card read through the SAM-V simulator (and INFO logging on) THEN no diagnostic
    page or API answer, frames and log lines included, holds the ID number or the name, in any encoding."""
    caplog.set_level(logging.INFO)
    kiosk, panel = demo
    panel.place_card("eligible")
    wait_for(lambda: kiosk.checkpoint.snapshot()["phase"] == "identified", "identified")
    panel.scan(FLOUR)
    wait_for(lambda: kiosk.checkpoint.snapshot()["lines"], "the scan")
    logging.getLogger("kiosk.test").warning("a careless line with %s in it", CARD.id_number)
    paths = ["/api/v1/diag", "/api/v1/diag/devices/idcard", "/api/v1/diag/logs?limit=500", "/api/v1/diag/config",
             "/api/v1/diag/doctor", "/diag/", "/diag/system", "/diag/doctor", "/metrics"]
    bodies = {path: tech.client.get(path).get_data(as_text=True) for path in paths}
    idcard = tech.client.get("/api/v1/diag/devices/idcard").get_json()
    reply = [f for f in idcard["frames"] if f["length"] == 1295]
    assert reply and reply[0]["withheld"] == 1280                 # the card was read, and its data withheld
    assert any("careless line" in line["message"] for line in
               tech.client.get("/api/v1/diag/logs?level=WARNING").get_json()["lines"])
    leaks = [(path, form) for path, body in bodies.items() for secret in (CARD.id_number, CARD.name, CARD.address)
             for form in forms(secret) if form in body]
    assert not leaks


def test_config_shows_values_with_secrets_masked(tech: Staff, demo: Any) -> None:
    kiosk, _panel = demo
    response = tech.client.get("/api/v1/diag/config")
    config = response.get_json()
    assert config["site_secret"] == "****" and config["kiosk_id"] == "demo-01"
    assert config["ledger_url"] == kiosk.config.ledger_url                    # SQLite: no password to hide
    assert config["devices"]["gate"] == {"driver": "lcus", "url": kiosk.config.devices["gate"].url,
                                         "options": {"channel": 1, "pulse_s": 1.0}}
    secret = kiosk.config.site_secret
    text = response.get_data(as_text=True)
    assert secret.decode() not in text and secret.hex() not in text
    page = tech.client.get("/diag/system").get_data(as_text=True)
    assert "site_secret" in page and secret.decode() not in page


@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql://kiosk:Pw-7f3a9c@db.port:5432/ledger", "postgresql://kiosk@db.port:5432/ledger"),
    ("socket://user:hunter2@10.0.0.5:4001", "socket://10.0.0.5:4001"),
    ("rfc2217://10.0.0.5:4001?password=hunter2&timeout=1", "rfc2217://10.0.0.5:4001?password=****&timeout=1"),
    ("/dev/kiosk/idcard", "/dev/kiosk/idcard"), ("capture://", "capture://"),
    ("pcsc:OMNIKEY 5022", "pcsc:OMNIKEY 5022"),
])
def test_urls_never_show_credentials(url: str, shown: str) -> None:
    assert mask_url(url) == shown


def test_logs_keep_warnings_apart_and_filter_by_level(tech: Staff, demo: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    log = logging.getLogger("kiosk.test")
    log.warning("the warning to keep")
    for i in range(400):
        log.info("chatter %d", i)
    warnings = tech.client.get("/api/v1/diag/logs?level=WARNING&limit=500").get_json()["lines"]
    assert [line["message"] for line in warnings if line["logger"] == "kiosk.test"] == ["the warning to keep"]
    recent = tech.client.get("/api/v1/diag/logs?limit=3").get_json()["lines"]
    assert [line["message"] for line in recent] == ["chatter 397", "chatter 398", "chatter 399"]
    assert recent[0]["level"] == "INFO" and recent[0]["seq"] < recent[1]["seq"]


def test_doctor_checks_run_inside_the_kiosk_without_opening_its_devices(tech: Staff, demo: Any) -> None:
    kiosk, panel = demo
    body = tech.client.get("/api/v1/diag/doctor").get_json()
    rows = {row["check"]: row for row in body["rows"]}
    assert rows["gate answers"]["status"] == "ok" and "connected" in rows["gate answers"]["detail"]
    assert rows["gate present"]["status"] == "ok"
    assert rows["ledger"]["status"] == "ok" and "answers" in rows["ledger"]["detail"]
    assert body["problems"] == sum(row["status"] == "FAIL" for row in body["rows"])
    assert len(panel.gate.timeline) == 1            # only the driver's own all-off at open: never re-opened
    page = tech.client.get("/diag/doctor").get_data(as_text=True)
    assert "gate answers" in page


def test_pages_need_a_technician(app: Any) -> None:
    anonymous = app.test_client()
    assert anonymous.get("/diag/").status_code == 302
    assert anonymous.get("/api/v1/diag").status_code == 401
    officer = staff_client(app, "officer")
    assert officer.client.get("/diag/").status_code == 403
    assert officer.client.get("/api/v1/diag").get_json()["error"] == "forbidden"
    assert officer.post("/api/v1/diag/selftest/gate", json={"confirm": "pulse"}).status_code == 403
    tech = staff_client(app, "technician")
    page = tech.client.get("/diag/").get_data(as_text=True)
    assert "技术维护" in page and "Diagnostics" in page and 'name="csrf-token"' in page
    assert tech.client.post("/api/v1/diag/selftest/gate", json={"confirm": "pulse"}).status_code == 403  # no CSRF
