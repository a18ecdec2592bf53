"""A run's life in-process: transitions, finish/fail/cancel, the context manager, children,
heartbeats and the lost → failed path with tiny timeouts."""

from __future__ import annotations

import sys
import time
from datetime import timedelta

import pytest

import picidae


def _moves(run_id: str) -> list[tuple[str, str]]:
    return [(m["from"], m["to"]) for m in picidae.get_run(run_id).transitions]


def test_transition_to_evaluating_then_finish() -> None:
    run = picidae.init("eval")
    run.transition("evaluating", reason="training done")
    assert run.status == "evaluating"
    rv = picidae.get_run(run.id)
    assert rv.status == "evaluating"
    assert rv.transitions[-1]["reason"] == "training done"
    assert rv.transitions[-1]["actor"] == "sdk"
    run.finish()
    assert _moves(run.id) == [("queued", "running"), ("running", "evaluating"),
                              ("evaluating", "completed")]


def test_every_transition_of_a_run_has_from_to_at_reason_and_actor() -> None:
    run = picidae.init("shape")
    run.transition("evaluating", reason="eval set").finish()
    moves = picidae.get_run(run.id).transitions
    assert [(m["from"], m["to"]) for m in moves] == [
        ("queued", "running"), ("running", "evaluating"), ("evaluating", "completed")]
    for move in moves:
        assert set(move) == {"from", "to", "at", "reason", "actor"}
        assert move["at"].utcoffset() == timedelta(0)
        assert move["actor"] == "sdk"
    assert moves[1]["reason"] == "eval set"
    assert moves[0]["at"] <= moves[1]["at"] <= moves[2]["at"]


@pytest.mark.parametrize(("asked", "legal"), [
    ("queued", "canceled, completed, evaluating, failed, lost"),
    ("provisioning", "canceled, completed, evaluating, failed, lost"),
    ("archived", "canceled, completed, evaluating, failed, lost"),
    ("running", "canceled, completed, evaluating, failed, lost"),
])
def test_illegal_transition_names_states_and_changes_nothing(asked: str, legal: str) -> None:
    run = picidae.init("illegal")
    run.log(x=1.0)
    with pytest.raises(picidae.IllegalTransition) as info:
        run.transition(asked)
    message = str(info.value)
    assert "'running'" in message and repr(asked) in message and legal in message
    assert run.status == "running"
    rv = picidae.get_run(run.id)
    assert rv.status == "running" and _moves(run.id) == [("queued", "running")]
    run.log(x=2.0).finish()  # the run is still usable
    assert picidae.get_run(run.id).metrics("x").values == [1.0, 2.0]


def test_transition_to_unknown_state_is_invalid_input() -> None:
    run = picidae.init()
    with pytest.raises(picidae.InvalidInput, match="paused"):
        run.transition("paused")
    assert picidae.get_run(run.id).status == "running"


@pytest.mark.parametrize(("word", "canonical"), [
    ("completed", "completed"), ("finished", "completed"), ("succeeded", "completed"),
    ("failed", "failed"), ("canceled", "canceled"), ("interrupted", "canceled"),
    ("abandoned", "canceled"),
])
def test_finish_accepts_synonyms_and_stores_the_canonical_state(word: str,
                                                                canonical: str) -> None:
    run = picidae.init()
    run.finish(word)
    assert run.status == canonical
    rv = picidae.get_run(run.id)
    assert rv.status == canonical
    assert rv.transitions[-1]["to"] == canonical
    assert rv.ended_at is not None and rv.duration_s >= 0
    assert picidae.runs(status=word)[0].id == run.id


def test_transition_to_a_final_state_ends_the_run() -> None:
    run = picidae.init()
    run.transition("finished")
    assert picidae.get_run(run.id).status == "completed"
    with pytest.raises(picidae.RunFinished):
        run.log(x=1.0)


@pytest.mark.parametrize("status", ["running", "evaluating", "lost", "queued", "archived"])
def test_finish_refuses_a_state_that_is_not_final(status: str) -> None:
    run = picidae.init()
    with pytest.raises(picidae.InvalidInput, match="final"):
        run.finish(status)
    assert picidae.get_run(run.id).status == "running"


def test_fail_records_reason_message_and_the_reason_on_the_transition() -> None:
    run = picidae.init()
    run.fail("timeout", message="exceeded 2h")
    rv = picidae.get_run(run.id)
    assert rv.status == "failed"
    assert rv.failure["reason"] == "timeout" and rv.failure["message"] == "exceeded 2h"
    assert rv.transitions[-1]["reason"] == "timeout"


def test_fail_defaults_to_reason_crash() -> None:
    run = picidae.init()
    run.fail()
    assert picidae.get_run(run.id).failure["reason"] == "crash"


def test_cancel_ends_the_run_as_canceled_with_its_reason() -> None:
    run = picidae.init()
    run.cancel(reason="user asked")
    rv = picidae.get_run(run.id)
    assert rv.status == "canceled" and rv.transitions[-1]["reason"] == "user asked"
    assert rv.failure is None


