"""The OpenAPI document at /api/openapi.json: valid OpenAPI 3.0.3, and in step with the app's routes.

A route added under /api (or /metrics) without an entry in its module's ``OPENAPI_PATHS`` fails here,
and so does documentation left behind by a route that was removed or renamed.
"""

from __future__ import annotations

import re
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Blueprint, jsonify

import kiosk
from web import create_app
from web.openapi import OpenApiConflict, build_document

from .idle_app import idle_demo_app, openapi_path, rule_operations

SELF = "/api/openapi.json"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Any]:
    with idle_demo_app(tmp_path / "demo", checkpoint=False) as (app, _kiosk, _clock):
        yield app


def documented_operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    """Every (METHOD, OpenAPI path) the document describes."""
    return {(method.upper(), path) for path, item in document["paths"].items()
            for method in item if method in HTTP_METHODS}


def routed_operations(app: Any) -> set[tuple[str, str]]:
    """Every (METHOD, OpenAPI path) of the app that must be documented: /api (but this document) and /metrics."""
    return {(method, openapi_path(rule)) for method, rule in rule_operations(app)
            if (rule.startswith("/api/") and rule != SELF) or rule == "/metrics"}


def drift(app: Any) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """(routes without documentation, documentation without a route)."""
    documented, routed = documented_operations(build_document(app)), routed_operations(app)
    return routed - documented, documented - routed


def test_every_api_route_is_documented_and_every_documented_operation_is_routed(app: Any) -> None:
    """The document and the url_map name the same operations (converters become {name})."""
    undocumented, unrouted = drift(app)
    assert not undocumented, f"routes under /api without OPENAPI_PATHS entries: {sorted(undocumented)}"
    assert not unrouted, f"OPENAPI_PATHS entries without a route: {sorted(unrouted)}"
    assert ("POST", "/api/v1/resident/lines/{index}/remove") in documented_operations(build_document(app))


def test_the_drift_check_catches_an_undocumented_route_and_a_stale_entry(app: Any) -> None:
    """GIVEN a blueprint whose module documents a route it does not have and has one it does not document
    THEN both show up, and its documented schemas are merged into the document."""
    module = types.ModuleType("tests.web._drift_probe")
    module.OPENAPI_PATHS = {"/api/v1/probe/gone": {"get": {"responses": {"200": {"description": "x"}}}}}
    module.OPENAPI_SCHEMAS = {"ProbeThing": {"type": "object"}}
    probe = Blueprint("probe", module.__name__, url_prefix="/api/v1/probe")
    probe.add_url_rule("/<int:n>", "new", lambda n: jsonify(n=n), methods=["POST"])
    sys.modules[module.__name__] = module
    try:
        app.register_blueprint(probe)
        undocumented, unrouted = drift(app)
        assert undocumented == {("POST", "/api/v1/probe/{n}")}
        assert unrouted == {("GET", "/api/v1/probe/gone")}
        assert "ProbeThing" in build_document(app)["components"]["schemas"]
    finally:
        del sys.modules[module.__name__]


def test_two_modules_documenting_one_operation_differently_is_an_error(app: Any) -> None:
    """A second module may add methods to a path, never redefine an operation or a schema."""
    module = types.ModuleType("tests.web._clash_probe")
    module.OPENAPI_PATHS = {"/api/v1/state": {"get": {"responses": {"200": {"description": "other"}}}}}
    sys.modules[module.__name__] = module
    try:
        app.register_blueprint(Blueprint("clash", module.__name__))
        with pytest.raises(OpenApiConflict, match="GET /api/v1/state"):
            build_document(app)
        module.OPENAPI_PATHS = {}
        module.OPENAPI_SCHEMAS = {"StateSnapshot": {"type": "string"}}
        with pytest.raises(OpenApiConflict, match="StateSnapshot"):
            build_document(app)
    finally:
        del sys.modules[module.__name__]


def test_document_is_served_to_anyone_and_names_the_version_and_the_sign_in_model(app: Any) -> None:
    """GET /api/openapi.json needs no session; it carries the kiosk's version and the security schemes."""
    response = app.test_client().get(SELF)
    assert response.status_code == 200 and response.mimetype == "application/json"
    document = response.get_json()
    assert document["openapi"] == "3.0.3"
    assert document["info"]["version"] == kiosk.__version__
    schemes = document["components"]["securitySchemes"]
    assert schemes["session"] == {**schemes["session"], "type": "apiKey", "in": "cookie", "name": "kiosk_session"}
    assert schemes["csrf"] == {**schemes["csrf"], "type": "apiKey", "in": "header", "name": "X-CSRF-Token"}
    if ("GET", "/metrics") in documented_operations(document):
        assert schemes["metricsToken"]["scheme"] == "bearer"


