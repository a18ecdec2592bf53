"""``log_artifact``, ``use_input`` and artifact outputs on the embedded store."""

from __future__ import annotations

import hashlib
import re
import time
from pathlib import Path

import pytest

import picidae
from picidae.artifacts.base import folder_digest
from picidae.artifacts.local import LocalArtifactStore
from picidae.sdk import background

QUIET = {"capture_env": False, "capture_git": False}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _make_folder(root: Path) -> Path:
    (root / "nested" / "deeper").mkdir(parents=True)
    (root / "config.json").write_text('{"lr": 0.1}')
    (root / "nested" / "weights.bin").write_bytes(bytes(range(256)) * 100)
    (root / "nested" / "deeper" / "notes.txt").write_text("epoch 3\n")
    (root / "nested" / "empty.txt").write_bytes(b"")
    return root


def test_file_and_folder_round_trip_with_digests(tmp_path: Path, store_dir: Path) -> None:
    ckpt = tmp_path / "model.pt"
    ckpt.write_bytes(b"\x00\x01weights" * 5000)
    folder = _make_folder(tmp_path / "eval-out")
    run = picidae.init("arts", store=store_dir, **QUIET)
    run.log(loss=1.0).log_artifact(ckpt, type="checkpoint")
    run.log_artifact(folder, name="eval/predictions", type="predictions").finish()

    arts = picidae.get_run(run.id, store=store_dir).artifacts()
    by_name = {a["name"]: a for a in arts}
    assert list(by_name) == ["model.pt", "eval/predictions"]
    model = by_name["model.pt"]
    assert (model["type"], model["kind"], model["size"]) == ("checkpoint", "file", 45000)
    assert model["digest"] == _sha(ckpt.read_bytes())
    assert model.created_at.endswith("Z") and model["step"] is None
    assert model.read_bytes() == ckpt.read_bytes()

    pred = by_name["eval/predictions"]
    assert pred["kind"] == "folder" and pred["type"] == "predictions"
    assert [f["path"] for f in pred["files"]] == ["config.json", "nested/deeper/notes.txt",
                                                  "nested/empty.txt", "nested/weights.bin"]
    assert pred["digest"] == folder_digest(folder)[0]
    assert pred["size"] == sum(len(v) for v in _tree(folder).values())
    assert pred.read_text("nested/deeper/notes.txt") == "epoch 3\n"

    out = pred.download(tmp_path / "restored")
    assert out == tmp_path / "restored" and _tree(out) == _tree(folder)
    single = model.download(tmp_path / "dl")
    assert single.read_bytes() == ckpt.read_bytes()
    assert picidae.get_run(run.id, store=store_dir).artifact("model.pt")["id"] == model["id"]


def test_one_blob_for_a_file_logged_by_many_runs(tmp_path: Path, store_dir: Path) -> None:
    data = tmp_path / "shared.parquet"
    data.write_bytes(b"the same dataset" * 4096)
    ids = []
    for i in range(100):
        run = picidae.init(f"many/{i}", store=store_dir, **QUIET)
        run.log_artifact(data, type="dataset").finish()
        ids.append(run.id)
    blobs = [p for p in (store_dir / "artifacts" / "blobs").rglob("*") if p.is_file()]
    assert len(blobs) == 1
    assert blobs[0].name == _sha(data.read_bytes())[2:]
    for run_id in ids[::25]:
        (art,) = picidae.get_run(run_id, store=store_dir).artifacts()
        assert art["digest"] == _sha(data.read_bytes())


