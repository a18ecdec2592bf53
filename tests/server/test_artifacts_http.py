"""Artifacts logged through a real server: blobs go up via the API, once, verified."""

from __future__ import annotations

import hashlib

import httpx

import picidae


def test_artifacts_round_trip_through_the_server(server, tmp_path, subprocess_env):
    model = tmp_path / "model.bin"
    model.write_bytes(b"weights" * 10_000)
    folder = tmp_path / "preds"
    folder.mkdir()
    (folder / "a.jsonl").write_text('{"y": 1}\n')
    (folder / "b.jsonl").write_text('{"y": 0}\n')
    with picidae.init("remote-artifacts", store=server.url, capture_git=False) as run:
        run.log_artifact(model, type="checkpoint")
        run.log_artifact(folder, name="predictions", type="predictions")
    second = picidae.init("same-model", store=server.url, capture_git=False)
    second.log_artifact(model, type="checkpoint").finish()

    rv = picidae.get_run(run.id, store=server.url)
    arts = {a["name"]: a for a in rv.artifacts()}
    assert arts["model.bin"]["digest"] == hashlib.sha256(model.read_bytes()).hexdigest()
    assert arts["model.bin"]["size"] == model.stat().st_size
    assert sorted(f["path"] for f in arts["predictions"]["files"]) == ["a.jsonl", "b.jsonl"]
    got = rv.artifact("model.bin").download(tmp_path / "out.bin")
    assert got.read_bytes() == model.read_bytes()
    # the same content logged by two runs is one blob on the server
    blobs = list((tmp_path / "server-store" / "artifacts" / "blobs").rglob("*"))
    assert len([b for b in blobs if b.is_file()]) == 3
    # the UI's download link streams the file with its name
    url = f"{server.url}/api/v1/runs/{run.id}/artifacts/{arts['model.bin']['id']}"
    response = httpx.get(url)
    assert response.status_code == 200 and response.content == model.read_bytes()
    assert "model.bin" in response.headers["content-disposition"]


def test_a_blob_that_does_not_hash_to_its_name_is_refused(server):
    digest = hashlib.sha256(b"right").hexdigest()
    response = httpx.put(f"{server.url}/api/v1/blobs/{digest}", content=b"wrong")
    assert response.status_code == 422 and response.json()["field"] == "digest"
    assert httpx.head(f"{server.url}/api/v1/blobs/{digest}").status_code == 404
    bad = httpx.put(f"{server.url}/api/v1/blobs/..%2Fetc", content=b"x")
    assert bad.status_code in (404, 422)


def test_an_artifact_record_needs_its_blob_first(server):
    run = picidae.init("orphan", store=server.url, capture_git=False)
    response = httpx.post(f"{server.url}/api/v1/runs/{run.id}/artifacts",
                          json={"name": "ghost.bin", "kind": "file", "digest": "0" * 64,
                                "size": 1})
    assert response.status_code == 422 and "PUT /api/v1/blobs" in response.json()["message"]
    run.finish()


def test_an_ended_run_refuses_artifacts_over_the_api_and_mlflows_upload(client, store_dir):
    run = client.post("/api/v1/runs", json={"name": "ended", "status": "running"}).json()
    assert client.post(f"/api/v1/runs/{run['id']}/transitions",
                       json={"to": "completed"}).status_code == 200
    digest = hashlib.sha256(b"late").hexdigest()
    assert client.put(f"/api/v1/blobs/{digest}", content=b"late").status_code == 201
    response = client.post(f"/api/v1/runs/{run['id']}/artifacts",
                           json={"name": "late.bin", "kind": "file", "digest": digest,
                                 "size": 4})
    body = response.json()
    assert response.status_code == 409 and body["code"] == "run_finished"
    assert body["message"].startswith(f"run {run['id']} has ended (completed)")
    assert "\n" not in body["message"]

    mlflow = client.put(f"/api/2.0/mlflow-artifacts/artifacts/0/{run['id']}/artifacts/x.txt",
                        content=b"never stored")
    assert mlflow.status_code == 400 and mlflow.json()["error_code"] == "INVALID_STATE"
    assert "has ended (completed)" in mlflow.json()["message"]
    unstored = hashlib.sha256(b"never stored").hexdigest()
    assert client.head(f"/api/v1/blobs/{unstored}").status_code == 404
    assert client.get(f"/api/v1/runs/{run['id']}/artifacts").json()["artifacts"] == []
    assert picidae.get_run(run["id"], store=str(store_dir)).artifacts() == []
