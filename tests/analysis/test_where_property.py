"""Property: on random runs, ``where`` in SQL selects exactly the runs the plain-Python
evaluator selects, for random well-formed expressions, on every store."""

from __future__ import annotations

import json
import math
import os
import time
from array import array
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import picidae
from picidae.core.ids import new_id
from picidae.core.states import LIVE, SYNONYMS, State
from picidae.core.validation import flatten
from picidae.core.where import evaluate, parse
from picidae.store.base import Batch, RunQuery, SeriesChunk

#: Examples of the SQL-vs-Python property; raise it for a deeper local run.
EXAMPLES = int(os.environ.get("PICIDAE_WHERE_EXAMPLES", "120"))

# A month ago: unfinished runs have run for ~30 days, far from every duration threshold, so
# the moment SQL and Python each take as "now" cannot change an answer.
T0 = float(int(time.time()) - 30 * 86400)
CREATED = [T0 + k * 21600 + 0.5 for k in range(8)]
DURATIONS = [0, 500, 1500, 3600, 5000, 86400]

STATES = [s.value for s in State]
NAMES = ["cv/resnet", "cv/vit", "nlp/bert", "B", "b", "a_b", "50%", "é"]
LABELS = [None, "x", "y", "é", "seed", "B"]
NUMS: list[Any] = [0, 1, -1, 2, 0.01, 0.5, 2.5, 1e-3, 100, math.inf, -math.inf]
STRS = ["adam", "Adam", "sgd", "a_b", "a%b", "", "é", "x y", "50%", "true", "false", "[1,2]",
        "B", "b", "{}"]
CONFIG_KEYS = ["lr", "opt", "flag", "opt.lr", "train/bs", "note"]
SUMMARY_KEYS = ["acc", "best", "note"]
METRIC_KEYS = ["acc", "train/loss", "val.acc"]
METRIC_VALUES: list[Any] = [0.0, 0.5, 0.9, 1.0, -1.0, 2, math.nan, math.inf, -math.inf]
TAGS = ["ablation", "baseline", "x y", "é", "a%"]
LIKES = ["%", "a%", "%b", "_dam", "%a_b%", r"a\_b", r"50\%", "%é%", "", "cv/%", "B", "%!%",
         "__", "%/%"]
PIECES = ["a", "%", "_", "é", "", "/", "res", "b", "!"]


# -- random runs ----------------------------------------------------------------------------

stored_values = st.one_of(st.sampled_from(NUMS), st.sampled_from(STRS), st.booleans(),
                          st.none(), st.just(math.nan), st.just([1, 2]), st.just({}))


@st.composite
def run_specs(draw: st.DrawFn) -> dict[str, Any]:
    """One random run: columns, config, summary, metrics (first and latest value), tags."""
    created = draw(st.sampled_from(CREATED))
    started = draw(st.sampled_from([None, created + 10]))
    ended = None
    if started is not None and draw(st.booleans()):
        ended = started + draw(st.sampled_from(DURATIONS))
    return {
        "name": draw(st.sampled_from(NAMES)),
        "status": draw(st.sampled_from(STATES)),
        "alias": draw(st.sampled_from(LABELS)),
        "kind": draw(st.sampled_from(LABELS)),
        "agent": draw(st.sampled_from(LABELS)),
        "benchmark": draw(st.sampled_from(LABELS)),
        "trigger": draw(st.sampled_from(["user", "agent"])),
        "parent_id": draw(st.sampled_from([None, "p1"])),
        "seed": draw(st.sampled_from([None, 0, 1, 2, 7])),
        "attempt": draw(st.sampled_from([1, 2, 3])),
        "created_at": created, "started_at": started, "ended_at": ended,
        "last_heartbeat_at": draw(st.sampled_from([None, created + 20])),
        "config": draw(st.dictionaries(st.sampled_from(CONFIG_KEYS), stored_values,
                                       max_size=4)),
        "summary": draw(st.dictionaries(st.sampled_from(SUMMARY_KEYS), stored_values,
                                        max_size=3)),
        "metrics": draw(st.dictionaries(
            st.sampled_from(METRIC_KEYS),
            st.tuples(st.sampled_from(METRIC_VALUES), st.sampled_from(METRIC_VALUES)),
            max_size=3)),
        "tags": draw(st.lists(st.sampled_from(TAGS), unique=True, max_size=3)),
    }


def store_run(store: Any, spec: dict[str, Any]) -> dict[str, Any]:
    """Create ``spec`` in ``store``; return the run as the Python evaluator takes it."""
    run_id = new_id()
    record = {k: v for k, v in spec.items() if k != "metrics"}
    record.update(id=run_id, root_id=run_id, transitions=[])
    if record["status"] == State.LOST.value:
        record["lost_from"] = State.RUNNING.value
    if State(record["status"]) in LIVE:  # or the watchdog would turn it lost on the next read
        record["last_heartbeat_at"] = None
    store.create_run(record)
    chunks = []
    for key, (first, latest) in spec["metrics"].items():
        chunks.append(SeriesChunk(key, None, array("q", [0, 5]), array("d", [first, latest]),
                                  array("d", [spec["created_at"]] * 2)))
    if chunks:
        store.write(run_id, Batch(chunks=chunks, backfill=True))  # a whole run, maybe ended
    return {**record, "config": flatten(spec["config"]), "summary": flatten(spec["summary"]),
            "metrics": {k: float(v[1]) for k, v in spec["metrics"].items()}}


