"""The technician's diagnostics: ``/diag`` pages and the ``/api/v1/diag`` JSON API (technician role only).

Pages: ``/diag/`` (devices, their last frames, the self-tests), ``/diag/system`` (version, uptime,
config with secrets masked, recent log lines) and ``/diag/doctor`` (``kiosk doctor``'s checks run
inside the kiosk).  The JSON API gives the same data and runs the self-tests (explicit POSTs; the gate
pulse only with ``"confirm": "pulse"``).  Views parse and call one function of kiosk/diagnostics.py or
kiosk/selftests.py; nothing personal is ever in a response (frames and results are masked when they
are captured).  Every route's OpenAPI description is in ``OPENAPI_PATHS`` at the end.
"""

from __future__ import annotations

import math
from typing import Any

from flask import Blueprint, abort, current_app, jsonify, render_template, request
from flask.blueprints import BlueprintSetupState

from drivers.runner import HealthState
from kiosk import __version__
from kiosk.diagnostics import config_report, device_report, doctor_report, summary
from kiosk.loglines import LEVELS
from kiosk.selftests import MAX_WAIT_S, TESTS, SelfTestRefused, SelfTests
from kiosk.session import Phase

from . import auth
from .extension import current_service
from .openapi import ERROR_CONTENT, SESSION, SESSION_CSRF

bp = Blueprint("diag", __name__)
bp.before_request(auth.require_role("technician"))

DEFAULT_WAIT_S = 20.0
MIN_PULSE_MS, MAX_PULSE_MS = 100, 5000
BODY_KEYS = {"card": {"timeout_s"}, "scan": {"timeout_s"}, "gate": {"confirm", "ms"}, "slip": set()}
"""What each self-test's JSON body may hold."""
MAX_LOG_LINES = 500


@bp.record_once
def _setup(state: BlueprintSetupState) -> None:
    app = state.app
    app.extensions["kiosk_selftests"] = SelfTests(app.extensions["kiosk"].service)


def _selftests() -> SelfTests:
    tests: SelfTests = current_app.extensions["kiosk_selftests"]
    return tests


# -- pages -----------------------------------------------------------------------------------------


@bp.get("/diag/")
def index() -> Any:
    """Devices with their last frames, and the self-tests."""
    service = current_service()
    return render_template("diag/index.html", info=summary(service))


@bp.get("/diag/system")
def system() -> Any:
    """Version, uptime, the config (secrets masked) and recent log lines."""
    service = current_service()
    logs = service.log_lines.lines(limit=200) if service.log_lines is not None else []
    return render_template("diag/system.html", info=summary(service, frames=False),
                           config=config_report(service.config), logs=logs)


@bp.get("/diag/doctor")
def doctor() -> Any:
    """``kiosk doctor``'s checks, run now inside the kiosk."""
    service = current_service()
    rows = doctor_report(service)
    return render_template("diag/doctor.html", info=summary(service, frames=False), rows=rows,
                           problems=sum(r["status"] == "FAIL" for r in rows))


# -- JSON ------------------------------------------------------------------------------------------


@bp.get("/api/v1/diag")
def api_summary() -> Any:
    """Version, uptime, phase, and every device with its last frames."""
    return jsonify(summary(current_service()))


@bp.get("/api/v1/diag/devices/<role>")
def api_device(role: str) -> Any:
    """One configured device with its last frames."""
    service = current_service()
    if role not in service.config.devices:
        abort(404, description=f"no device {role!r} is configured; configured: {', '.join(service.config.devices)}")
    return jsonify(device_report(service, role))


@bp.get("/api/v1/diag/config")
def api_config() -> Any:
    """The resolved config, secrets masked."""
    return jsonify(config_report(current_service().config))


@bp.get("/api/v1/diag/logs")
def api_logs() -> Any:
    """Recent log lines at ``level`` and above (INFO by default), the last ``limit`` (100)."""
    level = request.args.get("level", "INFO")
    if level not in LEVELS:
        abort(400, description=f"level must be one of {', '.join(LEVELS)}")
    limit = _int_arg("limit", 100, 1, MAX_LOG_LINES)
    keeper = current_service().log_lines
    return jsonify(lines=keeper.lines(min_level=level, limit=limit) if keeper is not None else [])


