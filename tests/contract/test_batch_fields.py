"""A batch the SDK sends is never refused for a field the SDK itself produced (on any store):
refusing one would refuse the whole batch, metric points included."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import picidae
from picidae.core.record import new_record
from picidae.sdk import background
from picidae.sdk.spool import Spool, spool_root
from picidae.sdk.writer import writer
from picidae.store.registry import open_store


def _failing_uploads(run: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every artifact upload of ``run``'s artifact store fails, as on a full disk."""

    def full_disk(self: object, source: object) -> object:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(type(run._background.artifact_store()), "put", full_disk)
    monkeypatch.setattr(background, "RETRY_DELAY_S", 0.01)


def _sdk_fields_run(store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                    manual: bool = False) -> Any:
    """A run attached to a queued one (so the SDK sends ``name`` and ``tags``), with every
    other field the SDK sets in a batch: captured env/code/command/image, an input, a primary
    metric, progress and, after a failed upload, ``warnings``."""
    queued = open_store(store_url).create_run(new_record(None, status="queued"))
    run = picidae.init(id=queued["id"], name="attached/later", tags=["extra"],
                       store=store_url)
    if manual:  # the test takes the batch itself: the writer thread must not flush it
        writer().unregister(run)
    _failing_uploads(run, monkeypatch)
    data = tmp_path / "data.csv"
    data.write_text("a,b\n1,2\n")
    ckpt = tmp_path / "ckpt.pt"
    ckpt.write_bytes(b"weights")
    run.log(loss=1.0, step=0).use_input("train-set", "v1", data)
    run.set_primary_metric("loss", mode="min").progress(0.5, "half way")
    run.log_artifact(ckpt, type="checkpoint")
    run._background.wait()  # the upload has failed: its warning is on the next batch
    return run


def test_every_field_the_sdk_sends_is_accepted_and_no_point_is_lost(
        store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = _sdk_fields_run(store_url, tmp_path, monkeypatch)
    for step in range(1, 50):
        run.log(loss=1.0 / (step + 1), step=step)
    run.finish()
    rv = picidae.get_run(run.id, store=store_url)
    assert rv.metrics("loss").steps == list(range(50))
    assert rv.name == "attached/later" and rv.tags == ["extra"]
    (warning,) = [w for w in rv.warnings if "ckpt.pt" in w["message"]]
    assert "No space left" in warning["message"]
    assert rv.primary_metric["name"] == "loss" and rv.primary_metric["best"] == 1.0 / 50
    assert rv.progress["fraction"] == 0.5 and rv.inputs[0]["name"] == "train-set"
    assert rv.env and rv.command
    assert not spool_root().exists() or not any(spool_root().rglob("*.rejected.json"))


def test_picidae_sync_uploads_a_spooled_batch_with_the_sdks_fields(
        store_url: str, store_env: dict[str, str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    run = _sdk_fields_run(store_url, tmp_path, monkeypatch, manual=True)
    run.log(loss=0.25, step=1)
    batch = run._take_batch()  # what the outbox spools when the store is out of reach
    # (name and tags, set at attach, may have gone in a flush before the writer let go)
    assert {"warnings", "primary_metric", "progress", "inputs"} <= set(batch.fields)
    Spool.open(run.id).add_batch(batch, run._store, run.name)
    result = subprocess.run([sys.executable, "-m", "picidae", "sync", "--json"],
                            env=store_env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    (synced,) = json.loads(result.stdout)
    assert synced["points"] == 2 and not synced["errors"]
    run.finish()
    rv = picidae.get_run(run.id, store=store_url)
    assert rv.metrics("loss").values == [1.0, 0.25] and rv.warnings
    assert rv.primary_metric["best"] == 0.25 and rv.progress["fraction"] == 0.5
    assert rv.name == "attached/later"


def test_a_batch_field_no_one_may_set_is_refused_naming_it(store_url: str) -> None:
    from picidae.store.base import Batch

    run = picidae.init("strict", store=store_url, capture_env=False)
    store = open_store(store_url)
    for name in ("failure", "status", "bogus"):
        with pytest.raises(picidae.InvalidInput, match=f"field '{name}' cannot be set"):
            store.write(run.id, Batch(fields={name: {}}))
    run.finish()


def test_every_field_a_batch_or_a_create_may_set_has_a_validator() -> None:
    from picidae.core.fields import BY_NAME, names

    assert all(BY_NAME[n].clean is not None for n in names(batch=True))
    assert all(BY_NAME[n].clean is not None for n in names(create=True)
               if n != "transitions")
