"""OpenAPI path items and schemas of the officer console's JSON API (re-exported by ``web/officer.py``,
where ``web/openapi.py`` collects them): precise enough for a fuzzer to check every response."""

from __future__ import annotations

from typing import Any

from kiosk.officer_codes import DECISION_REASONS, DECISIONS, NOTE_MAX, RELEASE_REASONS, VOID_REASONS

from .openapi import SESSION, SESSION_CSRF

TAGS = ["officer"]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(props: dict[str, Any], *, required: list[str] | None = None, extra: bool = False,
         nullable: bool = False, description: str | None = None) -> dict[str, Any]:
    names = list(props) if required is None else required
    schema: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": extra}
    if names:                                     # draft 4: a required list names at least one property
        schema["required"] = names
    if nullable:
        schema["nullable"] = True
    if description:
        schema["description"] = description
    return schema


STR: dict[str, Any] = {"type": "string"}
NSTR: dict[str, Any] = {"type": "string", "nullable": True}
INT: dict[str, Any] = {"type": "integer"}
FEN: dict[str, Any] = {"type": "integer", "description": "Integer fen (0.01 CNY)."}
YUAN: dict[str, Any] = {"type": "string", "description": "The same amount as text, e.g. 8,000.00."}
BOOL: dict[str, Any] = {"type": "boolean"}
TIME: dict[str, Any] = {"type": "string", "format": "date-time", "description": "ISO 8601, Beijing time."}
NTIME: dict[str, Any] = {**TIME, "nullable": True}
DAY: dict[str, Any] = {"type": "string", "format": "date"}
DECL_ID: dict[str, Any] = {"name": "declaration_id", "in": "path", "required": True,
                           "schema": {"type": "string", "minLength": 1, "maxLength": 64}}
DAY_QUERY: dict[str, Any] = {"name": "day", "in": "query", "required": False,
                             "description": "YYYY-MM-DD (the Beijing day); today when absent.",
                             "schema": {"type": "string", "format": "date"}}
LABEL = _ref("OfficerLabel")
NOTE: dict[str, Any] = {"type": "string", "maxLength": NOTE_MAX,
                        "description": "Free text (required with reason `other`); whole ID numbers are masked."}


