"""Editing a run after the fact, and restoring an archived run, on every store of the
contract suite: the embedded store, PostgreSQL, and a real server through the HTTP store."""

from __future__ import annotations

import pytest

import picidae
from picidae.errors import IllegalTransition, InvalidInput, RunNotFound
from picidae.store.registry import open_store


def _ended_run(store: str, **kwargs: object) -> str:
    run = picidae.init("edits/base", store=store, tags=["keep", "wrong"], **kwargs)  # type: ignore[arg-type]
    run.log(loss=0.5)
    run.finish()
    return run.id


def test_edits_round_trip_and_are_recorded(store_url: str) -> None:
    run_id = _ended_run(store_url)
    rv = picidae.edit(run_id, alias="baseline", add_tags=["good", "keep"],
                      remove_tags="wrong", notes="# Findings\nloss plateaued: a bug in the lr",
                      store=store_url, actor="tester")
    assert rv.status == "completed"  # an ended run is edited, not refused
    again = picidae.get_run(run_id, store=store_url)
    assert again.alias == "baseline"
    assert again.tags == ["keep", "good"]
    assert again.notes == "# Findings\nloss plateaued: a bug in the lr"
    assert len(again.edits) == 1
    edit = again.edits[0]
    assert edit["actor"] == "tester" and edit["at"] > 0
    assert edit["changes"] == {"alias": "baseline", "add_tags": ["good", "keep"],
                               "remove_tags": ["wrong"],
                               "notes": "# Findings\nloss plateaued: a bug in the lr"}
    # Last write wins for notes; "" clears alias and notes.
    picidae.edit(run_id, notes="second thoughts", store=store_url)
    assert picidae.get_run(run_id, store=store_url).notes == "second thoughts"
    cleared = picidae.edit(run_id, alias="", notes="", store=store_url)
    assert cleared.alias is None and cleared.notes is None
    assert [e["changes"] for e in cleared.edits][1:] == [{"notes": "second thoughts"},
                                                         {"alias": "", "notes": ""}]


def test_run_set_tags_and_note_work_while_running_and_after_finish(store_url: str) -> None:
    run = picidae.init("edits/live", store=store_url, tags=["a"])
    run.set_tags(add=["b"]).note("started fine")
    assert picidae.get_run(run.id, store=store_url).tags == ["a", "b"]
    run.finish()
    run.set_tags(remove=["a"]).note("ended: see the bug report")
    rv = picidae.get_run(run.id, store=store_url)
    assert rv.tags == ["b"]
    assert rv.notes == "ended: see the bug report"
    assert [e["actor"] for e in rv.edits] == ["sdk"] * 4


def test_where_filters_on_notes(store_url: str) -> None:
    noted = _ended_run(store_url)
    other = _ended_run(store_url)
    picidae.edit(noted, notes="found a bug in the loader", store=store_url)
    picidae.edit(other, notes="all good", store=store_url)
    found = [rv.id for rv in picidae.runs(store=store_url, where='notes contains "bug"')]
    assert found == [noted]
    assert [rv.id for rv in picidae.runs(store=store_url, where="notes is null")] == []


def test_restore_returns_an_archived_run_to_its_terminal_state(store_url: str) -> None:
    store = open_store(store_url)
    done = _ended_run(store_url)
    failed_run = picidae.init("edits/failing", store=store_url)
    failed_run.fail(reason="error", message="boom")
    for run_id in (done, failed_run.id):
        store.transition(run_id, "archived", reason="archived by user", actor="test")
        # An archived run may still be annotated.
        picidae.edit(run_id, add_tags=["archived-note"], store=store_url)
    assert picidae.restore(done, store=store_url).status == "completed"
    back = picidae.restore(failed_run.id, store=store_url, actor="tester")
    assert back.status == "failed"
    assert back.failure["reason"] == "error"
    last = back.transitions[-1]
    assert (last["from"], last["to"], last["actor"]) == ("archived", "failed", "tester")
    assert "archived-note" in back.tags
    with pytest.raises(IllegalTransition, match="not archived"):
        picidae.restore(done, store=store_url)


def test_bad_edits_are_refused_and_change_nothing(store_url: str) -> None:
    run_id = _ended_run(store_url)
    with pytest.raises(InvalidInput, match="nothing to change"):
        picidae.edit(run_id, store=store_url)
    with pytest.raises(InvalidInput, match="both added and removed"):
        picidae.edit(run_id, add_tags=["x"], remove_tags=["x"], store=store_url)
    with pytest.raises(InvalidInput, match="control character"):
        picidae.edit(run_id, add_tags=["bad\ntag"], store=store_url)
    with pytest.raises(InvalidInput, match="notes"):
        picidae.edit(run_id, notes=42, store=store_url)  # type: ignore[arg-type]
    with pytest.raises(RunNotFound):
        picidae.edit("no-such-run", notes="x", store=store_url)
    rv = picidae.get_run(run_id, store=store_url)
    assert rv.tags == ["keep", "wrong"] and rv.edits == [] and rv.notes is None


def test_an_edit_is_sent_on_the_live_stream(store_url: str) -> None:
    run_id = _ended_run(store_url)
    picidae.edit(run_id, add_tags=["seen"], store=store_url, actor="tester")
    kinds = [e for e in picidae.events(store_url, since=0, run_id=run_id, timeout=1.0)
             if e["type"] == "run.edited"]
    assert len(kinds) == 1
    event = kinds[0]
    payload = event.get("payload", event)
    assert payload["actor"] == "tester"
    assert payload["changes"] == {"add_tags": ["seen"]}
