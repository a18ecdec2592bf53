"""The five seed documents' examples, typed in with Picidae's names, run and record what the
seeds say (/work/shared/seeds, issue 10 point 6).

Each test names the seed and the example it types in. Where a seed uses another system's API
(``chronicle.run(...)``, ``rn.init(path=...)``, ``workspace.list_runs(...)``) the test uses
the contract's equivalent (see the seeds' README); everything else is as the seed writes it.
Most tests run on the embedded store and on a real ``picidae server`` (``seed_store``).
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import picidae
from picidae.core.record import new_record
from picidae.store.registry import open_store

# -- seed 000: Picidae's Run primitive ------------------------------------------------------


def test_000_w2s_idea_across_seeds(seed_store: str, tmp_path: Path) -> None:
    """'A parent run tests one weak-to-strong idea. It creates five child runs for seeds 42
    through 46. Each child emits predictions and metrics. The parent aggregates the signals
    and writes memory if the result is stable enough.'"""
    with picidae.init("confidence-reweighting", evaluation="pgr-hidden-labels",
                      config={"idea": "confidence-reweighting"}) as run:
        for seed in range(42, 47):
            with run.child(kind="seed", seed=seed, config={"seed": seed}) as child:
                preds = tmp_path / f"predictions-{seed}.jsonl"
                preds.write_text(json.dumps({"seed": seed, "y": [0, 1, 1]}) + "\n")
                child.log_artifact(preds, name="predictions", type="predictions")
                child.log(pgr=0.60 + 0.01 * (seed - 42))
        stats = picidae.get_run(run.id).children_stats(["pgr"])["pgr"]
        if stats["std"] < 0.05:  # stable enough: the parent writes memory
            run.summary({"pgr_mean": stats["mean"], "pgr_std": stats["std"]})
            run.output("memory", {"idea": "confidence-reweighting", "pgr": stats["mean"]})

    rv = picidae.get_run(run.id)
    assert rv.status == "completed" and rv.evaluation == "pgr-hidden-labels"
    kids = rv.children()
    assert [k.seed for k in kids] == [42, 43, 44, 45, 46]
    assert [k.name for k in kids] == [f"confidence-reweighting/seed-{s}" for s in range(42, 47)]
    assert {(k.kind, k.parent_id, k.root_id, k.status) for k in kids} == {
        ("seed", run.id, run.id, "completed")}
    assert all([a["name"] for a in k.artifacts()] == ["predictions"] for k in kids)
    assert rv.children_stats()["pgr"]["n"] == 5
    assert rv.summary["pgr_mean"] == pytest.approx(0.62)
    assert rv.outputs["memory"]["pgr"] == pytest.approx(0.62)


def test_000_autogo_pipeline(seed_store: str, tmp_path: Path) -> None:
    """'An AutoGo run can represent a full iteration. Child runs collect self-play data,
    train from the new data, and evaluate the checkpoint in an arena. Failures in any phase
    are attached to the same parent lineage.' With its artifacts ``game_records/``,
    ``checkpoints/iter17.pt`` and ``arena_report.json``."""
    games = tmp_path / "game_records"
    games.mkdir()
    for i in range(3):
        (games / f"game-{i}.sgf").write_text(f"(;GM[1]SZ[9];B[{i}])")
    ckpt = tmp_path / "iter17.pt"
    ckpt.write_bytes(b"\x00weights" * 64)
    report = tmp_path / "arena_report.json"
    report.write_text('{"win_rate": 0.55}')

    run = picidae.init("autogo-iteration-17", config={"iteration": 17})
    with run.child("collect-games", kind="phase") as collect:
        collect.log(games=3)
        collect.log_artifact(games, name="game_records/", type="dataset")
    with run.child("train-checkpoint", kind="phase") as train:
        train.log(loss=0.9).log(loss=0.7)
        train.log_artifact(ckpt, name="checkpoints/iter17.pt", type="checkpoint")
    arena = run.child("arena-evaluation", kind="phase")
    arena.log_artifact(report, name="arena_report.json", type="report")
    arena.fail("crash", message="arena worker died")
    run.fail("error", message="phase arena-evaluation failed")

    rv = picidae.get_run(run.id)
    phases = {k.name: k for k in rv.children()}
    assert list(phases) == ["autogo-iteration-17/collect-games",
                            "autogo-iteration-17/train-checkpoint",
                            "autogo-iteration-17/arena-evaluation"]
    failed = phases["autogo-iteration-17/arena-evaluation"]
    assert (failed.status, failed.failure["reason"], failed.root_id) == ("failed", "crash", run.id)
    assert rv.status == "failed"
    game_records = phases["autogo-iteration-17/collect-games"].artifact("game_records/")
    assert game_records["name"] == "game_records" and game_records["kind"] == "folder"
    assert sorted(f["path"] for f in game_records["files"]) == [
        "game-0.sgf", "game-1.sgf", "game-2.sgf"]
    out = tmp_path / "restored"
    game_records.download(out)
    assert (out / "game-2.sgf").read_text() == "(;GM[1]SZ[9];B[2])"
    stored = phases["autogo-iteration-17/train-checkpoint"].artifact("checkpoints/iter17.pt")
    with stored.open() as f:
        assert f.read() == ckpt.read_bytes()
    assert failed.artifact("arena_report.json")["type"] == "report"


