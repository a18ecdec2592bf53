"""``MetricSeries``: a sequence of ``Point`` over packed columns, lists and NumPy on demand."""

from __future__ import annotations

import pickle
import sys
from array import array

import pytest

from picidae import MissingDependency
from picidae.core.run import Point
from picidae.store.base import MetricSeries
from picidae.store.series import stage_runs

# Each test twice: Points from the C accelerator and from the pure-Python fallback.
pytestmark = pytest.mark.usefixtures("zip_builder")


def _series() -> MetricSeries:
    stages = ["warmup"] * 2 + ["train"] * 3 + [None]
    return MetricSeries("loss", [0, 1, 2, 3, 4, 5], [1.0, 0.5, 0.25, -1.0, 2.0, 3.0],
                        [10.0, 11.0, 12.0, 13.0, 14.0, 15.0], stages)


def test_points_are_the_named_tuples_the_columns_describe() -> None:
    s = _series()
    points = list(s)
    assert all(type(p) is Point for p in points)
    assert points[0] == (0, 1.0, 10.0, "warmup") and points[0].step == 0
    step, value, time, stage = points[4]
    assert (step, value, time, stage) == (4, 2.0, 14.0, "train")
    assert repr(points[5]) == "Point(step=5, value=3.0, time=15.0, stage=None)"
    assert pickle.loads(pickle.dumps(points[2])) == points[2]
    assert s[-1] == points[-1] == s.last() and s[2] == points[2] and s[4].stage == "train"
    assert s[1:4] == points[1:4] and s[::-2] == points[::-2]
    assert list(reversed(s)) == points[::-1]
    with pytest.raises(IndexError):
        s[6]


def test_columns_are_lists_and_arrays_without_copies() -> None:
    s = _series()
    assert s.steps == [0, 1, 2, 3, 4, 5] and type(s.steps) is list and s.steps is s.steps
    assert s.stages == ["warmup", "warmup", "train", "train", "train", None]
    assert s.stage_runs() == [(0, "warmup"), (2, "train"), (5, None)]
    steps, values, times = s.columns()
    assert (steps.typecode, values.typecode, times.typecode) == ("q", "d", "d")
    assert steps.tolist() == s.steps and times.tolist() == s.times


def test_equality_and_pickling_keep_list_behaviour() -> None:
    s = _series()
    assert s == list(s) and s != list(s)[:-1] and s != _series()[:-1]
    back = pickle.loads(pickle.dumps(s))
    assert back.key == "loss" and back.total == 6 and list(back)[:3] == list(s)[:3]
    assert repr(s) == "MetricSeries('loss', 6 points)"
    empty = MetricSeries("x", [], [], [], [])
    assert list(empty) == [] and empty.last() is None and empty.stages == [] and len(empty) == 0


def test_from_arrays_keeps_the_arrays() -> None:
    steps, values, times = array("q", [3, 4]), array("d", [0.5, 0.25]), array("d", [1.0, 2.0])
    s = MetricSeries.from_arrays("x", steps, values, times, [(0, "eval")], total=9)
    assert s.columns()[0] is steps and s.total == 9 and list(s) == [(3, 0.5, 1.0, "eval"),
                                                                   (4, 0.25, 2.0, "eval")]


def test_stage_runs() -> None:
    assert stage_runs([]) == [] and stage_runs(["a"] * 4) == [(0, "a")]
    assert stage_runs(["a", None, None, "a"]) == [(0, "a"), (1, None), (3, "a")]


def test_to_numpy_views_the_columns() -> None:
    np = pytest.importorskip("numpy")
    s = _series()
    cols = s.to_numpy()
    assert cols["steps"].dtype == np.int64 and cols["values"].dtype == np.float64
    assert np.shares_memory(cols["values"], np.frombuffer(s.columns()[1]))  # no copy
    assert cols["steps"].tolist() == s.steps and cols["stages"].tolist() == s.stages
    assert not cols["values"].flags.writeable  # a view of the series: read-only
    empty = MetricSeries("x", [], [], [], []).to_numpy()
    assert [len(v) for v in empty.values()] == [0, 0, 0, 0]


def test_to_numpy_without_numpy_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "numpy", None)  # import numpy raises ImportError
    with pytest.raises(MissingDependency, match=r"picidae\[numpy\]"):
        _series().to_numpy()


def test_consecutive_steps_may_be_a_range() -> None:
    s = MetricSeries("x", range(5, 8), [1.0, 2.0, 3.0], [0.0, 0.0, 0.0], ["a"] * 3)
    assert s.steps == [5, 6, 7] and s[1] == (6, 2.0, 0.0, "a") and s[1:] == list(s)[1:]
    pytest.importorskip("numpy")
    assert s.to_numpy()["steps"].tolist() == [5, 6, 7]
    assert s.columns()[0] == array("q", [5, 6, 7])
