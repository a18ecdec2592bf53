"""The Store contract, one body per behaviour, run on every store (see conftest.py)."""

from __future__ import annotations

import math
import threading
import time
from array import array
from pathlib import Path

import pytest

import picidae
from picidae.core.record import new_record
from picidae.errors import IllegalTransition, InvalidInput, RunNotFound
from picidae.store.base import Batch, RunQuery, SeriesChunk
from picidae.store.registry import open_store


def _new_run(store_url: str, name: str) -> str:
    """A running run made at the store, with no SDK process (and no background work) on it."""
    return str(open_store(store_url).create_run(new_record(name))["id"])


def _chunk(key: str, steps: list[int], values: list[float], stage: str | None = None,
           ) -> SeriesChunk:
    now = time.time()
    return SeriesChunk(key, stage, array("q", steps), array("d", values),
                       array("d", [now] * len(steps)))


def test_run_round_trips_its_fields(store_url: str) -> None:
    run = picidae.init("cv/resnet50/baseline", alias="base", config={"lr": 0.01, "opt": {
        "name": "adam"}}, tags=["ablation"], store=store_url, agent="a1", benchmark="b1",
        seed=2**62, kind="sweep-point", capture_env=False)
    run.log(loss=0.5, step=2**62, stage="train").finish()
    rv = picidae.get_run(run.id, store=store_url)
    assert (rv.name, rv.alias, rv.kind, rv.agent, rv.benchmark, rv.seed) == (
        "cv/resnet50/baseline", "base", "sweep-point", "a1", "b1", 2**62)
    assert rv.config == {"lr": 0.01, "opt": {"name": "adam"}}
    assert rv.tags == ["ablation"] and rv.status == "completed" and rv.attempt == 1
    assert list(rv.metrics("loss")) == [(2**62, 0.5, rv.metrics("loss")[0].time, "train")]
    assert [t["to"] for t in rv.transitions] == ["running", "completed"]
    assert rv.duration_s is not None and rv.duration_s >= 0


def test_values_at_the_column_limits_are_stored(store_url: str) -> None:
    key = "k" * 256
    run = picidae.init("n" * 512, alias="a" * 128, tags=["t" * 128], store=store_url,
                       capture_env=False)
    run.log({key: 1.0}, stage="s" * 128).summary({key: "v"}).finish()
    rv = picidae.get_run(run.id, store=store_url)
    assert rv.metric_keys() == [key] and rv.summary == {key: "v"}
    assert rv.metrics(key)[0].stage == "s" * 128


def test_nan_and_infinities_are_stored_as_such(store_url: str) -> None:
    run = picidae.init("nan", store=store_url, capture_env=False)
    run.log(x=math.nan).log(x=math.inf).log(x=-math.inf).log(y=1.0).log(y=math.nan)
    run.summary({"s": math.nan, "t": math.inf}).finish()
    other = picidae.init("other", store=store_url, capture_env=False)
    other.log(y=0.5).finish()
    rv = picidae.get_run(run.id, store=store_url)
    xs = [p.value for p in rv.metrics("x")]
    assert math.isnan(xs[0]) and xs[1:] == [math.inf, -math.inf]
    assert math.isnan(rv.summary["s"]) and rv.summary["t"] == math.inf
    latest = rv.latest_metrics()
    assert latest["x"] == -math.inf and math.isnan(latest["y"])
    # a NaN latest value sorts last, like a missing one, in both directions
    for order in ("metrics.y desc", "metrics.y asc"):
        assert [r.name for r in picidae.runs(store=store_url, order_by=order)] == [
            "other", "nan"]


def test_illegal_transition_names_the_states_and_changes_nothing(store_url: str) -> None:
    run = picidae.init("t", store=store_url, capture_env=False).finish()
    store = open_store(store_url)
    with pytest.raises(IllegalTransition) as err:
        store.transition(run.id, "running")
    assert err.value.current == "completed" and err.value.asked == "running"
    assert err.value.legal == ["archived"]
    assert [t["to"] for t in store.get_run(run.id)["transitions"]] == ["running", "completed"]


