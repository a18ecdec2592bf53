"""The command line as a user meets it: real processes, a real store, stdout and stderr."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

import picidae

CLI = [sys.executable, "-m", "picidae"]


def cli(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env,
                          timeout=timeout, check=False)


@pytest.fixture
def demo_store(tmp_path: Path, subprocess_env: dict[str, str]) -> Path:
    store = tmp_path / "demo"
    done = cli("demo", "--store", str(store), env=subprocess_env)
    assert done.returncode == 0, done.stderr
    assert "confidence-reweighting" in done.stdout
    return store


def test_demo_then_ls_lists_every_demo_run(demo_store: Path, subprocess_env: dict[str, str]):
    out = cli("runs", "ls", "--store", str(demo_store), "--limit", "100", "--json",
              env=subprocess_env)
    assert out.returncode == 0, out.stderr
    runs = json.loads(out.stdout)
    names = {r["name"] for r in runs}
    assert {"confidence-reweighting", "autogo-iteration-17", "cv/resnet18-sweep",
            "nlp/bert-large-finetune", "rl/ppo-cartpole", "lm/gpt-small-pretrain",
            "cv/vit-base-pretrain"} <= names
    assert {f"confidence-reweighting/seed-{s}" for s in range(42, 47)} <= names
    by_name = {r["name"]: r for r in runs}
    assert by_name["nlp/bert-large-finetune"]["status"] == "failed"
    assert "OutOfMemoryError" in by_name["nlp/bert-large-finetune"]["failure"]["traceback"]
    assert by_name["rl/ppo-cartpole"]["status"] == "canceled"
    assert by_name["cv/vit-base-pretrain"]["status"] == "queued"
    phases = {r["name"].split("/")[-1] for r in runs if r["kind"] == "phase"}
    assert phases == {"collect-games", "train-checkpoint", "arena-evaluation"}
    long_run = picidae.get_run(by_name["lm/gpt-small-pretrain"]["id"], store=demo_store)
    loss = long_run.metrics("loss")
    assert len(loss) == 6000
    assert {p.stage for p in loss} == {"warmup", "train", "anneal"}


def test_demo_table_and_show_for_the_w2s_parent(demo_store: Path, subprocess_env: dict[str, str]):
    table = cli("runs", "ls", "--store", str(demo_store), "--name", "confidence-reweighting*",
                env=subprocess_env)
    assert table.returncode == 0
    assert table.stdout.count("confidence-reweighting") == 6
    parent = json.loads(cli("runs", "ls", "--store", str(demo_store), "--name",
                            "confidence-reweighting", "--json", env=subprocess_env).stdout)[0]
    shown = cli("runs", "show", parent["id"], "--store", str(demo_store), "--json",
                env=subprocess_env)
    assert shown.returncode == 0, shown.stderr
    manifest = json.loads(shown.stdout)
    assert manifest["id"] == parent["id"]
    assert [c["kind"] for c in manifest["children"]] == ["seed"] * 5
    stats = manifest["children_stats"]["pgr"]
    assert stats["n"] == 5 and stats["min"] <= stats["mean"] <= stats["max"] and stats["std"] > 0
    assert manifest["transitions"][0] == {**manifest["transitions"][0], "from": "queued",
                                          "to": "running"}
    human = cli("runs", "show", parent["id"], "--store", str(demo_store), env=subprocess_env)
    assert human.returncode == 0
    assert "across 5 children" in human.stdout and "seed-46" in human.stdout


def test_demo_twice_does_not_duplicate(demo_store: Path, subprocess_env: dict[str, str]):
    again = cli("demo", "--store", str(demo_store), env=subprocess_env)
    assert again.returncode == 0 and "already" in again.stdout
    runs = json.loads(cli("runs", "ls", "--store", str(demo_store), "--limit", "0", "--json",
                          env=subprocess_env).stdout)
    assert len([r for r in runs if r["name"] == "confidence-reweighting"]) == 1


@pytest.mark.parametrize("args, code, words", [
    (["runs", "show", "no-such-id"], 1, "no run with id 'no-such-id'"),
    (["runs", "ls", "--bogus"], 2, "No such option: --bogus"),
    (["runs", "ls", "--status", "weird"], 1, "unknown state 'weird'"),
    (["runs", "ls", "--order-by", "metrics.acc sideways"], 1, "asc or desc"),
    (["runs", "ls", "--limit", "many"], 2, "Invalid value for '--limit'"),
    (["logs", "no-such-id"], 1, "no run with id"),
    (["archive", "no-such-id"], 1, "no run with id"),
])
def test_user_mistakes_print_one_line_and_exit_non_zero(tmp_path: Path, args: list[str],
                                                        code: int, words: str,
                                                        subprocess_env: dict[str, str]):
    done = cli(*args, "--store", str(tmp_path / "s"), env=subprocess_env)
    assert done.returncode == code
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert words in lines[0] and "Traceback" not in done.stderr


def test_archive_hides_a_run_from_default_listing(tmp_path: Path, subprocess_env: dict[str, str]):
    store = tmp_path / "s"
    run = picidae.init("to-archive", store=store).finish()
    running = picidae.init("still-running", store=store)
    done = cli("archive", run.id, "--store", str(store), env=subprocess_env)
    assert done.returncode == 0, done.stderr
    listed = json.loads(cli("runs", "ls", "--store", str(store), "--json",
                            env=subprocess_env).stdout)
    assert [r["name"] for r in listed] == ["still-running"]
    everything = json.loads(cli("runs", "ls", "--all", "--store", str(store), "--json",
                                env=subprocess_env).stdout)
    assert {r["name"] for r in everything} == {"to-archive", "still-running"}
    refused = cli("archive", running.id, "--store", str(store), env=subprocess_env)
    assert refused.returncode == 1
    assert "'running' to 'archived'" in refused.stderr
    running.finish()


def test_ls_empty_store_tells_a_newcomer_what_to_do(tmp_path: Path,
                                                    subprocess_env: dict[str, str]):
    done = cli("runs", "ls", "--store", str(tmp_path / "empty"), env=subprocess_env)
    assert done.returncode == 0
    assert "picidae.init(" in done.stdout and "picidae demo" in done.stdout
    as_json = cli("runs", "ls", "--store", str(tmp_path / "empty"), "--json",
                  env=subprocess_env)
    assert json.loads(as_json.stdout) == []


def test_store_comes_from_picidae_store_env(tmp_path: Path, subprocess_env: dict[str, str]):
    store = tmp_path / "from-env"
    picidae.init("env-run", store=store).finish()
    env = {**subprocess_env, "PICIDAE_STORE": str(store)}
    listed = json.loads(cli("runs", "ls", "--json", env=env).stdout)
    assert [r["name"] for r in listed] == ["env-run"]


LIVE_SCRIPT = """
import sys, time, picidae
run = picidae.init("live", store=sys.argv[1])
print(run.id, flush=True)
for i in range(6):
    run.log_text(f"line {i}")
    time.sleep(0.3)
