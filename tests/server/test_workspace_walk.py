"""Workspaces as an attacker tries them: a real server with two workspaces, runs (with
metrics, logs, artifacts, children and a flow) in workspace A, and every operation of the
server's OpenAPI document — plus the UI pages and the MLflow API when present — called with
workspace B's read token and then its write token, aimed at A's ids.

Each answer must be a refusal (403/404, 422 for a body the route cannot use) or, for a route
that lists or aggregates, B's own (empty) data: no answer may carry anything of A that B did
not send itself. Afterwards A's runs are exactly as they were, and none of B's runs points
at one of A's."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx
import pytest
from workspaces import TOKENS

pytestmark = pytest.mark.slow


#: What only workspace A holds (none of it is ever sent by B, except the ids and names it
#: aims at, which an answer may echo).
SECRET_NAME = "alpha-secret/train"
SECRET_CONFIG = "alpha-config-value-5c1"
SECRET_VALUE = 31337.25
SECRET_LOG = "alpha-log-line-7f3a"
SECRET_BODY = b"<html><script>alert(1)</script>alpha-artifact-body-91d</html>"
SECRET_TAG = "alpha-tag-e2"
SECRET_FLOW = "alphaflow"
SECRET_FLOW_CMD = "alpha-flow-command-0b"
SECRET_HOOK = "http://127.0.0.1:9/alpha-hook-4d"


class Api:
    """A client for one token."""

    def __init__(self, url: str, token: str) -> None:
        self.client = httpx.Client(base_url=url, timeout=30,
                                   headers={"Authorization": f"Bearer {token}"})

    def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.client.request(method, path, **kwargs)
        assert response.status_code < 300, (method, path, response.status_code, response.text)
        return response.json() if response.content else None

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()


def _workspace_a(api: Api) -> dict[str, Any]:
    """Fill workspace A; return its ids."""
    parent = api.ok("POST", "/api/v1/runs", json={
        "name": SECRET_NAME, "status": "running", "config": {"secret": SECRET_CONFIG},
        "tags": [SECRET_TAG]})
    child = api.ok("POST", "/api/v1/runs", json={
        "name": f"{SECRET_NAME}/seed-1", "status": "running", "parent_id": parent["id"],
        "kind": "seed"})
    for run in (parent, child):
        api.ok("POST", f"/api/v1/runs/{run['id']}/metrics",
               json={"points": [{"key": "alpha_metric", "value": SECRET_VALUE, "step": 0}]})
        api.ok("POST", f"/api/v1/runs/{run['id']}/logs", json={"lines": [{"text": SECRET_LOG}]})
    digest = hashlib.sha256(SECRET_BODY).hexdigest()
    api.ok("PUT", f"/api/v1/blobs/{digest}", content=SECRET_BODY)
    art = api.ok("POST", f"/api/v1/runs/{parent['id']}/artifacts", json={
        "name": "report.html", "kind": "file", "digest": digest, "size": len(SECRET_BODY),
        "created_at": 1.0})
    folder = api.ok("POST", f"/api/v1/runs/{parent['id']}/artifacts", json={
        "name": "bundle", "kind": "folder", "digest": "0" * 64, "size": len(SECRET_BODY),
        "created_at": 2.0, "files": [{"path": "x.html", "digest": digest,
                                      "size": len(SECRET_BODY)}]})
    api.ok("POST", "/api/v1/flows", json={"name": SECRET_FLOW,
                                          "spec": {"command": ["echo", SECRET_FLOW_CMD]}})
    api.ok("POST", "/api/v1/schedules", json={  # yearly: never fires during the walk
        "name": SECRET_FLOW, "cron": "0 3 1 1 *",
        "spec": {"command": ["echo", SECRET_FLOW_CMD]}})
    api.ok("POST", "/api/v1/alerts", json={"name": SECRET_FLOW, "on": ["failed"],
                                           "url": SECRET_HOOK})
    done = api.ok("POST", "/api/v1/runs", json={"name": f"{SECRET_NAME}-done",
                                                "status": "running"})
    api.ok("POST", f"/api/v1/runs/{done['id']}/transitions", json={"to": "failed"})
    return {"run": parent["id"], "child": child["id"], "done": done["id"],
            "artifact": art["id"], "folder": folder["id"], "digest": digest}


def _snapshot(api: Api, ids: dict[str, Any]) -> Any:
    """Everything A can see of its runs (to check that B changed nothing)."""
    out = {}
    for key in ("run", "child", "done"):
        run_id = ids[key]
        rec = api.ok("GET", f"/api/v1/runs/{run_id}")
        rec.pop("duration_s", None)
        out[key] = {
            "record": rec,
            "metrics": api.ok("GET", f"/api/v1/runs/{run_id}/metrics"),
            "logs": api.ok("GET", f"/api/v1/runs/{run_id}/logs"),
            "artifacts": api.ok("GET", f"/api/v1/runs/{run_id}/artifacts"),
        }
    out["runs"] = sorted(r["id"] for r in api.ok("GET", "/api/v1/runs",
                                                 params={"limit": 1000})["runs"])
    out["flow"] = api.ok("GET", f"/api/v1/flows/{SECRET_FLOW}")
    out["schedules"] = api.ok("GET", "/api/v1/schedules")
    # a rule's cursor (the last event id matched) moves with any workspace's events
    out["alerts"] = [{k: v for k, v in rule.items() if k != "cursor"}
                     for rule in api.ok("GET", "/api/v1/alerts")["alerts"]]
    return out


# -- filling an operation's inputs with A's ids ------------------------------------------------

def _path(template: str, ids: dict[str, Any]) -> str:
    values = {"run_id": ids["run"], "key": "alpha_metric", "artifact_id": str(ids["artifact"]),
              "digest": ids["digest"], "name": SECRET_FLOW}
    for name, value in values.items():
        template = template.replace("{" + name + "}", value)
    assert "{" not in template, f"no value for a path parameter of {template}"
    return template


def _query(params: list[dict[str, Any]], ids: dict[str, Any]) -> dict[str, Any]:
    a_ids = f"{ids['run']},{ids['child']}"
    values = {"ids": a_ids, "parent": ids["run"], "root": ids["run"], "run_id": ids["run"],
              "since": "0", "limit": "100", "timeout": "1", "with_total": "true",
              "include_archived": "true", "all": "true", "created_after": "0"}
    return {p["name"]: values[p["name"]] for p in params
            if p.get("in") == "query" and p["name"] in values}


def _resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        return _resolve(components[schema["$ref"].rsplit("/", 1)[-1]], components)
    for option in schema.get("anyOf", []):
        if option.get("type") != "null":
            return _resolve(option, components)
    return schema


#: Body fields that name a run, filled with A's ids.
ID_FIELDS = ("parent_id", "retry_of", "replay_of", "root_id", "run_id", "id")


def _from_schema(schema: dict[str, Any], components: dict[str, Any],
                 ids: dict[str, Any]) -> dict[str, Any]:
    """A body for an operation no case below covers: required fields with plain values, every
    field that names a run filled with A's ids."""
    schema = _resolve(schema, components)
    body: dict[str, Any] = {}
    for name, prop in schema.get("properties", {}).items():
        prop = _resolve(prop, components)
        if name in ID_FIELDS:
            body[name] = ids["run"]
        elif name.endswith("_ids") or name == "ids":
            body[name] = [ids["run"], ids["child"]]
        elif name in schema.get("required", []):
            body[name] = {"string": "x", "integer": 1, "number": 1.0, "boolean": False,
                          "array": [], "object": {}}.get(prop.get("type", "string"), "x")
    return body


