"""``Run.log``'s usual path and the flush's packing: keyword calls whose keys change order,
set or stage between calls, threads logging into one run, and chunk rows that share steps all
read back exactly as logged."""

from __future__ import annotations

import math
import sys
import threading
import time
from array import array
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import picidae
from picidae.core.validation import metric_value
from picidae.sdk.writer import pack_points
from picidae.store.base import SeriesChunk
from picidae.store.sql import chunks as chunkio
from picidae.store.sql import codec

KEYS = ("loss", "acc", "lr", "val/acc")
STAGES = (None, "train", "eval")


def _series(run: picidae.Run, key: str) -> list[tuple[int, float, str | None]]:
    return [(p.step, p.value, p.stage) for p in picidae.get_run(run.id).metrics(key)]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(
    st.permutations(KEYS).flatmap(lambda keys: st.integers(0, len(keys)).map(
        lambda n: keys[:n])),  # a set of keys, in any order
    st.sampled_from(STAGES), st.booleans()), min_size=1, max_size=30))
def test_keyword_calls_in_any_key_order_read_back(script: list[Any]) -> None:
    run = picidae.init("columns/property")
    assert isinstance(run, picidae.Run)
    expected: dict[str, list[tuple[int, float, str | None]]] = {}
    for step, (keys, stage, flush) in enumerate(script):
        values = {key: step * 10.0 + KEYS.index(key) for key in keys}
        run.log(stage=stage, **values)  # keyword calls: the path a training loop takes
        for key, value in values.items():
            expected.setdefault(key, []).append((step, value, stage))
        if flush:
            run.flush()
    run.finish()
    for key, points in expected.items():
        assert _series(run, key) == points


def test_a_key_order_change_mid_batch_keeps_every_column() -> None:
    run = picidae.init("columns/order")
    assert isinstance(run, picidae.Run)
    for i in range(5):
        run.log(a=float(i), b=100.0 + i)
    for i in range(5, 10):
        run.log(b=100.0 + i, a=float(i))  # same keys, other order: no flush in between
    run.log(a=10.0)
    run.log(a=11.0, b=111.0)
    run.finish()
    assert _series(run, "a") == [(i, float(i), None) for i in range(12)]
    assert _series(run, "b") == [(i, 100.0 + i, None) for i in (*range(10), 11)]


def test_values_other_than_floats_still_convert_between_fast_calls() -> None:
    run = picidae.init("columns/types")
    assert isinstance(run, picidae.Run)
    run.log(x=1.5, y=2.5)
    run.log(x=2, y=True)  # int and bool: the careful path, converted
    run.log(x=np.float32(0.25), y=np.int64(7))
    run.log(x=float("nan"), y=math.inf)
    with pytest.raises(picidae.InvalidInput):
        run.log(x="1.0", y=1.0)  # refused at once, even right after a fast call
    run.log(x=3.5, y=4.5)
    run.finish()
    xs = _series(run, "x")
    assert [v for _, v, _ in xs][:3] == [1.5, 2.0, 0.25]
    assert math.isnan(xs[3][1]) and xs[4] == (4, 3.5, None)  # a refused call takes no step
    assert [v for _, v, _ in _series(run, "y")] == [2.5, 1.0, 7.0, math.inf, 4.5]


def test_a_stage_given_again_is_kept_and_a_new_stage_is_checked() -> None:
    run = picidae.init("columns/stages")
    assert isinstance(run, picidae.Run)
    run.log(loss=1.0, stage="train")
    run.log(loss=0.5, stage="train")
    run.log(loss=0.7, stage="eval")
    run.log(loss=0.4)
    with pytest.raises(picidae.InvalidInput):
        run.log(loss=0.3, stage="bad\x00stage")
    run.finish()
    assert _series(run, "loss") == [(0, 1.0, "train"), (1, 0.5, "train"), (2, 0.7, "eval"),
                                    (3, 0.4, None)]


@pytest.fixture
def fast_switching() -> Iterator[None]:
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads change hands inside log() calls
    yield
    sys.setswitchinterval(before)