def test_document_is_valid_openapi_3_0(app: Any) -> None:
    """The official OpenAPI 3.0 JSON schema (as schemathesis ships it) accepts the document."""
    from schemathesis.specs.openapi.definitions import OPENAPI_30_VALIDATOR

    document = build_document(app)
    errors = [f"{'/'.join(map(str, e.instance_path))}: {e.message}" for e in OPENAPI_30_VALIDATOR.iter_errors(document)]
    hint = ("\n(OpenAPI 3.0 schemas are JSON Schema draft 4 with `nullable`: a `required` list needs at least one "
            "name, and `type` is one string)")
    assert not errors, "\n".join(errors[:20]) + hint
    broken = dict(document, paths={"/x": {"get": {"responses": "none"}}})
    assert any(True for _ in OPENAPI_30_VALIDATOR.iter_errors(broken))      # the validator does validate


def test_every_operation_is_complete(app: Any) -> None:
    """Each operation has a unique operationId, an explicit ``security``, a success response, every
    path variable declared as a required path parameter, and only $refs that resolve."""
    document = build_document(app)
    problems: list[str] = []
    seen: dict[str, str] = {}
    for path, item in document["paths"].items():
        for method, op in ((m, o) for m, o in item.items() if m in HTTP_METHODS):
            label = f"{method.upper()} {path}"
            if op.get("operationId") in seen or not op.get("operationId"):
                problems.append(f"{label}: operationId missing or shared with {seen.get(op.get('operationId'))}")
            seen[op.get("operationId", "")] = label
            if "security" not in op:
                problems.append(f"{label}: no explicit security (PUBLIC, SESSION or SESSION_CSRF)")
            if not any(code.startswith(("2", "3")) for code in op.get("responses", {})):
                problems.append(f"{label}: no success response")
            declared = {p["name"] for p in item.get("parameters", []) + op.get("parameters", [])
                        if p.get("in") == "path" and p.get("required") is True}
            missing = set(re.findall(r"{([^}]+)}", path)) - declared
            if missing:
                problems.append(f"{label}: path variables {sorted(missing)} not declared as required parameters")
    problems += [f"unresolved $ref {ref}" for ref in sorted(_refs(document)) if not _resolves(document, ref)]
    assert not problems, "\n".join(problems)


def test_a_dangling_ref_is_caught(app: Any) -> None:
    """The $ref check above is not vacuous."""
    document = build_document(app)
    assert _resolves(document, "#/components/schemas/StateSnapshot")
    assert not _resolves(document, "#/components/schemas/NoSuchThing")
    assert "#/components/schemas/StateSnapshot" in _refs(document)


def test_snapshot_schema_lists_exactly_what_the_checkpoint_publishes(app: Any) -> None:
    """The documented snapshot fields are the keys of a real snapshot (additionalProperties is false)."""
    from kiosk.screen import snapshot

    schema = build_document(app)["components"]["schemas"]["StateSnapshot"]
    checkpoint = app.extensions["kiosk"].service.checkpoint
    real = {**snapshot(checkpoint, checkpoint.clock.monotonic()), "version": 1}
    assert set(schema["properties"]) == set(real) == set(schema["required"])
    assert schema["additionalProperties"] is False


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(_refs(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(value) for value in node))
    return set()


def _resolves(document: dict[str, Any], ref: str) -> bool:
    if not ref.startswith("#/"):
        return False
    node: Any = document
    for part in ref[2:].split("/"):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def test_snapshots_of_a_real_session_match_the_documented_schema(demo: Any) -> None:
    """GIVEN the started demo WHEN a resident is identified and scans known and unknown goods and confirms
    THEN every snapshot the API answers matches StateSnapshot (fuzzing only sees the idle kiosk), and a
    snapshot carrying one more field (say the full ID number) would not."""
    import json

    import schemathesis

    from .conftest import wait_for

    kiosk, panel = demo
    app = create_app({"TESTING": True}, service=kiosk, sim=panel)
    client = app.test_client()
    state = schemathesis.openapi.from_wsgi(SELF, app)["/api/v1/state"]["GET"]
    seen: list[Any] = []

    def snapshot() -> dict[str, Any]:
        seen.append(client.get("/api/v1/state"))
        return dict(seen[-1].get_json())

    panel.place_card("eligible")
    wait_for(lambda: snapshot()["phase"] == "identified", "identified", timeout=10)
    for code in ("4870204100013", "4879999000119"):            # flour, and a barcode not in the catalog
        panel.scan(code)
    wait_for(lambda: len(snapshot()["lines"]) == 2, "two basket lines", timeout=10)
    seen.append(client.post("/api/v1/resident/confirm", json={}))
    assert seen[-1].get_json()["phase"] == "referred"
    last = seen[-2].get_json()
    assert last["resident"] and last["quota"] and {line["known"] for line in last["lines"]} == {True, False}
    for response in seen:
        state.validate_response(response)
    leaky = seen[-2]
    leaky.set_data(json.dumps({**last, "id_number": "654201198503120046"}))
    assert not state.is_valid_response(leaky)
