"""Property-based fuzzing of the whole JSON API from its OpenAPI document (schemathesis + Hypothesis).

Every documented operation gets schema-valid and schema-violating requests, three times: with no
session, as a signed-in officer and as a signed-in technician (the session cookie and the CSRF header
go on every request).  Every response must be no 5xx (a 503 the operation documents aside: a device or
the ledger that cannot do it now), a documented status code with a documented content type and a body
matching its schema, and carry the security headers.

The kiosk is the demo built on its simulators with a fake clock and no device runner started: no
relay is ever opened, so nothing can pulse the gate (asserted at the end), and the resident commands
are answered by the checkpoint's loop alone.  Bounded and derandomised: the same cases on every run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.errors import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from .idle_app import idle_demo_app
from .staff import staff_client

EXAMPLES = {GenerationMode.POSITIVE: 20, GenerationMode.NEGATIVE: 10}
"""Cases per operation and mode: with about 25 operations, three roles stay within ~60 s on 2 cores."""
STREAM_READ_S = 0.05
"""How long an event stream is read before the client leaves (streams never end by themselves)."""
ROLES = ("anonymous", "officer", "technician")


def no_server_error(ctx: Any, response: Any, case: Any) -> bool | None:
    """No 5xx, but for a 503 the operation documents: a device or the ledger that cannot do it now (here
    the devices are never started, so e.g. a manual gate release is refused with 503 gate_unavailable)."""
    status = response.status_code
    if status >= 500 and not (status == 503 and "503" in case.operation.responses.status_codes):
        raise AssertionError(f"server error {status}: {response.text[:300]}")
    return None


def security_headers(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every API response: nosniff, no framing, no referrer, and never stored by a cache."""
    headers = {name.lower(): values[0] for name, values in response.headers.items()}
    expected = {"x-content-type-options": "nosniff", "x-frame-options": "DENY",
                "referrer-policy": "no-referrer", "cache-control": "no-store"}
    wrong = {name: headers.get(name) for name, value in expected.items() if headers.get(name) != value}
    if wrong:
        raise AssertionError(f"security headers missing or wrong: {wrong}")
    return None


CHECKS: list[Callable[..., Any]] = [no_server_error, status_code_conformance, content_type_conformance,
                                    response_headers_conformance, response_schema_conformance, security_headers]


def credentials(app: Any, role: str) -> dict[str, Any]:
    """The cookie and header a signed-in browser of ``role`` sends (nothing for ``anonymous``)."""
    if role == "anonymous":
        return {}
    staff = staff_client(app, role)
    cookie = staff.client.get_cookie("kiosk_session")
    return {"cookies": {"kiosk_session": cookie.value}, "headers": {"X-CSRF-Token": staff.csrf}}


def fuzz_operation(operation: Any, mode: GenerationMode, auth: dict[str, Any]) -> str | None:
    """Run the bounded fuzz of one operation in one mode; the first failure as text, or None."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES[mode], deadline=None, derandomize=True, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    def run(case: Any) -> None:
        extra = auth.get("headers", {})
        case.call_and_validate(checks=CHECKS, headers=dict(extra), cookies=dict(auth.get("cookies", {})),
                               timeout=STREAM_READ_S)

    try:
        run()
    except Unsatisfiable:        # negative mode on an operation without parameters or body: nothing to break
        if mode is GenerationMode.POSITIVE:
            raise
    except (Exception, FailureGroup) as exc:  # check failures and app errors: collected, so one run reports all
        return f"{operation.label} [{mode.value}]: {type(exc).__name__}: {exc}"
    return None


@pytest.mark.timeout(180)
@pytest.mark.parametrize("role", ROLES)
def test_fuzzed_api_answers_within_its_documentation(tmp_path: Path, role: str) -> None:
    """GIVEN the idle demo kiosk and a client of ``role`` WHEN every operation is fuzzed THEN no response
    is a 5xx or strays from the document, and the gate relay was never pulsed."""
    with idle_demo_app(tmp_path / "demo") as (app, _kiosk, _clock):
        schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
        auth = credentials(app, role)
        started = time.monotonic()
        operations = [result.ok() for result in schema.get_all_operations()]
        failures = [failure for operation in operations for mode in EXAMPLES
                    if (failure := fuzz_operation(operation, mode, auth)) is not None]
        elapsed = time.monotonic() - started
        panel = app.extensions["kiosk"].sim
        assert panel.gate.on_periods(1) == [], "fuzzing pulsed the gate relay"
    print(f"fuzzed {len(operations)} operations as {role} in {elapsed:.1f} s")
    assert len(operations) >= 5
    assert not failures, "\n\n".join(failures)


def test_the_fuzzer_reports_an_undocumented_answer(tmp_path: Path) -> None:
    """GIVEN a route whose documentation promises a body it does not send THEN the fuzz run fails
    naming it (the checks above are live, not vacuous)."""
    with idle_demo_app(tmp_path / "demo") as (app, _kiosk, _clock):
        document = schemathesis.openapi.from_wsgi("/api/openapi.json", app).raw_schema
        document["paths"]["/api/v1/health"]["get"]["responses"]["200"]["content"]["application/json"]["schema"] = {
            "type": "object", "additionalProperties": {"type": "string"}}
        document["paths"]["/api/v1/state"]["get"]["responses"] = {"201": {"description": "never sent"}}
        failures = {label: fuzz_operation(_operation(document, app, *label.split()), GenerationMode.POSITIVE, {})
                    for label in ("GET /api/v1/health", "GET /api/v1/state")}
    assert failures["GET /api/v1/health"] and "schema" in failures["GET /api/v1/health"].lower()
    assert failures["GET /api/v1/state"] and "200" in failures["GET /api/v1/state"]


def test_a_5xx_fails_unless_documented_as_the_operations_503(tmp_path: Path) -> None:
    """GIVEN a checkpoint that never answers (its loop not started) THEN the resident command's 503 passes
    because the command documents it, and fails once that 503 is taken out of the document."""
    with idle_demo_app(tmp_path / "demo", checkpoint=False, COMMAND_TIMEOUT_S=0.02) as (app, _kiosk, _clock):
        document = schemathesis.openapi.from_wsgi("/api/openapi.json", app).raw_schema
        command = document["paths"]["/api/v1/resident/{command}"]["post"]
        assert fuzz_operation(_operation(document, app, "POST", "/api/v1/resident/{command}"),
                              GenerationMode.POSITIVE, {}) is None
        command["responses"] = {code: r for code, r in command["responses"].items() if code != "503"}
        failure = fuzz_operation(_operation(document, app, "POST", "/api/v1/resident/{command}"),
                                 GenerationMode.POSITIVE, {})
    assert failure is not None and "server error 503" in failure


def _operation(document: dict[str, Any], app: Any, method: str, path: str) -> Any:
    schema = schemathesis.openapi.from_dict(document)
    schema.app = app
    return schema[path][method]
