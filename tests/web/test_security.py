"""Who may use which route: one table, every route, four kinds of client (DESIGN.md §6).

The clients: ``none`` (a fresh browser), ``resident`` (a browser that used the resident screen: GET /
and a command, no staff session), ``officer`` and ``technician`` (signed in with the demo accounts;
their state-changing requests carry the session's CSRF token).  Each row gives the status each one
gets.  A route without a row fails ``test_the_table_covers_every_route``, which prints the rows to
paste.  Also here: CSRF refused on every state-changing staff route, the security headers on every
answer (errors included), no secret or full ID number in any body or log of a whole resident flow,
and the loopback default.  Lockout and idle expiry are in test_auth.py.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from flask import Flask

from kiosk.config import WebConfig
from kiosk.demo_data import DEMO_CARDS
from kiosk.identity import mask_id
from web import auth, create_app
from web.stream import AUDIENCE_ROLES, AUDIENCE_TOPICS

from .conftest import wait_for
from .idle_app import idle_demo_app, rule_operations
from .staff import PINS, Staff, staff_client

NONE, JSON, FORM = "none", "json", "form"
"""Body kinds: nothing, ``{}`` as application/json, an empty form (staff add their CSRF token)."""
ROLES = ("none", "resident", "officer", "technician")
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class Row(NamedTuple):
    """One route as each kind of client meets it."""

    method: str
    path: str
    body: str
    none: int
    resident: int
    officer: int
    technician: int


# The officer's JSON actions get ``{}``: 400 (missing fields) proves the call got past the role check, and
# nothing happens.  Pages answer a missing session with a redirect to /signin (302), the API with 401.
ROUTES: list[Row] = [
    #   method  path                                               body  none  resident officer technician
    # the resident screen and its API: everyone
    Row("GET",  "/",                                               NONE, 200, 200, 200, 200),
    Row("GET",  "/static/resident.css",                            NONE, 200, 200, 200, 200),
    Row("GET",  "/api/v1/state",                                   NONE, 200, 200, 200, 200),
    Row("GET",  "/api/v1/health",                                  NONE, 200, 200, 200, 200),
    Row("POST", "/api/v1/resident/touch",                          JSON, 200, 200, 200, 200),
    Row("POST", "/api/v1/resident/lines/0/remove",                 JSON, 200, 200, 200, 200),
    Row("GET",  "/api/v1/events/resident",                         NONE, 200, 200, 200, 200),
    Row("GET",  "/api/openapi.json",                               NONE, 200, 200, 200, 200),
    # signing in and out (the sign-in form's own double-submit token is missing here: 400)
    Row("GET",  "/signin",                                         NONE, 200, 200, 200, 200),
    Row("POST", "/signin",                                         FORM, 400, 400, 400, 400),
    Row("POST", "/signout",                                        FORM, 302, 302, 302, 302),
    Row("GET",  "/api/v1/session",                                 NONE, 200, 200, 200, 200),
    # staff event streams: their role only
    Row("GET",  "/api/v1/events/tech",                             NONE, 401, 401, 403, 200),
    Row("GET",  "/api/v1/events/officer",                          NONE, 401, 401, 200, 403),
    # the officer console: officers only
    Row("GET",  "/officer/",                                       NONE, 302, 302, 200, 403),
    Row("GET",  "/officer/report",                                 NONE, 302, 302, 200, 403),
    Row("GET",  "/api/v1/officer/queue",                           NONE, 401, 401, 200, 403),
    Row("GET",  "/api/v1/officer/codes",                           NONE, 401, 401, 200, 403),
    Row("GET",  "/api/v1/officer/declarations/nope",               NONE, 401, 401, 404, 403),
    Row("POST", "/api/v1/officer/referrals/nope/decision",         JSON, 401, 401, 400, 403),
    Row("POST", "/api/v1/officer/declarations/nope/void",          JSON, 401, 401, 400, 403),
    Row("POST", "/api/v1/officer/declarations/nope/reprint",       JSON, 401, 401, 404, 403),
    Row("POST", "/api/v1/officer/gate/release",                    JSON, 401, 401, 400, 403),
    Row("POST", "/api/v1/officer/lookup",                          JSON, 401, 401, 400, 403),
    Row("POST", "/api/v1/officer/slips/verify",                    JSON, 401, 401, 400, 403),
    Row("GET",  "/api/v1/officer/report",                          NONE, 401, 401, 200, 403),
    Row("GET",  "/api/v1/officer/export",                          NONE, 401, 401, 200, 403),
    # diagnostics and metrics: technicians only (/metrics also takes a Prometheus bearer token, tested below);
    # the gate self-test without "confirm": "pulse" is refused before anything moves
    Row("GET",  "/diag/",                                          NONE, 302, 302, 403, 200),
    Row("GET",  "/diag/system",                                    NONE, 302, 302, 403, 200),
    Row("GET",  "/diag/doctor",                                    NONE, 302, 302, 403, 200),
    Row("GET",  "/api/v1/diag",                                    NONE, 401, 401, 403, 200),
    Row("GET",  "/api/v1/diag/config",                             NONE, 401, 401, 403, 200),
    Row("GET",  "/api/v1/diag/devices/idcard",                     NONE, 401, 401, 403, 200),
    Row("GET",  "/api/v1/diag/doctor",                             NONE, 401, 401, 403, 200),
    Row("GET",  "/api/v1/diag/logs",                               NONE, 401, 401, 403, 200),
    Row("POST", "/api/v1/diag/selftest/gate",                      JSON, 401, 401, 403, 400),
    Row("GET",  "/metrics",                                        NONE, 401, 401, 403, 200),
    # the simulator panel: demo apps only (absent otherwise, see below), and harmless bodies here
    Row("GET",  "/sim/",                                           NONE, 200, 200, 200, 200),
    Row("GET",  "/sim/api/state",                                  NONE, 200, 200, 200, 200),
    Row("POST", "/sim/api/card",                                   JSON, 400, 400, 400, 400),
    Row("POST", "/sim/api/card/remove",                            JSON, 200, 200, 200, 200),
    Row("POST", "/sim/api/scan",                                   JSON, 400, 400, 400, 400),
    Row("POST", "/sim/api/device/scanner",                         JSON, 400, 400, 400, 400),
    Row("POST", "/sim/api/passage",                                JSON, 400, 400, 400, 400),
]

SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
                    "Referrer-Policy": "no-referrer"}


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    """The demo app (with /sim) on a kiosk that cannot move hardware; the checkpoint loop answers."""
    with idle_demo_app(tmp_path / "demo") as (app, _kiosk, _clock):
        yield app


def resident_client(app: Flask) -> Any:
    """A browser that used the resident screen: loaded it and sent a command; no staff session."""
    client = app.test_client()
    assert client.get("/").status_code == 200
    assert client.post("/api/v1/resident/touch", json={}).status_code == 200
    return client


def send(client: Any, row: Row, *, csrf: str | None = None) -> Any:
    """Make ``row``'s request; ``csrf`` goes in the header (JSON) or the form field (forms)."""
    kwargs: dict[str, Any] = {}
    if row.body == JSON:
        kwargs["json"] = {}
        if csrf is not None:
            kwargs["headers"] = {auth.CSRF_HEADER: csrf}
    elif row.body == FORM:
        kwargs["data"] = {} if csrf is None else {auth.CSRF_FIELD: csrf}
    response = client.open(row.path, method=row.method, **kwargs)
    if response.mimetype == "text/event-stream":
        response.close()              # ends the stream's generator: never read an endless body
    return response