run.finish()
"""


def test_logs_follow_tails_a_live_run_until_it_ends(tmp_path: Path,
                                                     subprocess_env: dict[str, str]):
    store = tmp_path / "s"
    env = {**subprocess_env, "PICIDAE_FLUSH_INTERVAL_S": "0.1"}
    writer = subprocess.Popen([sys.executable, "-c", LIVE_SCRIPT, str(store)],
                              stdout=subprocess.PIPE, text=True, env=env)
    assert writer.stdout is not None
    run_id = writer.stdout.readline().strip()
    follower = subprocess.Popen([*CLI, "logs", run_id, "--follow", "--store", str(store)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=env)
    assert follower.stdout is not None
    first = follower.stdout.readline().strip()
    assert first.startswith("line ")
    assert writer.poll() is None, "the follower should see lines while the run is live"
    # Read the rest through the same buffered stream readline() used (communicate() would
    # read the raw pipe and drop lines already buffered).
    rest = follower.stdout.read()
    follower.wait(timeout=60)
    assert follower.stderr is not None
    err = follower.stderr.read()
    follower.stdout.close()
    follower.stderr.close()
    writer.communicate(timeout=60)
    assert follower.returncode == 0, err
    lines = [first, *rest.strip().splitlines()]
    assert lines == [f"line {i}" for i in range(int(first.split()[1]), 6)]
    assert picidae.get_run(run_id, store=store).status == "completed"


def test_logs_prints_lines_with_timestamps_and_json(tmp_path: Path,
                                                    subprocess_env: dict[str, str]):
    store = tmp_path / "s"
    run = picidae.init("logged", store=store).log_text("hello\nworld").finish()
    plain = cli("logs", run.id, "--store", str(store), env=subprocess_env)
    assert plain.stdout.splitlines() == ["hello", "world"]
    stamped = cli("logs", run.id, "-T", "--store", str(store), env=subprocess_env)
    assert stamped.stdout.splitlines()[0].endswith("log    hello")
    assert stamped.stdout[:4].isdigit()
    rows = [json.loads(x) for x in cli("logs", run.id, "--json", "--store", str(store),
                                        env=subprocess_env).stdout.splitlines()]
    assert [r["text"] for r in rows] == ["hello", "world"]
    assert time.time() - 60 < picidae.get_run(run.id, store=store).created_at.timestamp()


def test_a_command_exiting_non_zero_reports_it(tmp_path: Path, subprocess_env: dict[str, str]):
    """``picidae sync`` exits 1 when something could not be uploaded (a command's own
    non-zero exit must reach the shell, not turn into 0)."""
    from array import array

    from picidae.sdk.spool import Spool
    from picidae.store.base import Batch, SeriesChunk
    from picidae.store.http import HttpStore

    home = Path(subprocess_env["PICIDAE_HOME"])
    unreachable = HttpStore("http://127.0.0.1:9")
    batch = Batch(chunks=[SeriesChunk("x", None, array("q", [0]), array("d", [1.0]),
                                      array("d", [time.time()]))], batch_id="b1")
    Spool.open("01a20000-0000-7000-8000-000000000000", home / "spool").add_batch(
        batch, unreachable)
    unreachable.close()
    done = cli("sync", "--store", "http://127.0.0.1:9", env=subprocess_env)
    assert done.returncode == 1, (done.stdout, done.stderr)