def test_finish_waits_for_a_slow_upload(tmp_path: Path, store_dir: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    real_put = LocalArtifactStore.put

    def slow_put(self: LocalArtifactStore, source: object) -> object:
        time.sleep(1.0)
        return real_put(self, source)  # type: ignore[arg-type]

    monkeypatch.setattr(LocalArtifactStore, "put", slow_put)
    src = tmp_path / "slow.bin"
    src.write_bytes(b"x" * 1000)
    run = picidae.init("slow", store=store_dir, **QUIET)
    t0 = time.monotonic()
    run.log_artifact(src)
    assert time.monotonic() - t0 < 0.5  # training does not wait
    run.log(loss=0.5)
    run.finish()
    assert time.monotonic() - t0 >= 1.0  # finish did
    rv = picidae.get_run(run.id, store=store_dir)
    assert rv.status == "completed"
    assert [a["name"] for a in rv.artifacts()] == ["slow.bin"]


def test_a_failing_upload_is_retried_then_reported_on_the_run(
        tmp_path: Path, store_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def full_disk(self: LocalArtifactStore, source: object) -> object:
        calls.append(source)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(LocalArtifactStore, "put", full_disk)
    monkeypatch.setattr(background, "RETRY_DELAY_S", 0.01)
    src = tmp_path / "ckpt-7.pt"
    src.write_bytes(b"w")
    run = picidae.init("doomed-upload", store=store_dir, **QUIET)
    run.log(loss=0.1).log_artifact(src, type="checkpoint")
    run.finish()
    assert len(calls) == background.ATTEMPTS
    rv = picidae.get_run(run.id, store=store_dir)
    assert rv.status == "completed" and rv.artifacts() == []
    assert rv.metrics("loss").values == [0.1]  # the run's record is intact
    (warning,) = rv.warnings
    assert "ckpt-7.pt" in warning["message"] and "No space left" in warning["message"]
    lines = [ln for ln in rv.logs() if ln.stream == "picidae"]
    assert len(lines) == 1 and "artifact 'ckpt-7.pt'" in lines[0].text


def test_missing_path_and_bad_names_raise_at_once(tmp_path: Path, store_dir: Path) -> None:
    run = picidae.init("bad", store=store_dir, **QUIET)
    missing = tmp_path / "nope" / "model.pt"
    with pytest.raises(picidae.InvalidInput, match=re.escape(str(missing))):
        run.log_artifact(missing)
    ok = tmp_path / "ok.txt"
    ok.write_text("fine")
    for bad in ("../ok.txt", "/abs/ok.txt", "a\x00b", "x/../../y", "a\nb"):
        with pytest.raises(picidae.InvalidInput):
            run.log_artifact(ok, name=bad)
    with pytest.raises(picidae.InvalidInput, match="nope"):
        run.use_input("data", path_or_uri=tmp_path / "nope")
    run.finish()
    with pytest.raises(picidae.RunFinished):
        run.log_artifact(ok)
    assert picidae.get_run(run.id, store=store_dir).artifacts() == []


def test_inputs_record_name_version_digest_and_uri(tmp_path: Path, store_dir: Path) -> None:
    train = tmp_path / "train.csv"
    train.write_text("x,y\n1,2\n")
    shards = _make_folder(tmp_path / "shards")
    run = picidae.init("inputs", store=store_dir, inputs=[
        {"name": "train", "version": "v3", "path_or_uri": str(train)}, shards], **QUIET)
    run.use_input("teacher", version=7, path_or_uri="s3://models/teacher/7")
    run.use_input("vocab")
    run.finish()
    inputs = {i["name"]: i for i in picidae.get_run(run.id, store=store_dir).inputs}
    assert inputs["train"] == {"name": "train", "version": "v3",
                               "digest": _sha(train.read_bytes()), "uri": train.as_uri()}
    assert inputs["shards"]["digest"] == folder_digest(shards)[0]
    assert inputs["teacher"] == {"name": "teacher", "version": "7", "digest": None,
                                 "uri": "s3://models/teacher/7"}
    assert inputs["vocab"] == {"name": "vocab", "version": None, "digest": None, "uri": None}


def test_init_with_a_missing_input_creates_no_run(tmp_path: Path, store_dir: Path) -> None:
    with pytest.raises(picidae.InvalidInput, match=r"missing\.csv"):
        picidae.init("never", store=store_dir, inputs=[tmp_path / "missing.csv"])
    assert picidae.runs(store=store_dir) == []


def test_an_artifact_can_be_an_output_with_a_version(tmp_path: Path, store_dir: Path) -> None:
    folder = _make_folder(tmp_path / "model")
    run = picidae.init("producer", store=store_dir, **QUIET)
    run.output("accuracy", 0.93)
    run.log_artifact(folder, name="model", type="checkpoint", version="v2").finish()
    rv = picidae.get_run(run.id, store=store_dir)
    digest = folder_digest(folder)[0]
    assert rv.outputs["accuracy"] == 0.93
    assert rv.outputs["model"] == {"artifact": "model", "version": "v2", "digest": digest,
                                   "size": rv.artifact("model")["size"], "type": "checkpoint"}
    assert rv.artifact("model")["metadata"] == {"version": "v2"}
    # The next run uses it as an input: the digests line up.
    consumer = picidae.init("consumer", store=store_dir, **QUIET)
    consumer.use_input("model", version="v2", path_or_uri=folder).finish()
    assert picidae.get_run(consumer.id, store=store_dir).inputs[0]["digest"] == digest


def test_attaching_to_a_queued_run_records_inputs_and_environment(
        tmp_path: Path, store_dir: Path) -> None:
    from picidae.core.record import new_record
    from picidae.store.registry import open_store

    queued = open_store(store_dir).create_run(new_record("queued/job", status="queued"))
    assert queued["env"] is None
    data = tmp_path / "data.txt"
    data.write_text("rows\n")
    run = picidae.init(id=queued["id"], store=store_dir, inputs=[data], capture_git=False)
    child = run.child(kind="eval-batch", inputs=[{"name": "shard", "path": data}],
                      capture_env=False, capture_git=False)
    child.finish()
    run.finish()
    rv = picidae.get_run(queued["id"], store=store_dir)
    assert rv.status == "completed" and rv.env["python"] and rv.command
    assert rv.inputs == [{"name": "data.txt", "version": None,
                          "digest": _sha(b"rows\n"), "uri": data.as_uri()}]
    assert picidae.get_run(child.id, store=store_dir).inputs[0]["name"] == "shard"