def _note_body(reasons: dict[str, tuple[str, str]], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    props: dict[str, Any] = {**(extra or {}), "reason": {"type": "string", "enum": list(reasons)}, "note": NOTE}
    return _obj(props, required=[*(extra or {}), "reason"])


OPENAPI_SCHEMAS: dict[str, dict[str, Any]] = {
    "OfficerLabel": _obj({"key": STR, "zh": STR, "en": STR}, description="A stable key with its labels."),
    "OfficerCode": _obj({"code": STR, "zh": STR, "en": STR}),
    "OfficerLine": _obj({"code": STR, "name": NSTR, "quantity": INT, "unit": {"type": "string",
                         "enum": ["piece", "kg"]}, "unit_price_fen": {**FEN, "nullable": True}, "amount_fen": FEN,
                         "known": BOOL}),
    "OfficerDeclaration": _obj({
        "id": STR, "kiosk_id": STR, "masked_id": STR,
        "resident": {"type": "string", "description": "The first 16 characters of the keyed resident hash."},
        "day": DAY, "status": LABEL, "reasons": {"type": "array", "items": LABEL},
        "lines": {"type": "array", "items": _ref("OfficerLine")},
        "total_fen": FEN, "total": YUAN, "limit_fen": FEN,
        "created_at": TIME, "recorded_at": TIME, "resolved_at": NTIME,
        "decision": _obj({"officer": STR, "decision": LABEL, "reason": LABEL, "note": STR, "at": TIME,
                          "duty_free_fen": FEN, "duty_free": YUAN, "taxed_fen": FEN}, nullable=True),
        "void": _obj({"officer": STR, "reason": STR, "at": TIME}, nullable=True),
        "at_kiosk": {"type": "boolean", "description": "Its resident stands at this kiosk's referral screen now."},
    }),
    "OfficerAlert": _obj({"kind": STR, "at": STR, "label": LABEL}, extra=True,
                         description="An officer alert; more fields by kind (declaration_id, passages, pulse_id…)."),
    "OfficerConflict": _obj({"declaration_id": STR, "masked_id": STR, "day": DAY, "amount_fen": FEN, "amount": YUAN,
                             "reason": {"type": "string", "description": "Why the port refused it (a sentence)."},
                             "recorded_at": NTIME}),
    "OfficerQueue": _obj({
        "day": DAY, "kiosk_id": STR,
        "referrals": {"type": "array", "items": _ref("OfficerDeclaration")},
        "alerts": {"type": "array", "items": _ref("OfficerAlert")},
        "conflicts": {"type": "array", "items": _ref("OfficerConflict")},
        "offline_allowance": BOOL,
        "kiosk": _obj({"phase": STR, "service": STR, "reasons": {"type": "array", "items": LABEL},
                       "masked_id": NSTR, "declaration_id": NSTR, "gate_usable": BOOL, "hand_release": BOOL}),
    }),
    "OfficerCodes": _obj({name: {"type": "array", "items": _ref("OfficerCode")}
                          for name in ("decisions", "decision_reasons", "release_reasons", "void_reasons")}),
    "OfficerDecisionRequest": _note_body(DECISION_REASONS, {"decision": {"type": "string", "enum": list(DECISIONS)}}),
    "OfficerDecisionResult": _obj({"declaration": _ref("OfficerDeclaration"), "repeat": BOOL, "at_kiosk": BOOL,
                                   "gate": {"type": "string", "enum": ["pulsing"], "nullable": True}}),
    "OfficerVoidRequest": _note_body(VOID_REASONS),
    "OfficerVoidResult": _obj({"declaration": _ref("OfficerDeclaration"), "repeat": BOOL, "remaining_fen": FEN,
                               "remaining": YUAN}),
    "OfficerReleaseRequest": _note_body(RELEASE_REASONS),
    "OfficerReleaseResult": _obj({"pulse_id": STR, "released": {"type": "boolean", "enum": [True]},
                                  "reason": LABEL}),
    "OfficerReprintResult": _obj({"declaration_id": STR, "printed": {"type": "boolean", "enum": [True]},
                                  "bytes_sent": INT}),
    "OfficerLookupRequest": _obj({"id_number": {"type": "string", "description": "18-character resident ID number."}}),
    "OfficerLookup": _obj({
        "masked_id": STR, "resident": STR, "day": DAY, "limit_fen": FEN, "used_fen": FEN, "remaining_fen": FEN,
        "limit": YUAN, "used": YUAN, "remaining": YUAN,
        "registry": _obj({"status": STR, "filing_valid_until": DAY, "site": STR}, nullable=True),
        "declarations": {"type": "array", "items": _ref("OfficerDeclaration")},
    }),
    "OfficerSlipRequest": _obj({"payload": {"type": "string", "minLength": 1, "maxLength": 512}}),
    "OfficerSlipCheck": _obj({
        "slip": _obj({"genuine": BOOL, "reason": NSTR, "reason_text": NSTR, "declaration_id": NSTR, "id_tag": NSTR,
                      "total_fen": {**FEN, "nullable": True}, "issued_at": NTIME}),
        "declaration": {"allOf": [_ref("OfficerDeclaration")], "nullable": True},
        "consistent": {"type": "boolean", "description": "Genuine, recorded as committed or approved, same total."},
    }),
    "OfficerReport": _obj({
        "day": DAY, "declarations": INT,
        "by_status": {"type": "array", "items": _obj({"key": STR, "zh": STR, "en": STR, "count": INT,
                                                      "total_fen": FEN, "total": YUAN})},
        "by_reason": {"type": "array", "items": _obj({"key": STR, "zh": STR, "en": STR, "count": INT})},
        "by_decision": {"type": "array", "items": _obj({"key": STR, "zh": STR, "en": STR, "count": INT})},
        "duty_free_fen": FEN, "duty_free": YUAN,
    }),
}


def _json(schema: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(schema)}}}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref("Error")}}}


AUTH = {"401": {"$ref": "#/components/responses/Unauthorized"}, "403": {"$ref": "#/components/responses/Forbidden"}}
BAD = _error("A field is missing, unknown, of the wrong type or not one of the codes (error: bad_*).")
UNKNOWN = _error("No declaration with this id (error: unknown_declaration).")
CONFLICT = _error("The declaration or the kiosk is not in a state that allows it (already_decided, not_referred, "
                  "not_today, not_voidable, not_printable, declaration_in_flight, gate_busy).")
UNAVAILABLE = _error("The ledger, the gate relay or the printer cannot do it now (ledger_unavailable, "
                     "gate_unavailable, gate_fault, no_printer, printer_fault, timeout).")
MEDIA = {"415": {"$ref": "#/components/responses/UnsupportedMediaType"}}


