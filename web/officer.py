"""The officer console: pages under /officer, JSON under /api/v1/officer (officers only).

Every route is behind ``require_role("officer")``; every state-changing call carries the session's CSRF
token (the page renders it into a meta tag; its script sends it as ``X-CSRF-Token``).  Views stay thin:
parse, call one ``kiosk.officer_desk.OfficerDesk`` method, render.  Errors are JSON
``{"error": key, "message": text}`` with the status of ``ERROR_STATUS`` (4xx for anything an officer or a
client sends wrong, 503 when a device or the ledger cannot do it).  The console is live: it follows
``/api/v1/events/officer`` (queue changes, alerts, the kiosk's state) and polls the queue as a fallback,
since referrals made at other kiosks of the port reach it only through the shared ledger.
"""

from __future__ import annotations

import io
import re
from datetime import date
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, render_template, request
from werkzeug.exceptions import UnsupportedMediaType

from kiosk.officer_codes import OfficerError
from kiosk.officer_desk import OfficerDesk

from .auth import actor, require_role
from .extension import current_service
from .officer_openapi import OPENAPI_PATHS, OPENAPI_SCHEMAS

__all__ = ["OPENAPI_PATHS", "OPENAPI_SCHEMAS", "bp"]

bp = Blueprint("officer", __name__)
bp.before_request(require_role("officer"))

ERROR_STATUS: dict[str, int] = {
    "bad_request": 400, "bad_decision": 400, "bad_reason": 400, "bad_note": 400, "bad_id_number": 400,
    "bad_payload": 400, "bad_day": 400,
    "unknown_declaration": 404,
    "already_decided": 409, "not_referred": 409, "not_today": 409, "not_voidable": 409, "not_printable": 409,
    "declaration_in_flight": 409, "gate_busy": 409,
    "gate_unavailable": 503, "gate_fault": 503, "no_printer": 503, "printer_fault": 503,
    "ledger_unavailable": 503, "timeout": 503,
}
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
NOTE_FIELDS = ("reason", "note")


def _desk() -> OfficerDesk:
    return OfficerDesk(current_service().checkpoint, wait_s=float(current_app.config["COMMAND_TIMEOUT_S"]))


@bp.errorhandler(OfficerError)
def officer_error(exc: OfficerError) -> Any:
    """An action that cannot be done, as JSON with its status."""
    return jsonify(error=exc.key, message=exc.message), ERROR_STATUS.get(exc.key, 400)


def _body(required: tuple[str, ...], optional: tuple[str, ...] = ()) -> dict[str, Any]:
    """The JSON object sent, with exactly the fields named (400 otherwise; 415 when it is not JSON)."""
    if not request.is_json:
        raise UnsupportedMediaType("send the body as application/json")
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise OfficerError("bad_request", "the body must be a JSON object")
    missing = [name for name in required if name not in data]
    unknown = sorted(set(data) - set(required) - set(optional))
    if missing or unknown:
        raise OfficerError("bad_request", "; ".join(
            ([f"missing field(s): {', '.join(missing)}"] if missing else [])
            + ([f"unknown field(s): {', '.join(unknown)}"] if unknown else [])))
    return data


def _day() -> date:
    """The ``day`` query parameter (YYYY-MM-DD), today when absent."""
    text = request.args.get("day")
    if text is None:
        return _desk().today()
    if not _DAY.fullmatch(text):
        raise OfficerError("bad_day", "day must be a date as YYYY-MM-DD")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise OfficerError("bad_day", f"{text} is not a calendar date") from None


# -- pages ------------------------------------------------------------------------------------------------


@bp.get("/officer/")
def index() -> Any:
    """The console: queue, alerts, the gate, tools."""
    desk = _desk()
    return render_template("officer/index.html", codes=desk.codes(), kiosk_id=desk.rules.kiosk_id,
                           today=desk.today().isoformat())


@bp.get("/officer/report")
def report_page() -> Any:
    """The day report, printable, with the CSV export link."""
    day = _day()
    return render_template("officer/report.html", report=_desk().report(day), day=day.isoformat())


# -- JSON -------------------------------------------------------------------------------------------------


@bp.get("/api/v1/officer/queue")
def queue() -> Any:
    """Today's referrals waiting for a decision, the alerts, offline conflicts and the kiosk now."""
    return jsonify(_desk().queue())


@bp.get("/api/v1/officer/codes")
def codes() -> Any:
    """The decisions and reason codes the console offers."""
    return jsonify(_desk().codes())


@bp.get("/api/v1/officer/declarations/<declaration_id>")
def declaration(declaration_id: str) -> Any:
    """One recorded declaration."""
    return jsonify(_desk().declaration(declaration_id))


@bp.post("/api/v1/officer/referrals/<declaration_id>/decision")
def decide(declaration_id: str) -> Any:
    """Approve the duty-free part, send to taxed declaration, or reject a referral of today."""
    data = _body(("decision", "reason"), ("note",))
    return jsonify(_desk().decide(declaration_id, decision=data["decision"], reason=data["reason"],
                                  note=data.get("note", ""), officer=actor()))


@bp.post("/api/v1/officer/declarations/<declaration_id>/void")
def void(declaration_id: str) -> Any:
    """Void a committed declaration of today (its quota returns)."""
    data = _body(("reason",), ("note",))
    return jsonify(_desk().void(declaration_id, reason=data["reason"], note=data.get("note", ""), officer=actor()))


@bp.post("/api/v1/officer/declarations/<declaration_id>/reprint")
def reprint(declaration_id: str) -> Any:
    """Print the slip of a committed or approved declaration again."""
    _body(())
    return jsonify(_desk().reprint(declaration_id, officer=actor()))


@bp.post("/api/v1/officer/gate/release")
def release() -> Any:
    """Release the gate by hand once, with a reason (no ledger)."""
    data = _body(("reason",), ("note",))
    return jsonify(_desk().release(reason=data["reason"], note=data.get("note", ""), officer=actor()))


@bp.post("/api/v1/officer/lookup")
def lookup() -> Any:
    """A resident's use today, from the ID number typed by the officer (POSTed: never in a URL)."""
    data = _body(("id_number",))
    return jsonify(_desk().lookup(data["id_number"], officer=actor()))


@bp.post("/api/v1/officer/slips/verify")
def verify_slip() -> Any:
    """Check a scanned slip QR payload against the site key and the ledger."""
    data = _body(("payload",))
    return jsonify(_desk().verify_slip(data["payload"]))


@bp.get("/api/v1/officer/report")
def report() -> Any:
    """The day report: counts by status, reason and decision, totals in fen."""
    return jsonify(_desk().report(_day()))


@bp.get("/api/v1/officer/export")
def export() -> Any:
    """A day's declarations as CSV (masked IDs and keyed hashes only), as a download."""
    day = _day()
    out = io.StringIO()
    _desk().export(day, out)
    return Response(out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="declarations-{day.isoformat()}.csv"'})
