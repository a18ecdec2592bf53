"""``picidae db upgrade`` and ``picidae token`` reach the SQL stores only through
``store.registry.upgrade`` and the ``TokenStore`` ability."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "picidae", *args], capture_output=True,
                          text=True, env=env, timeout=60, check=False)


def test_db_upgrade_initialises_an_embedded_store_then_has_nothing_to_do(
        tmp_path: Path, subprocess_env: dict[str, str]) -> None:
    store = str(tmp_path / "fresh")
    first = cli("db", "upgrade", "--store", store, "--json", env=subprocess_env)
    assert first.returncode == 0, first.stderr
    done = json.loads(first.stdout)
    assert done["before"] is None and done["changed"]
    again = cli("db", "upgrade", "--store", store, "--json", env=subprocess_env)
    assert json.loads(again.stdout) == {**done, "before": done["after"], "changed": False}


def test_tokens_are_created_and_listed_in_an_embedded_store(
        tmp_path: Path, subprocess_env: dict[str, str]) -> None:
    store = str(tmp_path / "tokens")
    made = cli("token", "create", "-w", "team", "--role", "read", "--store", store,
               env=subprocess_env)
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip().startswith("pcd_")
    listed = json.loads(cli("token", "list", "--json", "--store", store,
                            env=subprocess_env).stdout)
    assert [(t["workspace"], t["role"]) for t in listed] == [("team", "read")]


def test_tokens_through_a_server_url_are_refused_with_one_line(
        subprocess_env: dict[str, str]) -> None:
    done = cli("token", "list", "--store", "http://127.0.0.1:9", env=subprocess_env)
    assert done.returncode != 0
    assert "tokens live in the server's database" in done.stderr
    assert "Traceback" not in done.stderr
