"""What a user sees when something goes wrong on the command line: the whole hint, one clear
line for a path that cannot be written, a non-zero exit, and never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import picidae

CLI = [sys.executable, "-m", "picidae"]


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=60,
                          check=False)


def test_a_where_mistake_shows_the_caret_and_did_you_mean(tmp_path: Path,
                                                          subprocess_env: dict[str, str]):
    done = cli("runs", "ls", "--where", 'stauts = "x"', "--store", str(tmp_path / "s"),
               env=subprocess_env)
    assert done.returncode == 1 and done.stdout == ""
    lines = done.stderr.splitlines()
    assert lines[0] == "picidae: where: unknown field 'stauts' at column 1"
    assert lines[1] == '  stauts = "x"'
    assert lines[2] == "  ^"
    assert lines[3].startswith("Did you mean status?")
    assert "Traceback" not in done.stderr


def test_a_where_mistake_mid_expression_points_at_its_column(tmp_path: Path,
                                                             subprocess_env: dict[str, str]):
    done = cli("runs", "ls", "--where", 'status = "completed" and metrics.acc > ',
               "--store", str(tmp_path / "s"), env=subprocess_env)
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert "expected a value" in lines[0]
    assert lines[2].index("^") == lines[1].rstrip().__len__() + 1  # just past the end
    assert "Traceback" not in done.stderr


@pytest.fixture
def stored_artifact(tmp_path: Path) -> tuple[str, str]:
    store = str(tmp_path / "store")
    (tmp_path / "weights.bin").write_bytes(b"\x00" * 64)
    run = picidae.init("with-artifact", store=store)
    run.log_artifact(tmp_path / "weights.bin")
    run.finish()
    return store, run.id


@pytest.mark.parametrize("target", ["/proc/self/nope", "/proc/self/nope/"])
def test_artifacts_get_to_an_unwritable_path_says_so_in_one_line(
        target: str, stored_artifact: tuple[str, str], subprocess_env: dict[str, str]):
    store, run_id = stored_artifact
    done = cli("artifacts", "get", run_id, "weights.bin", "-o", target, "--store", store,
               env=subprocess_env)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [f"picidae: {target}: No such file or "
                                                "directory"]


def test_artifacts_get_to_a_full_device_says_so(stored_artifact: tuple[str, str],
                                                subprocess_env: dict[str, str]):
    store, run_id = stored_artifact
    with open("/dev/full", "wb") as full:
        done = subprocess.run([*CLI, "artifacts", "get", run_id, "weights.bin", "-o", "-",
                               "--store", store], stdout=full, stderr=subprocess.PIPE,
                              text=True, env=subprocess_env, timeout=60, check=False)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == ["picidae: No space left on device"]


@pytest.mark.parametrize(("args", "line"), [
    (["export", "-o", "/proc/self/nope"], "/proc/self/nope: No such file or directory"),
    (["export", "--format", "csv", "-o", "/proc/self/nope"], "/proc/self/nope: No such file"),
    (["export", "-o", "/proc"], "/proc: Is a directory"),
    (["flow", "add", "f", "--file", "/proc/self/nope"], "cannot read the flow file"),
])
def test_other_unusable_paths_print_one_line(args: list[str], line: str,
                                             stored_artifact: tuple[str, str],
                                             subprocess_env: dict[str, str]):
    store, _ = stored_artifact
    done = cli(*args, "--store", store, env=subprocess_env)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"picidae: {line}"), done.stderr


def test_version_prints_the_version(subprocess_env: dict[str, str]):
    done = cli("--version", env=subprocess_env)
    assert done.returncode == 0
    assert done.stdout.strip() == f"picidae {picidae.__version__}"