def _bodies(method: str, path: str, ids: dict[str, Any]) -> list[Any] | None:
    """Hand-made bodies where a schema says too little (each is tried)."""
    a, child, done = ids["run"], ids["child"], ids["done"]
    record = {"id": "0190a000-0000-7000-8000-00000000b001", "name": "b/imported",
              "status": "completed", "created_at": 1.0,
              "transitions": [{"from": None, "to": "running", "at": 1.0},
                              {"from": "running", "to": "completed", "at": 2.0}]}
    cases: dict[tuple[str, str], list[Any]] = {
        ("POST", "/api/v1/runs"): [
            {"name": "b/child", "parent_id": a}, {"name": "b/retry", "retry_of": done},
            {"name": "b/replay", "replay_of": done},
            {"name": "b/both", "retry_of": done, "replay_of": a, "attempt": 2}],
        ("POST", "/api/v1/runs/import"): [
            {"record": {**record, "parent_id": a}},
            {"record": {**record, "id": record["id"][:-1] + "2", "root_id": a}},
            {"record": {**record, "id": record["id"][:-1] + "3", "retry_of": done}},
            {"record": {**record, "id": record["id"][:-1] + "4", "replay_of": a}},
            {"record": {**record, "id": record["id"][:-1] + "5"},
             "artifacts": [{"name": "stolen.html", "kind": "file", "digest": ids["digest"],
                            "size": len(SECRET_BODY), "created_at": 1.0}]},
            {"record": {**record, "id": a}}],
        ("POST", "/api/v1/runs/{run_id}/transitions"): [{"to": "canceled"}],
        ("POST", "/api/v1/runs/{run_id}/metrics"): [
            {"points": [{"key": "alpha_metric", "value": 1.0, "step": 1}]}],
        ("POST", "/api/v1/runs/{run_id}/logs"): [{"lines": [{"text": "from b"}]}],
        ("POST", "/api/v1/runs/{run_id}/batch"): [
            {"summary": {"x": 1}, "logs": [[1.0, "log", "from b"]]}],
        ("POST", "/api/v1/runs/{run_id}/artifacts"): [
            {"name": "b.txt", "kind": "file", "digest": ids["digest"],
             "size": len(SECRET_BODY), "created_at": 1.0}],
        ("PUT", "/api/v1/blobs/{digest}"): [b"not the content"],
        ("POST", "/api/v1/flows/{name}/runs"): [{}, None],
        ("POST", "/api/v1/flows"): [{"name": SECRET_FLOW, "spec": {"command": ["true"]}}],
        ("POST", "/api/v1/metrics/latest"): [{"run_ids": [a, child]}],
        ("POST", "/api/v1/runs/referrers"): [{"run_ids": [a]}, {"run_ids": [child]}],
        ("POST", "/api/v1/runs/remove"): [{"run_ids": [done]}, {"run_ids": [a],
                                                               "dry_run": True}],
        ("POST", "/api/v1/runs/purge"): [{"run_ids": [done, child]}],
        ("POST", "/api/v1/queue/claim"): [{"worker": "b"}],
        ("POST", "/api/v1/schedules"): [
            {"name": SECRET_FLOW, "cron": "0 3 1 1 *", "flow": SECRET_FLOW},
            {"name": "b-sched", "cron": "0 3 1 1 *", "spec": {"command": ["true"]}}],
        ("POST", "/api/v1/alerts"): [{"name": "b-alert", "on": ["failed"],
                                      "url": "http://127.0.0.1:9/b"}],
    }
    return cases.get((method, path))


