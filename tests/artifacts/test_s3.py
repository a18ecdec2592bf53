"""Artifacts on S3, against moto's S3 server running as a separate process on 127.0.0.1."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import picidae
from picidae.artifacts.base import folder_digest
from picidae.artifacts.s3 import S3ArtifactStore
from picidae.sdk import background

BUCKET = "picidae-test"  # made by the s3_env fixture (conftest.py)

QUIET = {"capture_env": False, "capture_git": False}


def _keys(client: Any, prefix: str) -> list[str]:
    out = client.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return sorted(o["Key"] for o in out.get("Contents", []))


def _prefix(env: dict[str, str]) -> str:
    return env["PICIDAE_ARTIFACTS"].split(f"s3://{BUCKET}/", 1)[1]


def test_files_and_folders_round_trip_on_s3(tmp_path: Path, store_dir: Path,
                                            s3_env: dict[str, str], s3_client: Any) -> None:
    ckpt = tmp_path / "model.pt"
    ckpt.write_bytes(os.urandom(200_000))
    folder = tmp_path / "preds"
    (folder / "split").mkdir(parents=True)
    (folder / "a.jsonl").write_text('{"p": 0.1}\n')
    (folder / "split" / "b.jsonl").write_text('{"p": 0.9}\n')
    run = picidae.init("s3-run", store=store_dir, **QUIET)
    run.log_artifact(ckpt, type="checkpoint").log_artifact(folder, type="predictions")
    run.finish()

    arts = picidae.get_run(run.id, store=store_dir).artifacts()
    assert [a["name"] for a in arts] == ["model.pt", "preds"]
    model, preds = arts
    assert model["digest"] == hashlib.sha256(ckpt.read_bytes()).hexdigest()
    assert model["location"] == s3_env["PICIDAE_ARTIFACTS"]
    assert preds["digest"] == folder_digest(folder)[0]
    keys = _keys(s3_client, _prefix(s3_env))
    digest = model["digest"]
    assert f"{_prefix(s3_env)}/blobs/sha256/{digest[:2]}/{digest[2:]}" in keys
    assert len(keys) == 3  # the checkpoint and the folder's two files
    assert model.download(tmp_path / "back.pt").read_bytes() == ckpt.read_bytes()
    restored = preds.download(tmp_path / "preds-back")
    assert (restored / "split" / "b.jsonl").read_text() == '{"p": 0.9}\n'
    with model.open() as f:
        assert f.read(10) == ckpt.read_bytes()[:10]


def test_s3_stores_one_object_for_content_logged_by_many_runs(
        tmp_path: Path, store_dir: Path, s3_env: dict[str, str], s3_client: Any) -> None:
    data = tmp_path / "data.bin"
    data.write_bytes(b"shared" * 10_000)
    for i in range(10):
        picidae.init(f"dedup/{i}", store=store_dir, **QUIET).log_artifact(data).finish()
    assert len(_keys(s3_client, _prefix(s3_env))) == 1


def test_large_files_go_up_in_parts(tmp_path: Path, s3_env: dict[str, str],
                                    s3_client: Any) -> None:
    store = S3ArtifactStore(s3_env["PICIDAE_ARTIFACTS"], multipart_threshold=5 * 1024 * 1024,
                            multipart_chunksize=5 * 1024 * 1024)
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        for _ in range(12):
            f.write(os.urandom(1024 * 1024))
    blob = store.put(big)
    head = s3_client.head_object(Bucket=BUCKET, Key=store.url(blob.digest).split("/", 3)[3])
    assert head["ContentLength"] == 12 * 1024 * 1024
    assert head["ETag"].strip('"').endswith("-3")  # a multipart upload of three parts
    assert store.put(big).created is False
    out = store.get(blob.digest, tmp_path / "big-back.bin")
    assert hashlib.sha256(out.read_bytes()).hexdigest() == blob.digest


def test_a_missing_bucket_is_reported_on_the_run(tmp_path: Path, store_dir: Path,
                                                 s3_env: dict[str, str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PICIDAE_ARTIFACTS", "s3://no-such-bucket/x")
    monkeypatch.setattr(background, "RETRY_DELAY_S", 0.01)
    src = tmp_path / "report.html"
    src.write_text("<html></html>")
    run = picidae.init("no-bucket", store=store_dir, **QUIET)
    run.log_artifact(src, type="report").finish()
    rv = picidae.get_run(run.id, store=store_dir)
    assert rv.status == "completed" and rv.artifacts() == []
    assert "no-such-bucket" in rv.warnings[0]["message"]
    assert "report.html" in rv.warnings[0]["message"]


def test_cli_downloads_from_where_the_run_stored_it(tmp_path: Path, store_dir: Path,
                                                   s3_env: dict[str, str],
                                                   child_env: dict[str, str]) -> None:
    # The training job had PICIDAE_ARTIFACTS; the shell reading it back has only the AWS
    # variables: the artifact's recorded location is enough.
    src = tmp_path / "weights.bin"
    src.write_bytes(b"w" * 5000)
    run = picidae.init("s3-cli", store=store_dir, **QUIET)
    run.log_artifact(src).finish()
    env = {**child_env, **{k: v for k, v in s3_env.items() if k != "PICIDAE_ARTIFACTS"}}
    out = subprocess.run([sys.executable, "-m", "picidae", "artifacts", "get", run.id,
                          "weights.bin", "-o", str(tmp_path / "got.bin"), "--store",
                          str(store_dir)], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "got.bin").read_bytes() == src.read_bytes()
    listed = subprocess.run([sys.executable, "-m", "picidae", "artifacts", "ls", run.id,
                             "--json", "--store", str(store_dir)], env=env,
                            capture_output=True, text=True, timeout=60)
    assert json.loads(listed.stdout)[0]["location"].startswith("s3://")


def test_import_picidae_and_local_runs_do_not_load_boto3(run_script: Any,
                                                         store_dir: Path) -> None:
    proc = run_script("""
        import sys, picidae
        run = picidae.init("light", store=sys.argv[1])
        open(sys.argv[1] + "-f.txt", "w").write("x")
        run.log_artifact(sys.argv[1] + "-f.txt").finish()
        print(sorted(m for m in sys.modules if m.split(".")[0] in ("boto3", "botocore")))
    """, str(store_dir))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