def test_threads_logging_other_keys_into_one_run_keep_every_point(fast_switching: None,
                                                                  ) -> None:
    run = picidae.init("columns/threads")
    assert isinstance(run, picidae.Run)
    n = 1500

    def worker(t: int) -> None:
        names = [f"t{t}_{j}" for j in range(3)]
        for i in range(n):
            order = names if i % 3 else names[::-1]  # key order changes, too
            run.log(step=i, **{name: t * 1e6 + i * 10 + int(name[-1]) for name in order})

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(3)]
    for th in threads:
        th.start()
    while any(th.is_alive() for th in threads):
        run.flush()  # flushes race the loggers
        time.sleep(0.001)
    for th in threads:
        th.join()
    run.finish()
    view = picidae.get_run(run.id)
    for t in range(3):
        for j in range(3):
            series = view.metrics(f"t{t}_{j}")
            assert series.steps == list(range(n))
            assert series.values == [t * 1e6 + i * 10 + j for i in range(n)]


def test_pack_points_splits_segments_by_key_order_and_stage() -> None:
    entries = [
        (0, 10.0, None, {"a": 1.0, "b": 2.0}, ["a", "b"]),
        (1, 11.0, None, {"b": 4.0, "a": 3.0}, ["b", "a"]),
        (2, 12.0, "eval", {"a": 5.0}, ["a"]),
        (3, 13.0, None, {"a": 6.0, "b": 7.0}, ["a", "b"]),
    ]
    chunks = {(c.key, c.stage): c for c in pack_points(entries)}
    assert set(chunks) == {("a", None), ("a", "eval"), ("b", None)}
    a = chunks[("a", None)]
    assert (list(a.steps), list(a.values), list(a.times)) == ([0, 1, 3], [1.0, 3.0, 6.0],
                                                              [10.0, 11.0, 13.0])
    assert list(chunks[("b", None)].values) == [2.0, 4.0, 7.0]
    assert list(chunks[("a", "eval")].values) == [5.0]
    # A chunk that grew owns its arrays: extending one leaves the others as they were.
    a.steps.append(99)
    assert list(chunks[("b", None)].steps) == [0, 1, 3]


def _chunk(key: str, steps: list[int]) -> SeriesChunk:
    return SeriesChunk(key, None, array("q", steps), array("d", map(float, steps)),
                       array("d", [0.0] * len(steps)))


def test_chunk_rows_share_one_order_check_and_stay_exact() -> None:
    memo: dict[bytes, tuple[bool, int, int]] = {}
    in_order = chunkio.chunk_rows("r", _chunk("a", [3, 4, 5, 6]), memo)
    again = chunkio.chunk_rows("r", _chunk("b", [3, 4, 5, 6]), memo)
    gaps = chunkio.chunk_rows("r", _chunk("c", [0, 10, 10, 20]), memo)
    shuffled = chunkio.chunk_rows("r", _chunk("d", [5, 1, 9, 2]), memo)
    assert len(memo) == 3  # the second chunk reused the first one's check
    assert [(r["ordered"], r["step_min"], r["step_max"]) for r in
            (*in_order, *again, *gaps, *shuffled)] == [(1, 3, 6), (1, 3, 6), (1, 0, 20),
                                                       (0, 1, 9)]
    assert chunkio.chunk_rows("r", _chunk("d", [5, 1, 9, 2])) == shuffled  # without memo


def test_latest_point_is_the_last_write_at_the_top_step() -> None:
    chunk = SeriesChunk("k", None, array("q", [1, 7, 3, 7, 2]),
                        array("d", [1.0, 2.0, 3.0, 4.0, 5.0]), array("d", [0.0] * 5))
    assert chunkio.latest_point(chunk) == (7, 4.0, 0.0, None)
    assert chunkio.latest_point(chunk, 7) == (7, 4.0, 0.0, None)
    ordered = _chunk("k", [0, 1, 2])
    assert chunkio.latest_point(ordered, 2) == (2, 2.0, 0.0, None)


def _careful_calls(monkeypatch: pytest.MonkeyPatch) -> Callable[[], int]:
    """Count ``Run.log``'s calls off the usual path (``Run._clean_point``): the returned
    function tells how many so far."""
    calls = 0
    clean = picidae.Run._clean_point

    def counted(self: picidae.Run, *args: Any) -> Any:
        nonlocal calls
        calls += 1
        return clean(self, *args)

    monkeypatch.setattr(picidae.Run, "_clean_point", counted)
    return lambda: calls


