"""Sign-in, sessions, roles and CSRF for the officer and technician pages (DESIGN.md §6).

- **Sessions** live in the kiosk process (``Sessions``); the browser holds only a random token in an
  HttpOnly, SameSite=Strict cookie (Secure when ``[security] secure_cookies``). A session ends on sign-out,
  after ``idle_timeout_s`` without a request (time from the kiosk's injected clock), or at the next request
  once its account is disabled. A kiosk restart signs everyone out.
- **Roles**: every blueprint that is not the resident's declares who may use it with one line,
  ``bp.before_request(require_role("officer"))``. No session -> 401 (JSON under /api, else a redirect to
  the sign-in page); a session of another role -> 403.
- **CSRF**: every state-changing request made with a session carries the session's token, as the form field
  ``csrf_token`` (pages: ``{{ csrf_field() }}``) or the ``X-CSRF-Token`` header (JSON). The sign-in form, made
  before there is a session, uses a double-submit cookie. The resident screen's JSON commands carry no
  authority and are exempt; the JSON content type already keeps cross-site forms out.
"""

from __future__ import annotations

import hmac
import secrets
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Flask, abort, current_app, g, jsonify, redirect, render_template, request, url_for
from markupsafe import Markup, escape
from werkzeug.routing import BuildError

from kiosk.users import SignInError, User, UserStore

from .extension import current_service

SESSION_COOKIE = "kiosk_session"
SIGNIN_CSRF_COOKIE = "kiosk_signin"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSRF_EXEMPT = frozenset({"api.resident_command", "api.remove_line"})
"""The resident screen's commands: no session, no authority, JSON only."""
HOME = {"officer": "officer.index", "technician": "diag.index"}

bp = Blueprint("auth", __name__)


@dataclass
class WebSession:
    """One signed-in browser."""

    token: str
    user: str
    role: str
    csrf: str
    last_seen: float


class Sessions:
    """The open sessions by token, with idle expiry on the monotonic clock passed in."""

    def __init__(self, idle_s: float) -> None:
        self.idle_s = idle_s
        self._lock = threading.Lock()
        self._by_token: dict[str, WebSession] = {}

    def open(self, user: User, now: float) -> WebSession:
        """A new session for ``user``."""
        session = WebSession(secrets.token_urlsafe(32), user.name, user.role, secrets.token_urlsafe(32), now)
        with self._lock:
            self._by_token[session.token] = session
        return session

    def get(self, token: str | None, now: float) -> WebSession | None:
        """The live session of ``token`` (its idle timer restarted), or None; an idle one is closed."""
        if not token:
            return None
        with self._lock:
            session = self._by_token.get(token)
            if session is None:
                return None
            if now - session.last_seen > self.idle_s:
                del self._by_token[token]
                return None
            session.last_seen = now
            return session

    def close(self, token: str) -> None:
        """End one session."""
        with self._lock:
            self._by_token.pop(token, None)

    def count(self) -> int:
        """How many sessions are open (expired ones included until their next use)."""
        with self._lock:
            return len(self._by_token)


def init_app(app: Flask) -> None:
    """Install sessions, the CSRF check and the template helpers on ``app``."""
    app.config.setdefault("IDLE_TIMEOUT_S", 600.0)
    app.config.setdefault("SECURE_COOKIES", False)
    app.extensions["kiosk_sessions"] = Sessions(float(app.config["IDLE_TIMEOUT_S"]))
    app.before_request(_load_session)
    app.before_request(_check_csrf)
    app.jinja_env.globals.update(csrf_field=csrf_field, current_user=current_user)
    app.register_blueprint(bp)


def require_role(*roles: str) -> Any:
    """A blueprint ``before_request`` hook admitting only sessions of ``roles``."""

    def check() -> Any:
        session: WebSession | None = g.get("web_session")
        if session is None:
            if _wants_json():
                return jsonify(error="unauthorized", message="sign in first"), 401
            return redirect(url_for("auth.signin", next=request.path))
        if session.role not in roles:
            if _wants_json():
                return jsonify(error="forbidden", message=f"this needs the {' or '.join(roles)} role"), 403
            abort(403, description=f"this page is for the {' or '.join(roles)} role")
        return None

    return check


def current_user() -> WebSession | None:
    """The signed-in session of this request, or None."""
    session: WebSession | None = g.get("web_session")
    return session


def actor() -> str:
    """Who is acting, for the audit log: ``officer:NAME`` / ``technician:NAME``."""
    session = g.web_session
    return f"{session.role}:{session.user}"


def csrf_field() -> Markup:
    """The hidden form field with this session's CSRF token."""
    session = current_user()
    token = session.csrf if session is not None else ""
    return Markup('<input type="hidden" name="%s" value="%s">') % (CSRF_FIELD, escape(token))


def users() -> UserStore:
    """The kiosk's accounts file (503 when the kiosk runs without one)."""
    store = getattr(current_service(), "users", None)
    if store is None:
        abort(503, description="no accounts file is configured for this kiosk")
    return store  # type: ignore[no-any-return]


# -- the pages -------------------------------------------------------------------------------------


@bp.get("/signin")
def signin() -> Any:
    """The sign-in form (name + PIN, or badge + PIN)."""
    return _signin_page()