def _calls(spec: dict[str, Any], ids: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """``(method, url, request kwargs)`` for every operation in the document."""
    components = spec.get("components", {}).get("schemas", {})
    calls = []
    for template, operations in spec["paths"].items():
        for method, op in operations.items():
            method = method.upper()
            url = _path(template, ids)
            params = _query(op.get("parameters", []), ids)
            bodies = _bodies(method, template, ids)
            content = op.get("requestBody", {}).get("content", {})
            if bodies is None:
                schema = content.get("application/json", {}).get("schema")
                bodies = [_from_schema(schema, components, ids) if schema else None]
            for body in bodies:
                kwargs: dict[str, Any] = {"params": params}
                if isinstance(body, bytes):
                    kwargs["content"] = body
                elif body is not None:
                    kwargs["json"] = body
                calls.append((method, url, kwargs))
    return calls


def _extra_calls(spec_paths: dict[str, Any], ids: dict[str, Any]
                 ) -> list[tuple[str, str, dict[str, Any]]]:
    """Routes outside the OpenAPI document: the UI pages, and MLflow's API when served."""
    a, child = ids["run"], ids["child"]
    calls: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", "/", {"params": {"where": f'id = "{a}"'}}), ("GET", f"/runs/{a}", {}),
        ("GET", "/compare", {"params": {"ids": f"{a},{child}"}}), ("GET", "/history", {}),
        ("GET", "/metrics", {})]
    mlflow = "/api/2.0/mlflow"
    calls += [("GET", f"{mlflow}/runs/get", {"params": {"run_id": a}}),
              ("POST", f"{mlflow}/runs/search", {"json": {"max_results": 100}}),
              ("GET", f"{mlflow}/metrics/get-history",
               {"params": {"run_id": a, "metric_key": "alpha_metric"}}),
              ("POST", f"{mlflow}/runs/log-metric",
               {"json": {"run_id": a, "key": "m", "value": 1, "timestamp": 1}}),
              ("POST", f"{mlflow}/runs/update", {"json": {"run_id": a, "status": "KILLED"}}),
              ("POST", f"{mlflow}/runs/delete", {"json": {"run_id": a}}),
              ("GET", "/api/2.0/mlflow-artifacts/artifacts", {"params": {"path": a}})]
    return calls


def _leaks(response: httpx.Response, sent: str, secrets: list[str]) -> list[str]:
    text = response.content.decode("utf-8", "replace")
    return [s for s in secrets if s in text and s not in sent]


