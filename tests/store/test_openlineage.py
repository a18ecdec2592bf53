"""OpenLineage: the process that commits a transition emits a RunEvent through the
``openlineage-python`` client (file or HTTP transport), without ever blocking or failing the
run when the endpoint is down."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from processes import Receiver, ServerProcess, free_port

pytest.importorskip("openlineage.client")
jsonschema = pytest.importorskip("jsonschema")

# The client package ships no JSON schema file, so this is the RunEvent of the OpenLineage
# spec (2-0-2, https://openlineage.io/spec/2-0-2/OpenLineage.json) written out: the required
# fields, their formats, the event types, and the base shape of every facet.
_FACET = {"type": "object", "required": ["_producer", "_schemaURL"],
          "properties": {"_producer": {"type": "string", "format": "uri"},
                         "_schemaURL": {"type": "string", "format": "uri"}}}
_FACETS = {"type": "object", "additionalProperties": _FACET}
_DATASET = {"type": "object", "required": ["namespace", "name"],
            "properties": {"namespace": {"type": "string"}, "name": {"type": "string"},
                           "facets": _FACETS, "inputFacets": _FACETS,
                           "outputFacets": _FACETS}}
RUN_EVENT = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["eventTime", "producer", "schemaURL", "run", "job"],
    "properties": {
        "eventTime": {"type": "string", "format": "date-time"},
        "producer": {"type": "string", "format": "uri"},
        "schemaURL": {"type": "string", "format": "uri"},
        "eventType": {"enum": ["START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER"]},
        "run": {"type": "object", "required": ["runId"],
                "properties": {"runId": {"type": "string", "format": "uuid"},
                               "facets": _FACETS}},
        "job": {"type": "object", "required": ["namespace", "name"],
                "properties": {"namespace": {"type": "string"}, "name": {"type": "string"},
                               "facets": _FACETS}},
        "inputs": {"type": "array", "items": _DATASET},
        "outputs": {"type": "array", "items": _DATASET},
    },
}

SCRIPT = """
import picidae, sys
parent = picidae.init("pipeline", store=sys.argv[1])
run = parent.child("train")
run.use_input("imagenet", version="2012-v3", path_or_uri="s3://datasets/imagenet")
run.output("model", {"version": "v7", "uri": "s3://models/resnet"})
run.log(loss=0.5).finish()
parent.finish()
"""


def _events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _run(store: str, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    return subprocess.run([sys.executable, str(script), store], env=env, capture_output=True,
                          text=True, timeout=120, check=False)


def _check(events: list[dict[str, Any]]) -> None:
    validator = jsonschema.Draft202012Validator(
        RUN_EVENT, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    for event in events:
        validator.validate(event)
    train = [e for e in events if e["job"]["name"] == "pipeline/train"]
    kinds = [e["eventType"] for e in train]
    assert kinds[0] == "START" and kinds[-1] == "COMPLETE", kinds
    done = train[-1]
    assert [(d["namespace"], d["name"], d["facets"]["version"]["datasetVersion"])
            for d in done["inputs"]] == [("s3://datasets", "imagenet", "2012-v3")]
    assert [(d["namespace"], d["name"], d["facets"]["version"]["datasetVersion"])
            for d in done["outputs"]] == [("s3://models", "model", "v7")]
    [parent_done] = [e for e in events if e["job"]["name"] == "pipeline"
                     and e["eventType"] == "COMPLETE"]
    facet = done["run"]["facets"]["parent"]
    assert facet["run"]["runId"] == parent_done["run"]["runId"]
    assert facet["job"] == {"namespace": "picidae", "name": "pipeline", "facets": {}}
    picidae_facet = done["run"]["facets"]["picidae"]
    assert picidae_facet["id"] == done["run"]["runId"]  # Picidae ids are UUIDs already
    assert picidae_facet["status"] == "completed"


def test_an_embedded_run_writes_start_and_complete_to_the_file(
        tmp_path: Path, subprocess_env: dict[str, str]) -> None:
    lineage = tmp_path / "lineage.jsonl"
    proc = _run(str(tmp_path / "store"), {**subprocess_env,
                                          "PICIDAE_OPENLINEAGE_FILE": str(lineage)}, tmp_path)
    assert proc.returncode == 0, proc.stderr
    _check(_events(lineage))


def test_a_server_emits_for_the_runs_behind_it(tmp_path: Path,
                                               subprocess_env: dict[str, str]) -> None:
    lineage = tmp_path / "lineage.jsonl"
    server = ServerProcess(str(tmp_path / "store"), {
        **subprocess_env, "PICIDAE_OPENLINEAGE_FILE": str(lineage)}).start()
    try:
        proc = _run(server.url, subprocess_env, tmp_path)  # the client emits nothing itself
        assert proc.returncode == 0, proc.stderr
    finally:
        server.stop()
    _check(_events(lineage))


def test_events_go_to_an_http_endpoint(tmp_path: Path, subprocess_env: dict[str, str]) -> None:
    receiver = Receiver().start()
    try:
        proc = _run(str(tmp_path / "store"), {**subprocess_env,
                                              "PICIDAE_OPENLINEAGE_URL": receiver.url}, tmp_path)
    finally:
        receiver.stop()
    assert proc.returncode == 0, proc.stderr
    assert {path for path, _ in receiver.posts} == {"/api/v1/lineage"}
    _check([body for _, body in receiver.posts])


def test_an_endpoint_that_is_down_never_fails_the_run(
        tmp_path: Path, subprocess_env: dict[str, str]) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    proc = _run(str(tmp_path / "store"), {**subprocess_env, "PICIDAE_OPENLINEAGE_URL": down},
                tmp_path)
    assert proc.returncode == 0, proc.stderr
    import picidae

    [train] = picidae.runs(store=str(tmp_path / "store"), name="pipeline/train")
    assert train.status == "completed"


def test_import_picidae_loads_no_openlineage(subprocess_env: dict[str, str]) -> None:
    code = ("import sys, picidae; picidae.init('x', store=sys.argv[1]).finish(); "
            "print(sorted(m for m in sys.modules if m.startswith(('openlineage', 'httpx'))))")
    proc = subprocess.run([sys.executable, "-c", code, str(Path(subprocess_env["PICIDAE_HOME"])
                                                          / "s")],
                          env=subprocess_env, capture_output=True, text=True, timeout=60,
                          check=True)
    assert proc.stdout.strip() == "[]"
