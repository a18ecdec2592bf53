"""XGBoost: ``PicidaeCallback``, a ``xgboost.callback.TrainingCallback``.

>>> bst = xgb.train(params, dtrain, evals=[(dvalid, "valid")],
...                 callbacks=[PicidaeCallback("xgb/baseline")])

Each evaluation set's metrics per iteration are metrics named ``SET/METRIC`` (``valid/rmse``)
at step = the 0-based iteration; the booster's parameters go to config; the best iteration
and score to the summary. The run starts before the first iteration and ends after the last.
"""

from __future__ import annotations

import json
import re
from typing import Any

from picidae.integrations._common import Adapter, Recorder, metric_values, require

_NUMBER = re.compile(r"-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
_PARAM_SECTIONS = ("learner_train_param", "generic_param", "learner_model_param")
_class: type | None = None


def _param(value: Any) -> Any:
    """XGBoost keeps parameters as strings of float32 values ("0.300000012"): numbers come
    back as the numbers the user wrote."""
    if not isinstance(value, str) or not _NUMBER.fullmatch(value):
        return value
    if re.fullmatch(r"-?\d+", value):
        return int(value)
    return float(f"{float(value):.7g}")


def booster_params(model: Any) -> dict[str, Any]:
    """The training parameters of a booster, from ``save_config()``, flat and typed."""
    try:
        learner = json.loads(model.save_config())["learner"]
    except Exception:  # a booster without a config: nothing to record
        return {}
    out: dict[str, Any] = {}
    for section in _PARAM_SECTIONS:
        out.update(learner.get(section) or {})
    booster = learner.get("gradient_booster") or {}
    out.update(booster.get("tree_train_param") or {})
    for key, value in booster.items():  # e.g. {"name": "gbtree", "updater": {...}}
        if key == "name":
            out["booster"] = value
    objective = learner.get("objective") or {}
    if "name" in objective:
        out["objective"] = objective["name"]
    return {key: _param(value) for key, value in out.items()}


def _callback_class() -> type:
    global _class
    if _class is not None:
        return _class
    xgb_callback = require("xgboost.callback", "xgboost")

    base: Any = xgb_callback.TrainingCallback

    class PicidaeCallback(Adapter, base):  # type: ignore[misc]
        """Records an XGBoost training as a run (see the module docstring). Takes
        ``name=None, *, run=None, **init_kwargs``; with ``run=`` records into that run and
        leaves it open."""

        def __init__(self, name: str | None = None, *, run: Any = None,
                     **init_kwargs: Any) -> None:
            super().__init__()
            self._rec = Recorder(name, run, init_kwargs)
            self._last: dict[str, float] = {}

        def before_training(self, model: Any) -> Any:
            run = self._rec.start(fresh=True)
            self._last = {}
            if run is not None:
                params = booster_params(model)
                if params:
                    run.log_config(params)
            return model

        def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
            run = self._rec.active
            if run is None:
                return False
            values: dict[str, float] = {}
            for data, metrics in evals_log.items():
                for metric, history in metrics.items():
                    last = history[-1]
                    if isinstance(last, tuple):  # xgb.cv: (mean, std)
                        last = last[0]
                    values.update(metric_values({f"{data}/{metric}": last}))
            if values:
                run.log(values, step=epoch)
                self._last = values
            return False

        def after_training(self, model: Any) -> Any:
            run = self._rec.active
            if run is not None:
                summary: dict[str, Any] = dict(self._last)
                best = model.attr("best_iteration")
                rounds = model.num_boosted_rounds()
                summary["best_iteration"] = int(best) if best is not None else rounds - 1
                score = model.attr("best_score")
                if score is not None:
                    summary["best_score"] = float(score)
                summary["iterations"] = rounds
                run.summary(summary)
            self._rec.end()
            return model

    _class = PicidaeCallback
    return _class


def __getattr__(name: str) -> Any:
    if name == "PicidaeCallback":
        return _callback_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
