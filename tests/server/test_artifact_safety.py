"""Artifacts as an attacker uses them: content another workspace stored, malformed records,
and downloads a browser might render on the API's origin."""

from __future__ import annotations

import hashlib
import io
from typing import Any

import httpx
import pytest
from workspaces import TOKENS

from processes import ServerProcess

PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d4944415478da63f8ffff3f0005fe02fea7d6a4"
                    "9c0000000049454e44ae426082")


def _client(server: ServerProcess, who: str) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=30,
                        headers={"Authorization": f"Bearer {TOKENS[who]}"})


def _run(client: httpx.Client, name: str = "r") -> str:
    response = client.post("/api/v1/runs", json={"name": name, "status": "running"})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _record(client: httpx.Client, run_id: str, name: str, data: bytes,
            **extra: Any) -> httpx.Response:
    return client.post(f"/api/v1/runs/{run_id}/artifacts", json={
        "name": name, "digest": hashlib.sha256(data).hexdigest(), "size": len(data),
        "created_at": 1.0, **extra})


def test_a_blob_of_another_workspace_needs_its_bytes(two_workspaces: ServerProcess) -> None:
    data = b"A's model weights \x00\x01"
    digest = hashlib.sha256(data).hexdigest()
    with _client(two_workspaces, "a") as a, _client(two_workspaces, "b") as b:
        a_run = _run(a)
        assert a.put(f"/api/v1/blobs/{digest}", content=data).status_code == 201
        assert _record(a, a_run, "w.bin", data).status_code == 201
        assert a.get(f"/api/v1/blobs/{digest}").content == data

        # B knows the digest only: it cannot tell the blob exists, read it, or claim it
        b_run = _run(b)
        assert b.head(f"/api/v1/blobs/{digest}").status_code == 404
        assert b.get(f"/api/v1/blobs/{digest}").status_code == 404
        refused = _record(b, b_run, "stolen.bin", data)
        assert refused.status_code == 422 and refused.json()["field"] == "digest"
        wrong = b.put(f"/api/v1/blobs/{digest}", content=b"guess")
        assert wrong.status_code == 422
        assert b.get(f"/api/v1/blobs/{digest}").status_code == 404
        assert b.get(f"/api/v1/runs/{b_run}/artifacts").json()["artifacts"] == []

        # B holding the same bytes uploads them (checked in full) and then has its claim
        assert b.put(f"/api/v1/blobs/{digest}", content=data).status_code == 201
        assert b.head(f"/api/v1/blobs/{digest}").status_code == 200
        assert _record(b, b_run, "mine.bin", data).status_code == 201
        assert b.get(f"/api/v1/blobs/{digest}").content == data


def test_the_proof_marker_cannot_be_uploaded(two_workspaces: ServerProcess) -> None:
    forged = b"picidae-proof:v1:B:" + b"0" * 64
    with _client(two_workspaces, "b") as b:
        response = b.put(f"/api/v1/blobs/{hashlib.sha256(forged).hexdigest()}",
                         content=forged)
        assert response.status_code == 422 and response.json()["field"] == "body"


@pytest.mark.parametrize("files, field", [
    (["x"], "files.0"), ([{"path": "a.txt"}], "files.0.digest"), (5, "files"),
    ([{"path": "../up", "digest": "0" * 64, "size": 1}], "files.0.path"),
    ([{"path": "a", "digest": "0" * 64, "size": -1}], "files.0.size"),
])
def test_a_malformed_folder_record_is_a_422_naming_the_field(
        two_workspaces: ServerProcess, files: Any, field: str) -> None:
    with _client(two_workspaces, "a") as a:
        run_id = _run(a)
        response = a.post(f"/api/v1/runs/{run_id}/artifacts", json={
            "name": "folder", "kind": "folder", "digest": "0" * 64, "size": 1,
            "created_at": 1.0, "files": files})
        assert response.status_code == 422, response.text
        assert response.json()["field"].startswith(field), response.json()


def _download(client: httpx.Client, run_id: str, name: str) -> httpx.Response:
    artifacts = client.get(f"/api/v1/runs/{run_id}/artifacts").json()["artifacts"]
    art = next(a for a in artifacts if a["name"] == name)
    return client.get(f"/api/v1/runs/{run_id}/artifacts/{art['id']}")


def test_downloads_never_render_on_the_api_origin(two_workspaces: ServerProcess) -> None:
    page = b"<html><script>alert(document.cookie)</script></html>"
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    with _client(two_workspaces, "a") as a:
        run_id = _run(a)
        for name, data, kind in (("x.html", page, "file"), ("y.svg", svg, "image"),
                                 ("fake.png", page, "image"), ("plot.png", PNG, "image")):
            digest = hashlib.sha256(data).hexdigest()
            assert a.put(f"/api/v1/blobs/{digest}", content=data).status_code in (200, 201)
            assert _record(a, run_id, name, data, kind=kind).status_code == 201
        for name in ("x.html", "y.svg", "fake.png"):
            response = _download(a, run_id, name)
            assert response.status_code == 200
            assert response.headers["content-type"] == "application/octet-stream"
            assert response.headers["content-disposition"].startswith("attachment;")
            assert response.headers["x-content-type-options"] == "nosniff"
            assert "sandbox" in response.headers["content-security-policy"]
        image = _download(a, run_id, "plot.png")
        assert image.headers["content-type"] == "image/png"
        assert image.headers["x-content-type-options"] == "nosniff"
        assert image.content == PNG
        blob = a.get(f"/api/v1/blobs/{hashlib.sha256(page).hexdigest()}")
        assert blob.headers["content-type"] == "application/octet-stream"
        assert blob.headers["content-disposition"].startswith("attachment;")
        assert blob.headers["x-content-type-options"] == "nosniff"


def test_the_sdk_logs_content_another_workspace_has(two_workspaces: ServerProcess,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import picidae

    data = io.BytesIO(b"shared dataset bytes").getvalue()
    digest = hashlib.sha256(data).hexdigest()
    with _client(two_workspaces, "a") as a:
        assert a.put(f"/api/v1/blobs/{digest}", content=data).status_code == 201
    monkeypatch.setenv("PICIDAE_TOKEN", TOKENS["b"])
    run = picidae.init("b/uses-shared", store=two_workspaces.url, capture_git=False)
    path = two_workspaces.store + "-data.bin"
    with open(path, "wb") as f:
        f.write(data)
    run.log_artifact(path, name="data.bin")
    run.finish()
    arts = picidae.get_run(run.id, store=two_workspaces.url).artifacts()
    assert [(x["name"], x["digest"]) for x in arts] == [("data.bin", digest)]