def test_with_block_completes_on_normal_exit() -> None:
    with picidae.init("ok") as run:
        run.log(loss=1.0)
    rv = picidae.get_run(run.id)
    assert rv.status == "completed" and rv.metrics("loss").values == [1.0]


def test_crash_in_a_with_block_fails_the_run_with_the_traceback() -> None:
    def train() -> None:
        raise ValueError("loss exploded at step 3")

    with pytest.raises(ValueError, match="exploded"), picidae.init("crashy") as run:
        run.log(loss=1.0)
        train()
    rv = picidae.get_run(run.id)
    assert rv.status == "failed"
    assert rv.failure["reason"] == "crash"
    assert "ValueError" in rv.failure["message"] and "exploded" in rv.failure["message"]
    assert "Traceback" in rv.failure["traceback"]
    assert "in train" in rv.failure["traceback"]
    assert rv.transitions[-1]["reason"] == "crash"
    assert rv.metrics("loss").values == [1.0]  # what was logged before the crash is kept


def test_keyboard_interrupt_in_a_with_block_cancels_the_run() -> None:
    with pytest.raises(KeyboardInterrupt), picidae.init("interrupted") as run:
        run.log(loss=1.0)
        raise KeyboardInterrupt
    rv = picidae.get_run(run.id)
    assert rv.status == "canceled"
    assert rv.transitions[-1]["reason"] == "interrupted"
    assert rv.failure is None
    assert rv.metrics("loss").values == [1.0]


def test_sys_exit_zero_in_a_with_block_completes_the_run() -> None:
    with pytest.raises(SystemExit), picidae.init("exits") as run:
        run.log(x=1.0)
        sys.exit(0)
    assert picidae.get_run(run.id).status == "completed"


def test_sys_exit_with_an_error_code_in_a_with_block_fails_the_run() -> None:
    with pytest.raises(SystemExit), picidae.init("exits-badly") as run:
        sys.exit(3)
    rv = picidae.get_run(run.id)
    assert rv.status == "failed" and "SystemExit" in rv.failure["message"]


def test_with_block_leaves_a_run_finished_inside_it_alone() -> None:
    with picidae.init() as run:
        run.fail("error", message="bad data")
    rv = picidae.get_run(run.id)
    assert rv.status == "failed" and rv.failure["reason"] == "error"


def test_child_runs_record_lineage_and_default_names() -> None:
    parent = picidae.init("w2s/confidence-reweighting", config={"idea": "cr"})
    seeds = [parent.child(kind="seed", seed=s, config={"seed": s}) for s in (42, 43)]
    phase = parent.child("collect-games", kind="phase")
    grandchild = phase.child(kind="retry")
    for kid, seed in zip(seeds, (42, 43), strict=True):
        rv = picidae.get_run(kid.id)
        assert rv.name == f"w2s/confidence-reweighting/seed-{seed}"
        assert (rv.parent_id, rv.root_id, rv.kind, rv.trigger, rv.seed) == (
            parent.id, parent.id, "seed", "child", seed)
        assert rv.config == {"seed": seed}
    assert picidae.get_run(phase.id).name == "w2s/confidence-reweighting/collect-games"
    gv = picidae.get_run(grandchild.id)
    assert gv.parent_id == phase.id and gv.root_id == parent.id
    assert gv.name == "w2s/confidence-reweighting/collect-games/retry-1"
    assert [c.id for c in picidae.get_run(parent.id).children()] == [s.id for s in seeds] + [
        phase.id]


def test_child_refuses_bad_names() -> None:
    parent = picidae.init("p")
    with pytest.raises(picidae.InvalidInput):
        parent.child("p/../q")


def test_heartbeat_updates_last_heartbeat_at() -> None:
    run = picidae.init()
    before = picidae.get_run(run.id).last_heartbeat_at
    time.sleep(0.01)
    run.heartbeat()
    assert picidae.get_run(run.id).last_heartbeat_at > before


