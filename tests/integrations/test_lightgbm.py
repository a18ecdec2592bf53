"""LightGBM's PicidaeCallback on a synthetic regression set, trained for real."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from integration_helpers import framework, points, stored

import picidae

lgb = framework("lightgbm", "lightgbm")
from picidae.integrations.lightgbm import PicidaeCallback  # noqa: E402

PARAMS = {"objective": "regression", "num_leaves": 7, "learning_rate": 0.2, "verbose": -1,
          "seed": 3}


def _data() -> tuple[Any, Any]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(160, 4))
    y = x @ np.array([1.0, 2.0, -1.0, 0.5]) + rng.normal(scale=0.1, size=160)
    train = lgb.Dataset(x[:120], y[:120])
    return train, lgb.Dataset(x[120:], y[120:], reference=train)


def test_each_eval_set_metric_per_iteration_with_params_and_summary() -> None:
    train, valid = _data()
    history: dict[str, Any] = {}
    cb = PicidaeCallback("lgb/baseline")
    lgb.train(PARAMS, train, num_boost_round=6, valid_sets=[train, valid],
              valid_names=["train", "valid"],
              callbacks=[cb, lgb.record_evaluation(history)])

    rv = stored(cb.run)
    assert rv.status == "completed"
    assert sorted(rv.metric_keys()) == ["train/l2", "valid/l2"]
    for data in ("train", "valid"):
        assert points(rv, f"{data}/l2") == list(enumerate(history[data]["l2"]))
    assert {k: rv.config[k] for k in PARAMS} == PARAMS
    valid_l2 = history["valid"]["l2"]
    best = min(range(len(valid_l2)), key=valid_l2.__getitem__)
    assert rv.summary["best_iteration"] == best
    assert rv.summary["best_score"] == valid_l2[best]
    assert rv.summary["iterations"] == 6 and rv.summary["valid/l2"] == valid_l2[-1]


def test_early_stopping_records_every_iteration_and_the_block_ends_the_run() -> None:
    train, valid = _data()
    with PicidaeCallback("lgb/early") as cb:
        booster = lgb.train({**PARAMS, "learning_rate": 1.0, "num_leaves": 31,
                             "min_data_in_leaf": 1}, train, num_boost_round=300,
                            valid_sets=[valid], valid_names=["valid"],
                            callbacks=[lgb.early_stopping(2, verbose=False), cb])
        assert stored(cb.run).status == "running"  # LightGBM does not say it stopped

    rv = stored(cb.run)
    assert rv.status == "completed"
    steps = [s for s, _ in points(rv, "valid/l2")]
    assert steps == list(range(len(steps))) and len(steps) < 300
    # The iteration that stopped training is recorded: the best one, then 2 more.
    assert steps[-1] == booster.best_iteration - 1 + 2
    assert rv.summary["best_iteration"] == booster.best_iteration - 1  # 0-based


def test_a_given_run_is_recorded_into_and_left_open() -> None:
    train, valid = _data()
    run = picidae.init("lgb/mine")
    lgb.train(PARAMS, train, num_boost_round=3, valid_sets=[valid], valid_names=["valid"],
              callbacks=[PicidaeCallback(run=run)])
    rv = stored(run)
    assert rv.status == "running" and [s for s, _ in points(rv, "valid/l2")] == [0, 1, 2]
    run.finish()


def test_an_exception_inside_training_fails_the_run_at_the_end_of_its_block() -> None:
    train, valid = _data()

    def boom(env: Any) -> None:
        if env.iteration == 1:
            raise RuntimeError("out of memory at iteration 1")

    with pytest.raises(RuntimeError, match="out of memory"), PicidaeCallback("lgb/x") as cb:
        lgb.train(PARAMS, train, num_boost_round=5, valid_sets=[valid],
                  valid_names=["valid"], callbacks=[cb, boom])

    rv = stored(cb.run)
    assert rv.status == "failed" and rv.failure["reason"] == "crash"
    assert "RuntimeError: out of memory at iteration 1" in rv.failure["message"]
    assert [s for s, _ in points(rv, "valid/l2")] == [0, 1]


def test_a_new_training_fails_the_run_an_exception_left_open() -> None:
    train, valid = _data()
    cb = PicidaeCallback("lgb/retry")

    def boom(env: Any) -> None:
        if env.iteration == 0:
            raise KeyError("label")

    with pytest.raises(KeyError):
        lgb.train(PARAMS, train, num_boost_round=3, callbacks=[cb, boom])
    first = cb.run
    lgb.train(PARAMS, train, num_boost_round=2, valid_sets=[valid], callbacks=[cb])

    assert stored(first).status == "failed"
    assert stored(first).failure["message"] == "training stopped before it reached its end"
    assert cb.run.id != first.id and stored(cb.run).status == "completed"
