"""Reading runs back: ``get_run``/``RunView`` and ``picidae.runs`` with every filter."""

from __future__ import annotations

import json
import math
import statistics
import time
from datetime import UTC, datetime, timedelta

import pytest

import picidae

CONTRACT_FIELDS = (
    "id", "name", "alias", "parent_id", "root_id", "kind", "status", "transitions", "config",
    "tags", "trigger", "agent", "benchmark", "seed", "evaluation", "compute", "progress",
    "command", "env", "image", "code", "inputs", "outputs", "resources", "cost", "summary",
    "primary_metric", "failure", "retry_of", "replay_of", "attempt", "created_at",
    "started_at", "ended_at", "duration_s", "last_heartbeat_at",
)


def test_run_view_has_every_contract_field() -> None:
    run = picidae.init("fields", agent="claude", benchmark="w2s-bench", seed=7,
                       evaluation="pgr-hidden-labels", compute={"target": "local"},
                       resources={"cpus": 2, "gpus": 0})
    run.finish()
    rv = picidae.get_run(run.id)
    for field in CONTRACT_FIELDS:
        getattr(rv, field)  # every field is an attribute, even when empty
    assert (rv.agent, rv.benchmark, rv.seed) == ("claude", "w2s-bench", 7)
    assert rv.evaluation == "pgr-hidden-labels"
    assert rv.compute == {"target": "local"} and rv.resources == {"cpus": 2, "gpus": 0}
    assert rv.inputs == [] and rv.outputs == {} and rv.summary == {} and rv.tags == []
    assert rv.retry_of is None and rv.replay_of is None and rv.attempt == 1
    with pytest.raises(AttributeError):
        _ = rv.no_such_field


def test_times_are_utc_datetimes_in_order() -> None:
    before = datetime.now(UTC)
    run = picidae.init("timed")
    run.finish()
    after = datetime.now(UTC)
    rv = picidae.get_run(run.id)
    for name in ("created_at", "started_at", "ended_at", "last_heartbeat_at"):
        value = getattr(rv, name)
        assert isinstance(value, datetime) and value.utcoffset() == timedelta(0)
        assert before - timedelta(seconds=1) <= value <= after + timedelta(seconds=1)
    assert rv.created_at <= rv.started_at <= rv.ended_at
    assert rv.duration_s == pytest.approx((rv.ended_at - rv.started_at).total_seconds(),
                                          abs=1e-5)
    assert all(isinstance(m["at"], datetime) for m in rv.transitions)


def test_to_dict_is_json_serialisable() -> None:
    run = picidae.init("json", config={"lr": 0.1}).summary({"acc": 0.5})
    run.finish()
    data = picidae.get_run(run.id).to_dict()
    text = json.dumps(data)
    back = json.loads(text)
    assert back["status"] == "completed" and back["config"] == {"lr": 0.1}
    assert back["created_at"].endswith("Z")
    assert [m["to"] for m in back["transitions"]] == ["running", "completed"]


def test_get_run_sees_what_this_process_logged_without_waiting() -> None:
    run = picidae.init("live")
    run.log(x=1.0).summary({"s": 1}).log_text("hi")
    rv = picidae.get_run(run.id)
    assert rv.metrics("x").values == [1.0]
    assert rv.summary == {"s": 1}
    assert [ln.text for ln in rv.logs()] == ["hi"]


def test_metric_keys_are_sorted_and_unknown_keys_are_empty() -> None:
    run = picidae.init()
    run.log(zeta=1.0, alpha=2.0).log(mid=3.0)
    rv = picidae.get_run(run.id)
    assert rv.metric_keys() == ["alpha", "mid", "zeta"]
    assert list(rv.metrics("never-logged")) == []


def test_metric_series_exposes_columns_for_plotting() -> None:
    run = picidae.init()
    for i in range(5):
        run.log(loss=1.0 / (i + 1))
    series = picidae.get_run(run.id).metrics("loss")
    assert len(series) == 5
    assert series.steps == [0, 1, 2, 3, 4]
    assert series.values == [1.0, 0.5, 1 / 3, 0.25, 0.2]
    assert series.last().value == 0.2
    assert series[1:3] == [series[1], series[2]]


def _seed_family(values: dict[int, float]) -> picidae.Run:
    parent = picidae.init("w2s/confidence-reweighting")
    for seed, final in values.items():
        kid = parent.child(kind="seed", seed=seed)
        kid.log(pgr=final / 2).log(pgr=final, loss=1 - final)
        kid.summary({"auc": final + 0.1, "label": "x"})
        kid.finish()
    return parent


