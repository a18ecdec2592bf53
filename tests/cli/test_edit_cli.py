"""``picidae runs edit`` and ``picidae restore`` as a user runs them: real processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import picidae

CLI = [sys.executable, "-m", "picidae"]


def cli(*args: str, env: dict[str, str], stdin: str | None = None
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, input=stdin,
                          timeout=60, check=False)


def test_runs_edit_then_archive_and_restore(tmp_path: Path,
                                            subprocess_env: dict[str, str]) -> None:
    store = str(tmp_path / "store")
    run = picidae.init("cli/edit", store=store, tags=["old"])
    run.finish()
    done = cli("runs", "edit", run.id, "--alias", "champ", "--tag", "a", "--tag", "b",
               "--untag", "old", "--notes", "a bug in eval", "--json", "--store", store,
               env=subprocess_env)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert (data["alias"], data["tags"], data["notes"]) == ("champ", ["a", "b"],
                                                            "a bug in eval")
    assert data["edits"][0]["actor"] == "cli"
    listed = cli("runs", "ls", "--where", 'notes contains "bug"', "--json", "--store", store,
                 env=subprocess_env)
    assert [r["id"] for r in json.loads(listed.stdout)] == [run.id]
    shown = cli("runs", "show", run.id, "--store", store, env=subprocess_env)
    assert "a bug in eval" in shown.stdout

    stdin = cli("runs", "edit", run.id, "--notes", "-", "--store", store,
                env=subprocess_env, stdin="## from stdin\n")
    assert stdin.returncode == 0, stdin.stderr
    assert picidae.get_run(run.id, store=store).notes == "## from stdin\n"

    assert cli("archive", run.id, "--store", store, env=subprocess_env).returncode == 0
    restored = cli("restore", run.id, "--json", "--store", store, env=subprocess_env)
    assert restored.returncode == 0, restored.stderr
    assert json.loads(restored.stdout) == [{"id": run.id, "status": "completed"}]


def test_edit_and_restore_mistakes_are_one_line_errors(tmp_path: Path,
                                                       subprocess_env: dict[str, str]) -> None:
    store = str(tmp_path / "store")
    run = picidae.init("cli/edit", store=store)
    run.finish()
    nothing = cli("runs", "edit", run.id, "--store", store, env=subprocess_env)
    assert nothing.returncode == 1
    assert "nothing to change" in nothing.stderr and "Traceback" not in nothing.stderr
    again = cli("restore", run.id, "--store", store, env=subprocess_env)
    assert again.returncode == 1 and "not archived" in again.stderr
    missing = cli("runs", "edit", "no-such-run", "--notes", "x", "--store", store,
                  env=subprocess_env)
    assert missing.returncode == 1 and "no-such-run" in missing.stderr
