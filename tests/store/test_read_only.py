"""An embedded store on a folder this process cannot write is still readable: listed, shown,
its artifacts downloaded — and every write is refused with one clear line.

Tests run as root, for whom ``chmod a-w`` changes nothing; so the reader runs in a user
namespace (``unshare --user``) as an unprivileged user who owns nothing it could override,
exactly as another user on a shared machine or a read-only mount would see the store.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import picidae
from picidae.store.registry import open_store


def _as_unprivileged(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    return ["unshare", "--user", "--map-user=1000", "--map-group=1000", *argv]


@pytest.fixture(scope="module")
def unprivileged() -> None:
    if os.geteuid() == 0:
        if shutil.which("unshare") is None:
            pytest.skip("needs unshare (util-linux) to read as a non-root user")
        probe = subprocess.run(_as_unprivileged(["true"]), capture_output=True, check=False)
        if probe.returncode != 0:
            pytest.skip(f"user namespaces are unavailable: {probe.stderr.decode().strip()}")


def _chmod_tree(root: Path, writable: bool) -> None:
    for path in [root, *root.rglob("*")]:
        mode = path.stat().st_mode
        bits = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH
        path.chmod(mode | stat.S_IWUSR if writable else mode & ~bits)


@pytest.fixture
def frozen_store(tmp_path: Path, unprivileged: None) -> Iterator[tuple[Path, str]]:
    """A store with one finished run (a metric, a log line, an artifact), then made
    read-only with everything in it."""
    store = tmp_path / "store"
    (tmp_path / "notes.txt").write_text("frozen\n")
    run = picidae.init("frozen/run", store=str(store), config={"lr": 0.1})
    run.log(acc=0.9).log_text("hello")
    run.log_artifact(tmp_path / "notes.txt")
    run.finish()
    from picidae.store import registry

    registry.close_all()
    _chmod_tree(store, writable=False)
    yield store, run.id
    _chmod_tree(store, writable=True)


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(_as_unprivileged([sys.executable, "-m", "picidae", *args]),
                          capture_output=True, text=True, env=env, timeout=60, check=False)


def test_a_read_only_store_is_listed_shown_and_downloaded(
        frozen_store: tuple[Path, str], subprocess_env: dict[str, str]) -> None:
    store, run_id = frozen_store
    before = sorted(p.name for p in store.iterdir())
    listed = _cli("runs", "ls", "--store", str(store), "--json", env=subprocess_env)
    assert listed.returncode == 0, listed.stderr
    assert [r["id"] for r in json.loads(listed.stdout)] == [run_id]
    shown = _cli("runs", "show", run_id, "--store", str(store), "--json", env=subprocess_env)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["config"] == {"lr": 0.1}
    where = _cli("runs", "ls", "--where", "metrics.acc > 0.5", "--store", str(store),
                 env=subprocess_env)
    assert where.returncode == 0 and "frozen/run" in where.stdout
    got = _cli("artifacts", "get", run_id, "notes.txt", "-o", "-", "--store", str(store),
               env=subprocess_env)
    assert got.returncode == 0 and got.stdout == "frozen\n", got.stderr
    logs = _cli("logs", run_id, "--store", str(store), env=subprocess_env)
    assert logs.returncode == 0 and "hello" in logs.stdout
    assert sorted(p.name for p in store.iterdir()) == before  # nothing was created


def test_writing_a_read_only_store_fails_in_one_line(
        frozen_store: tuple[Path, str], subprocess_env: dict[str, str]) -> None:
    store, run_id = frozen_store
    done = _cli("archive", run_id, "--store", str(store), env=subprocess_env)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"picidae: the store at {store} is read-only (this process cannot write "
        f"{store / 'picidae.db'}): it can be listed and shown, not written"]
    code = ("import picidae, sys\n"
            "try:\n"
            f"    picidae.init('new', store={str(store)!r})\n"
            "except picidae.StoreUnavailable as exc:\n"
            "    print('refused:', exc)\n")
    sdk = subprocess.run(_as_unprivileged([sys.executable, "-c", code]), capture_output=True,
                         text=True, env=subprocess_env, timeout=60, check=False)
    assert sdk.returncode == 0, sdk.stderr
    assert sdk.stdout.startswith("refused: the store at") and "read-only" in sdk.stdout


def test_a_read_only_folder_without_a_store_says_so(
        tmp_path: Path, unprivileged: None, subprocess_env: dict[str, str]) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    empty.chmod(0o555)
    try:
        done = _cli("runs", "ls", "--store", str(empty), env=subprocess_env)
    finally:
        empty.chmod(0o755)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [f"picidae: the store folder {empty} is read-only and "
                                        "holds no store yet (picidae.db is missing)"]


def test_opening_a_current_store_takes_no_migration_lock(tmp_path: Path) -> None:
    folder = tmp_path / "store"
    open_store(str(folder)).close()
    lock = folder / ".migrate.lock"
    assert lock.exists()  # the first open migrated, under the lock
    lock.unlink()
    from picidae.store.sql.sqlite import SqliteStore

    SqliteStore(folder).close()
    assert not lock.exists()
