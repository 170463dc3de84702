"""``GET /metrics``: the kiosk's Prometheus metrics (text exposition format 0.0.4, kiosk/metrics.py).

Who may read them: a technician's session, or a Prometheus server sending
``Authorization: Bearer <token>`` with the token from the environment variable
``KIOSK_METRICS_TOKEN`` (the service's EnvironmentFile; never the config file, never a URL),
compared in constant time.  A token shorter than 16 characters is refused at start (logged) and
no token works then.  A request that sends an Authorization header with a wrong token gets 401
whatever its session; without a header the session decides: none 401, another role 403.
"""

from __future__ import annotations

import hmac
import logging
import os
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from flask.blueprints import BlueprintSetupState

from kiosk.metrics import CONTENT_TYPE

from . import auth
from .extension import current_service
from .openapi import ERROR_CONTENT

log = logging.getLogger(__name__)

TOKEN_ENV = "KIOSK_METRICS_TOKEN"
MIN_TOKEN_CHARS = 16

bp = Blueprint("metrics", __name__)


@bp.record_once
def _token(state: BlueprintSetupState) -> None:
    app = state.app
    token = app.config.get("METRICS_TOKEN", os.environ.get(TOKEN_ENV))
    if token and len(token) < MIN_TOKEN_CHARS:
        log.warning("%s is shorter than %d characters: scraping /metrics with a token is off",
                    TOKEN_ENV, MIN_TOKEN_CHARS)
        token = None
    app.config["METRICS_TOKEN"] = token or None


@bp.before_request
def _access() -> Any:
    header = request.headers.get("Authorization")
    if header is None:
        return auth.require_role("technician")()
    scheme, _, sent = header.partition(" ")
    token: str | None = current_app.config["METRICS_TOKEN"]
    if scheme.lower() == "bearer" and token and hmac.compare_digest(sent.strip().encode(), token.encode()):
        return None
    response = jsonify(error="unauthorized", message="wrong or unknown bearer token")
    response.headers["WWW-Authenticate"] = 'Bearer realm="kiosk metrics"'
    return response, 401


@bp.get("/metrics")
def metrics() -> Any:
    """Every metric of the kiosk, read now."""
    service = current_service()
    if service.metrics is None:
        return jsonify(error="not_available", message="this kiosk keeps no metrics"), 503
    return Response(service.metrics.render(service.runners), content_type=CONTENT_TYPE)


# -- OpenAPI (merged into /api/openapi.json by web/openapi.py) -------------------------------------------

OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/metrics": {"get": {
        "operationId": "getMetrics", "tags": ["technician"],
        "security": [{"session": []}, {"metricsToken": []}],
        "summary": "Prometheus metrics (text exposition 0.0.4): decisions, referrals by reason, device health, "
                   "errors and reconnects, decision and ledger latency, gate pulses, uptime.",
        "responses": {
            "200": {"description": "The exposition.",
                    "content": {"text/plain": {"schema": {"type": "string"}}}},
            "401": {"$ref": "#/components/responses/Unauthorized"},
            "403": {"$ref": "#/components/responses/Forbidden"},
            "503": {"description": "This kiosk keeps no metrics.", "content": ERROR_CONTENT},
        },
    }},
}
