"""Optuna: ``PicidaeCallback``, a study callback that records the study as a parent run and
each trial as a child.

>>> cb = PicidaeCallback("tune/lr")
>>> def objective(trial):
...     run = cb.run_for(trial)            # this trial's child run, for intermediate values
...     ...
>>> study.optimize(objective, n_trials=8, callbacks=[cb])

The study is a run of kind ``sweep`` (config: study name, directions, sampler and pruner);
each finished trial a child of kind ``sweep-point`` and trigger ``policy``, named
``STUDY/trial-N``, with the trial's params as config and its value as the metric ``metric``
(``"value"``; a list of names for a multi-objective study) and in the summary. A pruned trial
ends ``canceled`` (reason ``pruned``), a failed one ``failed`` (reason ``crash``). The
parent's summary keeps the best trial, its value and params, and the trial counts.

Optuna announces no end of ``optimize``: the parent run ends at the end of a ``with
PicidaeCallback(...) as cb:`` block (``failed`` if it raised), at ``cb.finish()``, or when the
process exits. ``run=`` makes the given run the parent and leaves it open.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from picidae.errors import InvalidInput
from picidae.integrations._common import (
    Adapter,
    Recorder,
    config_dict,
    end_run,
    metric_values,
    require,
)


def _start_child(parent: Any, label: str) -> Any:
    """A ``sweep-point`` child named ``PARENT/label`` (whatever ``Run.child`` makes of a
    bare name), or the no-op child of a no-op parent."""
    from picidae.sdk.api import create_run
    from picidae.sdk.run import Run

    if not isinstance(parent, Run):
        return parent.child(label, kind="sweep-point", trigger="policy")
    return create_run(parent.store, f"{parent.name}/{label}", parent=parent,
                      kind="sweep-point", trigger="policy")


class PicidaeCallback(Adapter):
    """Records an Optuna study (see the module docstring). Takes ``name=None, *,
    metric="value", **init_kwargs`` (``run=`` among them)."""

    def __init__(self, name: str | None = None, *, metric: str | Sequence[str] = "value",
                 run: Any = None, **init_kwargs: Any) -> None:
        require("optuna", "optuna")
        names = [metric] if isinstance(metric, str) else list(metric)
        if not names or not all(isinstance(m, str) and m for m in names):
            raise InvalidInput(f"metric must be a name or a list of names, got {metric!r}",
                               field="metric")
        self._metrics = names
        init_kwargs.setdefault("kind", "sweep")
        self._rec = Recorder(name, run, init_kwargs)
        self._children: dict[int, Any] = {}  # trial number → open child run
        self._counts: dict[str, int] = {}

    def _parent(self, study: Any) -> Any:
        first = self._rec.active is None
        parent = self._rec.start()
        if parent is not None and first and self._rec.given is None:
            parent.log_config(config_dict({
                "study_name": study.study_name,
                "directions": [d.name.lower() for d in study.directions],
                "sampler": type(study.sampler).__name__,
                "pruner": type(getattr(study, "pruner", None)).__name__,
            }))
        return parent

    def _child(self, study: Any, number: int) -> Any:
        child = self._children.get(number)
        if child is None:
            parent = self._parent(study)
            if parent is None:
                return None
            child = _start_child(parent, f"trial-{number}")
            self._children[number] = child
        return child

    def run_for(self, trial: Any) -> Any:
        """The child run of ``trial`` (started now if needed), for the objective to log
        intermediate values into; ``None`` off rank 0."""
        return self._child(trial.study, trial.number)

    def __call__(self, study: Any, trial: Any) -> None:
        """Called by Optuna after each trial with the study and the frozen trial."""
        state = trial.state.name.lower()
        child = self._child(study, trial.number)
        if child is None:
            return
        if trial.params:
            child.log_config(config_dict(trial.params))
        values = list(trial.values or [])
        if values:
            names = (self._metrics if len(self._metrics) == len(values)
                     else [f"{self._metrics[0]}.{i}" for i in range(len(values))])
            found = metric_values(dict(zip(names, values, strict=True)))
            if found:
                child.log(found)
                child.summary(found)
        del self._children[trial.number]
        if state == "complete":
            child.finish()
        elif state == "pruned":
            child.cancel(reason="pruned")
        else:
            message = trial.system_attrs.get("fail_reason") or f"trial {trial.number} {state}"
            child.fail("crash", message=str(message))
        self._counts[state] = self._counts.get(state, 0) + 1
        self._summarize_study(study)

    def _summarize_study(self, study: Any) -> None:
        parent = self._rec.active
        if parent is None:
            return
        summary: dict[str, Any] = {f"trials_{k}": v for k, v in self._counts.items()}
        if len(study.directions) == 1:
            try:
                best = study.best_trial
            except ValueError:  # no completed trial yet
                best = None
            if best is not None:
                summary.update({"best_trial": best.number, "best_params": config_dict(
                    best.params)})
                summary.update(metric_values({f"best_{self._metrics[0]}": best.value}))
        parent.summary(summary)

    def finish(self) -> None:
        """End the open trial runs (``canceled``) and the study's run (``completed``)."""
        self._close(None)

    def _close(self, exc: BaseException | None) -> None:
        for child in self._children.values():
            if exc is None:
                child.cancel(reason="interrupted")
            else:
                end_run(child, exc)
        self._children.clear()
        super()._close(exc)