@bp.get("/api/v1/diag/doctor")
def api_doctor() -> Any:
    """``kiosk doctor``'s checks, run now inside the kiosk."""
    rows = doctor_report(current_service())
    return jsonify(rows=rows, problems=sum(r["status"] == "FAIL" for r in rows))


@bp.post("/api/v1/diag/selftest/<test>")
def api_selftest(test: str) -> Any:
    """Run one self-test: card, scan, gate (needs ``"confirm": "pulse"``) or slip."""
    if test not in TESTS:
        abort(404, description=f"unknown self-test {test!r}; expected one of {', '.join(TESTS)}")
    body = _json_body(BODY_KEYS[test])
    tests, who = _selftests(), auth.actor()
    try:
        if test == "card":
            result = tests.card(_wait_s(body), who)
        elif test == "scan":
            result = tests.scan(_wait_s(body), who)
        elif test == "gate":
            ms = body.get("ms")
            if ms is not None and (isinstance(ms, bool) or not isinstance(ms, int)
                                   or not MIN_PULSE_MS <= ms <= MAX_PULSE_MS):
                abort(400, description=f"ms must be a whole number from {MIN_PULSE_MS} to {MAX_PULSE_MS}")
            result = tests.gate(confirmed=body.get("confirm") == "pulse", seconds=ms / 1000 if ms else None,
                                actor=who)
        else:
            result = tests.slip(who)
    except SelfTestRefused as exc:
        return jsonify(error=exc.key, message=str(exc)), exc.status
    return jsonify(result)


def _json_body(allowed: set[str]) -> dict[str, Any]:
    if not request.is_json:
        abort(415, description="send the self-test's options as application/json ({} for none)")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400, description="the body must be a JSON object")
    unknown = sorted(set(body) - allowed)
    if unknown:
        abort(400, description=f"unexpected field {unknown[0]!r}; this self-test takes: "
                               f"{', '.join(sorted(allowed)) or 'nothing'}")
    return body


def _wait_s(body: dict[str, Any]) -> float:
    value = body.get("timeout_s", DEFAULT_WAIT_S)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not 1 <= value <= MAX_WAIT_S:
        abort(400, description=f"timeout_s must be a number of seconds from 1 to {MAX_WAIT_S:.0f}")
    return float(value)


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        abort(400, description=f"{name} must be a whole number from {low} to {high}")
    return int(raw)


# -- OpenAPI (merged into /api/openapi.json by web/openapi.py) -------------------------------------------

_REF = "#/components/schemas/"
_ERRORS = {"401": {"$ref": "#/components/responses/Unauthorized"},
           "403": {"$ref": "#/components/responses/Forbidden"}}


