"""``picidae.init``: creating a run, where it is stored, attaching by id, disabling, errors."""

from __future__ import annotations

import inspect
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import picidae
from picidae.core.ids import new_id
from picidae.store.registry import open_store


def _queued_run(store: Any = None, **fields: Any) -> str:
    """A run queued for some process to pick up (as submit or replay will make)."""
    now = time.time()
    run_id = new_id()
    record = {"id": run_id, "name": "queued/job", "status": "queued", "root_id": run_id,
              "trigger": "user", "attempt": 1, "created_at": now, "config": {}, "tags": [],
              **fields}
    open_store(store).create_run(record)
    return run_id


def test_init_creates_a_running_run_with_a_queued_to_running_transition() -> None:
    run = picidae.init()
    assert run.name == "default"
    assert run.status == "running"
    assert run.parent_id is None
    assert run.config == {}
    rv = picidae.get_run(run.id)
    assert rv.status == "running"
    assert rv.name == "default"
    assert rv.trigger == "user"
    assert rv.attempt == 1
    assert rv.root_id == run.id
    assert rv.started_at is not None and rv.ended_at is None
    [move] = rv.transitions
    assert (move["from"], move["to"], move["actor"]) == ("queued", "running", "sdk")
    assert move["reason"] and move["at"].tzinfo is not None
    run.finish()


def test_init_records_every_keyword(store_dir: Path) -> None:
    parent = picidae.init("w2s/idea", store=store_dir)
    run = picidae.init("w2s\\idea\\seed-42", alias="s42", parent=parent, kind="seed",
                       config={"lr": 0.01, "opt": {"name": "adam", "betas": (0.9, 0.99)}},
                       tags=["ablation", "w2s", "ablation"], store=store_dir, id=None,
                       capture_env=True, snapshot_code=False, capture_console=False)
    assert run.name == "w2s/idea/seed-42"
    assert run.parent_id == parent.id
    assert run.config == {"lr": 0.01, "opt": {"name": "adam", "betas": [0.9, 0.99]}}
    rv = picidae.get_run(run.id, store=store_dir)
    assert (rv.name, rv.alias, rv.kind, rv.parent_id, rv.root_id) == (
        "w2s/idea/seed-42", "s42", "seed", parent.id, parent.id)
    assert rv.config == {"lr": 0.01, "opt": {"name": "adam", "betas": [0.9, 0.99]}}
    assert rv.tags == ["ablation", "w2s"]
    assert rv.command[0] == sys.executable
    assert rv.env["pid"] == os.getpid()
    assert rv.env["python"].count(".") == 2
    run.finish()
    parent.finish()


def test_init_accepts_a_parent_id_string() -> None:
    parent = picidae.init("p")
    child = picidae.init("p/c", parent=parent.id)
    assert picidae.get_run(child.id).parent_id == parent.id


def test_capture_env_false_records_no_command_or_environment() -> None:
    run = picidae.init(capture_env=False)
    rv = picidae.get_run(run.id)
    assert rv.command is None and rv.env is None


@pytest.mark.parametrize("flag", ["snapshot_code", "capture_console"])
def test_artifact_features_either_work_or_refuse_before_creating_anything(flag: str) -> None:
    # The issue lets these raise NotImplementedError until artifact storage lands; what
    # must not happen is a half-created run left behind.
    try:
        run = picidae.init("flagged", **{flag: True})
    except NotImplementedError as exc:
        assert "artifact" in str(exc)
        assert picidae.runs() == []
    else:
        run.finish()
        assert picidae.get_run(run.id).status == "completed"


def test_runs_go_to_picidae_home_by_default(tmp_path: Path) -> None:
    run = picidae.init("home")
    assert (tmp_path / "home" / "picidae.db").is_file()
    assert picidae.get_run(run.id, store=tmp_path / "home").name == "home"


def test_store_argument_and_picidae_store_pick_the_folder(tmp_path: Path, store_dir: Path,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          ) -> None:
    a = picidae.init("a", store=store_dir)
    assert (store_dir / "picidae.db").is_file()
    with pytest.raises(picidae.RunNotFound):
        picidae.get_run(a.id)  # not in the default store
    monkeypatch.setenv("PICIDAE_STORE", str(tmp_path / "env-store"))
    b = picidae.init("b")
    assert (tmp_path / "env-store" / "picidae.db").is_file()
    assert picidae.get_run(b.id).name == "b"
    assert picidae.get_run(a.id, store=store_dir).name == "a"


def test_init_by_id_attaches_to_a_queued_run_and_starts_it() -> None:
    run_id = _queued_run(config={"lr": 0.1}, tags=["submitted"])
    run = picidae.init(id=run_id, config={"lr": 0.5, "epochs": 3}, tags=["from-code"])
    assert run.id == run_id and run.status == "running"
    # What the run was queued with (a submit or replay override) beats the program default.
    assert run.config == {"lr": 0.1, "epochs": 3}
    run.log(loss=1.0).finish()
    rv = picidae.get_run(run_id)
    assert rv.status == "completed"
    assert rv.config == {"lr": 0.1, "epochs": 3}
    assert rv.tags == ["submitted", "from-code"]
    assert [(m["from"], m["to"]) for m in rv.transitions] == [
        ("queued", "running"), ("running", "completed")]
    assert len(rv.metrics("loss")) == 1
    assert len(picidae.runs()) == 1  # attached, not a new run


def test_picidae_run_id_attaches_the_first_init_of_the_process(
        monkeypatch: pytest.MonkeyPatch) -> None:
    run_id = _queued_run(name="default")
    monkeypatch.setenv("PICIDAE_RUN_ID", run_id)
    run = picidae.init("named-by-program")
    assert run.id == run_id
    assert run.name == "named-by-program"
    run.finish()
    # A queued run without a name takes the one the program gives.
    assert picidae.get_run(run_id).name == "named-by-program"
    # Only the first init attaches: later runs of the same process are new runs.
    other = picidae.init("second")
    assert other.id != run_id
    other.finish()


