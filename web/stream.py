"""Server-sent events: /api/v1/events/<audience>.

Which topics each audience receives is declared in one table.  Each event is sent as
``id:``, ``event:`` and ``data:`` lines; a ``: ping`` comment goes out when nothing
happened for SSE_PING_S seconds.  A page that lost its stream fetches /api/v1/state and
carries on, so the stream is allowed to drop events for a slow client.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, abort, current_app

from .extension import current_service

bp = Blueprint("stream", __name__, url_prefix="/api/v1/events")

AUDIENCE_TOPICS: dict[str, frozenset[str]] = {
    "resident": frozenset({"checkpoint.state"}),
    "tech": frozenset({"checkpoint.state", "device.health"}),
}


def format_event(seq: int, topic: str, payload: Any) -> str:
    """One SSE message."""
    data = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return f"id: {seq}\nevent: {topic}\ndata: {data}\n\n"


@bp.get("/<audience>")
def events(audience: str) -> Response:
    """Stream the audience's topics until the client goes away or the kiosk stops."""
    topics = AUDIENCE_TOPICS.get(audience)
    if topics is None:
        abort(404, description=f"unknown audience {audience!r}")
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

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return Response(generate(), mimetype="text/event-stream", headers=headers)