def test_children_stats_over_five_seed_children() -> None:
    finals = {42: 0.61, 43: 0.64, 44: 0.58, 45: 0.66, 46: 0.60}
    parent = _seed_family(finals)
    stats = picidae.get_run(parent.id).children_stats()
    assert set(stats) >= {"pgr", "loss"}
    pgr = stats["pgr"]
    vals = list(finals.values())
    assert pgr["n"] == 5
    assert pgr["mean"] == pytest.approx(statistics.fmean(vals))
    assert pgr["std"] == pytest.approx(statistics.stdev(vals))
    assert pgr["min"] == min(vals) and pgr["max"] == max(vals)
    assert stats["loss"]["mean"] == pytest.approx(1 - statistics.fmean(vals))
    assert stats["auc"]["n"] == 5  # numeric summary values count as finals too
    assert "label" not in stats


def test_children_stats_for_chosen_keys_and_a_single_child() -> None:
    parent = _seed_family({42: 0.5})
    stats = picidae.get_run(parent.id).children_stats(keys=["pgr"])
    assert stats == {"pgr": {"n": 1, "mean": 0.5, "std": 0.0, "min": 0.5, "max": 0.5}}
    assert picidae.get_run(picidae.init("lonely").id).children_stats() == {}


def test_children_stats_use_the_highest_step_value() -> None:
    parent = picidae.init("p")
    kid = parent.child(kind="seed")
    kid.log(acc=0.9, step=10).flush()
    kid.log(acc=0.1, step=2)
    assert picidae.get_run(parent.id).children_stats()["acc"]["mean"] == 0.9


def test_children_are_direct_children_oldest_first() -> None:
    parent = picidae.init("p")
    a = parent.child("p/a")
    b = parent.child("p/b")
    a.child("p/a/deep")
    picidae.init("unrelated")
    assert [c.name for c in picidae.get_run(parent.id).children()] == ["p/a", "p/b"]
    assert [c.id for c in picidae.get_run(parent.id).children()] == [a.id, b.id]


def test_logs_page_with_offset() -> None:
    run = picidae.init()
    run.log_text("\n".join(f"line {i}" for i in range(5)))
    rv = picidae.get_run(run.id)
    assert [ln.text for ln in rv.logs(offset=3)] == ["line 3", "line 4"]
    assert rv.logs()[0].stream == "log"
    assert isinstance(rv.artifacts(), list)  # artifacts have tests of their own


# -- picidae.runs ---------------------------------------------------------------------------


def _names(views: list[picidae.RunView]) -> list[str]:
    return [v.name for v in views]


def test_runs_lists_newest_first_by_default() -> None:
    for name in ("first", "second", "third"):
        picidae.init(name).finish()
    assert _names(picidae.runs()) == ["third", "second", "first"]
    assert _names(picidae.runs(order_by="created_at")) == ["first", "second", "third"]
    assert _names(picidae.runs(order_by="created_at desc", limit=2)) == ["third", "second"]
    assert picidae.runs(limit=0) == []


def test_runs_filters_by_status_including_synonyms_and_lists() -> None:
    done = picidae.init("done")
    done.finish()
    bad = picidae.init("bad")
    bad.fail()
    live = picidae.init("live")
    assert _names(picidae.runs(status="completed")) == ["done"]
    assert _names(picidae.runs(status="succeeded")) == ["done"]
    assert _names(picidae.runs(status=["failed", "running"])) == ["live", "bad"]
    with pytest.raises(picidae.InvalidInput):
        picidae.runs(status="paused")
    live.finish()


def test_runs_filters_by_name_glob_literally_otherwise() -> None:
    for name in ("cv/resnet50/baseline", "cv/vit", "nlp/bert", "a_b", "axb", "cv"):
        picidae.init(name).finish()
    assert sorted(_names(picidae.runs(name="cv/*"))) == ["cv/resnet50/baseline", "cv/vit"]
    assert _names(picidae.runs(name="cv")) == ["cv"]
    assert _names(picidae.runs(name="*/bert")) == ["nlp/bert"]
    assert _names(picidae.runs(name="a_b")) == ["a_b"]
    assert _names(picidae.runs(name="a_*")) == ["a_b"]  # '_' is not a wildcard
    assert _names(picidae.runs(name="a?b", order_by="name")) == ["a_b", "axb"]
    assert picidae.runs(name="cv/%") == []


def test_runs_filters_by_parent_and_kind() -> None:
    parent = picidae.init("p")
    seeds = [parent.child(kind="seed", seed=s) for s in (1, 2)]
    phase = parent.child("p/phase", kind="phase")
    other = picidae.init("q").child(kind="seed")
    assert {v.id for v in picidae.runs(parent=parent)} == {s.id for s in seeds} | {phase.id}
    assert {v.id for v in picidae.runs(parent=parent.id, kind="seed")} == {s.id for s in seeds}
    assert {v.id for v in picidae.runs(kind="seed")} == {s.id for s in seeds} | {other.id}


