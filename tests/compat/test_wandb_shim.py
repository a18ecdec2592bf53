"""``picidae.compat.wandb``: a typical W&B training script, changed only in its import line,
records a run that reads back as the contract says."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import picidae

TRAINING = '''
import argparse
import numpy as np
import picidae.compat.wandb as wandb

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=3)
args = parser.parse_args()

run = wandb.init(project="mnist", name="baseline", group="sweep-a", job_type="train",
                 config={"lr": 0.01, "model": {"layers": 2}}, tags=["cnn"],
                 notes="first try", entity="my-team")
wandb.config.update(args)
wandb.config.batch_size = 32
wandb.define_metric("val/acc", summary="max")
wandb.watch(object(), log="all")
for epoch in range(wandb.config.epochs):
    for batch in range(4):
        wandb.log({"train/loss": 1.0 / (1 + epoch * 4 + batch)})
    wandb.log({"val/acc": [0.5, 0.9, 0.7][epoch], "epoch": epoch}, commit=False)
    wandb.log({"lr": 0.01 * 0.5 ** epoch})
wandb.log({"sample": wandb.Image(np.zeros((8, 8, 3), dtype=np.uint8), caption="zeros")})
wandb.log({"late": 1.0}, step=100)
wandb.log({"late2": 2.0}, step=100)
run.summary["final_note"] = "done"
wandb.summary["lr"] = 123.0
with open("weights.txt", "w") as f:
    f.write("w")
wandb.save("weights.txt")
art = wandb.Artifact("model", type="model")
art.add_file("weights.txt")
run.log_artifact(art)
wandb.log({"preds": wandb.Table(columns=["a"], data=[[1]]), "h": wandb.Histogram([1, 2])})
wandb.alert(title="slow", text="epoch took long", level=wandb.AlertLevel.WARN)
print("RUN", run.id, run.name, wandb.run is run)
wandb.finish()
print("AFTER", wandb.run)
'''


def _run_id(out: str) -> str:
    line = next(x for x in out.splitlines() if x.startswith("RUN "))
    return line.split()[1]


def test_wandb_training_script_records_a_run(run_script: Any, store_dir: Path,
                                             tmp_path: Path) -> None:
    done = run_script(TRAINING, "--epochs", "3", env={"PICIDAE_STORE": str(store_dir)},
                      cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "RUN " in done.stdout and " True" in done.stdout and "AFTER None" in done.stdout
    rv = picidae.get_run(_run_id(done.stdout), store=str(store_dir))
    assert rv.name == "mnist/sweep-a/baseline"
    assert rv.kind == "train" and rv.status == "completed"
    assert rv.tags == ["cnn"] and rv.notes == "first try"
    assert rv.config == {"lr": 0.01, "model": {"layers": 2}, "epochs": 3, "batch_size": 32}
    parent = picidae.get_run(rv.parent_id, store=str(store_dir))
    assert parent.name == "mnist/sweep-a" and parent.kind == "group"
    # each log() without a step is its own step; commit=False joins the next log's step
    loss = rv.metrics("train/loss")
    assert [p.step for p in loss] == [0, 1, 2, 3, 5, 6, 7, 8, 10, 11, 12, 13]
    assert [(p.step, p.value) for p in rv.metrics("val/acc")] == [(4, 0.5), (9, 0.9), (14, 0.7)]
    assert [p.step for p in rv.metrics("lr")] == [4, 9, 14]
    assert [(p.step, p.value) for p in rv.metrics("late")] == [(100, 1.0)]
    assert [(p.step, p.value) for p in rv.metrics("late2")] == [(100, 2.0)]
    # summary: the last logged value, the best for define_metric's keys, set keys win
    assert rv.summary["train/loss"] == 1.0 / 12
    assert rv.summary["val/acc"] == 0.9
    assert rv.summary["lr"] == 123.0 and rv.summary["final_note"] == "done"
    assert rv.primary_metric["name"] == "val/acc" and rv.primary_metric["mode"] == "max"
    assert rv.primary_metric["best"] == 0.9
    names = {a.name for a in rv.artifacts()}
    assert {"weights.txt", "model/weights.txt"} <= names
    assert any(n.startswith("sample") for n in names)
    assert "preds (step 100): <Table>" in rv.logs()  # kept, as a log line


def test_wandb_training_script_on_a_server(run_script: Any, tmp_path: Path,
                                           subprocess_env: dict[str, str]) -> None:
    """The same script against ``picidae server``: the same run, and its url is its page."""
    from processes import ServerProcess

    server = ServerProcess(str(tmp_path / "srv"), subprocess_env).start()
    try:
        done = run_script(TRAINING + "print('URL', run.url)\n", "--epochs", "2",
                          env={"PICIDAE_STORE": server.url}, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        run_id = _run_id(done.stdout)
        assert f"URL {server.url}/runs/{run_id}" in done.stdout
        rv = picidae.get_run(run_id, store=server.url)
        assert rv.name == "mnist/sweep-a/baseline" and rv.status == "completed"
        assert rv.notes == "first try" and rv.summary["val/acc"] == 0.9
        assert picidae.get_run(rv.parent_id, store=server.url).kind == "group"
        assert [p.step for p in rv.metrics("val/acc")] == [4, 9]
    finally:
        server.stop()


def test_runs_of_one_group_share_one_parent(run_script: Any, store_dir: Path) -> None:
    code = '''
import sys
import picidae.compat.wandb as wandb
run = wandb.init(project="p", group="g", name=sys.argv[1])
wandb.log({"x": 1})
run.finish(exit_code=int(sys.argv[2]))
print("RUN", run.id)
'''
    env = {"PICIDAE_STORE": str(store_dir)}
    first = run_script(code, "a", "0", env=env)
    second = run_script(code, "b", "3", env=env)
    assert first.returncode == 0 and second.returncode == 0, second.stderr
    a = picidae.get_run(_run_id(first.stdout), store=str(store_dir))
    b = picidae.get_run(_run_id(second.stdout), store=str(store_dir))
    assert a.parent_id == b.parent_id is not None
    assert a.status == "completed" and b.status == "failed"
    assert b.failure["exit_code"] == 3


def test_disabled_mode_records_nothing(store_dir: Path) -> None:
    import picidae.compat.wandb as wandb

    run = wandb.init(project="p", mode="disabled", config={"a": 1}, store=str(store_dir))
    run.log({"loss": 1.0})
    run.summary["x"] = 1
    wandb.config.b = 2
    wandb.finish()
    assert run.id == "disabled" and wandb.run is None
    assert picidae.runs(store=str(store_dir)) == []


def test_alert_reaches_the_run(store_dir: Path) -> None:
    import picidae.compat.wandb as wandb

    run = wandb.init(project="p", name="alerting", store=str(store_dir))
    wandb.alert("loss exploded", "nan at step 3", level="ERROR")
    wandb.finish()
    assert isinstance(run.picidae_run, picidae.Run)
    rv = picidae.get_run(run.id, store=str(store_dir))
    assert rv.status == "completed"


def test_the_shims_need_neither_wandb_nor_tensorboard(run_script: Any) -> None:
    done = run_script('''
import json, sys
import picidae.compat.wandb, picidae.compat.runicorn
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules} & {"wandb", "tensorboard"})))
''')
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_script_that_raises_fails_its_run_with_what_it_logged(run_script: Any,
                                                                store_dir: Path) -> None:
    done = run_script('''
import picidae.compat.wandb as wandb
run = wandb.init(project="p", name="crashing")
print("RUN", run.id, flush=True)
wandb.log({"loss": 2.0}, step=3)
raise RuntimeError("diverged")
''', env={"PICIDAE_STORE": str(store_dir)})
    assert done.returncode == 1 and "diverged" in done.stderr
    rv = picidae.get_run(_run_id(done.stdout), store=str(store_dir))
    assert rv.status == "failed" and rv.failure["reason"] == "crash"
    assert [(p.step, p.value) for p in rv.metrics("loss")] == [(3, 2.0)]
    assert rv.summary["loss"] == 2.0


def test_importers_name_their_extra_when_the_reader_is_missing(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import builtins

    from picidae.analysis import tensorboard_import, wandb_import

    real = builtins.__import__

    def blocked(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.split(".")[0] in ("wandb", "tensorboard"):
            raise ImportError(f"No module named {name!r}")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", blocked)
    with pytest.raises(picidae.MissingDependency, match=r"picidae\[wandb-import\]"):
        wandb_import._record_class()
    with pytest.raises(picidae.MissingDependency, match=r"picidae\[tensorboard\]"):
        tensorboard_import._modules()