def test_dict_calls_take_the_usual_path_and_never_keep_the_callers_dict(
        monkeypatch: pytest.MonkeyPatch) -> None:
    run = picidae.init("columns/dicts")
    assert isinstance(run, picidae.Run)
    careful = _careful_calls(monkeypatch)
    row = {"loss": 1.0, "acc": 0.5}
    for i in range(5):
        row["loss"] = float(i)  # the caller reuses and changes its dict
        run.log(row)
    run.log(row, acc=0.75)  # a keyword wins over the dict, as before
    assert careful() == 1  # only the first call: the rest matched its keys in C
    run.finish()
    assert [v for _, v, _ in _series(run, "loss")] == [0.0, 1.0, 2.0, 3.0, 4.0, 4.0]
    assert [v for _, v, _ in _series(run, "acc")] == [0.5] * 5 + [0.75]


def test_pack_points_gathers_alternating_stages_and_keeps_shared_columns_in_order() -> None:
    ab, a, lr = ["a", "b"], ["a"], ["lr"]
    alternating = [(i, float(i), "train" if i % 2 else "eval", {"a": float(i)}, a)
                   for i in range(6)]
    alternating += [(i, float(i), None, {"lr": 0.1 * i}, lr) for i in range(6, 8)]
    chunks = {(c.key, c.stage): c for c in pack_points(alternating)}
    assert list(chunks[("a", "train")].steps) == [1, 3, 5]
    assert list(chunks[("a", "eval")].values) == [0.0, 2.0, 4.0]
    assert list(chunks[("lr", None)].steps) == [6, 7]
    # "a" is logged with and without "b" at the same steps: its column keeps log order, so
    # the last write at step 1 stays last.
    shared = [(0, 0.0, None, {"a": 1.0, "b": 2.0}, ab), (1, 1.0, None, {"a": 3.0}, a),
              (1, 2.0, None, {"a": 4.0, "b": 5.0}, ab), (2, 3.0, None, {"a": 6.0}, a)]
    a_chunk = next(c for c in pack_points(shared) if c.key == "a")
    assert (list(a_chunk.steps), list(a_chunk.values)) == ([0, 1, 1, 2], [1.0, 3.0, 4.0, 6.0])
    assert chunkio.latest_point(a_chunk) == (2, 6.0, 3.0, None)


def test_keys_logged_together_encode_their_shared_times_once_and_exactly() -> None:
    t0 = 1.7e9
    shared = array("d", [t0 + i * 1e-3 for i in range(2000)])  # compresses: zlib'd
    other = array("d", [t0 + i * 2e-3 for i in range(2000)])
    steps = array("q", range(2000))
    chunks = [SeriesChunk(key, None, steps, array("d", map(float, steps)), array("d", times))
              for key, times in (("a", shared), ("b", shared), ("c", other))]
    memo: dict[bytes, Any] = {}
    columns: dict[bytes, bytes] = {}
    rows = [chunkio.chunk_rows("r", c, memo, columns)[0] for c in chunks]
    assert len(columns) == 2  # "b" reused "a"'s encoded times
    assert rows[0]["times"] is rows[1]["times"]
    assert rows[0]["times"][0] == codec.ZLIB
    assert rows == [chunkio.chunk_rows("r", c)[0] for c in chunks]  # as without the memo
    series = chunkio.read_series("c", [SimpleNamespace(**rows[2])])
    assert series.times == list(other)


def test_packing_converts_as_the_array_constructor_did() -> None:
    # Values as every producer leaves them: floats from log, ints and bools from samples,
    # NaN and infinities kept bit for bit.
    values = {"f": 0.1, "i": 3, "big": 2**62 + 1, "b": True, "nan": math.nan, "inf": -math.inf}
    entries = [(5, 1.5, None, dict(values), [*values])]
    chunks = {c.key: c for c in pack_points(entries)}
    for key, value in values.items():
        assert chunks[key].values.tobytes() == array("d", [value]).tobytes()
        assert (list(chunks[key].steps), list(chunks[key].times)) == ([5], [1.5])
    with pytest.raises(TypeError):  # what the array constructor raised, as before
        pack_points([(0, 0.0, None, {"s": "x"}, ["s"])])  # type: ignore[dict-item]