def test_unknown_run_is_run_not_found(store_url: str) -> None:
    open_store(store_url)
    with pytest.raises(RunNotFound):
        picidae.get_run("0190b6a6-0000-7000-8000-000000000000", store=store_url)
    with pytest.raises(RunNotFound):
        open_store(store_url).heartbeat("nope")


@pytest.mark.not_http("the server's watchdog applies liveness on its own timer, at the real "
                      "time (test_team.py covers it)")
def test_heartbeat_returns_lost_run_to_running(store_url: str) -> None:
    run_id = _new_run(store_url, "hb")
    store = open_store(store_url)
    later = time.time() + 1000  # past the default 900 s heartbeat timeout
    assert store.apply_liveness(now=later) == [(run_id, "running", "lost")]
    assert store.heartbeat(run_id, at=later + 1) == "running"
    moves = [(t["from"], t["to"], t["actor"]) for t in store.get_run(run_id)["transitions"]]
    assert moves[1:] == [("running", "lost", "watchdog"), ("lost", "running", "heartbeat")]


@pytest.mark.not_http("the server's watchdog applies liveness on its own timer, at the real "
                      "time (test_team.py covers it)")
def test_lost_run_fails_after_the_recovery_window(store_url: str) -> None:
    run_id = _new_run(store_url, "gone")
    store = open_store(store_url)
    start = time.time()
    store.apply_liveness(now=start + 1000)
    assert store.apply_liveness(now=start + 1000 + 172801) == [(run_id, "lost", "failed")]
    rec = store.get_run(run_id)
    assert rec["status"] == "failed" and rec["failure"]["reason"] == "lost"


def test_racing_transitions_let_exactly_one_win(store_url: str) -> None:
    run_id = _new_run(store_url, "race")
    store = open_store(store_url)
    outcomes: list[str] = []
    barrier = threading.Barrier(6)

    def finish(target: str) -> None:
        barrier.wait()
        try:
            store.transition(run_id, target, expect={"running"})
            outcomes.append("won")
        except IllegalTransition:
            outcomes.append("refused")

    threads = [threading.Thread(target=finish, args=(t,))
               for t in ["completed", "failed", "canceled"] * 2]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["refused"] * 5 + ["won"]
    assert len(store.get_run(run_id)["transitions"]) == 2


def test_concurrent_batches_to_one_run_keep_every_point_and_merge(store_url: str) -> None:
    run = picidae.init("shared", store=store_url, capture_env=False)
    store = open_store(store_url)

    def work(i: int) -> None:
        for k in range(10):
            store.write(run.id, Batch(chunks=[_chunk("m", list(range(k * 10, k * 10 + 10)),
                                                     [float(i)] * 10)],
                                      summary={f"t{i}": k}, config={"w": {str(i): k}}))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rec = store.get_run(run.id)
    assert rec["summary"] == {f"t{i}": 9 for i in range(4)}
    assert rec["config"] == {"w": {str(i): 9 for i in range(4)}}
    assert len(store.metrics(run.id, "m")) == 400
    run.finish()


def test_text_with_nul_characters_reads_back_alike(store_url: str) -> None:
    run = picidae.init("nul", config={"s": "a\x00b"}, store=store_url, capture_env=False)
    run.log_text("x\x00y").cancel("stop\x00now")
    rv = picidae.get_run(run.id, store=store_url)
    assert rv.config == {"s": "a\x00b"}  # the JSON document keeps it
    assert [ln.text for ln in rv.logs()] == ["x\ufffdy"]
    assert rv.transitions[-1]["reason"] == "stop\ufffdnow"


def test_names_sort_by_code_point_on_every_store(store_url: str) -> None:
    names = ["b", "B", "a", "_x", "a-b", "ab", "ä", "Z/1", "a b"]
    for name in names:
        picidae.init(name, store=store_url, capture_env=False, config={"v": name}).finish()
    assert [r.name for r in picidae.runs(store=store_url, order_by="name")] == sorted(names)
    assert [r.name for r in picidae.runs(store=store_url, order_by="config.v desc")] == sorted(
        names, reverse=True)


