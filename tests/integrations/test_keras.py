"""Keras 3's PicidaeCallback (torch backend): a Sequential model fitted on numpy arrays."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from integration_helpers import framework, points, stored

import picidae

keras = framework("keras", "keras")
# Keras' optimizer turns its variables into numpy the numpy-1 way (a warning under numpy 2).
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
from picidae.integrations.keras import PicidaeCallback  # noqa: E402


def _model() -> Any:
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(1)], name="tiny_mlp")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss="mse",
                  metrics=["mae"])
    return model


def _data() -> tuple[Any, Any]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    return x, (x @ np.array([1.0, 2.0, -1.0, 0.5])).astype("float32")


class _Raise(keras.callbacks.Callback):  # type: ignore[misc]
    def __init__(self, exc: BaseException) -> None:
        super().__init__()
        self.exc = exc

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        if epoch == 1:
            raise self.exc


def test_epoch_logs_at_the_epoch_batch_logs_every_n_config_and_summary() -> None:
    x, y = _data()
    cb = PicidaeCallback("keras/mlp", log_every_n_batches=2)
    history = _model().fit(x, y, epochs=3, batch_size=16, validation_split=0.25,
                           callbacks=[cb], verbose=0)

    rv = stored(cb.run)
    assert rv.status == "completed"
    assert sorted(rv.metric_keys()) == ["batch/loss", "batch/mae", "loss", "mae", "val_loss",
                                        "val_mae"]
    for key, values in history.history.items():
        assert points(rv, key) == list(enumerate(values))
    # 48 training rows in batches of 16: 3 batches an epoch, 9 in all; every 2nd recorded.
    assert [s for s, _ in points(rv, "batch/loss")] == [1, 3, 5, 7]
    assert rv.config["model"]["name"] == "tiny_mlp"
    assert [layer["class_name"] for layer in rv.config["model"]["layers"]] == [
        "InputLayer", "Dense", "Dense"]
    assert rv.config["optimizer"]["learning_rate"] == pytest.approx(0.01)
    assert rv.config["epochs"] == 3 and rv.config["steps"] == 3
    assert rv.summary == {key: values[-1] for key, values in history.history.items()}


@pytest.mark.parametrize(("exc", "status", "reason"), [
    (RuntimeError("loss is NaN"), "failed", "crash"),
    (KeyboardInterrupt(), "canceled", "interrupted"),
])
def test_an_exception_inside_fit_ends_the_run_at_the_end_of_its_block(
        exc: BaseException, status: str, reason: str) -> None:
    x, y = _data()
    with pytest.raises(type(exc)), PicidaeCallback("keras/boom") as cb:
        _model().fit(x, y, epochs=4, batch_size=16, callbacks=[cb, _Raise(exc)], verbose=0)

    rv = stored(cb.run)
    assert rv.status == status and rv.transitions[-1]["reason"] == reason
    if status == "failed":
        assert rv.failure["message"] == "RuntimeError: loss is NaN"
    assert [s for s, _ in points(rv, "loss")] == [0, 1]


def test_the_next_fit_fails_the_run_an_exception_left_open() -> None:
    x, y = _data()
    cb = PicidaeCallback("keras/retry")
    model = _model()
    with pytest.raises(RuntimeError):
        model.fit(x, y, epochs=3, callbacks=[cb, _Raise(RuntimeError("x"))], verbose=0)
    first = cb.run
    model.fit(x, y, epochs=1, callbacks=[cb], verbose=0)

    assert stored(first).status == "failed"
    assert cb.run.id != first.id and stored(cb.run).status == "completed"


def test_a_given_run_is_recorded_into_and_left_open() -> None:
    x, y = _data()
    run = picidae.init("keras/mine")
    _model().fit(x, y, epochs=2, callbacks=[PicidaeCallback(run=run)], verbose=0)
    rv = stored(run)
    assert rv.status == "running" and [s for s, _ in points(rv, "loss")] == [0, 1]
    run.finish()


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_log_every_n_batches_must_be_a_positive_int(bad: Any) -> None:
    with pytest.raises(picidae.InvalidInput, match="log_every_n_batches"):
        PicidaeCallback(log_every_n_batches=bad)
