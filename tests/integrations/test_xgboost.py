"""XGBoost's PicidaeCallback on a synthetic regression set, trained for real."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from integration_helpers import framework, points, stored

import picidae

xgb = framework("xgboost", "xgboost")
from picidae.integrations.xgboost import PicidaeCallback  # noqa: E402

PARAMS = {"max_depth": 3, "eta": 0.3, "objective": "reg:squarederror", "seed": 7}


def _data() -> tuple[Any, Any]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 4))
    y = x @ np.array([1.0, 2.0, -1.0, 0.5]) + rng.normal(scale=0.1, size=120)
    return xgb.DMatrix(x[:90], y[:90]), xgb.DMatrix(x[90:], y[90:])


def test_each_eval_set_metric_per_iteration_with_params_and_summary() -> None:
    train, valid = _data()
    history: dict[str, Any] = {}
    cb = PicidaeCallback("xgb/baseline", tags=["gbm"])
    bst = xgb.train(PARAMS, train, num_boost_round=5, evals=[(train, "train"), (valid, "valid")],
                    evals_result=history, callbacks=[cb], verbose_eval=False)

    rv = stored(cb.run)
    assert rv.status == "completed" and rv.name == "xgb/baseline" and rv.tags == ["gbm"]
    assert sorted(rv.metric_keys()) == ["train/rmse", "valid/rmse"]
    for data in ("train", "valid"):
        assert points(rv, f"{data}/rmse") == list(enumerate(history[data]["rmse"]))
    assert rv.config["max_depth"] == 3 and rv.config["eta"] == 0.3
    assert rv.config["objective"] == "reg:squarederror" and rv.config["seed"] == 7
    assert rv.summary["best_iteration"] == 4 and rv.summary["iterations"] == 5
    assert rv.summary["valid/rmse"] == history["valid"]["rmse"][-1]
    assert bst.num_boosted_rounds() == 5


def test_early_stopping_best_iteration_goes_to_the_summary() -> None:
    train, valid = _data()
    cb = PicidaeCallback("xgb/early")
    bst = xgb.train({**PARAMS, "eta": 1.0, "max_depth": 6}, train, num_boost_round=200,
                    evals=[(valid, "valid")], early_stopping_rounds=2, callbacks=[cb],
                    verbose_eval=False)

    rv = stored(cb.run)
    assert bst.num_boosted_rounds() < 200  # it did stop early
    assert rv.status == "completed"
    assert rv.summary["best_iteration"] == bst.best_iteration
    assert rv.summary["best_score"] == pytest.approx(bst.best_score)
    assert [s for s, _ in points(rv, "valid/rmse")] == list(range(bst.num_boosted_rounds()))


def test_a_given_run_is_recorded_into_and_left_open() -> None:
    train, valid = _data()
    run = picidae.init("xgb/mine", config={"fold": 1})
    xgb.train(PARAMS, train, num_boost_round=3, evals=[(valid, "valid")],
              callbacks=[PicidaeCallback(run=run)], verbose_eval=False)

    rv = stored(run)
    assert rv.status == "running"
    assert [s for s, _ in points(rv, "valid/rmse")] == [0, 1, 2]
    assert rv.config["fold"] == 1 and rv.config["max_depth"] == 3
    run.finish()
    assert picidae.runs(name="xgb/*") == [picidae.get_run(run.id)]


class _Boom(xgb.callback.TrainingCallback):  # type: ignore[misc]
    def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        if epoch == 2:
            raise RuntimeError("diverged at iteration 2")
        return False


def test_an_exception_inside_training_fails_the_run_at_the_end_of_its_block() -> None:
    train, valid = _data()
    with pytest.raises(RuntimeError, match="diverged"), PicidaeCallback("xgb/boom") as cb:
        xgb.train(PARAMS, train, num_boost_round=5, evals=[(valid, "valid")],
                  callbacks=[cb, _Boom()], verbose_eval=False)

    rv = stored(cb.run)
    assert rv.status == "failed"
    assert rv.failure["reason"] == "crash"
    assert "RuntimeError: diverged at iteration 2" in rv.failure["message"]
    assert [s for s, _ in points(rv, "valid/rmse")] == [0, 1, 2]


def test_an_uncaught_exception_inside_training_fails_the_run_at_exit(
        run_script: Any) -> None:
    proc = run_script("""
        import numpy as np, xgboost as xgb
        from picidae.integrations.xgboost import PicidaeCallback

        class Boom(xgb.callback.TrainingCallback):
            def after_iteration(self, model, epoch, evals_log):
                if epoch == 1:
                    raise ValueError("bad batch")
                return False

        x = np.random.default_rng(0).normal(size=(50, 3)); y = x.sum(axis=1)
        d = xgb.DMatrix(x, y)
        cb = PicidaeCallback("xgb/uncaught")
        try:
            xgb.train({"max_depth": 2}, d, num_boost_round=4, evals=[(d, "train")],
                      callbacks=[cb, Boom()], verbose_eval=False)
        finally:
            print("RUN", cb.run.id, flush=True)
    """)
    assert proc.returncode == 1 and "ValueError: bad batch" in proc.stderr
    run_id = proc.stdout.split("RUN ")[1].split()[0]
    rv = picidae.get_run(run_id)
    assert rv.status == "failed" and rv.failure["reason"] == "crash"
    assert "ValueError: bad batch" in rv.failure["message"]


def test_ranks_other_than_zero_record_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RANK", "1")
    train, _ = _data()
    cb = PicidaeCallback("xgb/rank1")
    xgb.train(PARAMS, train, num_boost_round=2, evals=[(train, "train")], callbacks=[cb],
              verbose_eval=False)
    assert cb.run is None
    assert picidae.runs() == []
