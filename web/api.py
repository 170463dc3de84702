"""JSON API under /api/v1: the state snapshot and the resident screen's commands.

Commands are POSTed as JSON (a cross-site form cannot send ``application/json`` without
a CORS preflight, which this app never grants), handed to the checkpoint's inbox, and
answered with the snapshot after the checkpoint handled them.
"""

from __future__ import annotations

from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from flask import Blueprint, abort, current_app, jsonify, request

from kiosk.events import Cancel, Confirm, RemoveLine, Touch

from .extension import current_service

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@bp.get("/state")
def state() -> Any:
    """The resident screen's state snapshot."""
    return jsonify(current_service().checkpoint.snapshot())


@bp.get("/health")
def health() -> Any:
    """Each device's state, for the screen's status line and for monitoring."""
    return jsonify({role: {"state": h.state.value, "reconnects": h.reconnects}
                    for role, h in current_service().health().items()})


COMMANDS = {"confirm": Confirm, "cancel": Cancel, "touch": Touch}


@bp.post("/resident/<command>")
def resident_command(command: str) -> Any:
    """Confirm, cancel or touch from the resident screen."""
    _require_json()
    factory = COMMANDS.get(command)
    if factory is None:
        abort(404, description=f"unknown command {command!r}; expected one of {', '.join(COMMANDS)}")
    return _submit(factory())


@bp.post("/resident/lines/<int:index>/remove")
def remove_line(index: int) -> Any:
    """Remove one basket line."""
    _require_json()
    return _submit(RemoveLine(index))


def _require_json() -> None:
    if not request.is_json:
        abort(415, description="send commands as application/json")


def _submit(message: Any) -> Any:
    fut = current_service().checkpoint.submit(message)
    try:
        snap = fut.result(timeout=current_app.config["COMMAND_TIMEOUT_S"])
    except FutureTimeout:
        abort(503, description="the checkpoint did not answer in time; the command stays queued")
    return jsonify(snap)