def test_000_what_a_run_captures_and_how_it_moved(seed_store: str, tmp_path: Path) -> None:
    """'A useful run record captures the agent, benchmark, datasets, evaluation targets,
    compute target, image digest, command, environment, config, seed, parent run, logs,
    artifacts, metrics, resource usage, cost, and final status' — and 'each transition should
    be timestamped and explainable'."""
    data = tmp_path / "weak_labels.jsonl"
    data.write_text('{"x": 1}\n')
    with picidae.init("w2s/bert-large", agent="research-agent-3", benchmark="w2s-sciq",
                      evaluation="pgr-hidden-labels", compute={"target": "gpu-a100"},
                      resources={"gpus": 1}, seed=42, config={"lr": 3e-5}) as run:
        run.use_input("weak_labels", "v3", str(data))
        run.log_text("loading bert-large")
        run.log(acc=0.8)
        run.transition("evaluating", reason="training done; scoring held-out labels")
        run.log(acc=0.83)
    rv = picidae.get_run(run.id)
    assert (rv.agent, rv.benchmark, rv.seed, rv.config) == (
        "research-agent-3", "w2s-sciq", 42, {"lr": 3e-5})
    assert rv.compute == {"target": "gpu-a100"} and rv.resources == {"gpus": 1}
    assert rv.command and rv.env
    assert rv.inputs[0]["name"] == "weak_labels" and rv.inputs[0]["version"] == "v3"
    assert len(rv.inputs[0]["digest"]) == 64
    assert "bert-large" in rv.logs()
    assert [(t["from"], t["to"]) for t in rv.transitions] == [
        ("queued", "running"), ("running", "evaluating"), ("evaluating", "completed")]
    assert rv.transitions[1]["reason"] == "training done; scoring held-out labels"
    times = [t["at"] for t in rv.transitions]
    assert all(isinstance(t, datetime) and t.tzinfo is not None for t in times)
    assert times == sorted(times)


# -- seed 001: Chronicle's run lifecycle ----------------------------------------------------


def test_001_mutators_chain_and_heartbeats_from_a_thread(seed_store: str) -> None:
    """``chronicle.run(exp_id, 0, 0).start().heartbeat()`` and the heartbeat loop."""
    run = picidae.init("exp-7/variation-0/run-0").heartbeat()
    assert isinstance(run, picidae.Run) and run.status == "running"

    def heartbeat_loop(run: picidae.Run, stop_event: threading.Event) -> None:
        while not stop_event.is_set():
            run.heartbeat()
            stop_event.wait(60)

    stop = threading.Event()
    thread = threading.Thread(target=heartbeat_loop, args=(run, stop), daemon=True)
    thread.start()
    run.log(loss=1.0).log(loss=0.5)  # ... training ...
    stop.set()
    thread.join(10)  # not in the seed: the loop has stopped before the run ends
    run.finish("succeeded")  # Chronicle's run.succeed()
    rv = picidae.get_run(run.id)
    assert rv.status == "completed" and rv.last_heartbeat_at is not None
    assert rv.metrics("loss").values == [1.0, 0.5]


def test_001_succeed_waits_for_uploads(seed_store: str, tmp_path: Path) -> None:
    """'run.succeed() blocks until pending background uploads finish.'"""
    asset = tmp_path / "model.bin"
    asset.write_bytes(b"w" * 200_000)
    run = picidae.init("exp-7/uploads")
    run.log_artifact(asset, type="checkpoint")  # Chronicle's run.upload_asset(...)
    run.finish("succeeded")
    assert [a["name"] for a in picidae.get_run(run.id).artifacts()] == ["model.bin"]