def test_name_globs_treat_like_wildcards_literally(store_url: str) -> None:
    for name in ["a_b/1", "axb/1", "a%b/1", "A_b/1"]:
        picidae.init(name, store=store_url, capture_env=False).finish()
    assert [r.name for r in picidae.runs(store=store_url, name="a_b/*")] == ["a_b/1"]
    assert [r.name for r in picidae.runs(store=store_url, name="a%b/?")] == ["a%b/1"]
    assert sorted(r.name for r in picidae.runs(store=store_url, name="a?b/*")) == [
        "a%b/1", "a_b/1", "axb/1"]


def test_listing_counts_pages_and_filters(store_url: str) -> None:
    parent = picidae.init("p", store=store_url, capture_env=False)
    for i in range(5):
        parent.child(kind="seed", seed=i, capture_env=False).log(acc=i / 10).finish()
    parent.finish()
    store = open_store(store_url)
    query = RunQuery(parent=parent.id, order_by=[("metrics.acc", True)], limit=2, offset=1)
    assert [r["seed"] for r in store.list_runs(query)] == [3, 2]
    assert store.count_runs(RunQuery(parent=parent.id)) == 5
    stats = picidae.get_run(parent.id, store=store_url).children_stats()
    assert stats["acc"]["n"] == 5 and stats["acc"]["max"] == 0.4
    with pytest.raises(InvalidInput):
        picidae.runs(store=store_url, order_by="bogus")


def test_logs_page_by_offset_and_limit(store_url: str) -> None:
    run = picidae.init("logs", store=store_url, capture_env=False)
    run.log_text("\n".join(f"line {i}" for i in range(20))).finish()
    rv = picidae.get_run(run.id, store=store_url)
    assert [ln.text for ln in rv.logs(offset=5, limit=3)] == ["line 5", "line 6", "line 7"]
    assert len(rv.logs(offset=18)) == 2


def test_delete_runs_removes_them_and_what_they_own(store_url: str) -> None:
    keep = picidae.init("keep", store=store_url, capture_env=False).log(x=1.0).finish()
    gone = picidae.init("gone", store=store_url, tags=["t"], config={"a": 1},
                        capture_env=False).log(x=1.0).log_text("hi").finish()
    store = open_store(store_url)
    assert store.delete_runs([gone.id, "no-such-id"]) == [gone.id]
    with pytest.raises(RunNotFound):
        store.get_run(gone.id)
    assert store.metric_keys(gone.id) == [] and store.logs(gone.id) == []
    assert store.count_runs(RunQuery()) == 1 and store.metric_keys(keep.id) == ["x"]


@pytest.mark.not_http("it migrates a database file or URL directly")
def test_upgrade_url_initialises_a_store_then_does_nothing(
        store_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    from picidae.store.sql.migrate import HEAD, upgrade_url

    url = (request.getfixturevalue("fresh_pg_url")() if "://" in store_url
           else str(tmp_path / "fresh"))
    assert upgrade_url(url) == (None, HEAD)
    assert upgrade_url(url) == (HEAD, HEAD)
    run = picidae.init("after-upgrade", store=url, capture_env=False).finish()
    assert picidae.get_run(run.id, store=url).status == "completed"


def test_deleting_a_run_while_it_is_written_never_deadlocks(store_url: str) -> None:
    store = open_store(store_url)
    errors: list[BaseException] = []
    for n in range(10):
        run_id = _new_run(store_url, f"busy/{n}")
        started = threading.Event()

        def spin(run_id: str, started: threading.Event) -> None:
            k = 0
            while True:
                try:
                    store.write(run_id, Batch(chunks=[_chunk("m", [k], [1.0])],
                                              summary={"k": k}, config={"k": k}))
                except RunNotFound:
                    return
                except BaseException as exc:
                    errors.append(exc)
                    return
                k += 1
                started.set()

        thread = threading.Thread(target=spin, args=(run_id, started))
        thread.start()
        started.wait(5)
        assert store.delete_runs([run_id]) == [run_id]
        thread.join(10)
    assert errors == []
