"""``picidae artifacts ls|get`` and the manifest of ``picidae runs show --json``."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

import picidae


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "picidae", *args], capture_output=True,
                          env=env, timeout=60, check=False)


def _recorded_run(tmp_path: Path, store: Path) -> str:
    data = tmp_path / "train.csv"
    data.write_text("x,y\n1,2\n")
    ckpt = tmp_path / "model.pt"
    ckpt.write_bytes(b"weights" * 100)
    report = tmp_path / "report"
    report.mkdir()
    (report / "index.html").write_text("<h1>ok</h1>")
    (report / "img").mkdir()
    (report / "img" / "a.txt").write_text("a")
    run = picidae.init("cli/manifest", store=store, inputs=[{"name": "train", "version": "v1",
                                                             "path_or_uri": data}],
                       capture_env=False, capture_git=False)
    run.use_input("teacher", version="7", path_or_uri="https://example.com/teacher-7.pt")
    run.log(acc=0.9, step=3)
    run.log_artifact(ckpt, type="checkpoint", version="v3")
    run.log_artifact(report, type="report")
    run.log_image("samples", np.zeros((4, 4), dtype=np.uint8), caption="blank")
    run.output("accuracy", 0.9)
    run.finish()
    return run.id


def test_runs_show_json_lists_inputs_outputs_and_artifacts(
        tmp_path: Path, store_dir: Path, subprocess_env: dict[str, str]) -> None:
    run_id = _recorded_run(tmp_path, store_dir)
    out = cli("runs", "show", run_id, "--json", "--store", str(store_dir), env=subprocess_env)
    assert out.returncode == 0, out.stderr
    manifest = json.loads(out.stdout)
    inputs = {i["name"]: i for i in manifest["inputs"]}
    assert inputs["train"]["version"] == "v1"
    assert inputs["train"]["digest"] == hashlib.sha256(b"x,y\n1,2\n").hexdigest()
    assert inputs["teacher"]["uri"] == "https://example.com/teacher-7.pt"
    assert manifest["outputs"]["accuracy"] == 0.9
    assert manifest["outputs"]["model.pt"]["version"] == "v3"
    arts = {a["name"]: a for a in manifest["artifacts"]}
    assert set(arts) == {"model.pt", "report", "samples"}
    assert arts["model.pt"]["digest"] == hashlib.sha256(b"weights" * 100).hexdigest()
    assert arts["report"]["kind"] == "folder" and len(arts["report"]["files"]) == 2
    assert arts["samples"]["step"] == 3 and arts["samples"]["caption"] == "blank"
    assert all(a["created_at"].endswith("Z") for a in arts.values())
    assert manifest["warnings"] == []


def test_artifacts_ls_and_get_check_the_digest(tmp_path: Path, store_dir: Path,
                                               subprocess_env: dict[str, str]) -> None:
    run_id = _recorded_run(tmp_path, store_dir)
    store = ("--store", str(store_dir))
    listed = cli("artifacts", "ls", run_id, "--json", *store, env=subprocess_env)
    assert listed.returncode == 0, listed.stderr
    names = [a["name"] for a in json.loads(listed.stdout)]
    assert names == ["model.pt", "report", "samples"]
    table = cli("artifacts", "ls", run_id, *store, env=subprocess_env).stdout.decode()
    assert "model.pt" in table and "checkpoint" in table and "folder (2)" in table

    got = cli("artifacts", "get", run_id, "model.pt", "-o", str(tmp_path / "m.pt"), *store,
              env=subprocess_env)
    assert got.returncode == 0, got.stderr
    assert (tmp_path / "m.pt").read_bytes() == b"weights" * 100
    folder = cli("artifacts", "get", run_id, "report", "-o", str(tmp_path / "rep"), *store,
                 env=subprocess_env)
    assert folder.returncode == 0, folder.stderr
    assert (tmp_path / "rep" / "img" / "a.txt").read_text() == "a"
    to_stdout = cli("artifacts", "get", run_id, "model.pt", "-o", "-", *store,
                    env=subprocess_env)
    assert to_stdout.stdout == b"weights" * 100

    missing = cli("artifacts", "get", run_id, "nope.bin", *store, env=subprocess_env)
    assert missing.returncode == 1
    assert b"has no artifact 'nope.bin'" in missing.stderr and b"model.pt" in missing.stderr

    digest = hashlib.sha256(b"weights" * 100).hexdigest()
    blob = store_dir / "artifacts" / "blobs" / "sha256" / digest[:2] / digest[2:]
    blob.chmod(0o644)
    blob.write_bytes(b"tampered" * 100)
    bad = cli("artifacts", "get", run_id, "model.pt", "-o", str(tmp_path / "bad.pt"), *store,
              env=subprocess_env)
    assert bad.returncode == 1
    assert b"does not match its digest" in bad.stderr and len(bad.stderr.splitlines()) == 1
    assert not (tmp_path / "bad.pt").exists()