def test_001_crash_is_recorded_verbatim_and_counts_as_a_failure(seed_store: str) -> None:
    """'run.fail(reason="crash") — unrecoverable error inside the runner (exception, OOM,
    etc.). Chronicle records the reason verbatim.'"""
    ok = picidae.init("exp-7/ok").finish()
    crashed = picidae.init("exp-7/oom").fail(reason="crash", message="CUDA out of memory")
    rv = picidae.get_run(crashed.id)
    assert rv.status == "failed"
    assert rv.failure["reason"] == "crash" and rv.failure["message"] == "CUDA out of memory"
    assert rv.transitions[-1]["reason"] == "crash"
    history = picidae.history(where='name like "exp-7/%"')["total"]
    assert history["failures"] == {"crash": 1} and history["failure_rate"] == 0.5
    assert picidae.get_run(ok.id).status == "completed"


def test_001_abandoned_runs_stay_out_of_failure_rates(seed_store: str) -> None:
    """'run.fail(reason="abandoned") — user or agent cancelled the run. Distinguished so
    abandoned runs don't pollute crash metrics' (the contract: it ends ``canceled``)."""
    picidae.init("exp-8/ok").finish()
    picidae.init("exp-8/oom").fail(reason="crash")
    abandoned = picidae.init("exp-8/abandoned").fail(reason="abandoned")
    rv = picidae.get_run(abandoned.id)
    assert (rv.status, rv.transitions[-1]["reason"]) == ("canceled", "abandoned")
    history = picidae.history(where='name like "exp-8/%"')["total"]
    assert history["failures"] == {"crash": 1} and history["canceled"] == 1
    assert history["failure_rate"] == pytest.approx(1 / 3)


def test_001_lost_runs_recover_within_the_window_then_fail(tmp_path: Path) -> None:
    """'Runs that don't heartbeat within that window transition to lost ... A run that has
    gone lost can return to running if a heartbeat arrives within 48h. Beyond that, Chronicle
    marks it failed_lost.' (The embedded store applies the watchdog on reads; ``now`` is
    moved forward instead of waiting 15 minutes.)"""
    url = str(tmp_path / "store")
    store = open_store(url)
    run = picidae.init("exp-9/silent", store=url)
    now = time.time()
    store.apply_liveness(now=now + 16 * 60)
    assert picidae.get_run(run.id, store=url).status == "lost"
    run.heartbeat()
    assert picidae.get_run(run.id, store=url).status == "running"
    other = picidae.init("exp-9/gone", store=url)
    store.apply_liveness(now=now + 16 * 60)
    store.apply_liveness(now=now + 16 * 60 + 48 * 3600 + 1)
    rv = picidae.get_run(other.id, store=url)
    assert rv.status == "failed" and rv.failure["reason"] == "lost"
    run.finish()


def test_001_reruns_are_explicit(seed_store: str) -> None:
    """'There is no automatic retry. Chronicle creates a new run (incrementing the run
    number) if the agent decides to retry; reruns are explicit, not implicit.'"""
    crashed = picidae.init("exp-10/run").fail(reason="crash")
    assert len(picidae.runs(name="exp-10/*")) == 1
    again = picidae.retry(crashed.id)
    assert (again.status, again.attempt, again.retry_of, again.trigger) == (
        "queued", 2, crashed.id, "retry")
    assert picidae.get_run(crashed.id).status == "failed"


# -- seed 002: OptAIC's Run resources -------------------------------------------------------


