"""Keras 3 (any backend): ``PicidaeCallback``, a ``keras.callbacks.Callback``.

>>> model.fit(x, y, epochs=5, validation_split=0.2, callbacks=[PicidaeCallback("keras/mlp")])

Epoch logs (``loss``, ``val_loss``, compiled metrics) are metrics at step = the epoch as Keras
counts it (from 0); ``log_every_n_batches=N`` adds every Nth batch's logs as ``batch/KEY`` at
step = the batch's index over the whole training. The model's config (and the optimizer's,
with the fit's ``epochs`` and ``steps``) go to config; the last epoch's logs to the summary.
The run starts at ``on_train_begin`` and ends at ``on_train_end``; Keras announces no
exception, so a ``fit`` that raises leaves the run to the end of a ``with PicidaeCallback()
as cb:`` block, the next ``fit`` with this callback, or process exit (``failed``, reason
``crash``, with the traceback).
"""

from __future__ import annotations

from typing import Any

from picidae.errors import InvalidInput
from picidae.integrations._common import (
    Adapter,
    Recorder,
    config_value,
    metric_values,
    require,
)

_class: type | None = None


def _callback_class() -> type:
    global _class
    if _class is not None:
        return _class
    keras = require("keras", "keras", hint=(
        "; Keras 3 needs a backend: set KERAS_BACKEND=torch or jax, or install tensorflow"))

    base: Any = keras.callbacks.Callback

    class PicidaeCallback(Adapter, base):  # type: ignore[misc]
        """Records a Keras ``fit`` as a run (see the module docstring). Takes
        ``name=None, *, run=None, log_every_n_batches=None, **init_kwargs``; with ``run=``
        records into that run and leaves it open."""

        def __init__(self, name: str | None = None, *, run: Any = None,
                     log_every_n_batches: int | None = None, **init_kwargs: Any) -> None:
            super().__init__()
            if log_every_n_batches is not None and (
                    isinstance(log_every_n_batches, bool)
                    or not isinstance(log_every_n_batches, int) or log_every_n_batches < 1):
                raise InvalidInput("log_every_n_batches must be a positive int, got "
                                   f"{log_every_n_batches!r}", field="log_every_n_batches")
            self._rec = Recorder(name, run, init_kwargs)
            self._every = log_every_n_batches
            self._batches = 0
            self._epoch_logs: dict[str, float] = {}

        def on_train_begin(self, logs: Any = None) -> None:
            run = self._rec.start(fresh=True)
            self._batches = 0
            self._epoch_logs = {}
            if run is None:
                return
            config: dict[str, Any] = {}
            model = getattr(self, "model", None)
            if model is not None:
                try:
                    config["model"] = config_value(model.get_config())
                except Exception:  # a subclassed model without get_config
                    config["model"] = {"class": type(model).__name__}
                optimizer = getattr(model, "optimizer", None)
                if optimizer is not None:
                    try:
                        config["optimizer"] = config_value(optimizer.get_config())
                    except Exception:
                        config["optimizer"] = {"class": type(optimizer).__name__}
            params = getattr(self, "params", None) or {}
            for key in ("epochs", "steps"):
                if params.get(key) is not None:
                    config[key] = params[key]
            run.log_config(config)

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            index = self._batches
            self._batches += 1
            run = self._rec.active
            if run is None or self._every is None or (index + 1) % self._every:
                return
            values = metric_values(logs, prefix="batch/")
            if values:
                run.log(values, step=index)

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            run = self._rec.active
            if run is None:
                return
            values = metric_values(logs)
            if values:
                run.log(values, step=epoch)
                self._epoch_logs = values

        def on_train_end(self, logs: Any = None) -> None:
            run = self._rec.active
            if run is not None and self._epoch_logs:
                run.summary(self._epoch_logs)
            self._rec.end()

    _class = PicidaeCallback
    return _class


def __getattr__(name: str) -> Any:
    if name == "PicidaeCallback":
        return _callback_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
