"""The run's outbox: batches a store does not take wait, spill to disk, and are never dropped."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

import picidae
from picidae.errors import RunNotFound, StoreUnavailable
from picidae.sdk import outbox
from picidae.sdk.spool import Spool, spooled_runs, upload
from picidae.sdk.writer import writer


class Flaky:
    """Wraps a store: ``write`` fails while ``down`` (or with ``refuse``, for good)."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.down = False
        self.refuse: Exception | None = None
        self.failures = 0

    def write(self, run_id: str, batch: Any) -> None:
        if self.refuse is not None:
            error, self.refuse = self.refuse, None
            raise error
        if self.down:
            self.failures += 1
            raise StoreUnavailable("store is down (test)")
        self.store.write(run_id, batch)

    def transition(self, *args: Any, **kwargs: Any) -> Any:
        if self.down:
            raise StoreUnavailable("store is down (test)")
        return self.store.transition(*args, **kwargs)

    def write_and_move(self, *args: Any, **kwargs: Any) -> Any:
        # A store that is down takes no write; a refusal is the batch's, for ``write``.
        if self.down or self.refuse is not None:
            raise StoreUnavailable("store is down (test)")
        return self.store.write_and_move(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


def _flaky_run(store_dir: Path, name: str = "flaky") -> tuple[Any, Flaky]:
    run = picidae.init(name, store=store_dir, capture_env=False)
    writer().unregister(run)  # the test flushes by hand
    run._background.wait()
    run.flush()
    flaky = Flaky(run._store)
    run._store = run._outbox.store = flaky
    return run, flaky


def test_a_store_down_for_many_flushes_loses_nothing(store_dir: Path) -> None:
    run, flaky = _flaky_run(store_dir)
    flaky.down = True
    for i in range(100):  # far past the old 30-failure limit
        run.log(x=i)
        run.flush()
    assert flaky.failures >= 100 and len(run._outbox.memory) == 100
    flaky.down = False
    run.finish()
    assert picidae.get_run(run.id, store=store_dir).metrics("x").values == [
        float(i) for i in range(100)]


def test_past_the_memory_bound_batches_spill_to_the_spool_in_order(
        store_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PICIDAE_BUFFER_MB", "0.002")  # about 2 KB: most batches spill
    run, flaky = _flaky_run(store_dir)
    flaky.down = True
    for i in range(50):
        run.log(x=i, y=-i)
        run.summary({"last": i})
        run.flush()
    spool = run._outbox.spool
    assert len(spool.pending()) > 20 and outbox.budget.used <= outbox.budget.limit()
    files = sorted(p.name for p in spool.folder.iterdir())
    assert "meta.json" in files
    first = json.loads((spool.folder / files[0]).read_text())
    assert first["run_id"] == run.id and first["batch"]["batch_id"]  # the wire format
    flaky.down = False
    run.finish()
    rv = picidae.get_run(run.id, store=store_dir)
    assert rv.metrics("x").values == [float(i) for i in range(50)]
    assert rv.summary == {"last": 49}  # merges applied in the order they were made
    assert not spool.folder.exists()


def test_finish_gives_up_after_the_timeout_and_says_where_the_data_is(
        store_dir: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PICIDAE_FINISH_TIMEOUT_S", "0.3")
    run, flaky = _flaky_run(store_dir)
    flaky.down = True
    run.log(x=1.0).log(x=2.0).log_text("kept")
    with caplog.at_level(logging.WARNING, logger="picidae"):
        run.finish()  # does not raise: tracking never breaks training
    assert run.status == "completed"
    said = capsys.readouterr().err
    assert "2 metric points, 1 log lines in 1 batch and the run's final transition" in said
    assert "picidae sync" in said and str(Path("spool") / run.id) in said
    assert any("were not sent" in r.getMessage() for r in caplog.records)
    assert spooled_runs() == [run.id]
    assert picidae.get_run(run.id, store=store_dir).status == "running"
    result = upload(run.id, flaky.store)  # what 'picidae sync' does
    assert (result.batches, result.points, result.lines, result.ended) == (1, 2, 1, "made")
    rv = picidae.get_run(run.id, store=store_dir)
    assert rv.status == "completed" and rv.metrics("x").values == [1.0, 2.0]
    assert spooled_runs() == []


def test_a_refused_batch_is_set_aside_and_the_rest_go_on(
        store_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    run, flaky = _flaky_run(store_dir)
    run.log(x=1.0)
    flaky.refuse = RunNotFound(run.id)
    with caplog.at_level(logging.ERROR, logger="picidae"):
        run.flush()
    assert any("refused a batch" in r.getMessage() for r in caplog.records)
    run.log(x=2.0).flush()
    assert picidae.get_run(run.id, store=store_dir).metrics("x").values == [2.0]
    spool = Spool.open(run.id)
    assert [e.rejected for e in spool.entries] == [True]
    assert upload(run.id, flaky.store).points == 1  # 'picidae sync', while the run is open
    run.finish()
    assert picidae.get_run(run.id, store=store_dir).metrics("x").values == [1.0, 2.0]


def test_a_set_aside_batch_is_refused_once_the_run_has_ended(
        store_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    run, flaky = _flaky_run(store_dir)
    run.log(x=1.0)
    flaky.refuse = RunNotFound(run.id)
    with caplog.at_level(logging.ERROR, logger="picidae"):
        run.flush()
    run.finish()
    result = upload(run.id, flaky.store)
    assert result.points == 0 and "has ended (completed)" in result.errors[0]
    assert [e.rejected for e in Spool.open(run.id).entries] == [True]  # still kept
    assert picidae.get_run(run.id, store=store_dir).metric_keys() == []
