"""Signing staff in from tests: the demo's accounts, a test client per role, the CSRF token to send,
the sign-in form filled in a browser."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from kiosk.demo import DEMO_STAFF

PINS = {name: pin for name, _role, pin in DEMO_STAFF}
ROLE_USER = {role: name for name, role, _pin in DEMO_STAFF}
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Staff:
    """A test client signed in as one account, with that session's CSRF token."""

    client: Any
    csrf: str

    def post(self, path: str, **kwargs: Any) -> Any:
        """POST with the CSRF header (JSON bodies) or form field (form bodies) filled in."""
        if "data" in kwargs and isinstance(kwargs["data"], dict):
            kwargs["data"] = {"csrf_token": self.csrf, **kwargs["data"]}
        headers = {"X-CSRF-Token": self.csrf, **kwargs.pop("headers", {})}
        return self.client.post(path, headers=headers, **kwargs)


def signin_token(client: Any) -> str:
    """Load the sign-in page and return its form token (set as a cookie at the same time)."""
    page = client.get("/signin")
    match = _TOKEN.search(page.get_data(as_text=True))
    assert match, "the sign-in page has no CSRF token"
    return match.group(1)


def sign_in(client: Any, name: str, pin: str | None = None, **form: str) -> Any:
    """Submit the sign-in form as ``name``; returns the response (a redirect on success)."""
    token = signin_token(client)
    data = {"csrf_token": token, "name": name, "pin": PINS.get(name, "") if pin is None else pin, **form}
    return client.post("/signin", data=data)


def fill_signin_form(page: Any, name: str) -> None:
    """In a browser page showing /signin: submit the name + PIN form as the demo account ``name``."""
    page.fill('input[name="name"]', name)
    page.fill('form:not(.badge-form) input[name="pin"]', PINS[name])
    page.click('form:not(.badge-form) button[type="submit"]')


def staff_client(app: Any, role: str) -> Staff:
    """A new client of ``app`` signed in with the demo account of ``role``."""
    client = app.test_client()
    response = sign_in(client, ROLE_USER[role])
    assert response.status_code == 302, response.get_data(as_text=True)
    csrf = client.get("/api/v1/session").get_json()["csrf_token"]
    return Staff(client, csrf)
