"""Hugging Face Transformers: ``PicidaeCallback``, a ``transformers.TrainerCallback``.

>>> trainer = Trainer(model=model, args=args, train_dataset=train, eval_dataset=valid,
...                   callbacks=[PicidaeCallback("hf/bert-tiny")])

The ``TrainingArguments`` and the model's config go to config (one flat dict, the training
arguments winning a clash, as Hugging Face's own integrations do); each log (``loss``,
``learning_rate``, ``eval_loss``...) is metrics at ``state.global_step`` under the names the
Trainer gives them; at the end of training the final evaluation's metrics and the training
totals (``train_loss``, ``train_runtime``...) go to the summary, and ``log_checkpoints=True``
saves the final model to ``OUTPUT_DIR/final-model`` and stores that folder as the artifact
``final-model``. Only the world process zero records.

The Trainer announces no exception: a ``train()`` that raises leaves the run to the end of a
``with PicidaeCallback() as cb:`` block, the next ``train()`` with this callback, or process
exit (``failed``, reason ``crash``, with the traceback).
"""

from __future__ import annotations

import os
from typing import Any

from picidae.integrations._common import (
    Adapter,
    Recorder,
    config_value,
    metric_values,
    require,
)

_class: type | None = None
_TOTALS = ("train_runtime", "train_samples_per_second", "train_steps_per_second",
           "total_flos", "train_loss")


def _config(args: Any, model: Any) -> dict[str, Any]:
    config: dict[str, Any] = {}
    model_config = getattr(model, "config", None)
    if model_config is not None and hasattr(model_config, "to_dict"):
        config.update(config_value(model_config.to_dict()))
    if hasattr(args, "to_dict"):
        config.update(config_value(args.to_dict()))
    return config


def _callback_class() -> type:
    global _class
    if _class is not None:
        return _class
    transformers = require("transformers", "transformers")

    base: Any = transformers.TrainerCallback

    class PicidaeCallback(Adapter, base):  # type: ignore[misc]
        """Records a ``Trainer.train()`` as a run (see the module docstring). Takes
        ``name=None, *, run=None, log_checkpoints=False, **init_kwargs``; with ``run=``
        records into that run and leaves it open."""

        def __init__(self, name: str | None = None, *, run: Any = None,
                     log_checkpoints: bool = False, **init_kwargs: Any) -> None:
            self._rec = Recorder(name, run, init_kwargs)
            self._log_checkpoints = bool(log_checkpoints)
            self._eval: dict[str, float] = {}
            self._totals: dict[str, float] = {}

        def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None,
                           **kwargs: Any) -> None:
            if not state.is_world_process_zero:
                return
            run = self._rec.start(fresh=True)
            self._eval, self._totals = {}, {}
            if run is not None:
                run.log_config(_config(args, model))

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None,
                   **kwargs: Any) -> None:
            run = self._rec.active
            if run is None or not state.is_world_process_zero:
                return
            values = metric_values(logs)
            if values:
                run.log(values, step=state.global_step)
            self._totals.update({k: v for k, v in values.items() if k in _TOTALS})

        def on_evaluate(self, args: Any, state: Any, control: Any, metrics: Any = None,
                        **kwargs: Any) -> None:
            if state.is_world_process_zero:
                self._eval = metric_values(metrics)

        def on_train_end(self, args: Any, state: Any, control: Any, model: Any = None,
                         processing_class: Any = None, **kwargs: Any) -> None:
            run = self._rec.active
            if run is None or not state.is_world_process_zero:
                return
            summary = {**self._totals, **self._eval}
            if summary:
                run.summary(summary)
            if self._log_checkpoints and model is not None:
                folder = os.path.join(args.output_dir, "final-model")
                model.save_pretrained(folder)
                if processing_class is not None and hasattr(processing_class,
                                                            "save_pretrained"):
                    processing_class.save_pretrained(folder)
                run.log_artifact(folder, name="final-model", type="model")
            self._rec.end()

    _class = PicidaeCallback
    return _class


def __getattr__(name: str) -> Any:
    if name == "PicidaeCallback":
        return _callback_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
