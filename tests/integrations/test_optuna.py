"""Optuna's PicidaeCallback: a real study of 8 trials with a MedianPruner."""

from __future__ import annotations

from typing import Any

import pytest
from integration_helpers import framework, points, stored

import picidae

optuna = framework("optuna", "optuna")
from picidae.integrations.optuna import PicidaeCallback  # noqa: E402

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _study() -> Any:
    return optuna.create_study(
        study_name="lr-search", sampler=optuna.samplers.TPESampler(seed=0),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1))


def _objective(cb: Any) -> Any:
    def objective(trial: Any) -> float:
        x = trial.suggest_float("x", -10, 10)
        layers = trial.suggest_int("layers", 1, 3)
        run = cb.run_for(trial)
        for step in range(5):
            value = (x - 2) ** 2 + layers + (5 - step)
            run.log(loss=value, step=step)
            trial.report(value, step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return (x - 2) ** 2 + layers
    return objective


def test_a_study_is_a_sweep_parent_with_one_child_per_trial() -> None:
    study = _study()
    with PicidaeCallback("tune/lr", metric="loss_final") as cb:
        study.optimize(_objective(cb), n_trials=8, callbacks=[cb])

    parent = stored(cb.run)
    assert parent.status == "completed" and parent.kind == "sweep"
    assert parent.config == {"study_name": "lr-search", "directions": ["minimize"],
                             "sampler": "TPESampler", "pruner": "MedianPruner"}
    children = {c.name: c for c in parent.children()}
    assert sorted(children) == [f"tune/lr/trial-{t.number}" for t in study.trials]
    states = {t.state.name for t in study.trials}
    assert states == {"COMPLETE", "PRUNED"}  # the pruner did prune some
    for trial in study.trials:
        child = children[f"tune/lr/trial-{trial.number}"]
        assert child.kind == "sweep-point" and child.trigger == "policy"
        assert child.parent_id == parent.id
        assert child.config == trial.params
        assert points(child, "loss") == sorted(trial.intermediate_values.items())
        assert child.summary["loss_final"] == trial.value
        assert points(child, "loss_final")[0][1] == trial.value
        if trial.state.name == "PRUNED":
            assert child.status == "canceled"
            assert child.transitions[-1]["reason"] == "pruned"
        else:
            assert child.status == "completed"
    pruned = sum(t.state.name == "PRUNED" for t in study.trials)
    assert parent.summary["trials_pruned"] == pruned
    assert parent.summary["trials_complete"] == 8 - pruned
    assert parent.summary["best_trial"] == study.best_trial.number
    assert parent.summary["best_loss_final"] == study.best_value
    assert parent.summary["best_params"] == study.best_params


def test_a_failed_trial_is_a_failed_child_and_an_exception_fails_the_study() -> None:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    cb = PicidaeCallback("tune/fail")

    def objective(trial: Any) -> float:
        x = trial.suggest_float("x", 0, 1)
        if trial.number == 1:
            raise ValueError("bad trial")
        if trial.number == 3:
            cb.run_for(trial).log(loss=1.0)
            raise RuntimeError("cluster gone")
        return x

    with pytest.raises(RuntimeError, match="cluster gone"), cb:
        study.optimize(objective, n_trials=5, callbacks=[cb], catch=(ValueError,))

    parent = stored(cb.run)
    assert parent.status == "failed" and "cluster gone" in parent.failure["message"]
    children = {c.name.rsplit("/", 1)[1]: c for c in parent.children()}
    assert sorted(children) == ["trial-0", "trial-1", "trial-2", "trial-3"]
    assert children["trial-1"].status == "failed"
    assert children["trial-1"].failure["reason"] == "crash"
    assert children["trial-3"].status == "failed"  # open when the study raised
    assert "RuntimeError: cluster gone" in children["trial-3"].failure["message"]
    assert [c.status for n, c in children.items() if n in ("trial-0", "trial-2")] == [
        "completed", "completed"]


def test_a_given_run_is_the_parent_and_is_left_open() -> None:
    mine = picidae.init("tune/mine", kind="sweep")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=2))
    cb = PicidaeCallback(run=mine)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3, callbacks=[cb])
    cb.finish()

    rv = stored(mine)
    assert rv.status == "running" and len(rv.children()) == 3
    assert {c.status for c in rv.children()} == {"completed"}
    mine.finish()


def test_metric_must_be_a_name() -> None:
    with pytest.raises(picidae.InvalidInput, match="metric"):
        PicidaeCallback(metric="")