def test_background_thread_sends_heartbeats(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PICIDAE_HEARTBEAT_INTERVAL_S", "0.02")
    monkeypatch.setenv("PICIDAE_FLUSH_INTERVAL_S", "0.02")
    run = picidae.init("alive")
    first = picidae.get_run(run.id).last_heartbeat_at
    deadline = time.monotonic() + 20
    while picidae.get_run(run.id).last_heartbeat_at == first:
        assert time.monotonic() < deadline, "no background heartbeat arrived"
        time.sleep(0.02)
    run.finish()


def test_background_writer_flushes_without_being_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PICIDAE_FLUSH_INTERVAL_S", "0.02")
    run = picidae.init("flushed")
    run.log(x=1.0)
    store = run.store
    deadline = time.monotonic() + 20
    while len(store.metrics(run.id, "x")) == 0:  # read the store directly: no flush on read
        assert time.monotonic() < deadline, "the background writer never flushed"
        time.sleep(0.02)
    run.finish()


def _go_lost(monkeypatch: pytest.MonkeyPatch, run: picidae.Run) -> None:
    monkeypatch.setenv("PICIDAE_HEARTBEAT_TIMEOUT_S", "0.05")
    monkeypatch.setenv("PICIDAE_LOST_WINDOW_S", "3600")
    time.sleep(0.1)
    assert picidae.get_run(run.id).status == "lost"


def test_heartbeat_returns_lost_run_to_running(monkeypatch: pytest.MonkeyPatch) -> None:
    run = picidae.init("sleepy")
    _go_lost(monkeypatch, run)
    monkeypatch.setenv("PICIDAE_HEARTBEAT_TIMEOUT_S", "3600")
    run.heartbeat()
    assert run.status == "running"
    assert picidae.get_run(run.id).status == "running"
    assert _moves(run.id) == [("queued", "running"), ("running", "lost"), ("lost", "running")]
    run.finish()
    assert picidae.get_run(run.id).status == "completed"


def test_heartbeat_returns_lost_run_to_evaluating(monkeypatch: pytest.MonkeyPatch) -> None:
    run = picidae.init("sleepy-eval").transition("evaluating")
    _go_lost(monkeypatch, run)
    monkeypatch.setenv("PICIDAE_HEARTBEAT_TIMEOUT_S", "3600")
    run.heartbeat()
    assert picidae.get_run(run.id).status == "evaluating"


def test_finishing_a_lost_run_still_completes_it(monkeypatch: pytest.MonkeyPatch) -> None:
    run = picidae.init("lost-then-done")
    run.log(x=1.0)
    _go_lost(monkeypatch, run)
    monkeypatch.setenv("PICIDAE_HEARTBEAT_TIMEOUT_S", "3600")
    run.finish()
    rv = picidae.get_run(run.id)
    assert rv.status == "completed"
    assert rv.metrics("x").values == [1.0]


def test_lost_run_becomes_failed_with_reason_lost_after_the_window(
        monkeypatch: pytest.MonkeyPatch) -> None:
    run = picidae.init("gone")
    run.log(x=1.0)
    _go_lost(monkeypatch, run)
    monkeypatch.setenv("PICIDAE_LOST_WINDOW_S", "0.05")
    time.sleep(0.1)
    rv = picidae.get_run(run.id)
    assert rv.status == "failed"
    assert rv.failure["reason"] == "lost"
    assert rv.transitions[-1]["reason"] == "lost"
    assert rv.metrics("x").values == [1.0]


def test_finish_after_the_watchdog_failed_the_run_warns_instead_of_raising(
        store_dir, monkeypatch, caplog):
    import logging
    import time

    import picidae
    from picidae.sdk.writer import writer

    monkeypatch.setenv("PICIDAE_HEARTBEAT_TIMEOUT_S", "0.2")
    monkeypatch.setenv("PICIDAE_LOST_WINDOW_S", "0.2")
    with caplog.at_level(logging.WARNING, logger="picidae"), \
            picidae.init("silent-but-alive", store=store_dir) as run:
        writer().unregister(run)  # no background heartbeats: the watchdog will act
        time.sleep(0.6)
        assert picidae.get_run(run.id, store=store_dir).status == "failed"
        run.log(loss=1.0)  # the run has ended: refused, dropped with a warning
    assert run.status == "failed"
    rv = picidae.get_run(run.id, store=store_dir)
    assert rv.status == "failed" and rv.failure["reason"] == "lost"
    assert rv.metric_keys() == []
    assert "was already failed" in caplog.text
    assert caplog.text.count("takes no more writes") == 1


def test_a_healthy_run_is_never_lost_under_a_short_heartbeat_timeout(store_dir, monkeypatch):
    import time

    import picidae

    # Only the timeout is short: the SDK beats at min(interval, timeout / 3), as workers do.
    monkeypatch.setenv("PICIDAE_HEARTBEAT_TIMEOUT_S", "1.5")
    run = picidae.init("healthy", store=store_dir, capture_env=False)
    seen = set()
    deadline = time.monotonic() + 4.5  # three timeouts
    while time.monotonic() < deadline:
        run.log(x=1.0)
        seen.add(picidae.get_run(run.id, store=store_dir).status)  # reads apply liveness
        time.sleep(0.1)
    run.finish()
    assert seen == {"running"}
    rv = picidae.get_run(run.id, store=store_dir)
    assert [t["to"] for t in rv.transitions] == ["running", "completed"]


def test_a_finished_run_is_freed_when_the_program_drops_it() -> None:
    # No reference cycle through its background jobs: a sweep of short runs leaves nothing
    # for the garbage collector to find (and walk on every collection) later.
    import gc
    import weakref

    run = picidae.init("freed", config={"lr": 0.1}, capture_env=False)
    run.log(loss=1.0).finish()
    gone = weakref.ref(run)
    gc.disable()
    try:
        del run
        assert gone() is None
    finally:
        gc.enable()
