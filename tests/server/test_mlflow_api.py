"""MLflow's tracking API on a real ``picidae server``, driven by the real ``mlflow`` client in
a subprocess with ``MLFLOW_TRACKING_URI`` (as a user's unchanged program would be), and read
back through the client and through Picidae's own SDK."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import picidae
from processes import ServerProcess

pytest.importorskip("mlflow")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the module (each test uses experiments of its own)."""
    import os

    home = tmp_path_factory.mktemp("mlflow-server")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PICIDAE_", "MLFLOW_"))}
    env.update(PICIDAE_HOME=str(home / "home"), PICIDAE_SYSTEM_METRICS="0")
    srv = ServerProcess(str(home / "store"), env, log=home / "server.log").start()
    try:
        yield srv
    finally:
        srv.stop()


def mlflow_script(url: str, body: str, tmp_path: Path, token: str | None = None,
                  check: bool = True) -> Any:
    """Run ``body`` (Python using ``mlflow``; it sets ``out``) in a fresh interpreter pointed
    at ``url``; return ``out`` as JSON."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PICIDAE_", "MLFLOW_"))}
    env.update(MLFLOW_TRACKING_URI=url, MLFLOW_HTTP_REQUEST_MAX_RETRIES="0",
               GIT_PYTHON_REFRESH="quiet", MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false")
    if token is not None:
        env["MLFLOW_TRACKING_TOKEN"] = token
    script = tmp_path / "client.py"
    script.write_text("import json, os, mlflow\nout = None\n" + textwrap.dedent(body)
                      + "\nprint('OUT=' + json.dumps(out, default=str))\n")
    done = subprocess.run([sys.executable, str(script)], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    if check:
        assert done.returncode == 0, done.stderr[-4000:]
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("OUT=")]
    return json.loads(lines[-1][4:]) if lines else done


def test_params_metrics_tags_nested_runs_and_artifacts_read_back(
        server: ServerProcess, tmp_path: Path) -> None:
    out = mlflow_script(server.url, """
        from mlflow.entities import Metric, Param, RunTag
        import time
        mlflow.set_experiment("vision")
        os.makedirs("plots", exist_ok=True)
        open("notes.txt", "w").write("hello picidae")
        open("plots/a.csv", "w").write("1,2")
        with mlflow.start_run(run_name="baseline") as parent:
            mlflow.log_param("lr", "0.01")
            mlflow.log_params({"layers": 3, "opt": "adam"})
            for step in range(5):
                mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
            mlflow.log_metrics({"acc": 0.9, "f1": 0.8}, step=4)
            mlflow.set_tag("team", "vision")
            mlflow.set_tags({"stage": "dev", "long": "x" * 300})
            client = mlflow.MlflowClient()
            now = int(time.time() * 1000)
            client.log_batch(parent.info.run_id, metrics=[Metric("b", 2.5, now, 7)],
                             params=[Param("batch", "32")], tags=[RunTag("via", "batch")])
            with mlflow.start_run(run_name="seed-1", nested=True) as child:
                mlflow.log_metric("acc", 0.7)
            mlflow.log_artifact("notes.txt")
            mlflow.log_artifacts("plots", artifact_path="plots")
        run = mlflow.get_run(parent.info.run_id)
        kid = mlflow.get_run(child.info.run_id)
        client.delete_tag(parent.info.run_id, "stage")
        local = client.download_artifacts(parent.info.run_id, "notes.txt", "dl")
        folder = client.download_artifacts(parent.info.run_id, "plots", "dl")
        out = {
            "id": parent.info.run_id, "child": child.info.run_id,
            "status": run.info.status, "name": run.info.run_name,
            "end": run.info.end_time, "params": run.data.params,
            "metrics": run.data.metrics, "tags": run.data.tags,
            "tags_after": mlflow.get_run(parent.info.run_id).data.tags,
            "kid_parent": kid.data.tags.get("mlflow.parentRunId"),
            "history": [(m.step, m.value) for m in client.get_metric_history(
                parent.info.run_id, "loss")],
            "files": sorted(f.path for f in client.list_artifacts(parent.info.run_id)),
            "plots": sorted(f.path for f in client.list_artifacts(parent.info.run_id,
                                                                    "plots")),
            "notes": open(local).read(),
            "csv": open(os.path.join(folder, "a.csv")).read(),
        }
    """, tmp_path)
    assert out["status"] == "FINISHED" and out["name"] == "baseline" and out["end"]
    assert out["params"] == {"lr": "0.01", "layers": "3", "opt": "adam", "batch": "32"}
    assert out["metrics"] == {"loss": 0.2, "acc": 0.9, "f1": 0.8, "b": 2.5}
    assert out["tags"]["team"] == "vision" and out["tags"]["via"] == "batch"
    assert out["tags"]["long"] == "x" * 300
    assert "stage" in out["tags"] and "stage" not in out["tags_after"]
    assert out["history"] == [[s, 1.0 / (s + 1)] for s in range(5)]
    assert out["kid_parent"] == out["id"]
    assert out["files"] == ["notes.txt", "plots"]
    assert out["plots"] == ["plots/a.csv"]
    assert out["notes"] == "hello picidae" and out["csv"] == "1,2"

    # the same run through Picidae's own SDK
    rv = picidae.get_run(out["id"], store=server.url)
    assert rv.name == "vision/baseline" and rv.status == "completed"
    assert rv.config["lr"] == "0.01" and rv.config["batch"] == "32"
    assert [p.value for p in rv.metrics("loss")] == [1.0 / (s + 1) for s in range(5)]
    assert [p.step for p in rv.metrics("b")] == [7]
    assert "team=vision" in rv.tags and not any(t.startswith("stage=") for t in rv.tags)
    kid = picidae.get_run(out["child"], store=server.url)
    assert kid.parent_id == out["id"] and kid.name == "vision/seed-1"
    assert {a["name"] for a in rv.artifacts()} == {"notes.txt", "plots/a.csv"}


def test_search_experiments_and_delete_restore(server: ServerProcess, tmp_path: Path) -> None:
    out = mlflow_script(server.url, """
        from mlflow.entities import ViewType
        exp_id = mlflow.create_experiment("sweeps", tags={"owner": "ana"})
        mlflow.set_experiment(experiment_id=exp_id)
        ids = {}
        for lr, acc in (("0.01", 0.9), ("0.1", 0.6), ("0.01", 0.4), ("0.001", 0.95)):
            with mlflow.start_run(run_name=f"lr{lr}-{acc}") as r:
                mlflow.log_param("lr", lr)
                mlflow.log_metric("acc", acc)
                ids[f"{lr}-{acc}"] = r.info.run_id
        found = mlflow.search_runs([exp_id], "metrics.acc > 0.5 and params.lr = '0.01'",
                                   output_format="list")
        ordered = mlflow.search_runs([exp_id], order_by=["metrics.acc DESC"],
                                     output_format="list")
        liked = mlflow.search_runs([exp_id], "attributes.run_name LIKE 'lr0.0%'",
                                   output_format="list")
        frame = mlflow.search_runs(experiment_names=["sweeps"])
        client = mlflow.MlflowClient()
        client.delete_run(ids["0.1-0.6"])
        after_delete = [r.info.run_id for r in client.search_runs([exp_id])]
        deleted = [r.info.run_id for r in client.search_runs(
            [exp_id], run_view_type=ViewType.DELETED_ONLY)]
        stage = client.get_run(ids["0.1-0.6"]).info.lifecycle_stage
        client.restore_run(ids["0.1-0.6"])
        restored = client.get_run(ids["0.1-0.6"]).info
        exp = mlflow.get_experiment_by_name("sweeps")
        page = client.search_runs([exp_id], max_results=3)
        out = {
            "ids": ids, "exp_id": exp_id,
            "found": [r.info.run_id for r in found],
            "ordered": [r.data.metrics["acc"] for r in ordered],
            "liked": sorted(r.info.run_name for r in liked),
            "frame_rows": len(frame), "frame_cols": sorted(frame.columns)[:3],
            "after_delete": after_delete, "deleted": deleted, "stage": stage,
            "restored": [restored.status, restored.lifecycle_stage],
            "exp": [exp.experiment_id, exp.name, exp.tags],
            "missing": mlflow.get_experiment_by_name("no-such-experiment"),
            "names": sorted(e.name for e in mlflow.search_experiments()),
            "filtered": [e.name for e in mlflow.search_experiments(
                filter_string="name LIKE 'swe%'")],
            "page": [len(page), bool(page.token)],
            "next": len(client.search_runs([exp_id], max_results=3, page_token=page.token)),
        }
    """, tmp_path)
    ids = out["ids"]
    assert out["found"] == [ids["0.01-0.9"]]
    assert out["ordered"] == [0.95, 0.9, 0.6, 0.4]
    assert out["liked"] == ["lr0.001-0.95", "lr0.01-0.4", "lr0.01-0.9"]
    assert out["frame_rows"] == 4
    assert ids["0.1-0.6"] not in out["after_delete"] and len(out["after_delete"]) == 3
    assert out["deleted"] == [ids["0.1-0.6"]] and out["stage"] == "deleted"
    assert out["restored"] == ["FINISHED", "active"]
    assert out["exp"] == [out["exp_id"], "sweeps", {"owner": "ana"}]
    assert out["missing"] is None
    assert "sweeps" in out["names"] and "Default" in out["names"]
    assert out["filtered"] == ["sweeps"]
    assert out["page"] == [3, True] and out["next"] == 1
    # Picidae sees the deleted-then-restored run as it was; deletion archived it
    rv = picidae.get_run(ids["0.1-0.6"], store=server.url)
    assert rv.status == "completed"
    assert [t["to"] for t in rv.transitions][-2:] == ["archived", "completed"]


def test_sklearn_autolog_records_params_metrics_and_the_model(
        server: ServerProcess, tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    out = mlflow_script(server.url, """
        import numpy as np
        from sklearn.linear_model import LogisticRegression
        mlflow.set_experiment("auto")
        mlflow.sklearn.autolog()
        rng = np.random.default_rng(0)
        X = rng.random((40, 3)); y = (X[:, 0] > 0.5).astype(int)
        with mlflow.start_run(run_name="fit") as run:
            LogisticRegression(max_iter=50).fit(X, y)
        got = mlflow.get_run(run.info.run_id)
        models = mlflow.search_logged_models(experiment_ids=[run.info.experiment_id],
                                             output_format="list")
        model = mlflow.sklearn.load_model(f"models:/{models[0].model_id}")
        out = {"id": run.info.run_id, "params": got.data.params,
               "metrics": got.data.metrics, "model": models[0].model_id,
               "source": models[0].source_run_id, "status": str(models[0].status),
               "predict": model.predict(X[:4]).tolist(), "y": y[:4].tolist()}
    """, tmp_path)
    assert out["params"]["max_iter"] == "50" and "C" in out["params"]
    assert 0.5 < out["metrics"]["training_accuracy_score"] <= 1.0
    assert out["source"] == out["id"] and "READY" in out["status"]
    assert len(out["predict"]) == 4
    rv = picidae.get_run(out["id"], store=server.url)
    assert rv.status == "completed" and rv.config["max_iter"] == "50"
    assert "training_accuracy_score" in rv.metric_keys()
    (model,) = [c for c in rv.children() if c.kind == "mlflow-model"]
    assert {"model.pkl", "MLmodel"} <= {a["name"] for a in model.artifacts()}


def test_mlflow_errors_are_mlflows_shape_never_500(server: ServerProcess) -> None:
    api = f"{server.url}/api/2.0/mlflow"
    unknown = httpx.get(f"{api}/runs/get", params={"run_id": "nope"})
    assert unknown.status_code == 404
    assert unknown.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    missing = httpx.post(f"{api}/runs/log-metric", json={"key": "x", "value": 1})
    assert missing.status_code == 400
    assert missing.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "run_id" in missing.json()["message"]
    run = httpx.post(f"{api}/runs/create", json={"experiment_id": "0"}).json()["run"]
    for body in ({"run_id": run["info"]["run_id"], "key": "x", "value": "abc"},
                 {"run_id": run["info"]["run_id"], "key": "x", "value": 1, "step": "s"}):
        bad = httpx.post(f"{api}/runs/log-metric", json=body)
        assert bad.status_code == 400, bad.text
        assert bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    for path, body in (("runs/create", {"start_time": "NaN"}),
                       ("runs/create", {"start_time": "Infinity"}),
                       ("runs/log-metric", {"run_id": run["info"]["run_id"], "key": "x",
                                            "value": 1, "timestamp": "NaN"}),
                       ("runs/log-metric", {"run_id": run["info"]["run_id"], "key": "x",
                                            "value": 1, "step": 2**70}),
                       ("runs/update", {"run_id": run["info"]["run_id"],
                                        "status": "FINISHED", "end_time": "Infinity"})):
        bad = httpx.post(f"{api}/{path}", content=json.dumps(body))
        assert bad.status_code == 400, (path, body, bad.text)
    # nothing bad was stored: searching still works
    assert httpx.post(f"{api}/runs/search", json={"experiment_ids": ["0"]}).status_code == 200
    bad_filter = httpx.post(f"{api}/runs/search", json={"experiment_ids": ["0"],
                                                        "filter": "metrics.acc >>> 1"})
    assert bad_filter.status_code == 400
    assert bad_filter.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    not_json = httpx.post(f"{api}/runs/create", content=b"{nope")
    assert not_json.status_code == 400
    gone = httpx.get(f"{api}/experiments/get", params={"experiment_id": "12345"})
    assert gone.status_code == 404
    for method, path in (("POST", "/registered-models/create"), ("GET", "/traces/x")):
        answer = httpx.request(method, f"{api}{path}", json={})
        assert answer.status_code == 404
        assert answer.json()["error_code"] == "ENDPOINT_NOT_FOUND"
    ajax = httpx.get(f"{server.url}/ajax-api/2.0/mlflow/runs/get",
                     params={"run_id": run["info"]["run_id"]})
    assert ajax.status_code == 200 and ajax.json()["run"]["info"]["status"] == "RUNNING"


def test_tracking_token_is_required_and_used(tmp_path: Path,
                                             subprocess_env: dict[str, str]) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text("tok-write-1 default write\n")
    srv = ServerProcess(str(tmp_path / "store"), subprocess_env, "--token-file",
                        str(tokens)).start()
    try:
        refused = httpx.post(f"{srv.url}/api/2.0/mlflow/runs/search", json={})
        assert refused.status_code == 401
        assert refused.json()["error_code"] == "UNAUTHENTICATED"
        assert httpx.get(f"{srv.url}/api/2.0/mlflow/nope").status_code == 401
        out = mlflow_script(srv.url, """
            with mlflow.start_run(run_name="secured") as run:
                mlflow.log_metric("acc", 0.5)
            out = mlflow.get_run(run.info.run_id).data.metrics
        """, tmp_path, token="tok-write-1")
        assert out == {"acc": 0.5}
        denied = mlflow_script(srv.url, "mlflow.start_run()", tmp_path, token="wrong",
                               check=False)
        assert denied.returncode != 0 and "UNAUTHENTICATED" in denied.stderr
    finally:
        srv.stop()


def test_runs_written_with_picidaes_sdk_are_in_their_mlflow_experiment(
        server: ServerProcess, tmp_path: Path) -> None:
    run = picidae.init("sdkexp/trial", store=server.url, config={"lr": 0.1}, capture_env=False)
    run.log(acc=0.7)
    run.finish()
    out = mlflow_script(server.url, """
        exp = mlflow.get_experiment_by_name("sdkexp")
        runs = mlflow.search_runs(experiment_names=["sdkexp"], output_format="list")
        out = [exp.name, [(r.info.run_id, r.info.run_name, r.data.params, r.data.metrics,
                           r.info.status) for r in runs]]
    """, tmp_path)
    assert out == ["sdkexp", [[run.id, "trial", {"lr": "0.1"}, {"acc": 0.7}, "FINISHED"]]]