def test_runs_filters_by_tags_requiring_all_of_them() -> None:
    picidae.init("both", tags=["ablation", "w2s"]).finish()
    picidae.init("one", tags=["ablation"]).finish()
    picidae.init("none").finish()
    assert sorted(_names(picidae.runs(tags="ablation"))) == ["both", "one"]
    assert _names(picidae.runs(tags=["ablation", "w2s"])) == ["both"]
    assert picidae.runs(tags=["missing"]) == []


def test_runs_filters_by_creation_time() -> None:
    early = picidae.init("early")
    time.sleep(0.01)
    middle = datetime.now(UTC)
    time.sleep(0.01)
    late = picidae.init("late")
    assert _names(picidae.runs(created_after=middle)) == ["late"]
    assert _names(picidae.runs(created_before=middle)) == ["early"]
    assert _names(picidae.runs(created_after=middle.isoformat())) == ["late"]
    assert _names(picidae.runs(created_before=middle.timestamp())) == ["early"]
    naive_utc = middle.replace(tzinfo=None).isoformat()
    assert _names(picidae.runs(created_after=naive_utc)) == ["late"]
    assert _names(picidae.runs(created_after=middle - timedelta(hours=1),
                               created_before=middle + timedelta(hours=1))) == ["late", "early"]
    with pytest.raises(picidae.InvalidInput, match="created_after"):
        picidae.runs(created_after="last tuesday")
    early.finish()
    late.finish()


def test_runs_orders_by_latest_metric_with_missing_values_last() -> None:
    for name, accs in (("low", [0.9, 0.2]), ("high", [0.1, 0.8]), ("mid", [0.5])):
        run = picidae.init(name)
        for acc in accs:
            run.log(acc=acc)
        run.finish()
    picidae.init("no-acc").finish()
    nan = picidae.init("nan-acc")
    nan.log(acc=math.nan).finish()
    ordered = _names(picidae.runs(order_by="metrics.acc desc"))
    assert ordered[:3] == ["high", "mid", "low"]  # by the latest value, not the best
    assert set(ordered[3:]) == {"no-acc", "nan-acc"}
    ordered = _names(picidae.runs(order_by="metrics.acc"))
    assert ordered[:3] == ["low", "mid", "high"]
    assert set(ordered[3:]) == {"no-acc", "nan-acc"}
    assert _names(picidae.runs(order_by="metrics.acc desc", limit=1)) == ["high"]


def test_runs_orders_by_summary_value() -> None:
    for name, score in (("b", 2.0), ("c", 10.0), ("a", 1.0)):
        picidae.init(name).summary({"score": score}).finish()
    picidae.init("unscored").finish()
    assert _names(picidae.runs(order_by="summary.score")) == ["a", "b", "c", "unscored"]
    assert _names(picidae.runs(order_by="summary.score desc")) == ["c", "b", "a", "unscored"]


def test_runs_orders_by_name_and_by_several_keys() -> None:
    for name, group in (("b", 1), ("a", 2), ("c", 1)):
        picidae.init(name, config={"group": group}).finish()
    assert _names(picidae.runs(order_by="name")) == ["a", "b", "c"]
    assert _names(picidae.runs(order_by="name desc")) == ["c", "b", "a"]
    assert _names(picidae.runs(order_by="config.group desc, name")) == ["a", "b", "c"]
    assert _names(picidae.runs(order_by=["config.group", "name desc"])) == ["c", "b", "a"]


@pytest.mark.parametrize("bad", ["acc", "metrics.acc sideways", "bogus.acc", "a b c"])
def test_runs_refuses_a_bad_order_by(bad: str) -> None:
    with pytest.raises(picidae.InvalidInput, match=r"order_by|sort"):
        picidae.runs(order_by=bad)


@pytest.mark.parametrize("bad", [-1, 1.5, "3", True])
def test_runs_refuses_a_bad_limit(bad: object) -> None:
    with pytest.raises(picidae.InvalidInput, match="limit"):
        picidae.runs(limit=bad)  # type: ignore[arg-type]


def test_runs_combines_filters() -> None:
    parent = picidae.init("sweep")
    for lr in (0.1, 0.01, 0.001):
        kid = parent.child(f"sweep/lr-{lr}", kind="sweep-point", config={"lr": lr},
                           tags=["sweep"])
        kid.log(acc=lr * 5)
        kid.finish() if lr != 0.001 else kid.fail()
    views = picidae.runs(parent=parent, status="completed", tags="sweep", name="sweep/*",
                         order_by="metrics.acc desc", limit=1)
    assert _names(views) == ["sweep/lr-0.1"]
    assert views[0].config == {"lr": 0.1}