@pytest.mark.parametrize("two_workspaces", ["sqlite", "postgresql"], indirect=True)
def test_another_workspace_reaches_nothing_of_a_on_any_route(two_workspaces: Any) -> None:
    url = two_workspaces.url
    a = Api(url, TOKENS["a"])
    ids = _workspace_a(a)
    before = _snapshot(a, ids)
    spec = httpx.get(f"{url}/openapi.json", headers={
        "Authorization": f"Bearer {TOKENS['b_read']}"}).json()
    calls = _calls(spec, ids) + _extra_calls(spec["paths"], ids)
    assert len(calls) > 40
    all_ids = [ids["run"], ids["child"], ids["done"]]
    secrets = [*all_ids, SECRET_NAME, SECRET_CONFIG, str(SECRET_VALUE), SECRET_LOG,
               "alpha-artifact-body", SECRET_TAG, SECRET_FLOW_CMD, ids["digest"],
               "alpha-hook"]
    problems: list[str] = []
    for role in ("b_read", "b"):
        headers = {"Authorization": f"Bearer {TOKENS[role]}"}
        with httpx.Client(base_url=url, timeout=30, headers=headers) as client:
            for method, path, kwargs in calls:
                response = client.request(method, path, **kwargs)
                sent = path + json.dumps(kwargs.get("params") or {}) \
                    + json.dumps(kwargs.get("json")) + repr(kwargs.get("content"))
                where = f"{role} {method} {path} {kwargs.get('json') or ''}"[:300]
                if response.status_code >= 500:
                    problems.append(f"{where} → {response.status_code}: {response.text[:200]}")
                elif response.status_code < 300 and any(
                        i in sent for i in all_ids) and method != "GET" \
                        and not path.endswith(("/purge", "/remove", "/referrers", "/latest")):
                    problems.append(f"{where} → {response.status_code} (accepted A's id): "
                                    f"{response.text[:200]}")
                leaked = _leaks(response, sent, secrets)
                if leaked:
                    problems.append(f"{where} → {response.status_code} shows A's {leaked}: "
                                    f"{response.text[:300]}")
    after = _snapshot(a, ids)
    a.close()
    assert problems == [], "\n".join(problems)
    assert after == before
    b = Api(url, TOKENS["b_read"])
    b_runs = b.ok("GET", "/api/v1/runs", params={"limit": 1000})
    b.close()
    for run in b_runs["runs"]:
        for field in ("parent_id", "root_id", "retry_of", "replay_of"):
            assert run.get(field) not in all_ids, (field, run)


def test_only_healthz_and_the_page_shells_answer_without_a_token(two_workspaces: Any) -> None:
    url = two_workspaces.url
    assert httpx.get(f"{url}/healthz").status_code == 200
    for path in ("/metrics", "/api/v1/runs", "/api/v1/events", "/api/v1/flows"):
        response = httpx.get(f"{url}{path}")
        assert response.status_code == 401, path
        assert response.json()["code"] == "unauthorized"
    page = httpx.get(f"{url}/")  # the shell only: its data requests carry the token
    assert page.status_code == 200 and "content-security-policy" in page.headers
    with httpx.Client(headers={"Authorization": f"Bearer {TOKENS['b_read']}"}) as b:
        assert b.get(f"{url}/metrics").status_code == 200


def test_ids_of_another_workspace_in_a_body_are_refused_by_name(two_workspaces: Any) -> None:
    url = two_workspaces.url
    a, b = Api(url, TOKENS["a"]), Api(url, TOKENS["b"])
    run = a.ok("POST", "/api/v1/runs", json={"name": "a/run", "status": "running"})
    a.ok("POST", f"/api/v1/runs/{run['id']}/metrics",
         json={"points": [{"key": "acc", "value": 0.9, "step": 0}]})
    for field in ("parent_id", "retry_of", "replay_of"):
        response = b.client.post("/api/v1/runs", json={"name": "b/x", field: run["id"]})
        assert response.status_code == 403, response.text
        assert response.json()["field"] == field
    record = {"id": "0190a000-0000-7000-8000-00000000e001", "name": "b/imp",
              "status": "queued", "created_at": 1.0}
    for field in ("parent_id", "root_id", "retry_of", "replay_of"):
        response = b.client.post("/api/v1/runs/import",
                                 json={"record": {**record, field: run["id"]}})
        assert response.status_code == 403, response.text
        assert response.json()["field"] == f"record.{field}"
    # an id no workspace has is fine for an import (its parent may not have been exported)
    assert b.client.post("/api/v1/runs/import", json={"record": {
        **record, "parent_id": "0190a000-0000-7000-8000-0000000000ff"}}).status_code == 201
    latest = b.ok("POST", "/api/v1/metrics/latest", json={"run_ids": [run["id"], "nope"]})
    assert latest == {run["id"]: {}, "nope": {}}
    assert a.ok("POST", "/api/v1/metrics/latest", json={"run_ids": [run["id"]]}) == {
        run["id"]: {"acc": 0.9}}
    assert [r["name"] for r in b.ok("GET", "/api/v1/runs")["runs"]] == ["b/imp"]
    a.close()
    b.close()