def test_002_submit_start_progress_complete(seed_store: str, tmp_path: Path) -> None:
    """'1. Submit: Create Run in pending 2. Start: Transition to running, set started_at
    3. Progress: Update progress_pct 4. Complete: Set ended_at, store outputs, transition to
    completed' — with metrics_json, artifacts_ref and input_versions."""
    queued = picidae.submit(["python", "backtest.py"], name="BacktestRun/momentum",
                            config={"mode": "incremental"})
    assert queued.status == "queued" and queued.started_at is None

    run = picidae.init(id=queued.id)  # the worker's program attaches to its queued run
    run.use_input("signal_version_id", "version-uuid")
    run.use_input("model_artifact_version", "v1.2.3")
    run.progress(0.5, "half the days")
    curve = tmp_path / "equity_curve.parquet"
    curve.write_bytes(b"PAR1" * 10)
    run.log_artifact(curve, name="equity_curve", type="equity_curve")
    run.summary({"sharpe_ratio": 1.85, "max_drawdown": -0.12, "total_return": 0.15})
    run.finish()

    rv = picidae.get_run(queued.id)
    assert [(t["from"], t["to"]) for t in rv.transitions] == [
        ("queued", "running"), ("running", "completed")]
    assert rv.config["mode"] == "incremental"
    assert rv.summary == {"sharpe_ratio": 1.85, "max_drawdown": -0.12, "total_return": 0.15}
    assert rv.progress["fraction"] == 0.5
    assert [(i["name"], i["version"]) for i in rv.inputs] == [
        ("signal_version_id", "version-uuid"), ("model_artifact_version", "v1.2.3")]
    assert rv.artifact("equity_curve")["size"] == 40
    assert isinstance(rv.started_at, datetime) and rv.started_at.tzinfo == UTC
    assert rv.created_at <= rv.started_at <= rv.ended_at
    assert rv.duration_s == pytest.approx((rv.ended_at - rv.started_at).total_seconds(),
                                          abs=1e-3)


def test_002_failed_and_cancelled(seed_store: str) -> None:
    """``running → failed`` ('Set error info') and ``running → cancelled``."""
    failed = picidae.init("PipelineRun/refresh").fail("error", message="upstream not ready")
    canceled = picidae.init("PipelineRun/refresh").cancel()
    f, c = picidae.get_run(failed.id), picidae.get_run(canceled.id)
    assert (f.status, f.failure["reason"], f.failure["message"]) == (
        "failed", "error", "upstream not ready")
    assert c.status == "canceled" and c.failure is None
    assert f.ended_at is not None and c.ended_at is not None


# -- seed 003: cbintel's workspace runs -----------------------------------------------------


def _research_run(max_urls: int, *, fail: bool = False) -> picidae.Run:
    run = picidae.init("research_pipeline", config={"query": "AI regulation",
                                                     "max_urls": max_urls})
    for stage in ("discover", "fetch"):
        with run.child(stage, kind="stage") as child:
            child.log(urls=42)
    run.output("urls", 42).output("synthesis", "AI regulation is evolving...")
    run.output("entity_count", 127)
    if fail:
        return run.fail("error", message="fetch timed out")
    return run.finish()


def test_003_list_filter_and_get(seed_store: str, tmp_path: Path) -> None:
    """'List Runs', 'Filter Runs' (by status, date range, graph name), 'Get Run Details' and
    'Get Run Artifacts'."""
    first = _research_run(50)
    report = tmp_path / "report.md"
    report.write_text("# report")
    other = picidae.init("other_graph")
    other.log_artifact(report, type="report").finish()
    _research_run(60, fail=True)

    runs = picidae.runs()
    assert len(runs) == 3 + 4  # three top-level runs; two stage children of two of them
    completed = picidae.runs(status="completed", parent=None, name="research_pipeline")
    assert [r.id for r in completed] == [first.id]
    recent = picidae.runs(created_after=datetime.now(UTC) - timedelta(days=7))
    assert len(recent) == len(runs)
    assert picidae.runs(created_after=datetime.now(UTC) + timedelta(days=1)) == []
    research_runs = picidae.runs(name="research_pipeline")
    assert len(research_runs) == 2

    run = picidae.get_run(first.id)
    assert run.name == "research_pipeline"
    assert run.config == {"query": "AI regulation", "max_urls": 50}
    assert run.outputs == {"urls": 42, "synthesis": "AI regulation is evolving...",
                           "entity_count": 127}
    assert [(c.name, c.status) for c in run.children()] == [
        ("research_pipeline/discover", "completed"), ("research_pipeline/fetch", "completed")]
    artifacts = picidae.get_run(other.id).artifacts()
    assert [(a["name"], a["type"]) for a in artifacts] == [("report.md", "report")]
    with pytest.raises(picidae.RunNotFound):
        picidae.get_run("run_xyz789")
    try:
        picidae.get_run("run_xyz789")
    except picidae.PicidaeError as e:  # the seed's 'except RunError'
        assert "run_xyz789" in str(e)


