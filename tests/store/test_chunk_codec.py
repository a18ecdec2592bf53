"""Metric chunk columns stored smaller where it pays, and old raw chunks read unchanged."""

from __future__ import annotations

import math
import pickle
import random
import sqlite3
import struct
import time
from array import array
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine

from picidae.store import registry
from picidae.store.base import Batch, SeriesChunk
from picidae.store.series import Deferred
from picidae.store.sql import codec, migrate
from picidae.store.sql.chunks import chunk_rows
from picidae.store.sql.sqlite import SqliteStore

MakeRun = Callable[..., dict[str, Any]]


def _roundtrip(typecode: str, column: array[Any], step_min: int = 0) -> bytes:
    blob = (codec.encode_column(column) if typecode == "d"
            else chunk_rows("r", SeriesChunk("k", None, column, array("d", [0.0] * len(column)),
                                             array("d", [0.0] * len(column))))[0]["steps"])
    back = codec.decode(typecode, blob, len(column), codec.TAGGED, step_min)
    assert back.tobytes() == column.tobytes()  # bit for bit: NaN payloads, -0.0, infinities
    return blob


@pytest.mark.parametrize("value", [0.25, math.nan, -0.0, math.inf])
def test_a_one_point_chunk_is_stored_as_any_chunk_is(value: float) -> None:
    # A run's finals are one-point chunks, encoded without the codec's machinery: the same
    # bytes as the codec gives every column, read back bit for bit.
    chunk = SeriesChunk("k", "eval", array("q", [7]), array("d", [value]), array("d", [1.7e9]))
    (row,) = chunk_rows("r", chunk)
    assert (row["n"], row["step_min"], row["step_max"], row["ordered"], row["codec"],
            row["stage"]) == (1, 7, 7, 1, codec.TAGGED, "eval")
    assert row["steps"] == codec.encode_steps(chunk.steps, True, True) == bytes((codec.RUN,))
    assert row["vals"] == codec.encode_column(chunk.values)
    assert row["times"] == codec.encode_column(chunk.times)
    assert codec.decode("d", row["vals"], 1, codec.TAGGED).tobytes() == chunk.values.tobytes()


def test_each_kind_of_column_round_trips_bit_for_bit() -> None:
    n = 5000
    assert _roundtrip("q", array("q", range(7, 7 + n)), 7) == bytes((codec.RUN,))
    assert _roundtrip("q", array("q", range(10, 10 + 5 * n, 5)), 10)[0] == codec.STRIDE
    steps = array("q", sorted(random.sample(range(10 * n), n)))
    assert _roundtrip("q", steps, steps[0])[0] in (codec.ZLIB, codec.RAW)
    times = array("d", [1.7e9 + i * 1e-3 for i in range(n)])
    assert _roundtrip("d", times)[0] == codec.ZLIB  # the high bytes of times compress away
    noise = array("d", [random.random() for _ in range(n)])
    assert _roundtrip("d", noise)[0] == codec.RAW  # random mantissas do not pay: stored raw
    special = array("d", [math.nan, -0.0, math.inf, -math.inf, 1e-310] * 100)
    _roundtrip("d", special)
    _roundtrip("d", array("d", [1.5]))  # too short to try


def test_unknown_formats_are_refused_not_misread() -> None:
    with pytest.raises(ValueError, match="codec 7"):
        codec.decode("d", b"", 0, 7)
    with pytest.raises(ValueError, match="format 9"):
        codec.decode("d", bytes((9,)), 1, codec.TAGGED)


def test_a_store_reads_what_it_compressed(store: SqliteStore, new_run: MakeRun) -> None:
    run_id = new_run()["id"]
    n = 3000
    now = time.time()
    values = array("d", [1 / (i + 1) for i in range(n)])
    store.write(run_id, Batch(chunks=[SeriesChunk("loss", "train", array("q", range(n)),
                                                  values, array("d", [now + i * 1e-3
                                                                      for i in range(n)]))]))
    store.write(run_id, Batch(chunks=[SeriesChunk("loss", "eval", array("q", [n + 10]),
                                                  array("d", [0.5]), array("d", [now]))]))
    series = store.metrics(run_id, "loss")
    assert series.values == [*values, 0.5] and series.steps == [*range(n), n + 10]
    assert series.stages == ["train"] * n + ["eval"]
    with sqlite3.connect(store.db_path) as db:
        codecs = db.execute("SELECT codec, length(steps) FROM metric_chunks").fetchall()
    assert codecs == [(codec.TAGGED, 1), (codec.TAGGED, 1)]  # consecutive steps: one byte