def ask(clients: dict[str, Any], app: Flask, row: Row, role: str) -> Any:
    """``row`` as ``role``; a state-changing staff request gets its own signed-in client (it may sign out)."""
    if role in ("officer", "technician"):
        staff: Staff = staff_client(app, role) if row.method in UNSAFE else clients[role]
        return send(staff.client, row, csrf=staff.csrf if row.method in UNSAFE else None)
    return send(clients[role], row)


def make_clients(app: Flask) -> dict[str, Any]:
    return {"none": app.test_client(), "resident": resident_client(app),
            "officer": staff_client(app, "officer"), "technician": staff_client(app, "technician")}


def test_every_route_answers_each_kind_of_client_as_the_table_says(app: Flask) -> None:
    """The table, row by row and client by client; every mismatch listed at once."""
    clients = make_clients(app)
    wrong: list[str] = []
    for row in ROUTES:
        got = {role: ask(clients, app, row, role).status_code for role in ROLES}
        want = dict(zip(ROLES, row[3:], strict=True))
        if got != want:
            wrong.append(f"{row.method} {row.path}: want {want}, got {got}")
    assert not wrong, "\n".join(wrong)


def test_the_table_covers_every_route(app: Flask) -> None:
    """Every (method, rule) of the app has a row; missing ones are printed as rows to fill in and paste."""
    adapter = app.url_map.bind("localhost")
    covered = {(row.method, adapter.match(row.path, row.method, return_rule=True)[0].rule) for row in ROUTES}
    missing = sorted(rule_operations(app) - covered, key=lambda op: (op[1], op[0]))
    if missing:
        print("\nRows to add to ROUTES (check the statuses):")
        for method, rule in missing:
            print("    " + _suggest(method, rule))
    assert not missing, f"routes without a row in ROUTES: {missing}"


