"""Lightning's PicidaeLogger: a LightningModule on random tensors, beside a CSVLogger."""

from __future__ import annotations

import csv
from argparse import Namespace
from pathlib import Path
from typing import Any

import pytest
from integration_helpers import framework, points, stored

import picidae

L = framework("lightning.pytorch", "lightning")
torch = framework("torch", "lightning")
pl = framework("pytorch_lightning", "lightning")  # installed with lightning; both are served
from picidae.integrations.lightning import PicidaeLogger  # noqa: E402

pytestmark = [
    pytest.mark.filterwarnings("ignore:.*does not have many workers"),
    pytest.mark.filterwarnings("ignore:.*LeafSpec.* is deprecated"),
    pytest.mark.filterwarnings("ignore:.*smaller than the logging interval"),
    pytest.mark.filterwarnings("ignore:You defined a `validation_step` but have no"),
]


def _module_class(lightning: Any) -> type:
    class Regression(lightning.LightningModule):  # type: ignore[misc,name-defined]
        def __init__(self, lr: float = 0.1, arch: Any = None, fail_at: Any = None) -> None:
            super().__init__()
            self.save_hyperparameters()
            self.net = torch.nn.Linear(4, 1)

        def training_step(self, batch: Any, index: int) -> Any:
            x, y = batch
            loss = torch.nn.functional.mse_loss(self.net(x), y)
            self.log("train_loss", loss)
            fail_at = self.hparams.fail_at
            if fail_at is not None and self.global_step == fail_at[0]:
                raise fail_at[1]
            return loss

        def validation_step(self, batch: Any, index: int) -> None:
            x, y = batch
            self.log("val_loss", torch.nn.functional.mse_loss(self.net(x), y))

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)

    return Regression


Regression = _module_class(L)


def _loader() -> Any:
    torch.manual_seed(0)
    x = torch.randn(32, 4)
    data = torch.utils.data.TensorDataset(x, x.sum(dim=1, keepdim=True))
    return torch.utils.data.DataLoader(data, batch_size=8)


def _trainer(tmp_path: Path, loggers: list[Any], lightning: Any = L, **kwargs: Any) -> Any:
    kwargs.setdefault("max_epochs", 2)
    return lightning.Trainer(logger=loggers, log_every_n_steps=1,
                             enable_progress_bar=False, enable_model_summary=False,
                             default_root_dir=tmp_path, **kwargs)


def _csv_points(path: Path, key: str) -> list[tuple[int, float]]:
    with open(path, newline="") as f:
        return [(int(row["step"]), float(row[key])) for row in csv.DictReader(f) if row[key]]


def test_hyperparameters_metrics_at_the_global_step_and_checkpoints(tmp_path: Path) -> None:
    csv_logger = L.loggers.CSVLogger(tmp_path / "csv")
    logger = PicidaeLogger("lit/regression", log_checkpoints=True)
    checkpoints = L.callbacks.ModelCheckpoint(monitor="val_loss", save_last=True)
    trainer = _trainer(tmp_path, [csv_logger, logger], callbacks=[checkpoints])
    trainer.fit(Regression(lr=0.05, arch={"hidden": [4, 1], "act": Namespace(kind="relu")}),
                _loader(), _loader())

    rv = stored(logger.run)
    assert rv.status == "completed" and rv.name == "lit/regression"
    assert rv.config == {"lr": 0.05, "arch": {"hidden": [4, 1], "act": {"kind": "relu"}},
                         "fail_at": None}
    assert sorted(rv.metric_keys()) == ["epoch", "train_loss", "val_loss"]
    metrics_csv = Path(csv_logger.log_dir) / "metrics.csv"
    for key in ("train_loss", "val_loss"):
        assert points(rv, key) == _csv_points(metrics_csv, key)
    assert [s for s, _ in points(rv, "train_loss")] == list(range(trainer.global_step))
    best, last = Path(checkpoints.best_model_path).name, "last.ckpt"
    stored_checkpoints = [a.name for a in rv.artifacts() if a.type == "checkpoint"]
    assert sorted(stored_checkpoints) == sorted([best, last])
    assert rv.summary["best_checkpoint"] == best and rv.summary["last_checkpoint"] == last
    assert rv.summary["best_model_score"] == pytest.approx(float(checkpoints.best_model_score))


@pytest.mark.parametrize(("exc", "raised", "status", "reason"), [
    (ValueError("loss exploded"), ValueError, "failed", "crash"),
    (KeyboardInterrupt(), SystemExit, "canceled", "interrupted"),  # Lightning exits on ^C
])
def test_an_exception_inside_training_ends_the_run(tmp_path: Path, exc: BaseException,
                                                   raised: type, status: str,
                                                   reason: str) -> None:
    logger = PicidaeLogger("lit/boom")
    with pytest.raises(raised):
        _trainer(tmp_path, [logger]).fit(Regression(fail_at=(3, exc)), _loader())

    rv = stored(logger.run)
    assert rv.status == status and rv.transitions[-1]["reason"] == reason
    if status == "failed":
        assert rv.failure["message"] == "ValueError: loss exploded"
        assert "training_step" in rv.failure["traceback"]
    assert [s for s, _ in points(rv, "train_loss")] == [0, 1, 2]


def test_a_given_run_is_recorded_into_and_left_open(tmp_path: Path) -> None:
    run = picidae.init("lit/mine")
    logger = PicidaeLogger(run=run)
    _trainer(tmp_path, [logger], max_epochs=1).fit(Regression(), _loader())
    rv = stored(run)
    assert rv.status == "running" and rv.config["lr"] == 0.1
    assert [s for s, _ in points(rv, "train_loss")] == [0, 1, 2, 3]
    run.finish()


def test_it_is_a_logger_of_pytorch_lightning_too(tmp_path: Path) -> None:
    logger = PicidaeLogger("pl/regression")
    assert isinstance(logger, L.loggers.Logger) and isinstance(logger, pl.loggers.Logger)
    _trainer(tmp_path, [logger], lightning=pl, max_epochs=1).fit(
        _module_class(pl)(), _loader())
    rv = stored(logger.run)
    assert rv.status == "completed"
    assert [s for s, _ in points(rv, "train_loss")] == [0, 1, 2, 3]