def _old_chunk(run_id: str, key: str, steps: list[int], values: list[float],
               times: list[float]) -> dict[str, Any]:
    """A row as Picidae wrote it before migration 0010: raw little-endian arrays."""
    return {"run_id": run_id, "key": key, "stage": None, "n": len(steps),
            "step_min": min(steps), "step_max": max(steps), "ordered": int(steps == sorted(steps)),
            "steps": struct.pack(f"<{len(steps)}q", *steps),
            "vals": struct.pack(f"<{len(values)}d", *values),
            "times": struct.pack(f"<{len(times)}d", *times)}


def test_a_database_from_before_the_codec_reads_unchanged(store: SqliteStore,
                                                         new_run: MakeRun,
                                                         store_dir: Path) -> None:
    run_id = new_run()["id"]
    db_path = store.db_path
    registry.close_all()
    cfg = Config()
    cfg.set_main_option("script_location", str(migrate.MIGRATIONS))
    engine = create_engine(f"sqlite:///{db_path}")
    with engine.begin() as conn:  # back to the schema before the codec column
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0009")
    engine.dispose()
    rows = [_old_chunk(run_id, "x", [0, 1, 2], [0.5, math.nan, -math.inf], [1.0, 2.0, 3.0]),
            _old_chunk(run_id, "x", [5, 4], [5.0, 4.0], [5.0, 4.0])]
    with sqlite3.connect(db_path) as db:
        assert "codec" not in [c[1] for c in db.execute("PRAGMA table_info(metric_chunks)")]
        db.executemany("INSERT INTO metric_chunks (run_id, key, stage, n, step_min, step_max, "
                       "ordered, steps, vals, times) VALUES (:run_id, :key, :stage, :n, "
                       ":step_min, :step_max, :ordered, :steps, :vals, :times)", rows)
    again = registry.open_store(store_dir)  # upgrades to the head revision on open
    series = again.metrics(run_id, "x")
    assert series.steps == [0, 1, 2, 4, 5] and series.times == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert series.values[0] == 0.5 and math.isnan(series.values[1])
    assert series.values[2:] == [-math.inf, 4.0, 5.0]
    with sqlite3.connect(db_path) as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [
            (migrate.HEAD,)]
        assert db.execute("SELECT DISTINCT codec FROM metric_chunks").fetchall() == [(0,)]


def test_consecutive_chunks_read_as_one_range_and_breaks_in_it_are_kept(
        store: SqliteStore, new_run: MakeRun) -> None:
    run_id = new_run()["id"]

    def write(steps: list[int], stage: str | None = None) -> None:
        store.write(run_id, Batch(chunks=[SeriesChunk(
            "x", stage, array("q", steps), array("d", [s / 2 for s in steps]),
            array("d", [1.7e9 + s for s in steps]))]))

    write(list(range(100)))
    write(list(range(100, 250)), "eval")
    whole = store.metrics(run_id, "x")
    assert whole.steps == list(range(250)) and whole.values == [s / 2 for s in range(250)]
    assert isinstance(whole.columns()[0], array)
    assert whole.stage_runs() == [(0, None), (100, "eval")] and whole[150].stage == "eval"
    write([300, 302, 304])  # a stride, after a gap
    write([5])  # out of order: read back sorted
    series = store.metrics(run_id, "x")
    assert series.steps == sorted([*range(250), 300, 302, 304, 5])
    assert [p.step for p in series] == series.steps and series[-1].value == 152.0
    small = store.metrics(run_id, "x", max_points=20)
    assert len(small) <= 20 and small.total == 254 and small.steps == sorted(small.steps)


def test_times_stay_encoded_until_asked_and_chunks_join_bit_for_bit(
        store: SqliteStore, new_run: MakeRun) -> None:
    run_id = new_run()["id"]
    now = 1.7e9
    parts = [(range(0, 3000), [1.7e9 + i * 1e-3 for i in range(3000)]),  # zlib'd times
             (range(3000, 3100), [random.random() for _ in range(100)]),  # raw times
             (range(3100, 3103), [math.nan, -0.0, math.inf])]  # too short to try
    for steps, times in parts:
        store.write(run_id, Batch(chunks=[SeriesChunk(
            "x", None, array("q", steps), array("d", [s * 0.5 for s in steps]),
            array("d", times))]))
    want_times = array("d", [t for _, times in parts for t in times])
    series = store.metrics(run_id, "x")
    assert series.values == [s * 0.5 for s in range(3103)] and len(series) == 3103
    assert isinstance(series._times, Deferred)  # steps, values and len did not decode them
    back = pickle.loads(pickle.dumps(series))  # a series pickles with its times encoded
    assert isinstance(back._times, Deferred)
    for s in (series, back):
        assert s.columns()[2].tobytes() == want_times.tobytes()
        assert [p.time for p in s][:3] == [now, now + 1e-3, now + 2e-3]
    assert series.times[-2:] == [-0.0, math.inf] and math.isnan(series.times[-3])