# -- random well-formed expressions ---------------------------------------------------------

def string(text: str, quote: str = '"') -> str:
    """``text`` as a string literal of the language."""
    return quote + text.replace("\\", "\\\\").replace(quote, "\\" + quote) + quote


def number(value: float | int) -> str:
    """``value`` as a number literal (infinities overflow to inf)."""
    if isinstance(value, float) and math.isinf(value):
        return "1e999" if value > 0 else "-1e999"
    return repr(value)


def literal(value: Any, quote: str) -> str:
    """Any value of ``stored_values`` that can be written as a literal."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return string(value, quote)
    return number(value)


quotes = st.sampled_from(['"', "'"])
compare_ops = st.sampled_from(["=", "!=", "<", "<=", ">", ">=", "==", "<>"])


def null_test(field: str) -> st.SearchStrategy[str]:
    return st.sampled_from([f"{field} is null", f"{field} is not null"])


@st.composite
def text_predicates(draw: st.DrawFn) -> str:
    field = draw(st.sampled_from(["name", "alias", "kind", "agent", "benchmark", "status",
                                  "trigger", "parent_id"]))
    pool = STATES + list(SYNONYMS) if field == "status" else \
        NAMES + [x for x in LABELS if x] + ["user", "agent", "p1"]
    q = draw(quotes)
    form = draw(st.sampled_from(["cmp", "in", "like", "contains", "null"]))
    if form == "cmp":
        op = draw(compare_ops) if field != "status" else draw(st.sampled_from(["=", "!="]))
        return f"{field} {op} {string(draw(st.sampled_from(pool)), q)}"
    if form == "in":
        items = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=3))
        neg = draw(st.sampled_from(["", "not "]))
        return f"{field} {neg}in ({', '.join(string(i, q) for i in items)})"
    if form == "like":
        neg = draw(st.sampled_from(["", "not "]))
        return f"{field} {neg}like {string(draw(st.sampled_from(LIKES)), q)}"
    if form == "contains":
        neg = draw(st.sampled_from(["", "not "]))
        return f"{field} {neg}contains {string(draw(st.sampled_from(PIECES)), q)}"
    return draw(null_test(field))


@st.composite
def number_predicates(draw: st.DrawFn) -> str:
    field = draw(st.sampled_from(["seed", "attempt"]))
    pool = [0, 1, 2, 3, 7, 1.5, -1]
    form = draw(st.sampled_from(["cmp", "in", "null"]))
    if form == "cmp":
        return f"{field} {draw(compare_ops)} {number(draw(st.sampled_from(pool)))}"
    if form == "in":
        items = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=3))
        neg = draw(st.sampled_from(["", "not "]))
        return f"{field} {neg}in ({', '.join(number(i) for i in items)})"
    return draw(null_test(field))


@st.composite
def time_predicates(draw: st.DrawFn) -> str:
    field = draw(st.sampled_from(["created_at", "started_at", "ended_at",
                                  "last_heartbeat_at"]))
    if draw(st.integers(0, 4)) == 0:
        return draw(null_test(field))
    moment = draw(st.sampled_from(CREATED)) + draw(st.sampled_from([-0.5, 0, 10, 3600.5]))
    if draw(st.booleans()):
        text = datetime.fromtimestamp(math.floor(moment), UTC).isoformat()
        value = string(text.replace("+00:00", draw(st.sampled_from(["", "Z", "+00:00"]))))
    else:
        value = number(moment)
    return f"{field} {draw(compare_ops)} {value}"


@st.composite
def duration_predicates(draw: st.DrawFn) -> str:
    if draw(st.integers(0, 4)) == 0:
        return draw(null_test("duration_s"))
    value = draw(st.sampled_from([*map(str, DURATIONS), "1h", "30m", "1d", "'1h'", "1000"]))
    return f"duration_s {draw(compare_ops)} {value}"


@st.composite
def section_predicates(draw: st.DrawFn) -> str:
    section = draw(st.sampled_from(["config", "summary"]))
    keys = CONFIG_KEYS if section == "config" else SUMMARY_KEYS
    key = draw(st.sampled_from([*keys, "missing"]))
    field = f"{section}.`{key}`" if draw(st.integers(0, 5)) == 0 else f"{section}.{key}"
    q = draw(quotes)
    literals = st.one_of(st.sampled_from(NUMS), st.sampled_from(STRS), st.booleans())
    form = draw(st.sampled_from(["cmp", "cmp", "in", "like", "contains", "null"]))
    if form == "cmp":
        return f"{field} {draw(compare_ops)} {literal(draw(literals), q)}"
    if form == "in":
        items = draw(st.lists(literals, min_size=1, max_size=3))
        neg = draw(st.sampled_from(["", "not "]))
        return f"{field} {neg}in ({', '.join(literal(i, q) for i in items)})"
    if form == "like":
        neg = draw(st.sampled_from(["", "not "]))
        return f"{field} {neg}like {string(draw(st.sampled_from(LIKES)), q)}"
    if form == "contains":
        neg = draw(st.sampled_from(["", "not "]))
        return f"{field} {neg}contains {string(draw(st.sampled_from(PIECES)), q)}"
    return draw(null_test(field))


@st.composite
def metric_predicates(draw: st.DrawFn) -> str:
    field = f"metrics.{draw(st.sampled_from([*METRIC_KEYS, 'missing']))}"
    pool = [v for v in METRIC_VALUES if not (isinstance(v, float) and math.isnan(v))]
    form = draw(st.sampled_from(["cmp", "cmp", "in", "null"]))
    if form == "cmp":
        value = draw(st.one_of(st.sampled_from(pool).map(number), st.just("true")))
        return f"{field} {draw(compare_ops)} {value}"
    if form == "in":
        items = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=3))
        neg = draw(st.sampled_from(["", "not "]))
        return f"{field} {neg}in ({', '.join(number(i) for i in items)})"
    return draw(null_test(field))


@st.composite
def tag_predicates(draw: st.DrawFn) -> str:
    neg = draw(st.sampled_from(["", "not "]))
    return f"tags {neg}contains {string(draw(st.sampled_from([*TAGS, 'nope'])))}"


predicates = st.one_of(text_predicates(), number_predicates(), time_predicates(),
                       duration_predicates(), section_predicates(), metric_predicates(),
                       tag_predicates())


def _combine(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.lists(children, min_size=2, max_size=3).map(lambda xs: " and ".join(xs)),
        st.lists(children, min_size=2, max_size=3).map(lambda xs: " OR ".join(xs)),
        children.map(lambda x: f"not {x}"),
        children.map(lambda x: f"({x})"),
        st.tuples(children, children).map(lambda xy: f"not ({xy[0]} or {xy[1]})"),
    )


expressions = st.recursive(predicates, _combine, max_leaves=6)


# -- the property ---------------------------------------------------------------------------

def _clear(store: Any) -> None:
    ids = [rec["id"] for rec in store.list_runs(RunQuery())]
    store.delete_runs(ids)


def _show(run: dict[str, Any]) -> str:
    keep = {k: run.get(k) for k in ("name", "status", "alias", "kind", "seed", "created_at",
                                    "started_at", "ended_at", "config", "summary", "metrics",
                                    "tags")}
    return json.dumps(keep, default=str)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(specs=st.lists(run_specs(), min_size=2, max_size=8),
       exprs=st.lists(expressions, min_size=1, max_size=6))
def test_sql_and_python_select_the_same_runs(where_store_url: str, where_store: Any,
                                             specs: list[dict[str, Any]],
                                             exprs: list[str]) -> None:
    _clear(where_store)
    stored = {}
    for spec in specs:
        rec = store_run(where_store, spec)
        stored[rec["id"]] = rec
    for expr in exprs:
        tree = parse(expr)
        in_sql = {rv.id for rv in picidae.runs(store=where_store_url, where=expr,
                                                 include_archived=True)}
        in_python = {rid for rid, rec in stored.items() if evaluate(tree, rec)}
        assert in_sql == in_python, (
            f"where {expr!r}\nSQL only: {[_show(stored[i]) for i in in_sql - in_python]}\n"
            f"Python only: {[_show(stored[i]) for i in in_python - in_sql]}")


# -- whatever parses, runs ------------------------------------------------------------------

_SOUP = ["status", "name", "config.lr", "config.`a b`", "metrics.acc", "summary.x", "tags",
         "duration_s", "created_at", "seed", "alias", "=", "!=", "<", ">=", "and", "or",
         "not", "in", "like", "contains", "is", "null", "true", "false", "(", ")", ",",
         "'x'", '"completed"', "'2026-11-01'", "'a%'", "'\\\\%'", "1", "-2.5", "1h", "1e999",
         "0.01", "'é'", "''"]


@settings(max_examples=300, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_SOUP), min_size=3, max_size=12))
def test_every_expression_that_parses_runs_on_the_store(where_store: Any,
                                                       tokens: list[str]) -> None:
    from picidae.errors import InvalidInput

    text = " ".join(tokens)
    try:
        parse(text)
    except InvalidInput:
        return
    where_store.count_runs(RunQuery(where=text))


def test_the_largest_expression_allowed_runs_on_the_store(where_store: Any) -> None:
    from picidae.core.where import MAX_DEPTH, MAX_PREDICATES

    half = MAX_DEPTH // 2  # each "not (" is two levels
    nested = "not (" * half + "seed = 1" + ")" * half
    families = ["config.k{i} = {i}", "metrics.m{i} > {i}", "tags contains 't{i}'",
                "name like 'n{i}%'", "summary.s{i} is not null", "duration_s > {i}"]
    flat = [families[i % len(families)].format(i=i) for i in range(MAX_PREDICATES - 1)]
    for joiner in (" or ", " and "):
        expr = f"{nested} and ({joiner.join(flat)})"
        parse(expr)
        assert where_store.count_runs(RunQuery(where=expr)) == 0
