"""The C accelerator ``picidae.store._points.zip_as`` and its pure-Python fallback build the
same ``Point``s, refuse the same mistakes, and hold no reference they should not."""

from __future__ import annotations

import gc
import math
import pickle
import subprocess
import sys
import time
import tracemalloc
import weakref
from array import array
from collections.abc import Callable, Iterator
from itertools import repeat
from typing import Any, NamedTuple

import pytest

from picidae.core.run import Point
from picidae.store import series
from picidae.store.base import Batch, MetricSeries, SeriesChunk
from picidae.store.sql.sqlite import SqliteStore

ZipAs = Callable[..., Iterator[Any]]


@pytest.fixture(params=["c", "python"])
def zip_as(request: pytest.FixtureRequest) -> ZipAs:
    """Each way of building rows: the compiled one and the fallback."""
    if request.param == "python":
        return series.zip_as_python
    compiled: ZipAs = request.getfixturevalue("accelerator")
    return compiled


def _both(make: Callable[[], Any], monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    """``make()`` with the accelerator (the test asks for it), then with the fallback."""
    assert series.ACCELERATED
    fast = make()
    with monkeypatch.context() as m:
        m.setattr(series, "zip_as", series.zip_as_python)
        slow = make()
    return fast, slow


def _exact(points: list[Point]) -> list[tuple[Any, ...]]:
    """Each point as comparable data, NaN and -0.0 included, with its types."""
    return [(type(p), type(p.step), p.step, repr(p.value), repr(p.time), p.stage)
            for p in points]


SPECIAL = [math.nan, -0.0, math.inf, -math.inf, 1e-310, 0.5]


def test_the_accelerator_is_built_where_ci_runs(accelerator: ZipAs) -> None:
    # CI installs with a compiler: there the fixture fails instead of skipping.
    assert series.ACCELERATED and series.zip_as is accelerator
    assert series.zip_as is not series.zip_as_python


def test_without_the_extension_series_use_the_python_fallback() -> None:
    code = ("import sys; sys.modules['picidae.store._points'] = None  # import fails\n"
            "from picidae.store import series\n"
            "s = series.MetricSeries('x', [1, 2], [0.5, 1.5], [1.0, 2.0], ['a', None])\n"
            "assert not series.ACCELERATED and series.zip_as is series.zip_as_python\n"
            "assert list(s) == [(1, 0.5, 1.0, 'a'), (2, 1.5, 2.0, None)]\n"
            "assert type(s[0]) is type(list(reversed(s))[0]) is series.Point\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_both_builders_give_identical_points(accelerator: ZipAs,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    n = len(SPECIAL) * 50
    stages = ["warmup"] * 7 + [None] * 100 + ["train"] * (n - 108) + ["eval"]
    s = MetricSeries("x", range(n), SPECIAL * 50, [1.7e9 + i for i in range(n)], stages)
    one = MetricSeries("y", [3, 5], [math.nan, math.inf], [0.0, -0.0], ["a", "a"])
    empty = MetricSeries("z", [], [], [], [])
    for make in (lambda: list(s), lambda: list(reversed(s)), lambda: s[5:300:7],
                 lambda: s[::-3], lambda: list(one), lambda: list(reversed(one)),
                 lambda: list(empty), lambda: list(reversed(empty)), lambda: empty[:]):
        fast, slow = _both(make, monkeypatch)
        assert _exact(fast) == _exact(slow)
    fast, _ = _both(lambda: list(s), monkeypatch)
    assert [p.stage for p in fast] == stages and math.isnan(fast[0].value)
    assert math.copysign(1.0, fast[1].value) == -1.0 and fast[2].value == math.inf


def test_a_series_read_from_many_chunks_iterates_the_same(
        store: SqliteStore, new_run: Callable[..., dict[str, Any]], accelerator: ZipAs,
        monkeypatch: pytest.MonkeyPatch) -> None:
    run_id = new_run()["id"]
    start = 0
    for i, (length, stage) in enumerate([(3000, None), (100, "eval"), (1, None), (50, "b")]):
        steps = array("q", range(start, start + length))
        values = array("d", [SPECIAL[(j + i) % len(SPECIAL)] for j in range(length)])
        store.write(run_id, Batch(chunks=[SeriesChunk(
            "loss", stage, steps, values, array("d", [time.time()] * length))]))
        start += length + i  # gaps after the first chunk
    fast, slow = _both(lambda: list(store.metrics(run_id, "loss")), monkeypatch)
    assert len(fast) == 3151 and _exact(fast) == _exact(slow)
    fast, slow = _both(lambda: list(reversed(store.metrics(run_id, "loss"))), monkeypatch)
    assert _exact(fast) == _exact(slow) and fast[0].stage == "b"


def test_points_pickle_hash_and_compare_as_points(zip_as: ZipAs) -> None:
    got = list(zip_as(Point, [1, 2], [0.5, 1.5], [10.0, 11.0], ["train", None]))
    assert got == [Point(1, 0.5, 10.0, "train"), Point(2, 1.5, 11.0, None)]
    assert got[0] == (1, 0.5, 10.0, "train") and got[1].stage is None
    assert all(type(p) is Point for p in got)
    assert pickle.loads(pickle.dumps(got)) == got
    assert hash(got[0]) == hash(Point(1, 0.5, 10.0, "train")) == hash((1, 0.5, 10.0, "train"))
    assert {got[0]: "a"}[(1, 0.5, 10.0, "train")] == "a"  # a dict key, as a tuple is
    assert got[0]._replace(step=7) == (7, 0.5, 10.0, "train")
    assert repr(got[1]) == "Point(step=2, value=1.5, time=11.0, stage=None)"


def test_wrong_lengths_raise_as_zip_strict_does(zip_as: ZipAs) -> None:
    with pytest.raises(ValueError, match="argument 2 is shorter"):
        list(zip_as(Point, [1, 2], [0.5], [1.0, 2.0], ["a", "a"]))
    with pytest.raises(ValueError, match="argument 4 is longer"):
        list(zip_as(Point, [1], [0.5], [1.0], ["a", "a"]))
    with pytest.raises(ValueError, match="argument 3 is shorter"):
        MetricSeries.from_arrays("x", range(3), array("d", [1.0] * 3), array("d", [1.0] * 2),
                                 [(0, None)])[:]
    assert list(zip_as(Point, [], [], [], [])) == []


def test_errors_inside_an_iterable_pass_through(zip_as: ZipAs) -> None:
    def broken() -> Iterator[float]:
        yield 1.0
        raise KeyError("from the column")

    it = zip_as(Point, [1, 2], broken(), [1.0, 2.0], ["a", "a"])
    assert next(it) == (1, 1.0, 1.0, "a")
    with pytest.raises(KeyError, match="from the column"):
        next(it)


class Pair(NamedTuple):
    a: int
    b: int


class WithDict(tuple):  # type: ignore[type-arg]
    _fields = ("a",)


def test_the_compiled_one_refuses_what_tuple_new_cannot_stand_for(accelerator: ZipAs) -> None:
    assert list(accelerator(Pair, [1], [2])) == [Pair(1, 2)]  # any NamedTuple with the same count
    for cls, args in ((tuple, ([1],)), (int, ([1],)), (Point, ([1], [2])),
                      (Pair, ([1], [2], [3])), (WithDict, ([1],)), ("Point", ([1],))):
        with pytest.raises(TypeError):
            accelerator(cls, *args)
    with pytest.raises(TypeError):
        accelerator()
    with pytest.raises(TypeError):
        accelerator(Pair, 1, [2])  # not iterable


def test_references_are_given_back(zip_as: ZipAs) -> None:
    value, stage = float("1.2345e300"), "".join(["sta", "ge"])  # objects of this test only
    before = sys.getrefcount(value), sys.getrefcount(stage)
    n = 1000
    for p in zip_as(Point, range(n), repeat(value, n), repeat(value, n), repeat(stage, n)):
        assert p.value is value
    del p  # the last point
    assert (sys.getrefcount(value), sys.getrefcount(stage)) == before
    held = list(zip_as(Point, range(n), [value] * n, repeat(value, n), repeat(stage, n)))
    assert sys.getrefcount(value) == before[0] + 2 * n
    assert sys.getrefcount(stage) == before[1] + n
    del held
    assert (sys.getrefcount(value), sys.getrefcount(stage)) == before
    with pytest.raises(ValueError):  # a row half built, then a short column: it is let go
        list(zip_as(Point, [1, 2], [value, value], [value], [stage, stage]))
    assert (sys.getrefcount(value), sys.getrefcount(stage)) == before
    it = zip_as(Point, [1], [value], [value], [stage])
    del it  # never iterated
    assert (sys.getrefcount(value), sys.getrefcount(stage)) == before


def test_many_iterations_leak_nothing(zip_as: ZipAs) -> None:
    s = MetricSeries("x", range(2000), [0.5] * 2000, [1.0] * 2000, ["a"] * 1000 + [None] * 1000)

    def once() -> None:
        for p in zip_as(Point, s.columns()[0], s.values, s.times, s.stages):
            assert p.step >= 0
        with pytest.raises(ValueError):
            list(zip_as(Point, [1, 2], [0.5], [1.0, 2.0], ["a", "a"]))

    for _ in range(20):  # warm up: caches and free lists fill
        once()
    gc.collect()
    objects = len(gc.get_objects())
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        for _ in range(300):
            once()
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - start
    finally:
        tracemalloc.stop()
    assert grown < 64 * 1024, grown  # 300 × 2,000 points: a leak would be megabytes
    assert len(gc.get_objects()) - objects < 50


def test_an_iterator_in_a_cycle_is_collected(zip_as: ZipAs) -> None:
    class Holder:
        it: Iterator[Any]

    holder = Holder()
    holder.it = zip_as(Point, [holder], [1.0], [1.0], [None])  # holder → it → list → holder
    gone = weakref.ref(holder)
    del holder
    gc.collect()
    assert gone() is None


def test_compiled_points_of_plain_values_cost_the_collector_nothing(accelerator: ZipAs) -> None:
    s = MetricSeries("x", range(3), [0.5, math.nan, 2.0], [1.0] * 3, ["a", None, "b"])
    assert not any(map(gc.is_tracked, s)) and not any(map(gc.is_tracked, reversed(s)))
    assert not any(map(gc.is_tracked, s[1:]))  # as plain tuples of numbers are, once seen

    class Holder:
        point: Point

    holder = Holder()  # an object that can be part of a cycle: its Point stays tracked
    point = next(accelerator(Point, [1], [holder], [1.0], [None]))
    assert gc.is_tracked(point) and point.value is holder
    holder.point = point  # holder → point → holder: collected like any cycle
    gone = weakref.ref(holder)
    del holder, point
    gc.collect()
    assert gone() is None
