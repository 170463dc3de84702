"""JSON API under /api/v1: the state snapshot and the resident screen's commands.

Commands are POSTed as JSON (a cross-site form cannot send ``application/json`` without
a CORS preflight, which this app never grants), handed to the checkpoint's inbox, and
answered with the snapshot after the checkpoint handled them.
"""

from __future__ import annotations

from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from flask import Blueprint, abort, current_app, jsonify, request

from drivers.runner import HealthState
from kiosk.events import Cancel, Confirm, RemoveLine, Touch
from kiosk.session import Phase

from .extension import current_service
from .openapi import ERROR_CONTENT, PUBLIC

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


# -- OpenAPI (merged into /api/openapi.json by web/openapi.py) ---------------------------------------

_STATE = {"description": "The state snapshot after the checkpoint handled the command.",
          "content": {"application/json": {"schema": {"$ref": "#/components/schemas/StateSnapshot"}}}}
_COMMAND_RESPONSES = {
    "200": _STATE,
    "404": {"description": "Unknown command.", "content": ERROR_CONTENT},
    "415": {"$ref": "#/components/responses/UnsupportedMediaType"},
    "503": {"description": "The checkpoint did not answer within COMMAND_TIMEOUT_S; the command stays queued.",
            "content": ERROR_CONTENT},
}
_COMMAND_BODY = {"required": True, "description": "Any JSON (the command carries no data; {} is usual).",
                 "content": {"application/json": {"schema": {"type": "object"}}}}

OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/api/v1/state": {"get": {
        "operationId": "getState", "tags": ["resident"], "security": PUBLIC,
        "summary": "The resident screen's state snapshot (first paint and resync after a dropped stream).",
        "responses": {"200": {"description": "The latest snapshot.", "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/StateSnapshot"}}}}},
    }},
    "/api/v1/health": {"get": {
        "operationId": "getHealth", "tags": ["resident"], "security": PUBLIC,
        "summary": "Each device's state, by role.",
        "responses": {"200": {"description": "Device states.", "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/DeviceHealthMap"}}}}},
    }},
    "/api/v1/resident/{command}": {"post": {
        "operationId": "residentCommand", "tags": ["resident"], "security": PUBLIC,
        "summary": "Confirm, cancel or touch from the resident screen (no session, no CSRF token: no authority).",
        "parameters": [{"name": "command", "in": "path", "required": True,
                        "schema": {"type": "string", "enum": list(COMMANDS)}}],
        "requestBody": _COMMAND_BODY, "responses": _COMMAND_RESPONSES,
    }},
    "/api/v1/resident/lines/{index}/remove": {"post": {
        "operationId": "removeLine", "tags": ["resident"], "security": PUBLIC,
        "summary": "Remove one basket line (an index out of range changes nothing).",
        "parameters": [{"name": "index", "in": "path", "required": True,
                        "schema": {"type": "integer", "minimum": 0}}],
        "requestBody": _COMMAND_BODY, "responses": _COMMAND_RESPONSES,
    }},
}

_NULLABLE_OBJECT = {"type": "object", "nullable": True}
OPENAPI_SCHEMAS: dict[str, dict[str, Any]] = {
    "StateSnapshot": {
        "type": "object", "additionalProperties": False,
        "description": "kiosk/screen.py snapshot(): what the resident screen shows. Never the full ID number; "
                       "the name masked (张*三).",
        "required": ["phase", "service", "devices", "reasons", "notice", "resident", "quota", "lines",
                     "total_fen", "declaration_id", "warning", "timer_s", "version"],
        "properties": {
            "phase": {"type": "string", "enum": [p.value for p in Phase]},
            "service": {"type": "string", "enum": ["ok", "degraded", "out_of_service"]},
            "devices": {"type": "object", "additionalProperties": {
                "type": "string", "enum": [s.value for s in HealthState]}},
            "reasons": {"type": "array", "items": {"type": "string"}, "description": "Stable reason keys."},
            "notice": {**_NULLABLE_OBJECT, "required": ["reason"], "additionalProperties": {"type": "string"},
                       "description": "A passing notice: reason key plus details (the scanned code)."},
            "resident": {**_NULLABLE_OBJECT, "additionalProperties": False, "required": ["name", "masked_id"],
                         "properties": {
                             "name": {"type": "string", "description": "Masked: first and last character."},
                             "masked_id": {"type": "string", "pattern": "^[^*]{0,4}[*]+[^*]{0,4}$",
                                           "description": "First and last four characters only."}}},
            "quota": {**_NULLABLE_OBJECT, "additionalProperties": False,
                      "required": ["limit_fen", "used_fen", "remaining_fen", "currency", "over_by_fen"],
                      "properties": {name: {"type": "integer", "minimum": 0} for name in (
                          "limit_fen", "used_fen", "remaining_fen", "over_by_fen")}
                      | {"currency": {"type": "string"}}},
            "lines": {"type": "array", "items": {"$ref": "#/components/schemas/SnapshotLine"}},
            "total_fen": {"type": "integer", "minimum": 0},
            "declaration_id": {"type": "string", "nullable": True},
            "warning": {**_NULLABLE_OBJECT, "additionalProperties": False, "required": ["seconds"],
                        "properties": {"seconds": {"type": "number"}}},
            "timer_s": {"type": "number", "nullable": True, "description": "Seconds an outcome screen stays."},
            "version": {"type": "integer", "minimum": 1, "description": "Rises with every change."},
        },
    },
    "SnapshotLine": {
        "type": "object", "additionalProperties": False,
        "required": ["code", "names", "unit_price_fen", "quantity", "amount_fen", "known", "unit", "flag"],
        "properties": {
            "code": {"type": "string"},
            "names": {"type": "object", "additionalProperties": {"type": "string"},
                      "description": "Product name by language (empty for unknown goods)."},
            "unit_price_fen": {"type": "integer", "nullable": True,
                               "description": "Per piece, or per kg when unit is kg."},
            "quantity": {"type": "integer", "minimum": 1, "description": "Pieces, or grams when unit is kg."},
            "amount_fen": {"type": "integer", "minimum": 0},
            "known": {"type": "boolean"},
            "unit": {"type": "string", "enum": ["piece", "kg"]},
            "flag": {"type": "string", "nullable": True, "enum": ["goods_excluded", "goods_over_cap", None],
                     "description": "The goods reason this line alone refers the declaration for, once referred."},
        },
    },
    "DeviceHealthMap": {
        "type": "object",
        "additionalProperties": {
            "type": "object", "additionalProperties": False, "required": ["state", "reconnects"],
            "properties": {"state": {"type": "string", "enum": [s.value for s in HealthState]},
                           "reconnects": {"type": "integer", "minimum": 0}}},
    },
}
