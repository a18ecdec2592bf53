"""``picidae.runs(where=...)`` on real stores: each operator and each family of fields."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import inspect, select
from sqlalchemy.dialects import postgresql, sqlite

import picidae
from picidae.core.validation import flatten
from picidae.core.where import WhereError, evaluate
from picidae.errors import InvalidInput
from picidae.store.registry import open_store
from picidae.store.sql.tables import runs as runs_table
from picidae.store.sql.where_sql import compile_where, sql_like_pattern


@pytest.fixture
def study(where_store_url: str) -> Iterator[str]:
    """Three runs made with ``picidae.init``: resnet (completed), vit (failed), bert
    (still running); returns the store URL."""
    store = where_store_url
    resnet = picidae.init("cv/resnet", store=store, tags=["ablation", "gpu"],
                          config={"lr": 0.01, "opt": {"name": "adam", "lr": 0.001},
                                  "data": {"train/split": "a_b"}},
                          agent="claude", benchmark="mnist", seed=1, capture_env=False)
    resnet.log(acc=0.5).log({"acc": 0.95, "train/loss": 0.2})
    resnet.summary({"best": 0.97, "note": "50% faster"})
    resnet.finish()
    vit = picidae.init("cv/vit", store=store, tags=["baseline"], kind="seed", seed=2,
                       config={"lr": 0.1, "opt": {"name": "sgd"}, "use_amp": False},
                       capture_env=False)
    vit.log({"acc": 0.7, "train/loss": float("nan")})
    vit.summary({"best": 0.7})
    vit.fail("crash", message="boom")
    bert = picidae.init("nlp/bert", store=store, alias="bert-1", capture_env=False,
                        config={"lr": 0.01, "use_amp": True, "layers": [1, 2],
                                "odd key=": "x"})
    bert.log(acc=float("inf"))
    bert.heartbeat()
    yield store
    bert.finish()  # no run left open for the writer thread to flush during teardown


def names(store: str, where: str, **kwargs: Any) -> list[str]:
    """The names of the runs matching ``where``, sorted."""
    return sorted(rv.name for rv in picidae.runs(store=store, where=where, **kwargs))


ALL = ["cv/resnet", "cv/vit", "nlp/bert"]


@pytest.mark.parametrize(("where", "expected"), [
    # comparisons on config numbers, strings and booleans
    ("config.lr = 0.01", ["cv/resnet", "nlp/bert"]),
    ("config.lr != 0.01", ["cv/vit"]),
    ("config.lr > 0.01", ["cv/vit"]),
    ("config.lr >= 0.01", ALL),
    ("config.lr < 0.1", ["cv/resnet", "nlp/bert"]),
    ("config.lr <= 0.01", ["cv/resnet", "nlp/bert"]),
    ("config.opt.name = 'adam'", ["cv/resnet"]),
    ("config.opt.name > 'b'", ["cv/vit"]),
    ("config.opt.lr = 0.001", ["cv/resnet"]),
    ("config.data.train/split = 'a_b'", ["cv/resnet"]),
    ("config.`odd key=` = 'x'", ["nlp/bert"]),
    ("config.use_amp = true", ["nlp/bert"]),
    ("config.use_amp = false", ["cv/vit"]),
    ("config.use_amp = 1", ["nlp/bert"]),
    ("config.use_amp = 'true'", ["nlp/bert"]),
    ("config.layers = '[1,2]'", ["nlp/bert"]),
    ("config.lr = '0.01'", []),  # a string never equals a number
    # in / not in
    ("config.opt.name in ('adam', 'sgd')", ["cv/resnet", "cv/vit"]),
    ("config.opt.name not in ('adam')", ["cv/vit"]),
    ("config.lr in (0.1, 'x')", ["cv/vit"]),
    ("config.lr not in (0.1)", ["cv/resnet", "nlp/bert"]),
    ("status in ('finished', 'failed')", ["cv/resnet", "cv/vit"]),
    # like / contains on text, contains on tags
    ("name like 'cv/%'", ["cv/resnet", "cv/vit"]),
    ("name like 'cv/_it'", ["cv/vit"]),
    ("name like 'CV/%'", []),  # case-sensitive on every store
    ("name not like 'cv/%'", ["nlp/bert"]),
    ("config.data.train/split like 'a\\\\_b'", ["cv/resnet"]),
    ("summary.note like '50\\%%'", ["cv/resnet"]),
    ("summary.note like '5_\\%%'", ["cv/resnet"]),
    ("name contains 'res'", ["cv/resnet"]),
    ("summary.note contains '%'", ["cv/resnet"]),
    ("summary.note not contains 'slow'", ["cv/resnet"]),
    ("tags contains 'ablation'", ["cv/resnet"]),
    ("tags contains 'abl'", []),
    ("tags not contains 'ablation'", ["cv/vit", "nlp/bert"]),
    # is null
    ("alias is null", ["cv/resnet", "cv/vit"]),
    ("alias is not null", ["nlp/bert"]),
    ("summary.best is null", ["nlp/bert"]),
    ("config.opt.lr is not null", ["cv/resnet"]),
    ("metrics.train/loss is null", ["cv/vit", "nlp/bert"]),  # NaN counts as null
    ("ended_at is null", ["nlp/bert"]),
    # run columns
    ("status = 'completed'", ["cv/resnet"]),
    ("status = 'succeeded'", ["cv/resnet"]),
    ("status != 'running'", ["cv/resnet", "cv/vit"]),
    ("agent = 'claude' and benchmark = 'mnist'", ["cv/resnet"]),
    ("kind = 'seed'", ["cv/vit"]),
    ("kind != 'seed'", []),  # no kind: != is false, like every comparison with nothing
    ("seed >= 2", ["cv/vit"]),
    ("seed = 1.5", []),
    ("attempt = 1", ALL),
    ("trigger = 'user'", ALL),
    ("alias = 'bert-1'", ["nlp/bert"]),
    ("parent_id is null and root_id is not null", ALL),
    # metrics: the latest value
    ("metrics.acc > 0.9", ["cv/resnet", "nlp/bert"]),
    ("metrics.acc = 0.5", []),
    ("metrics.acc < 1e999", ["cv/resnet", "cv/vit"]),
    ("metrics.train/loss < 1", ["cv/resnet"]),
    ("metrics.train/loss != 1", ["cv/resnet"]),
    ("metrics.nope > 0", []),
    # summary
    ("summary.best > 0.9", ["cv/resnet"]),
    ("summary.best in (0.7, 0.97)", ["cv/resnet", "cv/vit"]),
    # logic and the missing-key rule
    ("not config.opt.lr = 0.001", ["cv/vit", "nlp/bert"]),
    ("config.opt.lr != 0.001", []),
    ("not config.opt.lr != 0.001", ALL),
    ("not (config.lr = 0.01 or tags contains 'baseline')", []),
    ("config.lr = 0.01 and (metrics.acc > 0.9 or status = 'failed')",
     ["cv/resnet", "nlp/bert"]),
    ("config.lr = 0.01 and metrics.acc > 0.9 and status = 'completed' and "
     "tags contains 'ablation'", ["cv/resnet"]),
    # timing
    ("created_at > '2000-01-01'", ALL),
    ("created_at < '2000-01-01T00:00:00Z'", []),
    ("started_at > 946684800", ALL),
    ("duration_s >= 0", ALL),
    ("duration_s > 1d", []),
])
def test_where_selects_the_expected_runs(study: str, where: str,
                                         expected: list[str]) -> None:
    assert names(study, where) == expected


def test_where_agrees_with_the_python_evaluator_on_the_study(study: str) -> None:
    views = picidae.runs(store=study)
    latest = {rv.id: rv.latest_metrics() for rv in views}
    records = {rv.id: {**rv._record, "config": flatten(rv.config),
                       "summary": flatten(rv.summary), "metrics": latest[rv.id]}
               for rv in views}
    for where in ("config.lr = 0.01 and not metrics.acc > 0.9", "metrics.acc > 1",
                  "config.use_amp != true", "summary.note like '%fast%'",
                  "not tags contains 'gpu' and alias is null"):
        expected = sorted(r["name"] for r in records.values() if evaluate(where, r))
        assert names(study, where) == expected, where


def test_where_combines_with_the_other_filters_order_and_limit(study: str) -> None:
    found = picidae.runs(store=study, where="config.lr = 0.01", status="completed")
    assert [rv.name for rv in found] == ["cv/resnet"]
    found = picidae.runs(store=study, where="metrics.acc > 0", order_by="metrics.acc desc",
                         limit=2)
    assert [rv.name for rv in found] == ["nlp/bert", "cv/resnet"]
    assert names(study, "config.lr >= 0", name="cv/*") == ["cv/resnet", "cv/vit"]
    assert names(study, "seed > 0", tags=["gpu"]) == ["cv/resnet"]


def test_a_blank_where_matches_every_run(study: str) -> None:
    assert names(study, "") == ALL
    assert names(study, "  \n ") == ALL


def test_a_malformed_where_raises_invalid_input_naming_the_column(study: str) -> None:
    with pytest.raises(InvalidInput) as info:
        picidae.runs(store=study, where="config.lr = 0.01 and metrics.acc >")
    assert isinstance(info.value, WhereError)
    assert info.value.column == 35 and info.value.field == "where"
    with pytest.raises(InvalidInput, match="unknown field 'lr'"):
        picidae.runs(store=study, where="lr = 0.01")


def test_durations_use_end_or_now(where_store_url: str,
                                  make_run: Callable[..., dict[str, Any]]) -> None:
    now = time.time()
    make_run(name="short", started_at=now - 100, ended_at=now - 70)     # 30 s
    make_run(name="hour", started_at=now - 7200, ended_at=now - 3600)   # 1 h
    make_run(name="running", status="running", started_at=now - 2 * 86400, ended_at=None)
    make_run(name="queued", status="queued", started_at=None, ended_at=None)
    make_run(name="clock-skew", started_at=now, ended_at=now - 5)       # counts as 0 s
    store = where_store_url
    assert names(store, "duration_s < 1m") == ["clock-skew", "short"]
    assert names(store, "duration_s = 30") == ["short"]
    assert names(store, "duration_s = 0") == ["clock-skew"]
    assert names(store, "duration_s >= 1h") == ["hour", "running"]
    assert names(store, "duration_s > 1d") == ["running"]
    assert names(store, "duration_s is null") == ["queued"]
    assert names(store, "not duration_s > 1d") == ["clock-skew", "hour", "queued", "short"]


def test_dates_compare_with_timing_fields_in_utc(where_store_url: str,
                                                 make_run: Callable[..., dict[str, Any]]
                                                 ) -> None:
    def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> float:
        return datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp()

    make_run(name="october", created_at=at(2026, 10, 31, 23, 59), last_heartbeat_at=None)
    make_run(name="november", created_at=at(2026, 11, 1, 0, 0),
             last_heartbeat_at=at(2026, 11, 2))
    make_run(name="later", created_at=at(2026, 11, 15, 12), last_heartbeat_at=None)
    store = where_store_url
    assert names(store, 'created_at > "2026-11-01"') == ["later"]
    assert names(store, 'created_at >= "2026-11-01"') == ["later", "november"]
    assert names(store, 'created_at < "2026-11-01T00:00:00+00:00"') == ["october"]
    assert names(store, 'created_at < "2026-11-01T01:00:00+01:00"') == ["october"]
    assert names(store, 'created_at = "2026-11-01 00:00"') == ["november"]
    assert names(store, f"created_at = {at(2026, 11, 1)!r}") == ["november"]
    assert names(store, 'last_heartbeat_at > "2026-11-01"') == ["november"]
    assert names(store, 'created_at > "2026-11-01" and created_at < "2026-12-01"') == [
        "later"]


def test_text_order_is_by_code_point_on_every_store(
        where_store_url: str, make_run: Callable[..., dict[str, Any]]) -> None:
    for name in ("B", "a", "é", "Z"):
        make_run(name=name, config={"word": name})
    # Code points: "B" (66) < "Z" (90) < "a" (97) < "é" (233); a locale would put a before B.
    assert names(where_store_url, "name < 'a'") == ["B", "Z"]
    assert names(where_store_url, "config.word >= 'a'") == ["a", "é"]


def test_values_are_bound_parameters_never_pasted_into_sql(study: str) -> None:
    evil = "x'); DROP TABLE runs; --"
    stmt = select(runs_table.c.id).where(compile_where(
        f"name = {evil!r} or config.`{evil}` like {evil!r} or tags contains {evil!r} or "
        f"summary.k in ({evil!r}, 1) or name contains {evil!r}"))
    for dialect in (sqlite.dialect(), postgresql.dialect()):
        compiled = stmt.compile(dialect=dialect)
        assert "DROP" not in str(compiled)
        assert evil in compiled.params.values()
    assert names(study, f"name = {evil!r}") == []
    engine = open_store(study).engine
    assert "runs" in inspect(engine).get_table_names()
    assert len(picidae.runs(store=study)) == 3


def test_like_patterns_escape_the_same_way_in_sql_and_python() -> None:
    assert sql_like_pattern("a%b_c") == "a%b_c"
    assert sql_like_pattern(r"50\%") == "50!%"
    assert sql_like_pattern(r"a\_b") == "a!_b"
    assert sql_like_pattern("wow!") == "wow!!"
    assert sql_like_pattern(r"\\x") == "\\x"
    assert sql_like_pattern(r"\q") == "q"
    run = {"name": "50% of a_b!"}
    assert evaluate(r"name like '50\%%a\_b!'", run)
    assert not evaluate(r"name like '50\%%a\_c!'", run)


def test_the_evaluator_treats_nan_as_null() -> None:
    run = {"config": {"x": math.nan}, "metrics": {"m": math.nan}, "summary": {}, "tags": []}
    assert evaluate("config.x is null and metrics.m is null", run)
    assert not evaluate("config.x != 1 or metrics.m != 1 or metrics.m < 1e999", run)
    assert evaluate("not metrics.m = 1", run)


def test_the_evaluator_takes_config_nested_or_flat() -> None:
    nested = {"config": {"opt": {"lr": 0.1, "name": "adam"}, "empty": {}}}
    flat = {"config": {"opt.lr": 0.1, "opt.name": "adam", "empty": {}}}
    for run in (nested, flat):
        assert evaluate("config.opt.lr = 0.1 and config.opt.name = 'adam'", run)
        assert evaluate("config.opt is null and config.empty = '{}'", run)


@pytest.mark.parametrize("value", [0, 1, -2.5, math.inf, math.nan, True, False, "adam", "",
                                   "a\x00b", None, [1, "x"], {}, [math.nan]])
def test_the_evaluator_sees_values_as_the_store_indexes_them(value: Any) -> None:
    from picidae.core.where import stored_value
    from picidae.store.sql.store import _field_rows

    (row,) = _field_rows("r", "config", {"k": value}, 0.0)
    assert stored_value(value) == (row["num"], row["text"])