def test_every_staff_event_audience_needs_its_role_and_has_a_row() -> None:
    """Only the resident's stream is public; each audience is tried by the table."""
    assert set(AUDIENCE_TOPICS) - set(AUDIENCE_ROLES) == {"resident"}
    paths = {row.path for row in ROUTES}
    assert {f"/api/v1/events/{audience}" for audience in AUDIENCE_TOPICS} <= paths


def test_the_simulator_panel_exists_only_in_demo_apps(tmp_path: Path) -> None:
    """Without a sim panel (a real kiosk) no /sim route exists at all."""
    with idle_demo_app(tmp_path / "demo", sim=False, checkpoint=False) as (app, _kiosk, _clock):
        assert not [rule for _method, rule in rule_operations(app) if rule.startswith("/sim")]
        assert app.test_client().get("/sim/").status_code == 404
        assert app.test_client().post("/sim/api/card", json={"key": "eligible"}).status_code == 404


def test_only_the_resident_commands_skip_csrf() -> None:
    """The exemption list is exactly the resident screen's commands (no authority, JSON only)."""
    assert auth.CSRF_EXEMPT == {"api.resident_command", "api.remove_line"}


def test_csrf_refused_without_or_with_a_wrong_token_on_every_unsafe_staff_route(app: Flask) -> None:
    """GIVEN a signed-in officer or technician WHEN any state-changing route is called without the session's
    CSRF token, or with another one, THEN 403 naming CSRF, and the session is still there (nothing ran)."""
    adapter = app.url_map.bind("localhost")
    rows = [row for row in ROUTES if row.method in UNSAFE
            and adapter.match(row.path, row.method)[0] not in auth.CSRF_EXEMPT]
    assert {row.path for row in rows} >= {"/signout", "/api/v1/officer/gate/release"}
    wrong: list[str] = []
    for role in ("officer", "technician"):
        staff = staff_client(app, role)
        for row in rows:
            for token in (None, "x" + staff.csrf[1:]):
                response = send(staff.client, row, csrf=token)
                text = response.get_data(as_text=True)
                if response.status_code != 403 or "csrf" not in text.lower():
                    wrong.append(f"{role} {row.method} {row.path} token={token is not None}: "
                                 f"{response.status_code} {text[:80]!r}")
        assert staff.client.get("/api/v1/session").get_json()["signed_in"] is True
    assert not wrong, "\n".join(wrong)


def test_security_headers_on_every_answer_and_no_store_on_all_but_static_files(app: Flask) -> None:
    """Every row as every client (redirects, 4xx and streams included): nosniff, DENY, no-referrer, a CSP,
    and Cache-Control: no-store on every page and API answer (static files may be cached)."""
    clients = make_clients(app)
    wrong: list[str] = []
    for row in ROUTES:
        for role in ROLES:
            response = ask(clients, app, row, role)
            problems = _header_problems(response, static=row.path.startswith("/static/"))
            if problems:
                wrong.append(f"{role} {row.method} {row.path} ({response.status_code}): {problems}")
    assert not wrong, "\n".join(wrong)


