"""``MetricSeries``: one metric's points as a store read them, kept as packed columns.

A series holds its values and times (float64) as the ``array.array`` a store decoded, its
steps (int64) likewise or as a ``range`` when they are consecutive (the usual case, which a
store then never decodes at all), and its stages as runs of equal stage. Nothing becomes a
Python object until asked for: iterating builds each ``Point`` in C (``zip_as``, from the
optional extension ``picidae.store._points``; without it, ``tuple.__new__`` over ``zip``), the
list columns (``steps``, ``values``, ``times``, ``stages``) are built on first use and kept,
and ``to_numpy()`` views the arrays without copying them. A store may hand over
the times still encoded (a ``Deferred`` column): they are decoded the first time anything
needs them, so reading ``steps`` or ``values`` alone never pays for them.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import repeat, starmap
from typing import Any, TypeAlias, TypeVar, overload

from picidae.core.run import Point
from picidae.errors import MissingDependency

#: ``(first index, stage)`` for each run of equal stages, in order.
StageRuns = list[tuple[int, str | None]]

_new = tuple.__new__
_Row = TypeVar("_Row", bound=tuple[Any, ...])


def zip_as_python(cls: type[_Row], /, *iterables: Iterable[Any]) -> Iterator[_Row]:
    """The pure-Python ``zip_as``: ``zip(*iterables, strict=True)`` with each row made as
    ``tuple.__new__(cls, row)``, the same ``cls`` instance ``cls(*row)`` gives for a
    NamedTuple, without a Python frame per row. ``starmap`` hands ``tuple.__new__`` zip's
    ``(cls, row)`` as its argument tuple, where ``map`` would build one per row (~4% of
    iterating, measured)."""
    return starmap(_new, zip(repeat(cls), zip(*iterables, strict=True)))  # noqa: RUF058


try:  # the C accelerator (pyproject's ext-modules), built when Picidae was installed
    from picidae.store._points import zip_as
except ImportError:  # not compiled (no compiler at install time): the same Points, slower
    zip_as = zip_as_python

#: Whether iterating a series builds its Points in C (``picidae.store._points`` compiled and
#: importable) rather than in the pure-Python fallback (about twice as slow).
ACCELERATED: bool = zip_as is not zip_as_python


def _column(typecode: str, values: Iterable[Any]) -> array[Any]:
    if isinstance(values, array) and values.typecode == typecode:
        return values
    return array(typecode, values)


#: Steps: an int64 array, or the ``range`` they are when consecutive.
Steps: TypeAlias = "array[int] | range"


class Deferred:
    """A float64 column still encoded: ``decode(*args)`` gives its ``array('d')``. Kept by a
    series until the column is first needed (then replaced by the array); ``decode`` must be
    a module-level function and ``args`` plain data, so a series pickles either way."""

    __slots__ = ("args", "decode")

    def __init__(self, decode: Callable[..., array[float]], *args: Any) -> None:
        self.decode = decode
        self.args = args

    def __reduce__(self) -> tuple[Any, ...]:
        return (Deferred, (self.decode, *self.args))


#: Times: a float64 array, or still encoded.
Times: TypeAlias = "array[float] | Deferred"


def stage_runs(stages: Sequence[str | None]) -> StageRuns:
    """``stages`` as runs: ``[(first index, stage), ...]`` where each run of equal stages
    starts (one run, checked in C, for the usual series logged in one stage)."""
    if not stages:
        return []
    first = stages[0]
    if stages.count(first) == len(stages):
        return [(0, first)]
    runs: StageRuns = []
    for pos, stage in enumerate(stages):
        if not runs or runs[-1][1] != stage:
            runs.append((pos, stage))
    return runs


class MetricSeries(Sequence[Point]):
    """A metric's points in step order: a sequence of ``Point`` built as they are read, so a
    long series costs nothing until iterated.

    Its columns are ``steps``, ``values``, ``times`` and ``stages`` (plain lists, built on
    first use); ``columns()`` gives the numeric ones as ``array.array`` and ``to_numpy()`` as
    NumPy arrays, both without copying. ``total`` is the number of points stored: more than
    ``len`` when the read was downsampled (``Store.metrics(..., max_points=N)``)."""

    __slots__ = ("_lists", "_runs", "_steps", "_times", "_values", "key", "total")

    def __init__(self, key: str, steps: Iterable[int], values: Iterable[float],
                 times: Iterable[float], stages: Sequence[str | None],
                 total: int | None = None) -> None:
        self.key = key
        self._steps: Steps = steps if isinstance(steps, range) else _column("q", steps)
        self._values = _column("d", values)
        self._times: Times = _column("d", times)
        self._runs = stage_runs(stages)
        self._lists: dict[str, list[Any]] = {}
        self.total = len(self._steps) if total is None else total
        if not len(self._steps) == len(self._values) == len(self._times_array()) == len(stages):
            raise ValueError("steps, values, times and stages differ in length")

    @classmethod
    def from_arrays(cls, key: str, steps: Steps, values: array[float], times: Times,
                    runs: StageRuns, total: int | None = None) -> MetricSeries:
        """A series over these arrays (``q`` or a ``range``, ``d``, ``d``; kept, not copied:
        the caller must not change them after) and stage runs (``stage_runs``). ``times``
        may be a ``Deferred`` column of ``len(steps)`` values, decoded on first use."""
        series = cls.__new__(cls)
        series.key = key
        series._steps, series._values, series._times = steps, values, times
        series._runs = runs
        series._lists = {}
        series.total = len(steps) if total is None else total
        return series

    # -- the columns ----------------------------------------------------------------------

    @property
    def steps(self) -> list[int]:
        """The steps, as a list (built on first use)."""
        got = self._lists.get("steps")
        if got is None:
            got = self._lists["steps"] = list(self._steps)
        return got

    @property
    def values(self) -> list[float]:
        """The values, as a list (built on first use)."""
        return self._list("values", self._values)

    @property
    def times(self) -> list[float]:
        """The times (epoch seconds), as a list (built on first use)."""
        got = self._lists.get("times")
        if got is None:
            got = self._lists["times"] = self._times_array().tolist()
        return got

    def _times_array(self) -> array[float]:
        """The times as an array, decoded now if the store deferred them."""
        times = self._times
        if isinstance(times, Deferred):
            times = self._times = times.decode(*times.args)
        return times

    @property
    def stages(self) -> list[str | None]:
        """Each point's stage, as a list (built on first use)."""
        got = self._lists.get("stages")
        if got is None:
            got = []
            runs, n = self._runs, len(self._steps)
            for i, (start, stage) in enumerate(runs):
                end = runs[i + 1][0] if i + 1 < len(runs) else n
                got.extend(repeat(stage, end - start))
            self._lists["stages"] = got
        return got

    def _list(self, name: str, column: array[Any]) -> list[Any]:
        got = self._lists.get(name)
        if got is None:
            got = self._lists[name] = column.tolist()
        return got

    def stage_runs(self) -> StageRuns:
        """Where each run of equal stages starts: ``[(first index, stage), ...]``."""
        return list(self._runs)

    def columns(self) -> tuple[array[int], array[float], array[float]]:
        """``(steps, values, times)`` as the ``array.array`` the store read (int64, float64,
        float64), without copying; treat them as read-only."""
        if isinstance(self._steps, range):  # consecutive steps, never decoded until now
            self._steps = array("q", self._steps)
        return self._steps, self._values, self._times_array()

    def to_numpy(self) -> dict[str, Any]:
        """The columns as NumPy arrays, in a dict: ``values`` and ``times`` (float64) are
        read-only views of the stored arrays (no copy), ``steps`` (int64) likewise or a
        read-only ``arange`` when consecutive, ``stages`` an object array. Needs NumPy
        (``pip install 'picidae[numpy]'``)."""
        try:
            import numpy as np
        except ImportError:
            raise MissingDependency("numpy", "numpy") from None
        out: dict[str, Any] = {}
        steps = self._steps
        for name, column, dtype in (("steps", steps, np.int64),
                                    ("values", self._values, np.float64),
                                    ("times", self._times_array(), np.float64)):
            if isinstance(column, range):
                view = np.arange(column.start, column.stop, column.step, dtype=dtype)
            else:
                view = np.frombuffer(column, dtype=dtype) if len(column) else np.empty(0, dtype)
            view.flags.writeable = False
            out[name] = view
        n = len(self._steps)
        stages = np.empty(n, dtype=object)
        runs = self._runs
        for i, (start, stage) in enumerate(runs):
            stages[start:runs[i + 1][0] if i + 1 < len(runs) else n] = stage
        out["stages"] = stages
        return out

    # -- the sequence of points ------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._steps)

    def _stage_iter(self) -> Iterable[str | None]:
        runs = self._runs
        if len(runs) == 1:
            return repeat(runs[0][1], len(self._steps))
        return self.stages

    def _stage_at(self, index: int) -> str | None:
        runs = self._runs
        if len(runs) == 1:
            return runs[0][1]
        if index < 0:
            index += len(self._steps)
        return runs[bisect_right(runs, index, key=lambda r: r[0]) - 1][1]

    @overload
    def __getitem__(self, index: int) -> Point: ...
    @overload
    def __getitem__(self, index: slice) -> list[Point]: ...

    def __getitem__(self, index: int | slice) -> Point | list[Point]:
        if isinstance(index, slice):
            return list(zip_as(Point, self._steps[index], self._values[index],
                               self._times_array()[index], self.stages[index]))
        step = self._steps[index]  # IndexError first, as a list
        return Point(step, self._values[index], self._times_array()[index],
                     self._stage_at(index))

    def __iter__(self) -> Iterator[Point]:
        return zip_as(Point, self._steps, self._values, self._times_array(),
                      self._stage_iter())

    def __reversed__(self) -> Iterator[Point]:
        runs = self._runs
        stages = repeat(runs[0][1], len(self)) if len(runs) == 1 else reversed(self.stages)
        return zip_as(Point, reversed(self._steps), reversed(self._values),
                      reversed(self._times_array()), stages)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other,
                                                                           strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"MetricSeries({self.key!r}, {len(self)} points)"

    def last(self) -> Point | None:
        """The last point, or ``None`` for an empty series."""
        return self[-1] if len(self._steps) else None
