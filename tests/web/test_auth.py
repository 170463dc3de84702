"""Staff sign-in: PIN and badge, lockout, idle expiry, disabled accounts, CSRF, cookie flags.

Run against the demo kiosk built on its simulators (not started: sign-in needs no device) with a fake
clock, so lockout and idle expiry are exact without sleeping.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kiosk.clock import FakeClock
from kiosk.demo import make_demo
from web import create_app

from .staff import PINS, sign_in, signin_token, staff_client


@pytest.fixture
def kit(tmp_path: Path) -> Iterator[tuple[Any, Any, FakeClock]]:
    clock = FakeClock()
    kiosk, panel, _ = make_demo(tmp_path / "demo", clock=clock)
    app = create_app({"TESTING": True, "IDLE_TIMEOUT_S": 600.0}, service=kiosk)
    yield app, kiosk, clock
    kiosk.stop()
    panel.stop()


def test_pin_sign_in_opens_a_session_with_strict_http_only_cookie(kit: Any) -> None:
    app, _kiosk, _clock = kit
    client = app.test_client()
    response = sign_in(client, "officer")
    assert response.status_code == 302
    cookie = response.headers["Set-Cookie"]
    assert "kiosk_session=" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "Secure" not in cookie                        # loopback HTTP by default
    assert client.get("/api/v1/session").get_json()["role"] == "officer"


def test_secure_cookies_when_configured(tmp_path: Path) -> None:
    kiosk, panel, _ = make_demo(tmp_path / "d", clock=FakeClock())
    try:
        app = create_app({"TESTING": True, "SECURE_COOKIES": True}, service=kiosk)
        response = sign_in(app.test_client(), "tech")
        assert "Secure" in response.headers["Set-Cookie"]
    finally:
        kiosk.stop()
        panel.stop()


def test_wrong_pin_is_refused_and_says_nothing_about_which_part(kit: Any) -> None:
    app, _kiosk, _clock = kit
    client = app.test_client()
    wrong_pin = sign_in(client, "officer", "999999")
    unknown = sign_in(client, "nobody", "999999")
    assert wrong_pin.status_code == unknown.status_code == 401
    assert 'data-error="bad_credentials"' in wrong_pin.get_data(as_text=True)
    assert 'data-error="bad_credentials"' in unknown.get_data(as_text=True)
    assert client.get("/api/v1/session").get_json() == {"signed_in": False}


def test_lockout_after_configured_failures_even_with_the_right_pin_then_expires(kit: Any) -> None:
    app, kiosk, clock = kit
    client = app.test_client()
    failures = kiosk.users.max_failures
    statuses = [sign_in(client, "officer", "000001").status_code for _ in range(failures)]
    assert statuses == [401] * (failures - 1) + [423]
    locked = sign_in(client, "officer")                 # the right PIN, but locked
    assert locked.status_code == 423 and 'data-error="locked"' in locked.get_data(as_text=True)
    clock.advance(kiosk.users.lockout.total_seconds() + 1)
    assert sign_in(client, "officer").status_code == 302


def test_idle_session_expires_on_the_kiosk_clock(kit: Any) -> None:
    app, _kiosk, clock = kit
    staff = staff_client(app, "officer")
    clock.advance(599)
    assert staff.client.get("/api/v1/session").get_json()["signed_in"] is True   # and the timer restarts
    clock.advance(599)
    assert staff.client.get("/api/v1/session").get_json()["signed_in"] is True
    clock.advance(601)
    assert staff.client.get("/api/v1/session").get_json() == {"signed_in": False}


def test_disabling_an_account_ends_its_open_sessions(kit: Any) -> None:
    app, kiosk, _clock = kit
    staff = staff_client(app, "technician")
    kiosk.users.set_disabled("tech", True)
    assert staff.client.get("/api/v1/session").get_json() == {"signed_in": False}
    assert sign_in(app.test_client(), "tech").status_code == 401


def test_sign_out_ends_the_session_and_needs_its_csrf_token(kit: Any) -> None:
    app, _kiosk, _clock = kit
    staff = staff_client(app, "officer")
    assert staff.client.post("/signout").status_code == 403              # no token: refused
    assert staff.client.get("/api/v1/session").get_json()["signed_in"] is True
    assert staff.post("/signout", data={}).status_code == 302
    assert staff.client.get("/api/v1/session").get_json() == {"signed_in": False}


def test_sign_in_form_needs_its_double_submit_token(kit: Any) -> None:
    app, _kiosk, _clock = kit
    client = app.test_client()
    signin_token(client)
    response = client.post("/signin", data={"csrf_token": "forged", "name": "officer", "pin": PINS["officer"]})
    assert response.status_code == 400
    fresh = app.test_client()                            # no cookie at all: a cross-site post
    assert fresh.post("/signin", data={"csrf_token": "x", "name": "officer",
                                       "pin": PINS["officer"]}).status_code == 400


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example"])
def test_next_never_leaves_the_site(kit: Any, target: str) -> None:
    app, _kiosk, _clock = kit
    response = sign_in(app.test_client(), "officer", next=target)
    assert response.status_code == 302
    assert "evil" not in response.headers["Location"]


def test_badge_tap_then_pin_signs_in_once(kit: Any) -> None:
    app, kiosk, clock = kit
    from kiosk.badges import BadgeTaps
    kiosk.badges = BadgeTaps()
    kiosk.users.add("badged", "officer", "753159", now=clock.now(), badge_uid="04A1B2C3D4")
    client = app.test_client()
    assert sign_in(client, "", "753159", method="badge").status_code == 400        # no tap yet
    kiosk.badges.record("04A1B2C3D4", clock.monotonic())
    assert sign_in(client, "", "753159", method="badge").status_code == 302
    assert client.get("/api/v1/session").get_json()["user"] == "badged"
    other = app.test_client()                            # the tap was used up
    assert sign_in(other, "", "753159", method="badge").status_code == 400
    kiosk.badges.record("04A1B2C3D4", clock.monotonic())
    clock.advance(31)                                    # a stale tap does not wait forever
    assert sign_in(other, "", "753159", method="badge").status_code == 400


def test_sign_in_and_failures_are_audited_without_the_pin(kit: Any) -> None:
    app, kiosk, _clock = kit
    sign_in(app.test_client(), "officer", "111112")
    sign_in(app.test_client(), "officer")
    from kiosk.audit import open_audit
    log = open_audit(kiosk.config.ledger_url)
    try:
        records = [(r.kind, r.actor) for r in log.records()]
        text = " ".join(str(r.data) for r in log.records())
    finally:
        log.close()
    assert ("signin_failed", "anonymous") in records and ("signin", "officer:officer") in records
    assert PINS["officer"] not in text and "111112" not in text