def test_int_and_bool_values_take_the_usual_path_and_read_back_as_floats(
        monkeypatch: pytest.MonkeyPatch) -> None:
    run = picidae.init("columns/ints")
    assert isinstance(run, picidae.Run)
    careful = _careful_calls(monkeypatch)
    big = [2**62 + 1, 2**53 + 1, -(2**70) - 1, 10**300, 0, -5]  # rounded as float() rounds
    for i, n in enumerate(big):
        run.log(epoch=i, count=n, done=i % 2 == 0, loss=1.0 / (i + 1))
    assert careful() == 1  # the first call only: the rest matched its keys and types in C
    with pytest.raises(picidae.InvalidInput, match="'count'"):
        run.log(epoch=6, count=10**400, done=True, loss=0.1)  # no float holds it
    with pytest.raises(picidae.InvalidInput, match="'count'"):
        run.log(epoch=6, count="7", done=True, loss=0.1)
    run.log(epoch=6, count=7.5, done=False, loss=0.1)  # a float now: converted, kept
    run.log(epoch=7, count=8, done=True, loss=0.05)
    run.finish()
    assert _series(run, "count") == [(i, float(n), None) for i, n in
                                      enumerate([*big, 7.5, 8])]
    assert [v for _, v, _ in _series(run, "done")] == [1.0, 0.0] * 3 + [0.0, 1.0]
    assert [v for _, v, _ in _series(run, "epoch")] == [float(i) for i in range(8)]


def test_an_int_too_large_for_a_float_is_refused_naming_the_key() -> None:
    run = picidae.init("columns/huge")
    assert isinstance(run, picidae.Run)
    with pytest.raises(picidae.InvalidInput, match=r"'tokens'.*too large"):
        run.log(tokens=10**400)  # was a bare OverflowError from float()
    with pytest.raises(picidae.InvalidInput, match="'tokens'"):
        run.log({"tokens": -(10**400)}, loss=1.0)
    run.log(tokens=10**18, loss=1.0)
    run.finish()
    assert _series(run, "tokens") == [(0, 1e18, None)]


def test_numpy_scalars_take_the_usual_path_and_convert_as_before(
        monkeypatch: pytest.MonkeyPatch) -> None:
    run = picidae.init("columns/numpy")
    assert isinstance(run, picidae.Run)
    careful = _careful_calls(monkeypatch)
    rows = [{"f64": np.float64(0.1 * i), "f32": np.float32(0.1 * i), "i64": np.int64(2**62 + i),
             "u64": np.uint64(2**64 - 1 - i), "ok": np.bool_(i % 2), "f16": np.float16(i / 3)}
            for i in range(5)]
    rows.append({**rows[0], "f32": np.float32("nan")})
    for row in rows:
        run.log(**row)
    assert careful() == 1  # the first call only
    with pytest.raises(picidae.InvalidInput, match="'f64'"):
        run.log(**{**rows[0], "f64": np.array([1.0])})  # a 1-element array: still refused
    with pytest.raises(picidae.InvalidInput, match="'f64'"):
        run.log(**{**rows[0], "f64": np.longdouble(1.0)})
    run.finish()
    for key in rows[0]:
        stored = [v for _, v, _ in _series(run, key)]
        expected = [metric_value(key, row[key]) for row in rows]
        assert array("d", stored).tobytes() == array("d", expected).tobytes()


def test_one_log_call_packs_each_key_with_its_own_value() -> None:
    keys = ["loss", "acc", "n", "ok"]
    point = {"loss": 0.5, "acc": float("nan"), "n": 3, "ok": True}
    chunks = pack_points([(7, 12.5, "eval", point, keys)])
    assert [c.key for c in chunks] == keys
    for chunk, value in zip(chunks, (0.5, None, 3.0, 1.0), strict=True):
        assert chunk.stage == "eval" and list(chunk.steps) == [7] and list(chunk.times) == [12.5]
        assert (list(chunk.values) == [value]) if value is not None \
            else math.isnan(chunk.values[0])
    with pytest.raises(TypeError):
        pack_points([(0, 0.0, None, {"s": "x"}, ["s"])])  # type: ignore[dict-item]