def test_003_created_after_a_naive_utc_datetime(seed_store: str) -> None:
    """``created_after=datetime.utcnow() - timedelta(days=7)``: naive, meaning UTC."""
    run = picidae.init("research_pipeline").finish()
    recent = picidae.runs(created_after=datetime.utcnow() - timedelta(minutes=5))
    assert [r.id for r in recent] == [run.id]
    assert picidae.runs(created_after=datetime.utcnow() + timedelta(minutes=5)) == []


def test_003_compare_replay_history_export(seed_store: str, tmp_path: Path) -> None:
    """'Compare Parameters', 'Replay Runs' (same and modified params), 'View History' and
    'Export History'."""
    run1 = picidae.get_run(_research_run(50).id)
    run2 = picidae.get_run(_research_run(100, fail=True).id)
    diff_params = {
        k: (run1.config.get(k), run2.config.get(k))
        for k in set(run1.config) | set(run2.config)
        if run1.config.get(k) != run2.config.get(k)
    }
    assert diff_params == {"max_urls": (50, 100)}
    rows = picidae.compare([run1.id, run2.id])["sections"]["config"]
    assert [(r["key"], r["values"]) for r in rows] == [("max_urls", [50, 100])]

    same = picidae.replay(run1.id)
    modified = picidae.replay(run1.id, overrides={"max_urls": 100})
    assert (same.replay_of, same.status, same.config) == (run1.id, "queued", run1.config)
    assert modified.config == {"query": "AI regulation", "max_urls": 100}

    history = picidae.history(where='name = "research_pipeline"')["total"]
    assert history["runs"] == 4  # two recorded, two replays queued
    assert history["statuses"] == {"completed": 1, "failed": 1, "queued": 2}
    assert history["failure_rate"] == 0.5 and history["duration"]["mean"] >= 0
    history_data = picidae.history()
    with open(tmp_path / "run_history.json", "w") as f:
        json.dump(history_data, f, indent=2)
    assert json.loads((tmp_path / "run_history.json").read_text())["total"]["runs"] == 8


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # utcnow, as the seed writes it
def test_003_cleanup_old_runs(seed_store: str) -> None:
    """'Delete runs older than 30 days': ``cleanup(older_than=cutoff)`` with a datetime."""
    store = open_store(seed_store)
    old = store.create_run(new_record("research_pipeline", now=time.time() - 40 * 86400))
    store.transition(old["id"], "completed", actor="test")
    recent = picidae.init("research_pipeline").finish()
    live = picidae.init("research_pipeline")

    cutoff = datetime.utcnow() - timedelta(days=30)
    deleted = picidae.cleanup(older_than=cutoff)
    assert deleted == [old["id"]]
    assert {r.id for r in picidae.runs()} == {recent.id, live.id}
    # An aware datetime between two runs: the older one goes, the newer stays.
    between = datetime.now(UTC)
    time.sleep(0.01)
    newer = picidae.init("research_pipeline").finish()
    assert picidae.cleanup(older_than=between, dry_run=True) == [recent.id]
    assert picidae.cleanup(older_than=between) == [recent.id]
    assert {r.id for r in picidae.runs()} == {live.id, newer.id}
    # 'Keep Only Recent'
    live.finish()
    assert picidae.cleanup(keep_last=1) == [live.id]
    with pytest.raises(picidae.InvalidInput, match="older_than"):
        picidae.cleanup(older_than="last tuesday")


