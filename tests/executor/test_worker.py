"""Workers run submitted commands as real subprocesses through the whole lifecycle."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import picidae
from picidae.executor.worker import Worker

from .conftest import Cli

METRICS = """
    import os, sys
    import picidae
    run = picidae.init(config={"lr": 0.5, "epochs": 3})
    assert run.id == os.environ["PICIDAE_RUN_ID"]
    print("training with lr", run.config["lr"], "seed", os.environ.get("PICIDAE_SEED"))
    print("a warning", file=sys.stderr)
    for step in range(3):
        run.log(loss=run.config["lr"] / (step + 1))
    run.summary({"best": 0.25})
"""


def _transitions(rv: picidae.RunView) -> list[tuple[str | None, str]]:
    return [(t["from"], t["to"]) for t in rv.transitions]


def test_a_submitted_script_completes_with_its_metrics_and_output(
        cli: Cli, store_url: str, script: Callable[[str], str]) -> None:
    sqlite_url = store_url  # and PostgreSQL: the command reports through PICIDAE_STORE
    prog = script(METRICS)
    rv = picidae.submit([sys.executable, prog], set=["lr=0.1"], store=sqlite_url)
    out = cli("worker", "--once", "--store", sqlite_url)
    assert "completed" in out.stdout
    done = picidae.get_run(rv.id, store=sqlite_url)
    assert done.status == "completed"
    assert _transitions(done) == [("queued", "provisioning"), ("provisioning", "running"),
                                  ("running", "completed")]
    assert [p.value for p in done.metrics("loss")] == pytest.approx([0.1, 0.05, 0.1 / 3])
    assert done.summary["best"] == 0.25
    assert done.config == {"lr": 0.1, "epochs": 3}  # submitted values win over defaults
    assert done.command == [sys.executable, prog]  # the argv it was given, not python's
    lines = {(ln.stream, ln.text) for ln in done.logs()}
    assert ("stdout", "training with lr 0.1 seed None") in lines
    assert ("stderr", "a warning") in lines
    assert picidae.runs(store=sqlite_url) == [done]  # no second run was created


def test_a_failing_script_fails_with_its_exit_code_and_traceback(
        sqlite_url: str, script: Callable[[str], str]) -> None:
    crash = script("""
        import picidae
        run = picidae.init()
        run.log(loss=1.0)
        raise RuntimeError("diverged")
    """)
    rv = picidae.submit([sys.executable, crash], store=sqlite_url)
    plain = picidae.submit(["sh", "-c", "echo bye; exit 3"], store=sqlite_url)
    missing = picidae.submit(["no-such-command-xyz"], store=sqlite_url)
    assert Worker(sqlite_url, once=True, concurrency=3).run() == 3
    failed = picidae.get_run(rv.id, store=sqlite_url)
    assert failed.status == "failed"
    assert failed.failure["reason"] == "error" and failed.failure["exit_code"] == 1
    assert "RuntimeError: diverged" in failed.failure["traceback"]
    assert failed.metrics("loss")[0].value == 1.0
    other = picidae.get_run(plain.id, store=sqlite_url)
    assert (other.status, other.failure["exit_code"]) == ("failed", 3)
    assert "exited with code 3" in other.failure["message"]
    gone = picidae.get_run(missing.id, store=sqlite_url)
    assert (gone.status, gone.failure["exit_code"]) == ("failed", 127)


def test_seeds_run_as_children_and_the_parent_gets_children_stats(
        sqlite_url: str, script: Callable[[str], str]) -> None:
    prog = script("""
        import os, picidae
        run = picidae.init()
        assert run.config["seed"] == int(os.environ["PICIDAE_SEED"])
        run.log(acc=run.config["seed"] / 100)
    """)
    parent = picidae.submit([sys.executable, prog], name="seeds", seeds="42-46",
                            store=sqlite_url)
    Worker(sqlite_url, once=True, concurrency=5).run()
    done = picidae.get_run(parent.id, store=sqlite_url)
    assert done.status == "completed"
    kids = done.children()
    assert len(kids) == 5 and {k.status for k in kids} == {"completed"}
    stats = done.summary["children_stats"]["acc"]
    assert stats["n"] == 5 and stats["mean"] == pytest.approx(0.44)
    assert stats["min"] == pytest.approx(0.42) and stats["max"] == pytest.approx(0.46)
    assert _transitions(done) == [("queued", "running"), ("running", "completed")]


def test_a_grid_of_two_by_three_runs_six_children(sqlite_url: str) -> None:
    parent = picidae.submit(["sh", "-c", "echo lr=$PICIDAE_RUN_ID"],
                            grid={"lr": [0.1, 0.01], "bs": [16, 32, 64]}, store=sqlite_url)
    Worker(sqlite_url, once=True, concurrency=6).run()
    done = picidae.get_run(parent.id, store=sqlite_url)
    kids = done.children()
    assert len(kids) == 6 and {k.status for k in kids} == {"completed"}
    assert done.status == "completed"


def test_a_parent_fails_naming_its_failed_children_unless_failures_are_allowed(
        sqlite_url: str) -> None:
    cmd = ["sh", "-c", 'test "$PICIDAE_SEED" != 2']
    strict = picidae.submit(cmd, name="strict", seeds="1-3", store=sqlite_url)
    lenient = picidae.submit(cmd, name="lenient", seeds="1-3", allow_failures=True,
                             store=sqlite_url)
    Worker(sqlite_url, once=True, concurrency=3).run()
    bad = picidae.get_run(strict.id, store=sqlite_url)
    assert bad.status == "failed" and bad.failure["reason"] == "children"
    (loser,) = [k for k in bad.children() if k.status == "failed"]
    assert loser.name == "strict/seed-2"
    assert loser.id in bad.transitions[-1]["reason"] and loser.id in bad.failure["message"]
    assert picidae.get_run(lenient.id, store=sqlite_url).status == "completed"


def test_a_run_over_its_timeout_is_killed_and_fails_with_reason_timeout(
        sqlite_url: str) -> None:
    rv = picidae.submit(["sleep", "30"], timeout=0.5, store=sqlite_url)
    Worker(sqlite_url, once=True).run()
    done = picidae.get_run(rv.id, store=sqlite_url)
    assert done.status == "failed" and done.failure["reason"] == "timeout"
    assert done.duration_s < 5
    assert any("SIGTERM" in ln.text for ln in done.logs())


def test_the_eval_command_logs_to_the_same_run_while_evaluating(
        sqlite_url: str, script: Callable[[str], str]) -> None:
    evaluate = script("""
        import picidae
        run = picidae.init()
        assert run.status == "evaluating"
        run.log(eval_acc=0.9)
    """)
    rv = picidae.submit(["true"], eval=[sys.executable, evaluate], store=sqlite_url)
    failing = picidae.submit(["true"], eval="sh -c 'exit 4'", store=sqlite_url)
    Worker(sqlite_url, once=True, concurrency=2).run()
    done = picidae.get_run(rv.id, store=sqlite_url)
    assert done.status == "completed" and done.latest_metrics()["eval_acc"] == 0.9
    assert ("running", "evaluating") in _transitions(done)
    bad = picidae.get_run(failing.id, store=sqlite_url)
    assert bad.status == "failed" and bad.failure["exit_code"] == 4
    assert "eval command" in bad.failure["message"]


def test_crashes_are_retried_as_runs_of_their_own(sqlite_url: str) -> None:
    rv = picidae.submit(["sh", "-c", "exit 2"], name="flaky", retries=2, store=sqlite_url)
    Worker(sqlite_url, once=True).run()
    attempts = sorted(picidae.runs(store=sqlite_url, name="flaky"), key=lambda r: r.attempt)
    assert [(r.attempt, r.status) for r in attempts] == [(1, "failed"), (2, "failed"),
                                                         (3, "failed")]
    assert attempts[0].id == rv.id and attempts[0].retry_of is None
    assert attempts[1].retry_of == attempts[0].id and attempts[2].retry_of == attempts[1].id
    assert {r.trigger for r in attempts[1:]} == {"retry"}


def test_resource_usage_and_cost_are_recorded(sqlite_url: str, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    prices = tmp_path / "prices.toml"
    prices.write_text('currency = "EUR"\n[targets.local]\nhour = 3.6\ncpu_hour = 36.0\n')
    monkeypatch.setenv("PICIDAE_PRICES", str(prices))
    burn = ("import time\nt = time.time()\nwhile time.time() - t < 0.8: pass\n"
            "x = bytearray(50_000_000)\ntime.sleep(0.5)")
    rv = picidae.submit([sys.executable, "-c", burn], cpus=1, store=sqlite_url)
    Worker(sqlite_url, once=True).run()
    done = picidae.get_run(rv.id, store=sqlite_url)
    assert done.status == "completed"
    cpu = [p.value for p in done.metrics("system/cpu_percent")]
    mem = [p.value for p in done.metrics("system/memory_mb")]
    assert len(cpu) >= 3 and max(cpu) > 5  # a busy loop (on a shared, loaded machine)
    assert max(mem) > 40
    res = done.resources
    assert res["request"] == {"cpus": 1}
    assert res["peak"]["memory_mb"] > 40 and res["peak"]["cpu_percent"] > 5
    assert 0.05 < res["total"]["cpu_seconds"] < 5 and res["total"]["wall_seconds"] > 1
    cost = done.cost
    assert cost["currency"] == "EUR" and cost["target"] == "local"
    # 1 requested CPU at 36/h plus 3.6/h: 0.011 per second held
    assert cost["amount"] == pytest.approx(cost["hours"] * 39.6, rel=1e-2)
    assert 1 < cost["hours"] * 3600 < 10
    assert done.compute["worker"] and done.compute["pid"] > 0


def test_inputs_are_synced_and_verified_before_the_command_runs(
        sqlite_url: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.csv").write_text("x\n1\n")
    good = picidae.submit(["sh", "-c", 'cat "$PICIDAE_INPUTS/data/train.csv"'],
                          inputs=[f"data={data}"], store=sqlite_url)
    bad = picidae.submit(["true"], inputs=[{"name": "data", "uri": str(data),
                                            "digest": "0" * 64}], store=sqlite_url)
    Worker(sqlite_url, once=True).run()
    ok = picidae.get_run(good.id, store=sqlite_url)
    assert ok.status == "completed"
    assert ("provisioning", "syncing_data") in _transitions(ok)
    assert ("syncing_data", "running") in _transitions(ok)
    texts = [ln.text for ln in ok.logs()]
    assert "1" in texts and any("input 'data' verified" in t for t in texts)
    failed = picidae.get_run(bad.id, store=sqlite_url)
    assert failed.status == "failed" and "digest mismatch" in failed.failure["message"]
    assert _transitions(failed)[-1] == ("syncing_data", "failed")


def test_a_code_snapshot_is_restored_into_a_fresh_work_folder(
        sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "main.py").write_text("print(open('VERSION').read().strip())\n")
    (project / "VERSION").write_text("v1\n")
    rv = picidae.submit([sys.executable, "main.py"], snapshot_code=True, cwd=project,
                        store=sqlite_url)
    (project / "VERSION").write_text("v2 (changed after submit)\n")
    assert rv.code["snapshot"]["digest"]
    Worker(sqlite_url, once=True).run()
    done = picidae.get_run(rv.id, store=sqlite_url)
    assert done.status == "completed"
    assert "v1" in [ln.text for ln in done.logs() if ln.stream == "stdout"]
    assert done.compute["cwd"].endswith("/code")