def _get(op: str, summary: str, ok: dict[str, Any], *, params: list[dict[str, Any]] | None = None,
         errors: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"get": {"operationId": op, "tags": TAGS, "summary": summary, "security": SESSION,
                    "parameters": params or [], "responses": {"200": ok, **AUTH, **(errors or {})}}}


def _post(op: str, summary: str, body: str | None, ok: dict[str, Any], *, params: list[dict[str, Any]] | None = None,
          errors: dict[str, Any] | None = None) -> dict[str, Any]:
    schema = _ref(body) if body else _obj({})
    return {"post": {"operationId": op, "tags": TAGS, "summary": summary, "security": SESSION_CSRF,
                     "parameters": params or [],
                     "requestBody": {"required": True, "content": {"application/json": {"schema": schema}}},
                     "responses": {"200": ok, "400": BAD, **AUTH, **MEDIA, **(errors or {})}}}


P = "/api/v1/officer"
OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    f"{P}/queue": _get("getOfficerQueue", "Today's referrals waiting for a decision (port-wide on a PostgreSQL "
                       "ledger), alerts, offline conflicts and this kiosk's state.",
                       _json("OfficerQueue", "The queue."), errors={"503": UNAVAILABLE}),
    f"{P}/codes": _get("getOfficerCodes", "The decisions and the reason codes of each officer action.",
                       _json("OfficerCodes", "The code lists.")),
    f"{P}/declarations/{{declaration_id}}": _get(
        "getOfficerDeclaration", "One recorded declaration.", _json("OfficerDeclaration", "The declaration."),
        params=[DECL_ID], errors={"404": UNKNOWN, "503": UNAVAILABLE}),
    f"{P}/referrals/{{declaration_id}}/decision": _post(
        "decideReferral", "Decide a referral of today: approved (the duty-free part counts against the quota), "
        "taxed or rejected. The same decision again answers the recorded one; when the resident still stands at "
        "this kiosk the screen follows and, on approval, the gate opens.",
        "OfficerDecisionRequest", _json("OfficerDecisionResult", "The decision as recorded."),
        params=[DECL_ID], errors={"404": UNKNOWN, "409": CONFLICT, "503": UNAVAILABLE}),
    f"{P}/declarations/{{declaration_id}}/void": _post(
        "voidDeclaration", "Void a committed declaration of today: its quota returns at once.",
        "OfficerVoidRequest", _json("OfficerVoidResult", "The voided declaration and the quota left."),
        params=[DECL_ID], errors={"404": UNKNOWN, "409": CONFLICT, "503": UNAVAILABLE}),
    f"{P}/declarations/{{declaration_id}}/reprint": _post(
        "reprintSlip", "Print a committed or approved declaration's slip again on this kiosk's printer.",
        None, _json("OfficerReprintResult", "The slip left for the printer."),
        params=[DECL_ID], errors={"404": UNKNOWN, "409": CONFLICT, "503": UNAVAILABLE}),
    f"{P}/gate/release": _post(
        "releaseGateByHand", "Release the gate by hand once (one bounded pulse; the ledger is not touched). "
        "Refused while a resident's declaration is being released at this kiosk.",
        "OfficerReleaseRequest", _json("OfficerReleaseResult", "The gate pulsed."),
        errors={"409": CONFLICT, "503": UNAVAILABLE}),
    f"{P}/lookup": _post(
        "lookupResident", "A resident's use of today's quota from the ID number the officer typed; the number "
        "is never echoed back (masked ID and keyed hash only).",
        "OfficerLookupRequest", _json("OfficerLookup", "The resident's day."), errors={"503": UNAVAILABLE}),
    f"{P}/slips/verify": _post(
        "verifySlip", "Check a scanned slip QR payload: genuine or not, and its declaration in the ledger.",
        "OfficerSlipRequest", _json("OfficerSlipCheck", "The check."), errors={"503": UNAVAILABLE}),
    f"{P}/report": _get("getDayReport", "Counts by status, referral reason and decision, with totals, for one day.",
                        _json("OfficerReport", "The report."), params=[DAY_QUERY],
                        errors={"400": BAD, "503": UNAVAILABLE}),
    f"{P}/export": _get("exportDay", "A day's declarations as CSV (masked IDs and keyed hashes only), as a download.",
                        {"description": "CSV with a header row; Content-Disposition: attachment.",
                         "content": {"text/csv": {"schema": {"type": "string"}}}},
                        params=[DAY_QUERY], errors={"400": BAD, "503": UNAVAILABLE}),
}