def test_security_headers_on_errors_too(app: Flask) -> None:
    """404, 405 and an unexpected 500, as HTML and as JSON, carry the same headers."""

    @app.get("/api/v1/_boom")
    def boom() -> Any:
        raise RuntimeError("boom")

    client = app.test_client()
    answers = {"404 page": client.get("/no/such/page"), "404 api": client.get("/api/v1/nothing"),
               "405": client.delete("/api/v1/state"), "500": client.get("/api/v1/_boom")}
    assert [r.status_code for r in answers.values()] == [404, 404, 405, 500]
    assert "boom" not in answers["500"].get_data(as_text=True)        # no exception text to the client
    wrong = {name: p for name, r in answers.items() if (p := _header_problems(r, static=False))}
    assert not wrong


def test_no_secret_or_full_id_number_in_any_answer_or_log_of_a_whole_flow(
        demo: Any, caplog: pytest.LogCaptureFixture) -> None:
    """GIVEN the started demo WHEN a resident taps a real (simulated) card, scans and confirms, and the gate
    opens, THEN no GET route, as any client, and no log line (DEBUG and the wire trace included) holds the
    card's ID number, the site secret, a PIN, another session's token or the ledger's password."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="kiosk.wire")
    kiosk, panel = demo
    password = "Ledger-Pw-7f3a9c"          # as a PostgreSQL URL would carry it; config dumps must hide it
    kiosk.config = dataclasses.replace(kiosk.config, ledger_url=f"postgresql://kiosk:{password}@db.port/ledger")
    app = create_app({"TESTING": True, "SSE_PING_S": 0.05}, service=kiosk, sim=panel)
    card = next(c.card for c in DEMO_CARDS if c.key == "eligible")
    bodies = _run_flow(app, card_key="eligible")
    clients = make_clients(app)
    tokens = [clients[role].client.get_cookie(auth.SESSION_COOKIE).value for role in ("officer", "technician")]
    for row in ROUTES:
        if row.method == "GET":
            for role in ROLES:
                bodies.append((f"{role} GET {row.path}", _body_of(ask(clients, app, row, role))))
    secrets = {"ID number": card.id_number, "site secret": kiosk.config.site_secret.decode(),
               "site secret (hex)": kiosk.config.site_secret.hex(), "ledger password": password,
               **{f"PIN of {name}": pin for name, pin in PINS.items()},
               **{f"session token {i}": token for i, token in enumerate(tokens)}}
    forms = {f"{name} as {kind}": value for name, secret in secrets.items()
             for kind, value in _encodings(secret).items()}
    leaks = [f"{where}: {name}" for where, body in bodies for name, value in forms.items() if value in body]
    assert len(bodies) > len(ROUTES) and any(mask_id(card.id_number) in body for _where, body in bodies)
    assert not leaks, "\n".join(leaks)
    log_text = "\n".join(record.getMessage() for record in caplog.records)
    assert "identified" in log_text                           # the flow was logged, and the wire trace too:
    assert _encodings("4870204100013")["utf-8 spaced hex"] in log_text      # the scanned code, as the trace shows it
    assert [name for name, value in forms.items() if value in log_text] == []


def test_service_listens_on_loopback_unless_configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """WebConfig's default host is 127.0.0.1, and `kiosk serve` with a config without [web] binds there."""
    import kiosk.cli
    import web.server
    from kiosk.demo import make_demo

    assert WebConfig().host == "127.0.0.1"
    _kiosk, panel, folder = make_demo(tmp_path / "demo")
    _kiosk.stop()
    try:
        config = folder / "kiosk.toml"
        assert not re.search(r"^\[web\]", config.read_text(encoding="utf-8"), re.M)
        served: dict[str, Any] = {}

        def fake_run(service: Any, **kwargs: Any) -> None:
            served.update(kwargs)
            service.stop()

        monkeypatch.setattr(web.server, "run", fake_run)
        monkeypatch.setattr(kiosk.cli, "setup_logging", lambda *a, **k: None)   # keep pytest's log capture
        monkeypatch.setenv("KIOSK_SITE_SECRET", "a-test-secret-of-32-characters!!")
        assert kiosk.cli.main(["serve", "--config", str(config)]) == 0
        assert served["host"] == "127.0.0.1"
    finally:
        panel.stop()


