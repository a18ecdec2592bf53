"""Reproducibility capture: environment, secrets, packages, git, code snapshots, image."""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import picidae
from picidae.sdk import capture


def git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(["git", "-c", "user.name=Test", "-c", "user.email=t@example.com",
                           "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false",
                           *args], cwd=cwd, check=True, capture_output=True, text=True)
    return proc.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git repository with one commit, a .gitignore and the working folder set to it."""
    root = tmp_path / "repo"
    (root / "src").mkdir(parents=True)
    (root / "train.py").write_text("print('train')\n")
    (root / "src" / "model.py").write_text("LAYERS = 3\n")
    (root / ".gitignore").write_text("data/\n*.log\n")
    git(root, "init")
    git(root, "add", ".")
    git(root, "commit", "-m", "first")
    git(root, "remote", "add", "origin", "https://alice:hunter2@example.com/org/repo.git")
    monkeypatch.chdir(root)
    return root


def _members(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read()  # type: ignore[union-attr]
                for m in tar.getmembers() if m.isfile()}


def test_environment_is_captured_with_secrets_redacted(store_dir: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_very_secret")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("WANDB_API_KEY", "not-even-recorded")
    monkeypatch.setenv("PICIDAE_DB_PASSWORD", "pw")
    monkeypatch.setenv("PICIDAE_TEST_URL", "postgresql://bob:s3cr3t@db.example.com/runs")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    run = picidae.init("env", store=store_dir, seed=1234, capture_git=False)
    run.finish()
    rv = picidae.get_run(run.id, store=store_dir)
    env = rv.env
    assert env["python"] == sys.version.split()[0] and env["cpu_count"] >= 1
    assert env["hostname"] and env["platform"]
    variables = env["variables"]
    assert variables["CUDA_VISIBLE_DEVICES"] == "0,1"
    assert variables["HF_TOKEN"] == "***"
    assert variables["AWS_SECRET_ACCESS_KEY"] == "***"
    assert variables["AWS_ACCESS_KEY_ID"] == "***"
    assert variables["PICIDAE_DB_PASSWORD"] == "***"
    assert variables["PICIDAE_TEST_URL"] == "postgresql://bob:***@db.example.com/runs"
    assert "WANDB_API_KEY" not in variables
    text = str(rv.to_dict())
    for secret in ("hf_very_secret", "aws-secret", "AKIAEXAMPLE", "s3cr3t"):
        assert secret not in text
    assert rv.command[0] == sys.executable and rv.seed == 1234
    packages = env["packages"]
    assert packages["picidae"] == picidae.__version__ and len(packages) > 10
    assert packages["numpy"] == np.__version__
    assert rv.artifacts() == []  # a clean run has no artifacts it did not ask for


def test_capture_flags_turn_capture_off(store_dir: Path, repo: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    bare = picidae.init("bare", store=store_dir, capture_env=False, capture_git=False)
    bare.finish()
    rv = picidae.get_run(bare.id, store=store_dir)
    assert rv.env is None and rv.command is None and rv.code is None
    assert rv.artifacts() == []
    monkeypatch.setenv("PICIDAE_CAPTURE_PACKAGES", "0")
    monkeypatch.setenv("PICIDAE_CAPTURE_GIT", "false")
    light = picidae.init("light", store=store_dir)
    light.finish()
    rv = picidae.get_run(light.id, store=store_dir)
    assert rv.env["python"] and "packages" not in rv.env and rv.code is None


def test_git_state_and_the_uncommitted_diff(store_dir: Path, repo: Path) -> None:
    commit = git(repo, "rev-parse", "HEAD")
    clean = picidae.init("clean", store=store_dir, capture_env=False)
    clean.finish()
    code = picidae.get_run(clean.id, store=store_dir).code
    assert code == {"root": str(repo.resolve()), "commit": commit, "branch": "main",
                    "remote": "https://alice:***@example.com/org/repo.git", "dirty": False,
                    "diff": None}

    capture.clear_cache()
    (repo / "src" / "model.py").write_text("LAYERS = 4\n")
    (repo / "scratch.py").write_text("untracked\n")
    dirty = picidae.init("dirty", store=store_dir, capture_env=False)
    dirty.finish()
    rv = picidae.get_run(dirty.id, store=store_dir)
    assert rv.code["dirty"] is True and rv.code["commit"] == commit
    diff = rv.artifact("code/git.diff")
    assert diff["type"] == "code" and rv.code["diff"]["digest"] == diff["digest"]
    text = diff.read_text()
    assert "-LAYERS = 3" in text and "+LAYERS = 4" in text
    assert text == git(repo, "diff", "HEAD") + "\n"


def test_each_run_records_the_repository_of_the_folder_it_starts_in(
        store_dir: Path, repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "eval.py").write_text("print('eval')\n")
    git(other, "init")
    git(other, "add", ".")
    git(other, "commit", "-m", "other")
    capture.clear_cache()
    seen = []
    # Twice in each folder: the second run of a folder records its cached state at init.
    for folder in (repo, repo, other, other, repo):
        monkeypatch.chdir(folder)
        for capture_env in (True, False):
            run = picidae.init("where", store=store_dir, capture_env=capture_env)
            run.finish()
            rv = picidae.get_run(run.id, store=store_dir)
            seen.append((rv.code["root"], rv.code["commit"], (rv.env or {}).get("cwd")))
    for (root, commit, cwd), folder in zip(seen, [f for f in (repo, repo, other, other, repo)
                                                  for _ in (0, 1)], strict=True):
        assert root == str(folder.resolve()) and commit == git(folder, "rev-parse", "HEAD")
        assert cwd in (None, str(folder.resolve()))


def test_code_snapshot_honours_gitignore(store_dir: Path, repo: Path) -> None:
    (repo / "data").mkdir()
    (repo / "data" / "big.bin").write_bytes(b"x" * 1000)
    (repo / "train.log").write_text("ignored\n")
    (repo / "notes.md").write_text("untracked but not ignored\n")
    run = picidae.init("snap", store=store_dir, snapshot_code=True, capture_env=False)
    run.finish()
    rv = picidae.get_run(run.id, store=store_dir)
    snap = rv.artifact("code/snapshot.tar.gz")
    assert snap["type"] == "code" and rv.code["snapshot"]["digest"] == snap["digest"]
    assert rv.code["snapshot"]["files"] == 4 and rv.code["snapshot"]["listed_by"] == "git"
    members = _members(snap.read_bytes())
    assert sorted(members) == [".gitignore", "notes.md", "src/model.py", "train.py"]
    assert members["src/model.py"] == b"LAYERS = 3\n"
    # The same workspace makes the same archive: stored once.
    again = picidae.init("snap-again", store=store_dir, snapshot_code=True, capture_env=False)
    again.finish()
    assert picidae.get_run(again.id, store=store_dir).code["snapshot"]["digest"] == \
        snap["digest"]


def test_an_oversized_workspace_is_refused_naming_the_limit(
        store_dir: Path, repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(picidae.InvalidInput, match="PICIDAE_SNAPSHOT_MAX_FILES") as files:
        picidae.init("too-many", store=store_dir, snapshot_code=True, snapshot_max_files=2)
    assert "3 files, over the limit of 2" in str(files.value)
    assert "snapshot_max_files" in str(files.value)
    (repo / "weights.bin").write_bytes(b"\0" * 300_000)
    monkeypatch.setenv("PICIDAE_SNAPSHOT_MAX_MB", "0.1")
    with pytest.raises(picidae.InvalidInput, match=r"over the limit of 0\.1 MB") as size:
        picidae.init("too-big", store=store_dir, snapshot_code=True)
    assert "PICIDAE_SNAPSHOT_MAX_MB" in str(size.value)
    assert picidae.runs(store=store_dir) == []  # nothing was created
    run = picidae.init("raised", store=store_dir, snapshot_code=True, snapshot_max_mb=1,
                       capture_env=False, capture_git=False)
    run.finish()
    assert picidae.get_run(run.id, store=store_dir).code["snapshot"]["files"] == 4


def test_snapshot_outside_git_walks_the_folder_minus_ignored_files(
        tmp_path: Path, store_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "plain"
    (work / "pkg").mkdir(parents=True)
    (work / ".venv" / "lib").mkdir(parents=True)
    (work / "logs").mkdir()
    (work / "main.py").write_text("print(1)\n")
    (work / "pkg" / "util.py").write_text("X = 1\n")
    (work / "pkg" / "model.ckpt").write_bytes(b"ckpt")
    (work / "logs" / "a.txt").write_text("log\n")
    (work / ".venv" / "lib" / "site.py").write_text("venv\n")
    (work / ".gitignore").write_text("# comment\n*.ckpt\nlogs/\n")
    monkeypatch.chdir(work)
    run = picidae.init("walk", store=store_dir, snapshot_code=True, capture_env=False,
                       capture_git=False)
    run.finish()
    rv = picidae.get_run(run.id, store=store_dir)
    members = _members(rv.artifact("code/snapshot.tar.gz").read_bytes())
    assert sorted(members) == [".gitignore", "main.py", "pkg/util.py"]
    assert rv.code["snapshot"]["listed_by"] == "walk"


def test_container_image_from_picidae_image(store_dir: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PICIDAE_IMAGE", "ghcr.io/org/trainer:1.2@sha256:" + "ab" * 32)
    run = picidae.init("boxed", store=store_dir, capture_git=False)
    run.finish()
    image = picidae.get_run(run.id, store=store_dir).image
    assert image["name"] == "ghcr.io/org/trainer:1.2"
    assert image["digest"] == "sha256:" + "ab" * 32


def test_secret_names_are_matched_case_insensitively() -> None:
    out = capture.variables({"PICIDAE_api_token": "t", "TORCH_HOME": "/x",
                             "AWS_SESSION_TOKEN": "s", "HOME": "/root",
                             "PICIDAE_STORE": "postgresql://u:p@h/db"})
    assert out == {"AWS_SESSION_TOKEN": "***", "PICIDAE_STORE": "postgresql://u:***@h/db",
                   "PICIDAE_api_token": "***", "TORCH_HOME": "/x"}


def test_package_names_and_versions_match_the_full_metadata_parse() -> None:
    from importlib.metadata import distributions

    for dist in distributions():  # every distribution installed here
        full = (dist.metadata["Name"], dist.version) if dist.metadata else (None, "")
        assert capture.name_version(dist) == full, dist


class _Dist:
    """A distribution whose metadata file says ``text`` (what ``name_version`` reads), with
    the standard library's own parse of it as ``metadata``."""

    def __init__(self, text: str, name: str = "METADATA") -> None:
        self.text, self.name = text, name

    def read_text(self, filename: str) -> str | None:
        return self.text if filename == self.name else None

    @property
    def metadata(self) -> Any:
        import email
        from importlib.metadata import _adapters  # the wrapper dist.metadata returns

        return _adapters.Message(email.message_from_string(self.text))

    @property
    def version(self) -> Any:
        return self.metadata["Version"]  # as Distribution.version reads it


@pytest.mark.parametrize("text", [
    "Metadata-Version: 2.1\nName: Foo-Bar\nVersion: 1.2.3\n\nName: body\n",
    "Name:Foo\r\nVersion:\t2.0 \r\n\r\n",  # no space, a tab, CRLF, a trailing space kept
    "Metadata-Version: 1.0\nname: lower\nVersion: 1\n",  # spelled otherwise: full parse
    "Name: Foo\nNAME: Other\nVersion: 1\n",
    "Name: Foo\n  continued\nVersion: 1\n",  # a folded name
    "Name: Foo\nSummary: a\n  folded summary\nVersion: 3\n",  # a folded other header
    "Name: Foo\nnot a header\nVersion: 1\n",  # the body begins before Version
    "Summary: nothing else\n",
    "",
])
def test_package_name_and_version_read_as_the_email_parser_reads_them(text: str) -> None:
    for where in ("METADATA", "PKG-INFO"):
        dist = _Dist(text, where)
        full = (dist.metadata["Name"], dist.version) if dist.metadata else (None, "")
        assert capture.name_version(dist) == full