@bp.post("/signin")
def signin_post() -> Any:
    """Check the form; open a session and go on, or show the form again with why."""
    if not _signin_csrf_ok():
        return _signin_page("expired", status=400)
    pin = request.form.get("pin", "")
    now = _clock().now()
    try:
        if request.form.get("method") == "badge":
            uid = _badges().take(_clock().monotonic()) if _badges() is not None else None
            if uid is None:
                return _signin_page("no_badge", status=400)
            user = users().authenticate_badge(uid, pin, now=now)
        else:
            user = users().authenticate(request.form.get("name", "").strip().lower(), pin, now=now)
    except SignInError as exc:
        _audit("signin_failed", "anonymous", {"reason": exc.reason})
        return _signin_page(exc.reason, status=401 if exc.reason == "bad_credentials" else 423)
    if user.role not in HOME:
        return _signin_page("bad_credentials", status=401)
    session = _sessions().open(user, _clock().monotonic())
    _audit("signin", f"{user.role}:{user.name}", {"method": request.form.get("method", "pin")})
    response = redirect(_safe_next(request.form.get("next")) or _home(user.role))
    _set_cookie(response, SESSION_COOKIE, session.token)
    response.delete_cookie(SIGNIN_CSRF_COOKIE, path="/signin")
    return response


@bp.post("/signout")
def signout() -> Any:
    """End this session."""
    session = current_user()
    if session is not None:
        _sessions().close(session.token)
        _audit("signout", f"{session.role}:{session.user}", {})
    response = redirect(url_for("auth.signin"))
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@bp.get("/api/v1/session")
def whoami() -> Any:
    """Who this browser is signed in as (role and name), for the consoles' scripts."""
    session = current_user()
    if session is None:
        return jsonify(signed_in=False)
    return jsonify(signed_in=True, user=session.user, role=session.role, csrf_token=session.csrf)


# -- hooks and helpers -------------------------------------------------------------------------------


def _load_session() -> None:
    session = _sessions().get(request.cookies.get(SESSION_COOKIE), _clock().monotonic())
    if session is not None:
        store = getattr(current_service(), "users", None)
        account = store.get(session.user) if store is not None else None
        if account is None or account.disabled:
            _sessions().close(session.token)
            session = None
    g.web_session = session


def _check_csrf() -> Any:
    if request.method not in UNSAFE_METHODS or request.endpoint in CSRF_EXEMPT:
        return None
    session: WebSession | None = g.get("web_session")
    if session is None:
        return None          # no ambient authority: the route's role check answers (sign-in checks its own)
    sent = request.headers.get(CSRF_HEADER) or request.form.get(CSRF_FIELD, "")
    if not hmac.compare_digest(sent.encode(), session.csrf.encode()):
        if _wants_json():
            return jsonify(error="csrf", message="missing or wrong CSRF token; reload the page"), 403
        abort(403, description="missing or wrong CSRF token; reload the page and try again")
    return None


def _signin_page(error: str | None = None, *, status: int = 200) -> Any:
    token = request.cookies.get(SIGNIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
    badges = _badges()
    body = render_template("auth/signin.html", error=error, signin_token=token,
                           next=_safe_next(request.values.get("next")) or "",
                           badge_waiting=badges is not None and badges.pending(_clock().monotonic()),
                           has_badge_reader=badges is not None)
    response = current_app.make_response((body, status))
    _set_cookie(response, SIGNIN_CSRF_COOKIE, token, path="/signin")
    return response


def _signin_csrf_ok() -> bool:
    cookie = request.cookies.get(SIGNIN_CSRF_COOKIE, "")
    sent = request.form.get(CSRF_FIELD, "")
    return bool(cookie) and hmac.compare_digest(cookie.encode(), sent.encode())


def _set_cookie(response: Any, name: str, value: str, *, path: str = "/") -> None:
    response.set_cookie(name, value, path=path, httponly=True, samesite="Strict",
                        secure=bool(current_app.config["SECURE_COOKIES"]))


def _safe_next(target: str | None) -> str | None:
    """``target`` if it is a path on this site (never another host: no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    parts = urlsplit(target)
    return None if parts.scheme or parts.netloc else target


def _home(role: str) -> str:
    """The role's start page (the site root while that console is not installed)."""
    try:
        return url_for(HOME[role])
    except BuildError:
        return "/"


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.path == "/metrics"


def _sessions() -> Sessions:
    sessions: Sessions = current_app.extensions["kiosk_sessions"]
    return sessions


def _clock() -> Any:
    return current_service().checkpoint.clock


def _badges() -> Any:
    return getattr(current_service(), "badges", None)


def _audit(kind: str, who: str, data: dict[str, Any]) -> None:
    trail = current_service().checkpoint.audit
    trail.officer_action(kind, who, data)


# -- OpenAPI (merged into /api/openapi.json by web/openapi.py) ---------------------------------------

OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/api/v1/session": {"get": {
        "operationId": "getSession", "tags": ["staff"], "security": [{}, {"session": []}],
        "summary": "Who this browser is signed in as, and the session's CSRF token for the consoles' scripts.",
        "responses": {"200": {"description": "Signed in or not.", "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/SessionInfo"}}}}},
    }},
}
OPENAPI_SCHEMAS: dict[str, dict[str, Any]] = {
    "SessionInfo": {
        "description": "`{\"signed_in\": false}` without a session; with one, its user, role and CSRF token.",
        "oneOf": [
            {"type": "object", "additionalProperties": False, "required": ["signed_in"],
             "properties": {"signed_in": {"type": "boolean", "enum": [False]}}},
            {"type": "object", "additionalProperties": False, "required": ["signed_in", "user", "role", "csrf_token"],
             "properties": {"signed_in": {"type": "boolean", "enum": [True]}, "user": {"type": "string"},
                            "role": {"type": "string", "enum": sorted(HOME)},
                            "csrf_token": {"type": "string", "minLength": 32}}},
        ],
    },
}
