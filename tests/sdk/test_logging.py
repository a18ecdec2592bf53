"""Writing to a run: metrics with steps and stages, config, summary, the primary metric, text,
outputs, progress, chaining, value validation and writes after finish."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import picidae


@pytest.fixture
def run() -> picidae.Run:
    made = picidae.init("logging/test")
    assert isinstance(made, picidae.Run)
    return made


def test_step_auto_increments_per_log_call(run: picidae.Run) -> None:
    run.log(loss=3.0, acc=0.1)
    run.log({"loss": 2.0})
    run.log(loss=1.0)
    rv = picidae.get_run(run.id)
    assert [(p.step, p.value) for p in rv.metrics("loss")] == [(0, 3.0), (1, 2.0), (2, 1.0)]
    assert [(p.step, p.value) for p in rv.metrics("acc")] == [(0, 0.1)]


def test_explicit_step_sets_where_auto_increment_continues(run: picidae.Run) -> None:
    run.log(x=1.0, step=10).log(x=2.0).log(x=3.0, step=100).log(x=4.0)
    assert picidae.get_run(run.id).metrics("x").steps == [10, 11, 100, 101]


def test_dict_and_keyword_metrics_combine_with_keywords_winning(run: picidae.Run) -> None:
    run.log({"a": 1.0, "b": 2.0}, b=3.0, step=5)
    rv = picidae.get_run(run.id)
    assert rv.metrics("a")[0] == (5, 1.0, rv.metrics("a")[0].time, None)
    assert rv.metrics("b").values == [3.0]


def test_keys_that_are_not_identifiers_can_be_logged_through_the_dict(run: picidae.Run) -> None:
    run.log({"val/acc": 0.5, "loss step": 1.0, "data": 2.0, "step": 3.0})
    assert picidae.get_run(run.id).metric_keys() == ["data", "loss step", "step", "val/acc"]


def test_points_carry_step_value_time_and_stage(run: picidae.Run) -> None:
    run.log(loss=2.0, stage="train").log(loss=1.0, stage="eval")
    run.log(loss=0.5)
    points = picidae.get_run(run.id).metrics("loss")
    assert [(p.step, p.value, p.stage) for p in points] == [
        (0, 2.0, "train"), (1, 1.0, "eval"), (2, 0.5, None)]
    times = [p.time for p in points]
    assert times == sorted(times) and all(t > 1.7e9 for t in times)
    step, value, time_, stage = points[0]  # a plain tuple too
    assert (step, value, stage) == (0, 2.0, "train") and time_ == times[0]


def test_points_logged_out_of_order_read_back_by_step(run: picidae.Run) -> None:
    run.log(x=5.0, step=5).flush()
    run.log(x=1.0, step=1).log(x=3.0, step=3)
    rv = picidae.get_run(run.id)
    assert rv.metrics("x").steps == [1, 3, 5]
    assert rv.latest_metrics() == {"x": 5.0}


def test_metric_values_are_converted_and_nan_and_inf_kept(run: picidae.Run) -> None:
    run.log(flag=True, f32=np.float32(0.25), i64=np.int64(3), zero_d=np.array(1.5),
            nan=math.nan, inf=math.inf, ninf=-math.inf, big=10**20, neg=False)
    rv = picidae.get_run(run.id)
    value = {k: rv.metrics(k).values[0] for k in rv.metric_keys()}
    assert value["flag"] == 1.0 and value["neg"] == 0.0
    assert value["f32"] == 0.25 and value["i64"] == 3.0 and value["zero_d"] == 1.5
    assert value["big"] == 1e20
    assert math.isnan(value["nan"])
    assert value["inf"] == math.inf and value["ninf"] == -math.inf


def test_zero_dim_torch_tensors_are_converted_when_torch_is_installed(run: picidae.Run) -> None:
    torch = pytest.importorskip("torch")
    run.log(t=torch.tensor(0.5))
    assert picidae.get_run(run.id).metrics("t").values == [0.5]


@pytest.mark.parametrize(("value", "type_name"), [
    ("0.5", "str"), (None, "NoneType"), ([1], "list"), (np.array([1.0, 2.0]), "ndarray"),
    ({"x": 1}, "dict"), (1j, "complex"),
])
def test_bad_metric_value_raises_value_error_naming_key_and_type(run: picidae.Run, value: Any,
                                                                 type_name: str) -> None:
    run.log(good=1.0)
    with pytest.raises(ValueError) as info:
        run.log(good=2.0, lr_schedule=value)
    assert isinstance(info.value, picidae.InvalidInput)
    assert "lr_schedule" in str(info.value) and type_name in str(info.value)
    # The refused call recorded nothing and did not use up a step.
    run.log(good=3.0)
    assert picidae.get_run(run.id).metrics("good").steps == [0, 1]
    assert picidae.get_run(run.id).metrics("good").values == [1.0, 3.0]


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"step": -1}, "step"), ({"step": 1.5}, "step"), ({"step": "3"}, "step"),
    ({"step": True}, "step"), ({"stage": 3}, "stage"), ({"stage": "a\nb"}, "stage"),
    ({"stage": "x" * 500}, "stage"),
])
def test_bad_step_or_stage_is_refused(run: picidae.Run, kwargs: dict[str, Any],
                                      field: str) -> None:
    with pytest.raises(picidae.InvalidInput, match=field):
        run.log(x=1.0, **kwargs)
    assert picidae.get_run(run.id).metric_keys() == []


@pytest.mark.parametrize("key", ["", " padded", "a\nb", "x" * 300])
def test_bad_metric_keys_are_refused(run: picidae.Run, key: str) -> None:
    with pytest.raises(picidae.InvalidInput):
        run.log({key: 1.0})


def test_log_takes_a_dict_not_a_list(run: picidae.Run) -> None:
    with pytest.raises(picidae.InvalidInput, match="dict"):
        run.log([("a", 1.0)])  # type: ignore[arg-type]


def test_numpy_step_is_accepted(run: picidae.Run) -> None:
    run.log(x=1.0, step=np.int64(7))
    assert picidae.get_run(run.id).metrics("x").steps == [7]


def test_log_config_merges_nested_values(run: picidae.Run) -> None:
    run.log_config({"opt": {"lr": 0.1}, "bs": 32}).log_config({"opt": {"momentum": 0.9}})
    expected = {"opt": {"lr": 0.1, "momentum": 0.9}, "bs": 32}
    assert run.config == expected
    assert picidae.get_run(run.id).config == expected


def test_summary_merges_on_each_update(run: picidae.Run) -> None:
    run.summary({"acc": 0.9, "eval": {"top1": 0.7}})
    run.summary({"eval": {"top5": 0.9}, "acc": 0.95, "note": "best so far"})
    assert picidae.get_run(run.id).summary == {
        "acc": 0.95, "eval": {"top1": 0.7, "top5": 0.9}, "note": "best so far"}


@pytest.mark.parametrize("bad", [{"f": object()}, {1: 2}, "acc=1", None])
def test_bad_config_or_summary_is_refused(run: picidae.Run, bad: Any) -> None:
    with pytest.raises(picidae.InvalidInput):
        run.summary(bad) if bad is not None else run.summary(["x"])  # type: ignore[arg-type]
    with pytest.raises(picidae.InvalidInput):
        run.log_config(bad if bad is not None else 5)


def test_primary_metric_tracks_the_best_value_and_its_step(run: picidae.Run) -> None:
    run.set_primary_metric("acc")
    for acc in (0.1, 0.5, 0.3):
        run.log(acc=acc)
    run.flush()
    run.log(acc=0.4).log(acc=math.nan)
    pm = picidae.get_run(run.id).primary_metric
    assert pm == {"name": "acc", "mode": "max", "best": 0.5, "step": 1}
    run.log(acc=0.9, step=20)
    assert picidae.get_run(run.id).primary_metric["best"] == 0.9
    assert picidae.get_run(run.id).primary_metric["step"] == 20


def test_primary_metric_min_mode_rescores_points_logged_before(run: picidae.Run) -> None:
    run.log(loss=3.0).log(loss=1.0).log(loss=2.0).flush()
    run.set_primary_metric("loss", mode="min")
    assert picidae.get_run(run.id).primary_metric == {
        "name": "loss", "mode": "min", "best": 1.0, "step": 1}


def test_primary_metric_without_points_has_no_best(run: picidae.Run) -> None:
    run.set_primary_metric("acc")
    run.log(loss=1.0)
    assert picidae.get_run(run.id).primary_metric == {
        "name": "acc", "mode": "max", "best": None, "step": None}


def test_primary_metric_mode_must_be_max_or_min(run: picidae.Run) -> None:
    with pytest.raises(picidae.InvalidInput, match="mode"):
        run.set_primary_metric("acc", mode="highest")
    with pytest.raises(picidae.InvalidInput):
        run.set_primary_metric("")


def test_log_text_keeps_timestamped_lines_in_order(run: picidae.Run) -> None:
    run.log_text("epoch 1 done").log_text("line a\nline b\n").log_text("")
    lines = picidae.get_run(run.id).logs()
    assert [ln.text for ln in lines] == ["epoch 1 done", "line a", "line b", ""]
    assert all(ln.time > 1.7e9 for ln in lines)
    assert [ln.time for ln in lines] == sorted(ln.time for ln in lines)
    with pytest.raises(picidae.InvalidInput):
        run.log_text(42)  # type: ignore[arg-type]


def test_outputs_are_small_named_values(run: picidae.Run) -> None:
    run.output("checkpoint", "s3://b/ckpt-17").output("n_params", 1_000_000)
    run.output("classes", ("cat", "dog")).output("n_params", 2_000_000)
    assert picidae.get_run(run.id).outputs == {
        "checkpoint": "s3://b/ckpt-17", "n_params": 2_000_000, "classes": ["cat", "dog"]}
    with pytest.raises(picidae.InvalidInput):
        run.output("bad", object())


def test_progress_records_fraction_and_message(run: picidae.Run) -> None:
    run.progress(0.25, "collecting games").progress(0.5)
    progress = picidae.get_run(run.id).progress
    assert progress["fraction"] == 0.5 and progress["message"] is None
    for bad in (1.5, -0.1, math.nan, "half"):
        with pytest.raises(ValueError, match="progress"):
            run.progress(bad)  # type: ignore[arg-type]


def test_mutators_chain() -> None:
    run = picidae.init("chain").log(loss=1.0).heartbeat()
    assert isinstance(run, picidae.Run)
    same = (run.log(loss=0.5, step=3, stage="train").log_config({"a": 1}).summary({"b": 2})
            .set_primary_metric("loss", "min").log_text("hi").output("o", 1).progress(0.5)
            .heartbeat().transition("evaluating").flush())
    assert same is run
    assert run.finish() is run
    rv = picidae.get_run(run.id)
    assert rv.status == "completed" and rv.primary_metric["best"] == 0.5


WRITES: dict[str, Callable[[picidae.Run], Any]] = {
    "log": lambda r: r.log(x=1.0),
    "log_config": lambda r: r.log_config({"a": 1}),
    "summary": lambda r: r.summary({"a": 1}),
    "set_primary_metric": lambda r: r.set_primary_metric("x"),
    "log_text": lambda r: r.log_text("late"),
    "output": lambda r: r.output("o", 1),
    "progress": lambda r: r.progress(0.5),
    "heartbeat": lambda r: r.heartbeat(),
    "transition": lambda r: r.transition("evaluating"),
    "child": lambda r: r.child("late"),
    "fail": lambda r: r.fail(),
    "cancel": lambda r: r.cancel(),
    "finish-failed": lambda r: r.finish("failed"),
}


@pytest.mark.parametrize("write", WRITES.values(), ids=WRITES.keys())
def test_writes_after_finish_raise_run_finished(run: picidae.Run,
                                                write: Callable[[picidae.Run], Any]) -> None:
    run.log(x=0.0).finish()
    with pytest.raises(picidae.RunFinished) as info:
        write(run)
    assert isinstance(info.value, picidae.PicidaeError)
    assert run.id in str(info.value)
    rv = picidae.get_run(run.id)
    assert rv.status == "completed"
    assert len(rv.metrics("x")) == 1 and rv.logs() == [] and rv.children() == []


def test_finishing_twice_is_a_no_op(run: picidae.Run) -> None:
    run.finish()
    assert run.finish() is run
    assert run.finish("succeeded") is run
    assert len(picidae.get_run(run.id).transitions) == 2


def test_step_too_large_to_store_is_refused_at_once(run: picidae.Run) -> None:
    with pytest.raises(picidae.InvalidInput, match="step"):
        run.log(x=1.0, step=2**63)
    run.log(y=1.0, step=2**62)  # the refused call lost nothing else
    run.log(y=2.0, step=1)
    assert picidae.get_run(run.id).metrics("y").steps == [1, 2**62]
