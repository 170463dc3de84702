"""The kiosk's web app: ``create_app`` builds a Flask app around a running kiosk service.

One blueprint per audience (the resident screen; staff sign-in; the simulator panel in demo mode
only), plus the JSON API and the server-sent-event streams.  Every blueprint but the resident's
declares its role with ``bp.before_request(auth.require_role(...))`` (web/auth.py).  Views stay thin: parse, call one
service method, render.  No app object exists at import time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from .extension import KioskExtension

DEFAULTS: Mapping[str, Any] = {
    "SSE_PING_S": 15.0,          # comment line that keeps idle streams alive and detects gone clients
    "COMMAND_TIMEOUT_S": 5.0,    # how long a screen command waits for the checkpoint
    "JSON_AS_ASCII": False,
}


def create_app(config: Mapping[str, Any] | None = None, *, service: Any, sim: Any = None) -> Flask:
    """Build the app for ``service`` (a running kiosk); ``sim`` adds the /sim panel (demo only)."""
    app = Flask(__name__)
    app.config.update(DEFAULTS)
    if config:
        app.config.update(config)
    KioskExtension(service, sim).init_app(app)
    security = getattr(getattr(service, "config", None), "security", None)
    if security is not None:
        app.config.setdefault("IDLE_TIMEOUT_S", security.idle_timeout_s)
        app.config.setdefault("SECURE_COOKIES", security.secure_cookies)
    app.config.setdefault("SECRET_KEY", None)        # no Flask cookie session: staff sessions are server-side

    from . import api, auth, diag, metrics, officer, openapi, resident, stream
    auth.init_app(app)
    for blueprint in (resident.bp, api.bp, stream.bp, officer.bp, openapi.bp, diag.bp, metrics.bp):
        app.register_blueprint(blueprint)
    if sim is not None:
        from . import sim as sim_panel
        app.register_blueprint(sim_panel.bp)

    @app.after_request
    def security_headers(response: Any) -> Any:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("Content-Security-Policy", "default-src 'self'; img-src 'self' data:")
        if request.endpoint != "static" and not (request.endpoint or "").endswith(".static"):
            # Snapshots, sessions and staff pages carry personal or session data: never kept by a cache.
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        if request.path.startswith(("/api/", "/sim/api/")):
            return jsonify(error=exc.name.lower().replace(" ", "_"), message=exc.description), exc.code
        return exc

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Any:
        app.logger.exception("unhandled error on %s", request.path)
        return jsonify(error="internal_error", message="The kiosk hit an internal error; it was logged."), 500

    return app
