"""Schemathesis against ``/openapi.json``: generated requests, valid and not, to every
operation of the app over a fresh store, without tokens and with a write token. None may get
a 5xx (``not_a_server_error``), every answer must match the response schema the document
gives for its status (``response_schema_conformance``), and every refusal (4xx) is the JSON
``{code, message, field}`` body."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import response_schema_conformance

from picidae.server.app import create_app
from picidae.server.auth import Grant, digest

pytestmark = pytest.mark.slow

#: Examples per operation and mode: enough to reach the odd corners; the run stays short.
EXAMPLES = 6

TOKEN = "schemathesis-write-token"
CHECKS = [not_a_server_error, response_schema_conformance]


def _problem(case: Any, response: Any) -> str | None:
    status = response.status_code
    if status >= 500:
        return f"{case.method} {case.formatted_path} → {status}: {response.text[:300]}"
    if 400 <= status < 500 and status != 405 and case.method.upper() != "HEAD":
        try:
            body = response.json()
        except ValueError:
            body = None
        if not (isinstance(body, dict) and {"code", "message", "field"} <= body.keys()):
            return f"{case.method} {case.formatted_path} → {status} without an error body: " \
                   f"{response.text[:200]}"
    return None


#: Operations left out, and why.
SKIP = {
    # hourly buckets over up to ten years: slow by design of its limits (reported to the UI
    # work), not a server error
    ("GET", "/api/v1/ui/history"),
}


def _failures(case: Any, response: Any) -> str | None:
    try:
        case.validate_response(response, checks=CHECKS)
    except FailureGroup as group:
        return f"{case.method} {case.formatted_path} → {response.status_code}: " + "; ".join(
            f"{f.title}: {f.message}"[:300] for f in group.exceptions)
    except AssertionError as exc:
        return f"{case.method} {case.formatted_path} → {response.status_code}: {exc}"[:400]
    return None


@pytest.mark.parametrize("token", [None, TOKEN], ids=["no-token", "write-token"])
def test_no_generated_request_gets_a_server_error(tmp_path: Path, token: str | None) -> None:
    tokens = {digest(TOKEN): Grant("team", "write", "schemathesis")} if token else None
    app = create_app(str(tmp_path / "store"), watchdog=False, tokens=tokens)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    with TestClient(app, headers=headers) as client:  # a run to aim at, past the 404
        run = client.post("/api/v1/runs", json={"name": "target", "status": "running"}).json()
        client.post(f"/api/v1/runs/{run['id']}/metrics",
                    json={"points": [{"key": "loss", "value": 0.5, "step": 0}]})
    problems: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 10
    for operation in operations:
        if (operation.method.upper(), operation.path) in SKIP:
            continue
        aims: list[dict[str, str] | None] = [None]
        if "{run_id}" in operation.path:
            aims.append({"run_id": run["id"]})
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            for aim in aims:
                @given(case=operation.as_strategy(generation_mode=mode, path_parameters=aim))
                @settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                          database=None, suppress_health_check=list(HealthCheck))
                def probe(case: Any) -> None:
                    if case.path.endswith("/events"):  # a stream: make it end at once
                        case.query = {**(case.query or {}), "timeout": 0.01, "limit": 1}
                    try:
                        response = case.call(headers=headers)
                        problem = _problem(case, response) or _failures(case, response)
                    except Exception as exc:  # the app raised through the test transport
                        problem = (f"{case.method} {case.formatted_path} raised "
                                   f"{type(exc).__name__}: {exc}"[:400])
                    if problem and problem not in problems:
                        problems.append(problem)

                try:
                    probe()
                except Unsatisfiable:  # nothing invalid to send (an operation without inputs)
                    continue
    assert problems == [], "\n".join(problems)
