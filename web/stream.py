"""Server-sent events: /api/v1/events/<audience>.

Which topics each audience receives is declared in one table.  Each event is sent as
``id:``, ``event:`` and ``data:`` lines; a ``: ping`` comment goes out when nothing
happened for SSE_PING_S seconds.  A page that lost its stream fetches /api/v1/state and
carries on, so the stream is allowed to drop events for a slow client.  Audiences other than the
resident's need a staff session of their role (``AUDIENCE_ROLES``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, abort, current_app

from .auth import require_role
from .extension import current_service
from .openapi import SESSION

bp = Blueprint("stream", __name__, url_prefix="/api/v1/events")

AUDIENCE_TOPICS: dict[str, frozenset[str]] = {
    "resident": frozenset({"checkpoint.state"}),
    "tech": frozenset({"checkpoint.state", "device.health"}),
    "officer": frozenset({"officer.queue", "checkpoint.alert", "checkpoint.state"}),
}
AUDIENCE_ROLES: dict[str, tuple[str, ...]] = {"tech": ("technician",), "officer": ("officer",)}
"""Audiences that need a staff session of these roles (device health carries error texts: /diag only)."""


def format_event(seq: int, topic: str, payload: Any) -> str:
    """One SSE message."""
    data = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return f"id: {seq}\nevent: {topic}\ndata: {data}\n\n"


@bp.get("/<audience>")
def events(audience: str) -> Any:
    """Stream the audience's topics until the client goes away or the kiosk stops."""
    topics = AUDIENCE_TOPICS.get(audience)
    if topics is None:
        abort(404, description=f"unknown audience {audience!r}")
    if audience in AUDIENCE_ROLES:
        refused = require_role(*AUDIENCE_ROLES[audience])()
        if refused is not None:
            return refused
    bus = current_service().bus
    sub = bus.subscribe(topics)
    ping_s = float(current_app.config["SSE_PING_S"])

    def generate() -> Iterator[str]:
        try:
            yield "retry: 2000\n\n"
            while not sub.closed:
                event = sub.get(timeout=ping_s)
                if event is None:
                    if sub.closed:
                        break
                    yield ": ping\n\n"
                else:
                    yield format_event(event.seq, event.topic, event.payload)
        finally:
            bus.unsubscribe(sub)

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return Response(generate(), mimetype="text/event-stream", headers=headers)


# -- OpenAPI (merged into /api/openapi.json by web/openapi.py) ---------------------------------------

OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/api/v1/events/{audience}": {"get": {
        "operationId": "streamEvents", "tags": ["resident"],
        "summary": "Server-sent events of one audience: `resident` for anyone, `tech` for technicians, "
                   "`officer` for officers.",
        "description": "Each event is `id:`, `event: <topic>` and `data: <JSON>` lines; a `: ping` comment "
                       "goes out after SSE_PING_S seconds of silence. Topics: " + "; ".join(
                           f"{name}: {', '.join(sorted(topics))}" for name, topics in AUDIENCE_TOPICS.items())
                       + ". A `checkpoint.state` event's data is a StateSnapshot.",
        "security": [{}, *SESSION],          # anyone for `resident`; a technician's session for `tech`
        "parameters": [{"name": "audience", "in": "path", "required": True,
                        "schema": {"type": "string", "enum": sorted(AUDIENCE_TOPICS)}}],
        "responses": {
            "200": {"description": "The event stream, until the client leaves or the kiosk stops.",
                    "content": {"text/event-stream": {"schema": {"type": "string"}}}},
            "401": {"$ref": "#/components/responses/Unauthorized"},
            "403": {"$ref": "#/components/responses/Forbidden"},
            "404": {"$ref": "#/components/responses/NotFound"},
        },
    }},
}