# -- helpers -------------------------------------------------------------------------------------------


def _suggest(method: str, rule: str) -> str:
    """A row for a route the table lacks, with the statuses its area should give (check them)."""
    path = re.sub(r"<(?:[^<>:]+:)?([^<>]+)>", lambda m: "0" if "int:" in m.group(0) else "x", rule)
    body = JSON if method in UNSAFE and (rule.startswith(("/api/", "/sim/api/"))) else (FORM if method in UNSAFE
                                                                                       else NONE)
    api = rule.startswith("/api/") or rule == "/metrics"
    if "/officer" in rule:
        statuses = (401, 401, 200, 403) if api else (302, 302, 200, 403)
    elif "/diag" in rule or rule == "/metrics":
        statuses = (401, 401, 403, 200) if api else (302, 302, 403, 200)
    else:
        statuses = (200, 200, 200, 200)
    quoted = f'"{path}",'
    return f'Row("{method}", {quoted:<52} {body.upper()}, ' + ", ".join(map(str, statuses)) + "),"


def _header_problems(response: Any, *, static: bool) -> dict[str, Any]:
    problems: dict[str, Any] = {name: response.headers.get(name) for name, value in SECURITY_HEADERS.items()
                                if response.headers.get(name) != value}
    if "default-src 'self'" not in response.headers.get("Content-Security-Policy", ""):
        problems["Content-Security-Policy"] = response.headers.get("Content-Security-Policy")
    if not static and response.headers.get("Cache-Control") != "no-store":
        problems["Cache-Control"] = response.headers.get("Cache-Control")
    return problems


def _body_of(response: Any) -> str:
    """The body as text; of an event stream, what came in its first chunks (it never ends by itself)."""
    if response.mimetype != "text/event-stream":
        return str(response.get_data(as_text=True))
    chunks: list[bytes] = []
    for chunk in response.response:
        chunks.append(chunk if isinstance(chunk, bytes) else chunk.encode())
        if len(chunks) >= 4:
            break
    response.close()
    return b"".join(chunks).decode("utf-8", "replace")


def _encodings(secret: str) -> dict[str, str]:
    """The ways a value could show up in text: as is, and as hex of its UTF-8 / UTF-16LE bytes."""
    forms = {"text": secret}
    for codec in ("utf-8", "utf-16-le"):
        raw = secret.encode(codec)
        forms[f"{codec} hex"] = raw.hex()
        forms[f"{codec} spaced hex"] = raw.hex(" ")
    return forms


def _run_flow(app: Flask, *, card_key: str) -> list[tuple[str, str]]:
    """Card on the reader, flour scanned, confirm, through the gate: (where, body) of every answer seen."""
    client = app.test_client()
    seen: list[tuple[str, str]] = []

    def state() -> dict[str, Any]:
        response = client.get("/api/v1/state")
        seen.append(("flow GET /api/v1/state", response.get_data(as_text=True)))
        return dict(response.get_json())

    assert client.post("/sim/api/card", json={"key": card_key}).status_code == 200
    wait_for(lambda: state()["phase"] == "identified", "identified", timeout=10)
    assert client.post("/sim/api/scan", json={"code": "4870204100013"}).status_code == 200
    wait_for(lambda: state()["lines"], "a basket line", timeout=10)
    confirm = client.post("/api/v1/resident/confirm", json={})
    assert confirm.status_code == 200
    seen.append(("flow POST /api/v1/resident/confirm", confirm.get_data(as_text=True)))
    wait_for(lambda: state()["phase"] == "gate", "the gate opened", timeout=10)
    return seen

