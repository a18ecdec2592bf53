'''``picidae.compat.runicorn``: seed 004's (Runicorn's "Run Lifecycle" page) examples, typed in
as the seed writes them (its text lost the indentation; it is restored as the code needs) with
only ``import runicorn as rn`` changed, run and record what the seed says.'''

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import picidae

IMPORT = "import picidae.compat.runicorn as rn"

FULL_LIFECYCLE = '''
import math
import torch
import torch.nn as nn
import torch.optim as optim
from PIL import Image, ImageDraw
import picidae.compat.runicorn as rn
run = rn.init(
    path="cv/resnet50/baseline",
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
        batch_acc = min(0.95, 0.35 + 0.08 * math.log1p(curve_step) + 0.02 * torch.rand(1).item())
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
print("RUN", run.id)
'''


def _run_id(out: str) -> str:
    return next(x for x in out.splitlines() if x.startswith("RUN ")).split()[1]


def test_004_full_lifecycle_example(run_script: Any, store_dir: Path) -> None:
    done = run_script(FULL_LIFECYCLE, env={"PICIDAE_STORE": str(store_dir)}, timeout=180)
    assert done.returncode == 0, done.stderr
    assert "train_loss: " in done.stdout  # capture_console keeps the terminal output
    rv = picidae.get_run(_run_id(done.stdout), store=str(store_dir))
    assert rv.name == "cv/resnet50/baseline" and rv.alias == "seed-42"
    assert rv.status == "completed"
    assert rv.config == {"optimizer": "adam", "lr": 1e-3, "epochs": 3}
    loss = rv.metrics("train_loss")
    assert len(loss) == 15 and len({p.step for p in loss}) == 15  # auto-incremented steps
    assert [p.stage for p in loss] == [f"epoch_{e}" for e in (1, 2, 3) for _ in range(5)]
    val = [p.value for p in rv.metrics("val_acc")]
    assert val == pytest.approx([0.0] * 5 + [0.75] * 5 + [0.80] * 5)
    assert rv.primary_metric["name"] == "val_acc" and rv.primary_metric["mode"] == "max"
    assert rv.primary_metric["best"] == pytest.approx(0.80)
    assert rv.summary["epochs"] == 3 and rv.summary["final_note"] == "baseline complete"
    assert rv.summary["final_val_acc"] == pytest.approx(0.85)
    images = [a for a in rv.artifacts() if a.name.startswith("epoch_preview")]
    assert len(images) == 3
    assert {a.caption for a in images} == {f"Metrics snapshot for epoch {e}" for e in (1, 2, 3)}
    assert "train_loss: " in rv.logs()  # captured console output is in the run's log


def test_004_init_with_every_parameter(run_script: Any, tmp_path: Path) -> None:
    """The signature example: ``storage`` overrides the store for this run."""
    done = run_script(f'''
{IMPORT}
run = rn.init(
    path="cv/resnet50/baseline",
    storage="E:\\\\RunicornData",
    alias="trial-01",
    capture_env=False,
    snapshot_code=False,
    workspace_root=None,
    snapshot_format="zip",
    force_snapshot=False,
    capture_console=False,
    tqdm_mode="smart",
)
run.log({{"loss": 0.42, "acc": 0.88}}, step=1, stage="epoch_1")
run.log(val_loss=0.39, val_acc=0.90, step=2, stage="epoch_2")
run.log_text("checkpoint saved\\nsecond line")
run.finish()
print("RUN", run.id)
''', cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    where = str(tmp_path / "E:\\RunicornData")
    rv = picidae.get_run(_run_id(done.stdout), store=where)
    assert rv.alias == "trial-01" and rv.status == "completed"
    assert [(p.step, p.value, p.stage) for p in rv.metrics("loss")] == [(1, 0.42, "epoch_1")]
    assert [(p.step, p.stage) for p in rv.metrics("val_acc")] == [(2, "epoch_2")]
    assert "checkpoint saved" in rv.logs() and "second line" in rv.logs()


def test_004_path_rules_and_finish_statuses(store_dir: Path) -> None:
    import picidae.compat.runicorn as rn

    root = rn.init(path="/", storage=str(store_dir))
    assert root.name == "default"
    root.finish()
    run = rn.init(path="research\\ablation\\seed-42", storage=str(store_dir))
    assert run.name == "research/ablation/seed-42"
    run.finish("interrupted")
    assert picidae.get_run(run.id, store=str(store_dir)).status == "canceled"
    with pytest.raises(picidae.InvalidInput):
        rn.init(path="cv/../etc", storage=str(store_dir))
    with pytest.raises(picidae.InvalidInput):
        rn.init(path="x", storage=str(store_dir), snapshot_format="tar")


def test_004_context_manager_fails_on_an_exception(store_dir: Path) -> None:
    import picidae.compat.runicorn as rn

    with rn.init(path="ok", storage=str(store_dir)) as good:
        good.log({"loss": 1.0})
    with pytest.raises(RuntimeError), rn.init(path="bad", storage=str(store_dir)) as bad:
        raise RuntimeError("boom")
    assert picidae.get_run(good.id, store=str(store_dir)).status == "completed"
    assert picidae.get_run(bad.id, store=str(store_dir)).status == "failed"


def test_004_disable_tracking(run_script: Any, store_dir: Path) -> None:
    done = run_script(f'''
{IMPORT}
rn.set_enabled(False)
run = rn.init(path="debug")
run.log({{"loss": 0.1}})  # no-op
run.finish()  # no-op
print(type(run).__name__)
''', env={"PICIDAE_STORE": str(store_dir)})
    assert done.returncode == 0, done.stderr
    assert "NoopRun" in done.stdout
    assert picidae.runs(store=str(store_dir)) == []