FULL_LIFECYCLE = """
    import math

    import torch
    import torch.nn as nn
    import torch.optim as optim
    from PIL import Image, ImageDraw

    import picidae

    run = picidae.init(
        "cv/resnet50/baseline",
        alias="seed-42",
        capture_console=True,
    )

    model = nn.Sequential(
        nn.Linear(128, 64),
        nn.ReLU(),
        nn.Linear(64, 10),
    )
    optimizer = optim.Adam(model.parameters(), lr=1e-3)
    criterion = nn.CrossEntropyLoss()

    run.set_primary_metric("val_acc", mode="max")
    run.log_config(extra={"optimizer": "adam", "lr": 1e-3, "epochs": 3})

    latest_val_acc = 0.0
    for epoch in range(1, 4):
        model.train()
        epoch_acc_sum = 0.0
        epoch_steps = 0

        dataloader = [
            (torch.randn(32, 128), torch.randint(0, 10, (32,)))
            for _ in range(5)
        ]

        for batch_idx, (inputs, targets) in enumerate(dataloader, start=1):
            optimizer.zero_grad()
            outputs = model(inputs)
            loss = criterion(outputs, targets)
            loss.backward()
            optimizer.step()

            curve_step = (epoch - 1) * len(dataloader) + batch_idx
            simulated_train_loss = 1.6 * math.exp(-0.18 * curve_step) + 0.04 * torch.rand(1).item()
            batch_acc = min(0.95, 0.35 + 0.08 * math.log1p(curve_step)
                            + 0.02 * torch.rand(1).item())
            epoch_acc_sum += batch_acc
            epoch_steps += 1

            print(f"train_loss: {simulated_train_loss:.4f}")
            run.log({
                "train_loss": simulated_train_loss,
                "train_acc": batch_acc,
                "val_acc": latest_val_acc,
            }, stage=f"epoch_{epoch}")

        train_acc = epoch_acc_sum / epoch_steps
        latest_val_acc = 0.70 + 0.05 * epoch

        preview = Image.new("RGB", (320, 160), "white")
        draw = ImageDraw.Draw(preview)
        draw.rounded_rectangle((10, 10, 310, 150), radius=12, outline="navy", width=3)
        draw.text((24, 28), f"Epoch {epoch}", fill="black")
        draw.text((24, 68), f"train_acc={train_acc:.3f}", fill="green")
        draw.text((24, 102), f"val_acc={latest_val_acc:.3f}", fill="purple")
        run.log_image(
            "epoch_preview",
            preview,
            caption=f"Metrics snapshot for epoch {epoch}",
        )

    run.summary({
        "epochs": 3,
        "final_train_acc": train_acc,
        "final_val_acc": latest_val_acc,
        "final_note": "baseline complete",
    })
    run.finish()
    print(run.id)
"""


# -- seed 004: Runicorn's SDK lifecycle (Picidae's names; rn.* is picidae.compat.runicorn) ---


def test_004_init_log_stage_step_and_config(seed_store: str) -> None:
    """``rn.init(path=..., alias=...)``, ``run.log`` with ``step`` and ``stage``, auto steps,
    ``set_primary_metric``, ``log_config(extra=...)`` and ``summary`` merging."""
    run = picidae.init("cv/resnet50/baseline", alias="trial-01", capture_env=False,
                       snapshot_code=False, capture_console=False, tqdm_mode="smart")
    run.set_primary_metric("val_acc", mode="max")
    run.log_config(extra={"optimizer": "adam", "lr": 1e-3, "epochs": 3})
    run.log({"loss": 0.42, "acc": 0.88}, step=1, stage="epoch_1")
    run.log(val_loss=0.39, val_acc=0.90, step=2, stage="epoch_2")
    run.log({"val_acc": 0.85})  # no step: the next one (3)
    run.log({"loss": 0.8}, step=50, stage="epoch_1")
    run.log({"loss": 0.4}, step=100, stage="epoch_2")
    run.log({"val_loss": 0.35}, step=150, stage="epoch_3")
    run.summary({"best_ckpt": "ckpt-2.pt"})
    run.summary({"final_acc": 0.90, "notes": "baseline"})
    run.finish()

    rv = picidae.get_run(run.id)
    assert (rv.name, rv.alias, rv.status) == ("cv/resnet50/baseline", "trial-01", "completed")
    assert rv.config == {"optimizer": "adam", "lr": 1e-3, "epochs": 3}
    assert [(p.step, p.value, p.stage) for p in rv.metrics("loss")] == [
        (1, 0.42, "epoch_1"), (50, 0.8, "epoch_1"), (100, 0.4, "epoch_2")]
    assert [(p.step, p.stage) for p in rv.metrics("val_acc")] == [(2, "epoch_2"), (3, None)]
    assert all(p.time > 0 for p in rv.metrics("loss"))
    assert rv.primary_metric == {"name": "val_acc", "mode": "max", "best": 0.90, "step": 2}
    assert rv.summary == {"best_ckpt": "ckpt-2.pt", "final_acc": 0.90, "notes": "baseline"}


