"""The simulator panel at ``/sim`` (demo mode only): place a card, remove it, scan goods,
unplug and plug devices.  It drives the simulated hardware, never the checkpoint, so the
whole production path from wire bytes to screen runs.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, jsonify, render_template, request

from .extension import current_sim

bp = Blueprint("sim", __name__, url_prefix="/sim")



@bp.get("/")
def panel() -> Any:
    """The simulator panel page."""
    sim = current_sim()
    return render_template("sim/index.html", cards=sim.cards(), goods=sim.goods(), roles=sim.roles(),
                           has_passage="passage" in sim.roles())


@bp.get("/api/state")
def state() -> Any:
    """What the simulated devices are doing."""
    return jsonify(current_sim().state())


@bp.post("/api/card")
def place_card() -> Any:
    """Put a sample card on the reader: ``{"key": "..."}``."""
    key = _json().get("key")
    try:
        current_sim().place_card(str(key))
    except KeyError:
        abort(400, description=f"no sample card {key!r}")
    return jsonify(ok=True)


@bp.post("/api/card/remove")
def remove_card() -> Any:
    """Take the card off the reader."""
    _json()
    current_sim().remove_card()
    return jsonify(ok=True)


@bp.post("/api/scan")
def scan() -> Any:
    """Scan a barcode: ``{"code": "4870001234567"}`` (printable text, up to 128 characters)."""
    code = _json().get("code")
    if not isinstance(code, str) or not code.strip() or len(code) > 128 or not code.isprintable():
        abort(400, description="code must be 1 to 128 printable characters")
    current_sim().scan(code.strip())
    return jsonify(ok=True)


@bp.post("/api/device/<role>")
def plug(role: str) -> Any:
    """Unplug or plug back a device: ``{"plugged": false}``."""
    if role not in current_sim().roles():
        abort(404, description=f"unknown device {role!r}")
    plugged = _json().get("plugged")
    if not isinstance(plugged, bool):
        abort(400, description="plugged must be true or false")
    current_sim().set_plugged(role, plugged)
    return jsonify(ok=True)


@bp.post("/api/passage")
def walk_through() -> Any:
    """A person walks through the turnstile (demo with a passage sensor only)."""
    _json()
    try:
        current_sim().walk_through()
    except LookupError as exc:
        abort(400, description=str(exc))
    return jsonify(ok=True)


def _json() -> dict[str, Any]:
    if not request.is_json:
        abort(415, description="send application/json")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400, description="body must be a JSON object")
    return body
