"""LightGBM: ``PicidaeCallback``, a callable for ``lgb.train(..., callbacks=[...])``.

>>> booster = lgb.train(params, train_set, valid_sets=[valid_set], valid_names=["valid"],
...                     callbacks=[PicidaeCallback("lgb/baseline")])

Each evaluation set's metrics per iteration are metrics named ``SET/METRIC`` (``valid/l2``) at
step = the 0-based iteration; the parameters go to config; the best iteration (of the first
metric on the last evaluation set, the one LightGBM's early stopping watches) and its score
to the summary. The run starts at the first iteration and ends after the last one.

LightGBM tells a callback nothing when training stops early (early stopping, an exception):
then the run ends when the process exits, or at the end of a ``with PicidaeCallback(...) as
cb:`` block, or with ``cb.finish()``.
"""

from __future__ import annotations

from typing import Any

from picidae.integrations._common import (
    Adapter,
    Recorder,
    config_dict,
    metric_values,
    require,
)


class PicidaeCallback(Adapter):
    """Records a LightGBM training as a run (see the module docstring). Takes
    ``name=None, *, run=None, **init_kwargs``; with ``run=`` records into that run and
    leaves it open."""

    # LightGBM calls callbacks by ``order``: after its own logging and recording (10, 20),
    # before early stopping (30), so the iteration that stops training is recorded too.
    order = 25
    before_iteration = False

    def __init__(self, name: str | None = None, *, run: Any = None,
                 **init_kwargs: Any) -> None:
        require("lightgbm", "lightgbm")
        self._rec = Recorder(name, run, init_kwargs)
        self._best: tuple[int, float] | None = None
        self._last: dict[str, float] = {}
        self._iterations = 0

    def __call__(self, env: Any) -> None:
        """Called by LightGBM after each iteration with its ``CallbackEnv``."""
        if env.iteration == env.begin_iteration:
            run = self._rec.start(fresh=True)
            self._best, self._last = None, {}
            if run is not None and env.params:
                run.log_config(config_dict(env.params))
        run = self._rec.active
        if run is None:
            return
        values: dict[str, float] = {}
        scores: list[tuple[str, float, bool]] = []
        for item in env.evaluation_result_list or []:
            # (set, metric, value, higher_is_better); lgb.cv adds the std, and its value is
            # the mean over the folds.
            data, metric, value, higher = item[0], item[1], item[2], item[3]
            found = metric_values({f"{data}/{metric}": value})
            values.update(found)
            scores.extend((data, v, bool(higher)) for v in found.values())
        if values:
            run.log(values, step=env.iteration)
            self._last = values
        if scores:
            last_set = scores[-1][0]
            _, score, higher = next(s for s in scores if s[0] == last_set)
            if self._best is None or (score > self._best[1] if higher
                                      else score < self._best[1]):
                self._best = (env.iteration, score)
        self._iterations = env.iteration + 1
        if env.iteration >= env.end_iteration - 1:
            self._close(None)

    def _summarize(self, run: Any) -> None:
        summary: dict[str, Any] = dict(self._last)
        if self._best is not None:
            summary["best_iteration"], summary["best_score"] = self._best
        summary["iterations"] = self._iterations
        run.summary(summary)