def test_004_log_config_takes_argparse_args_and_extra(seed_store: str) -> None:
    """Runicorn's ``log_config(args=None, extra=None)``: args as a Namespace or a dict."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--layers", type=int, default=4)
    run = picidae.init("cv/args")
    run.log_config(parser.parse_args(["--lr", "0.01"]), extra={"optimizer": "adam"})
    run.log_config(args={"batch": 32})
    run.log_config({"opt": {"beta": 0.9}}, extra={"opt": {"eps": 1e-8}})
    run.finish()
    assert picidae.get_run(run.id).config == {
        "lr": 0.01, "layers": 4, "optimizer": "adam", "batch": 32,
        "opt": {"beta": 0.9, "eps": 1e-8}}
    with pytest.raises(picidae.InvalidInput, match="extra"):
        picidae.init("cv/args-bad").log_config(extra=["not", "a", "dict"])


def test_004_names_are_normalized_and_checked(seed_store: str) -> None:
    """'Path rules': None becomes default, backslashes become /, traversal is rejected."""
    assert picidae.init(None).finish().name == "default"
    assert picidae.init("research\\ablation\\seed-42").finish().name == \
        "research/ablation/seed-42"
    with pytest.raises(picidae.InvalidInput):
        picidae.init("cv/../../etc")


def test_004_log_text_finish_and_context_manager(seed_store: str) -> None:
    """``log_text`` (timestamped lines, shown in the logs), ``finish`` with and without a
    status, post-finish writes blocked, and the context manager's automatic status."""
    run = picidae.init("cv/text")
    run.log_text("checkpoint saved\nepoch 1 done")
    run.finish()
    rv = picidae.get_run(run.id)
    assert str(rv.logs()) == "checkpoint saved\nepoch 1 done"
    assert "epoch 1" in rv.logs() and "epoch 2" not in rv.logs()
    assert rv.logs()[0] in rv.logs() and all(line.time > 0 for line in rv.logs())
    with pytest.raises(picidae.RunFinished):
        run.log({"loss": 0.1})

    statuses = {word: picidae.get_run(picidae.init(f"cv/{word}").finish(word).id).status
                for word in ("finished", "failed", "interrupted")}
    assert statuses == {"finished": "completed", "failed": "failed", "interrupted": "canceled"}

    with picidae.init("cv/ok") as ok:
        ok.log({"loss": 0.1})
    with pytest.raises(ZeroDivisionError), picidae.init("cv/boom") as boom:
        1 / 0  # noqa: B018
    assert picidae.get_run(ok.id).status == "completed"
    failed = picidae.get_run(boom.id)
    assert failed.status == "failed" and "ZeroDivisionError" in failed.failure["message"]


def test_004_disabled_tracking_keeps_the_code_shape(seed_store: str) -> None:
    """``rn.set_enabled(False)``: init returns a no-op run; ``log``/``finish`` do nothing."""
    picidae.set_enabled(False)
    run = picidae.init("debug")
    run.log({"loss": 0.1})
    run.log_config(extra={"lr": 0.1})
    run.finish()
    assert isinstance(run, picidae.NoopRun) and run.name == "debug"
    assert run.child("phase").name == "debug/phase"
    picidae.set_enabled(True)
    assert picidae.runs() == []


def test_004_full_lifecycle_example(seed_store: str, run_script: Any) -> None:
    """The seed's 'Full lifecycle example', with ``picidae`` for ``rn``, in a fresh process
    (console capture works on the process's file descriptors)."""
    pytest.importorskip("torch")
    env = {k: v for k, v in os.environ.items() if k.startswith("PICIDAE_")}
    proc = run_script(FULL_LIFECYCLE, env={**env, "PICIDAE_STORE": seed_store}, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert "train_loss: " in proc.stdout  # still printed on the terminal
    run_id = proc.stdout.strip().splitlines()[-1]
    rv = picidae.get_run(run_id)
    assert (rv.status, rv.alias) == ("completed", "seed-42")
    assert rv.config == {"optimizer": "adam", "lr": 1e-3, "epochs": 3}
    loss = rv.metrics("train_loss")
    assert loss.steps == list(range(15))  # auto-incremented, one aligned axis
    assert [p.stage for p in loss][::5] == ["epoch_1", "epoch_2", "epoch_3"]
    assert rv.metrics("val_acc").values[:5] == [0.0] * 5
    assert rv.primary_metric["name"] == "val_acc"
    assert rv.primary_metric["best"] == pytest.approx(0.80)  # the val_acc logged in epoch 3
    assert rv.summary["final_val_acc"] == pytest.approx(0.85)
    assert rv.summary["final_note"] == "baseline complete"
    assert "train_loss: " in rv.logs()  # print() captured with capture_console=True
    images = [a for a in rv.artifacts() if a["name"] == "epoch_preview"]
    assert [a["step"] for a in images] == [4, 9, 14]
    assert images[0]["caption"] == "Metrics snapshot for epoch 1"