def _ok(description: str, schema: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": _REF + schema}}}}


def _get(operation_id: str, summary_text: str, schema: str) -> dict[str, Any]:
    return {"get": {"operationId": operation_id, "tags": ["technician"], "security": SESSION,
                    "summary": summary_text, "responses": {"200": _ok(summary_text, schema), **_ERRORS}}}


OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/api/v1/diag": _get("getDiagnostics", "Version, uptime, phase, and every device with its last frames.",
                         "DiagSummary"),
    "/api/v1/diag/devices/{role}": {"get": {
        "operationId": "getDiagDevice", "tags": ["technician"], "security": SESSION,
        "summary": "One configured device (idcard, scanner, gate, ...) with its last frames.",
        "parameters": [{"name": "role", "in": "path", "required": True, "schema": {"type": "string"}}],
        "responses": {"200": _ok("The device.", "DiagDevice"), **_ERRORS,
                      "404": {"description": "No device of that role is configured.", "content": ERROR_CONTENT}},
    }},
    "/api/v1/diag/config": _get("getDiagConfig", "The resolved config, secrets masked.", "DiagConfig"),
    "/api/v1/diag/logs": {"get": {
        "operationId": "getDiagLogs", "tags": ["technician"], "security": SESSION,
        "summary": "Recent log lines (kept in memory; DEBUG never), oldest first.",
        "parameters": [
            {"name": "level", "in": "query", "required": False,
             "schema": {"type": "string", "enum": list(LEVELS), "default": "INFO"}},
            {"name": "limit", "in": "query", "required": False,
             "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LOG_LINES, "default": 100}}],
        "responses": {"200": _ok("The lines.", "DiagLogs"), **_ERRORS,
                      "400": {"description": "A level or limit out of range.", "content": ERROR_CONTENT}},
    }},
    "/api/v1/diag/doctor": _get("getDiagDoctor", "kiosk doctor's checks, run now inside the kiosk.", "DiagDoctor"),
    "/api/v1/diag/selftest/{test}": {"post": {
        "operationId": "runSelfTest", "tags": ["technician"], "security": SESSION_CSRF,
        "summary": "Run one self-test while the kiosk is idle: read the next card (masked), take the next scan, "
                   'pulse the gate once (only with "confirm": "pulse"; audited), or print a test slip.',
        "parameters": [{"name": "test", "in": "path", "required": True,
                        "schema": {"type": "string", "enum": list(TESTS)}}],
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": {"$ref": _REF + "SelfTestRequest"}}}},
        "responses": {
            "200": _ok("The test ran: ok, or what went wrong (timeout, the card's failure, the device's error).",
                       "SelfTestResult"),
            "400": {"description": "A field this test does not take or out of range, or a gate pulse without "
                                   'confirm = "pulse".', "content": ERROR_CONTENT},
            **_ERRORS,
            "404": {"description": "No such self-test.", "content": ERROR_CONTENT},
            "409": {"description": "Not now: a resident is in a session (resident_session), another test runs "
                                   "(busy), the device is not configured or not connected.", "content": ERROR_CONTENT},
            "415": {"$ref": "#/components/responses/UnsupportedMediaType"},
        },
    }},
}

_TIME = {"type": "string", "format": "date-time"}
_NULLABLE_TIME = {**_TIME, "nullable": True}
_COUNT = {"type": "integer", "minimum": 0}

OPENAPI_SCHEMAS: dict[str, dict[str, Any]] = {
    "DiagFrame": {
        "type": "object", "additionalProperties": False,
        "description": "One frame a device sent (tx) or received (rx), masked when captured: data that may carry "
                       "personal data is withheld (counted), and runs of 17+ digits are replaced by '*'.",
        "required": ["at", "direction", "length", "hex", "text", "withheld", "truncated", "repeats", "last_at"],
        "properties": {"at": _TIME, "direction": {"type": "string", "enum": ["tx", "rx"]},
                       "length": {**_COUNT, "description": "Bytes on the wire."},
                       "hex": {"type": "string", "description": "Shown bytes in hex; '[N bytes withheld]' marks gaps."},
                       "text": {"type": "string", "description": "Shown bytes as printable ASCII ('.' otherwise)."},
                       "withheld": _COUNT, "truncated": _COUNT,
                       "repeats": {**_COUNT, "description": "Identical exchanges after this one (idle polls)."},
                       "last_at": {**_NULLABLE_TIME, "description": "When the last repeat went by."}},
    },
    "DiagDevice": {
        "type": "object", "additionalProperties": False,
        "required": ["role", "driver", "url", "state", "last_error", "reconnects", "last_reading_at",
                     "frames_captured", "frames"],
        "properties": {
            "role": {"type": "string"}, "driver": {"type": "string"},
            "url": {"type": "string", "description": "The device URL without credentials."},
            "state": {"type": "string", "enum": [s.value for s in HealthState] + ["not_loaded"]},
            "last_error": {"type": "string", "nullable": True}, "reconnects": _COUNT,
            "last_reading_at": _NULLABLE_TIME, "frames_captured": _COUNT,
            "frames": {"type": "array", "items": {"$ref": _REF + "DiagFrame"}}},
    },
    "DiagSummary": {
        "type": "object", "additionalProperties": False,
        "required": ["version", "kiosk_id", "site", "started_at", "uptime_s", "phase", "service", "devices"],
        "properties": {
            "version": {"type": "string", "enum": [__version__]}, "kiosk_id": {"type": "string"},
            "site": {"type": "string"}, "started_at": _NULLABLE_TIME, "uptime_s": {"type": "number", "minimum": 0},
            "phase": {"type": "string", "enum": [p.value for p in Phase]},
            "service": {"type": "string", "enum": ["ok", "degraded", "out_of_service"]},
            "devices": {"type": "array", "items": {"$ref": _REF + "DiagDevice"}}},
    },
    "DiagConfig": {
        "type": "object", "description": "kiosk/config.py KioskConfig as JSON; secrets masked ('****').",
        "required": ["kiosk_id", "site", "ledger_url", "site_secret", "devices"],
        "properties": {
            "kiosk_id": {"type": "string"}, "site": {"type": "string"},
            "ledger_url": {"type": "string", "description": "Without password."},
            "site_secret": {"type": "string", "enum": ["****", "(not set)"]},
            "devices": {"type": "object", "additionalProperties": {
                "type": "object", "additionalProperties": False, "required": ["driver", "url", "options"],
                "properties": {"driver": {"type": "string"}, "url": {"type": "string"},
                               "options": {"type": "object"}}}}},
    },
    "DiagLogs": {
        "type": "object", "additionalProperties": False, "required": ["lines"],
        "properties": {"lines": {"type": "array", "items": {
            "type": "object", "additionalProperties": False,
            "required": ["seq", "at", "level", "logger", "message"],
            "properties": {"seq": {"type": "integer", "minimum": 1}, "at": _TIME,
                           "level": {"type": "string", "enum": list(LEVELS)},
                           "logger": {"type": "string"}, "message": {"type": "string"}}}}},
    },
    "DiagDoctor": {
        "type": "object", "additionalProperties": False, "required": ["rows", "problems"],
        "properties": {
            "problems": {**_COUNT, "description": "Rows that FAILed."},
            "rows": {"type": "array", "items": {
                "type": "object", "additionalProperties": False, "required": ["check", "status", "detail", "fix"],
                "properties": {"check": {"type": "string"}, "status": {"type": "string",
                                                                     "enum": ["ok", "warn", "FAIL", "-"]},
                               "detail": {"type": "string"}, "fix": {"type": "string"}}}}},
    },
    "SelfTestRequest": {
        "type": "object", "additionalProperties": False,
        "description": "card and scan take timeout_s; gate takes confirm (required) and ms; slip takes nothing.",
        "properties": {
            "timeout_s": {"type": "number", "minimum": 1, "maximum": MAX_WAIT_S, "default": DEFAULT_WAIT_S,
                          "description": "How long to wait for the next card or scan."},
            "confirm": {"type": "string", "enum": ["pulse"], "description": "Required to pulse the gate."},
            "ms": {"type": "integer", "minimum": MIN_PULSE_MS, "maximum": MAX_PULSE_MS,
                   "description": "Pulse length (default: the gate's configured pulse_s)."}},
    },
    "SelfTestResult": {
        "type": "object", "additionalProperties": False,
        "required": ["test", "ok", "started_at", "duration_s", "error"],
        "properties": {
            "test": {"type": "string", "enum": list(TESTS)}, "ok": {"type": "boolean"}, "started_at": _TIME,
            "duration_s": {"type": "number", "minimum": 0},
            "error": {"type": "string", "nullable": True,
                      "description": "timeout, the card's failure reason key, or the device's error."},
            "card_type": {"type": "string"},
            "masked_id": {"type": "string", "pattern": "^[^*]{0,4}[*]+[^*]{0,4}$",
                          "description": "First and last four characters only."},
            "photo_bytes": _COUNT,
            "symbology": {"type": "string", "nullable": True}, "text": {"type": "string"}, "length": _COUNT,
            "channel": {"type": "integer", "minimum": 1}, "seconds": {"type": "number", "minimum": 0},
            "bytes_sent": _COUNT},
    },
}
