"""The OpenAPI 3.0.3 document of the kiosk's HTTP API, served at ``GET /api/openapi.json``.

Each web module that defines routes under ``/api`` (or ``/metrics``) documents them next to the code,
in two module-level tables:

- ``OPENAPI_PATHS: dict[str, dict]``: OpenAPI path items keyed by OpenAPI path
  (``"/api/v1/resident/lines/{index}/remove"`` for Flask's ``<int:index>``);
- ``OPENAPI_SCHEMAS: dict[str, dict]`` (optional): entries of ``components.schemas``.

``build_document`` merges the tables of every blueprint registered on the app (found through
``app.blueprints``), so a new blueprint's API appears as soon as it is registered, and
``tests/web/test_openapi.py`` fails when a route under /api has no documentation or documentation
has no route.  Operations name who may call them with ``security``: :data:`PUBLIC` (the resident
screen), :data:`SESSION` (a staff session cookie) or :data:`SESSION_CSRF` (a session cookie plus the
``X-CSRF-Token`` header, for every state-changing call); ``metricsToken`` is a bearer token for
``/metrics``.  The document is public: it describes, it grants nothing.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify
from flask.sansio.blueprints import Blueprint as AnyBlueprint

import kiosk

from .auth import CSRF_HEADER, SESSION_COOKIE

bp = Blueprint("openapi", __name__)

PUBLIC: list[dict[str, list[str]]] = []
"""``security`` of an operation anyone may call (the resident screen has no sign-in)."""
SESSION: list[dict[str, list[str]]] = [{"session": []}]
"""``security`` of a read by a signed-in officer or technician."""
SESSION_CSRF: list[dict[str, list[str]]] = [{"session": [], "csrf": []}]
"""``security`` of a state-changing call by a signed-in officer or technician."""

SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "session": {"type": "apiKey", "in": "cookie", "name": SESSION_COOKIE,
                "description": "The staff session opened by POST /signin (HttpOnly, SameSite=Strict)."},
    "csrf": {"type": "apiKey", "in": "header", "name": CSRF_HEADER,
             "description": "The session's CSRF token (GET /api/v1/session), on every state-changing call."},
    "metricsToken": {"type": "http", "scheme": "bearer",
                     "description": "The scrape token of /metrics, for a Prometheus server."},
}
ALWAYS = ("session", "csrf")
"""Security schemes listed even when no operation uses them yet (the sign-in model of the API)."""

BASE_SCHEMAS: dict[str, dict[str, Any]] = {
    "Error": {
        "type": "object",
        "description": "Every error under /api: a stable key and a sentence for people.",
        "required": ["error", "message"],
        "properties": {
            "error": {"type": "string", "description": "Stable key: unauthorized, forbidden, csrf, not_found, …"},
            "message": {"type": "string"},
        },
    },
}

ERROR_CONTENT: dict[str, Any] = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
"""``content`` of a response whose body is an ``Error``."""

BASE_RESPONSES: dict[str, dict[str, Any]] = {
    name: {"description": text, "content": ERROR_CONTENT}
    for name, text in (
        ("Unauthorized", "No staff session (sign in at /signin)."),
        ("Forbidden", "A session of another role, or a state-changing call without its CSRF token."),
        ("NotFound", "No such resource."),
        ("UnsupportedMediaType", "The body was not sent as application/json."),
    )
}
"""Shared responses, for ``{"$ref": "#/components/responses/Unauthorized"}``."""


class OpenApiConflict(ValueError):
    """Two modules document the same operation or the same schema name differently."""


def build_document(app: Flask) -> dict[str, Any]:
    """The OpenAPI document of ``app``'s registered blueprints."""
    modules = _modules(app.blueprints.values())
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, dict[str, Any]] = dict(BASE_SCHEMAS)
    for module in modules:
        for path, item in getattr(module, "OPENAPI_PATHS", {}).items():
            _merge_path(paths, path, item, module.__name__)
        for name, schema in getattr(module, "OPENAPI_SCHEMAS", {}).items():
            if name in schemas and schemas[name] != schema:
                raise OpenApiConflict(f"{module.__name__}: schema {name!r} is already defined differently")
            schemas[name] = schema
    used = _used_security(paths.values())
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Checkpoint kiosk API",
            "version": kiosk.__version__,
            "description": "The resident screen's JSON API and event streams, and the officer and technician "
                           "APIs. Staff calls need the session cookie from /signin; state-changing staff calls "
                           "also need the session's CSRF token in the X-CSRF-Token header.",
        },
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "responses": BASE_RESPONSES,
            "securitySchemes": {name: scheme for name, scheme in SECURITY_SCHEMES.items()
                                if name in used or name in ALWAYS},
        },
    }


@bp.get("/api/openapi.json")
def document() -> Any:
    """The OpenAPI document (public: it describes the API, it grants nothing)."""
    return jsonify(build_document(current_app))


def _modules(blueprints: Iterable[AnyBlueprint]) -> list[Any]:
    """The modules of ``blueprints``, each once, in registration order."""
    seen: dict[str, Any] = {}
    for blueprint in blueprints:
        module = sys.modules.get(blueprint.import_name)
        if module is not None:
            seen.setdefault(module.__name__, module)
    return list(seen.values())


def _merge_path(paths: dict[str, dict[str, Any]], path: str, item: Mapping[str, Any], owner: str) -> None:
    merged = paths.setdefault(path, {})
    for key, value in item.items():
        if key in merged and merged[key] != value:
            raise OpenApiConflict(f"{owner}: {key.upper()} {path} is already documented by another module")
        merged[key] = value


def _used_security(items: Iterable[Mapping[str, Any]]) -> set[str]:
    used: set[str] = set()
    for item in items:
        for operation in item.values():
            if isinstance(operation, Mapping):
                for requirement in operation.get("security", ()):
                    used.update(requirement)
    return used