def test_attached_run_keeps_a_name_it_was_queued_with(monkeypatch: pytest.MonkeyPatch) -> None:
    run_id = _queued_run()
    monkeypatch.setenv("PICIDAE_RUN_ID", run_id)
    run = picidae.init("other-name")
    assert run.id == run_id
    assert picidae.get_run(run_id).name == "queued/job"
    run.finish()


def test_init_by_id_resumes_a_run_whose_process_died(run_script: Any,
                                                     subprocess_env: dict[str, str]) -> None:
    proc = run_script("""
        import os, picidae
        run = picidae.init("resumable", config={"epochs": 10})
        run.log(loss=1.0, step=0).flush()
        print(run.id, flush=True)
        os._exit(0)  # dies without finishing
    """)
    assert proc.returncode == 0, proc.stderr
    run_id = proc.stdout.strip()
    assert picidae.get_run(run_id).status == "running"
    run = picidae.init(id=run_id)
    assert run.config == {"epochs": 10}
    run.log(loss=0.5, step=1).finish()
    rv = picidae.get_run(run_id)
    assert rv.status == "completed"
    assert rv.metrics("loss").steps == [0, 1]


def test_init_by_id_brings_a_lost_run_back(monkeypatch: pytest.MonkeyPatch) -> None:
    past = time.time() - 3600
    run_id = _queued_run(status="running", started_at=past, last_heartbeat_at=past)
    assert picidae.get_run(run_id).status == "lost"
    run = picidae.init(id=run_id)
    assert run.status == "running"
    assert picidae.get_run(run_id).status == "running"
    run.finish()


@pytest.mark.parametrize("final", ["completed", "failed", "canceled"])
def test_init_by_id_refuses_a_finished_run(final: str) -> None:
    run = picidae.init("done")
    run.finish(final)
    with pytest.raises(picidae.RunFinished) as info:
        picidae.init(id=run.id)
    assert run.id in str(info.value) and final in str(info.value)


def test_init_by_unknown_id_raises_run_not_found() -> None:
    with pytest.raises(picidae.RunNotFound):
        picidae.init(id="0190c0de-0000-7000-8000-000000000000")
    with pytest.raises(picidae.RunNotFound):
        picidae.get_run("0190c0de-0000-7000-8000-000000000000")


def test_set_enabled_false_returns_a_noop_run_with_the_same_methods() -> None:
    picidae.set_enabled(False)
    assert not picidae.is_enabled()
    run = picidae.init("quiet", config={"lr": 0.1})
    public = {n for n, _ in inspect.getmembers(picidae.Run) if not n.startswith("_")}
    assert public <= set(dir(run))
    assert run.config == {"lr": 0.1}
    same = (run.log(loss=1.0).log({"a": 1}, step=3, stage="x").log_config({"b": 2})
            .summary({"c": 3}).set_primary_metric("loss", "min").log_text("hi")
            .output("o", 1).heartbeat().progress(0.5, "half").transition("evaluating"))
    assert same is run
    assert run.child("c", kind="seed").log(x=1) is not None
    with run as r:
        r.log(x=2)
    assert run.finish() is run and run.fail() is run and run.cancel() is run
    picidae.set_enabled(True)
    assert picidae.runs() == []


def test_noop_run_swallows_nothing_raised_in_its_with_block() -> None:
    picidae.set_enabled(False)
    with pytest.raises(ZeroDivisionError), picidae.init() as _:
        _ = 1 / 0


def test_picidae_disabled_env_turns_recording_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PICIDAE_DISABLED", "1")
    assert isinstance(picidae.init("x"), picidae.NoopRun)
    picidae.set_enabled(True)  # an explicit call wins over the environment
    run = picidae.init("y")
    assert isinstance(run, picidae.Run)
    run.finish()


@pytest.mark.parametrize("bad", ["..", "a/../b", "a//b", "/a", "a/", "", "a\nb", "a\x00b",
                                 "a\\..\\b"])
def test_init_refuses_bad_names_and_stores_nothing(bad: str) -> None:
    with pytest.raises(ValueError) as info:
        picidae.init(bad)
    assert isinstance(info.value, picidae.InvalidInput)
    assert "name" in str(info.value)
    assert picidae.runs() == []


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"config": {"fn": object()}}, "config"), ({"config": [1, 2]}, "config"),
    ({"tags": [1]}, "tags"), ({"alias": 3}, "alias"), ({"kind": "a\nb"}, "kind"),
    ({"parent": 3.5}, "parent"), ({"store": 12}, "store"), ({"id": 5}, "id"),
])
def test_init_refuses_bad_arguments_naming_the_field(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(picidae.InvalidInput) as info:
        picidae.init("ok", **kwargs)
    assert field in str(info.value)
    assert picidae.runs() == []


def test_errors_form_one_tree_under_picidae_error() -> None:
    for cls in (picidae.RunNotFound, picidae.IllegalTransition, picidae.InvalidInput,
                picidae.StoreUnavailable, picidae.RunFinished, picidae.MissingDependency):
        assert issubclass(cls, picidae.PicidaeError)
        assert cls.code and cls.http_status >= 400
    assert issubclass(picidae.InvalidInput, ValueError)
    assert issubclass(picidae.RunNotFound, LookupError)
    assert len({cls.code for cls in (picidae.RunNotFound, picidae.IllegalTransition,
                                     picidae.InvalidInput, picidae.StoreUnavailable)}) == 4


def test_unreachable_store_raises_store_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(picidae.StoreUnavailable):
        picidae.init("x", store=blocker / "store")
