"""The local-folder artifact store and the one safe-path check."""

from __future__ import annotations

import hashlib
import os
import tracemalloc
from pathlib import Path

import pytest

import picidae
from picidae.artifacts.base import folder_digest, manifest_digest
from picidae.artifacts.local import LocalArtifactStore
from picidae.artifacts.paths import clean_artifact_name


def _blobs(root: Path) -> list[Path]:
    return sorted(p for p in (root / "blobs").rglob("*") if p.is_file())


def test_put_stores_content_under_its_sha256_once(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "arts")
    src = tmp_path / "model.pt"
    src.write_bytes(b"weights" * 1000)
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    first = store.put(src)
    assert (first.digest, first.size, first.created) == (digest, 7000, True)
    assert _blobs(store.root) == [store.root / "blobs" / "sha256" / digest[:2] / digest[2:]]
    again = store.put(src.read_bytes())
    assert (again.digest, again.created) == (digest, False)
    with open(src, "rb") as stream:
        assert store.put(stream).created is False
    assert len(_blobs(store.root)) == 1
    assert store.exists(digest) and store.url(digest).startswith("file://")
    with store.open(digest) as f:
        assert f.read() == src.read_bytes()
    assert list((store.root / "tmp").iterdir()) == []  # no temporary file left behind
    assert store.delete(digest) is True and store.delete(digest) is False
    assert not store.exists(digest)


def test_a_large_file_is_streamed_not_read_whole(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "arts")
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        for i in range(48):
            f.write(os.urandom(1024 * 1024) if i % 8 == 0 else bytes([i]) * (1024 * 1024))
    tracemalloc.start()
    try:
        blob = store.put(big)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert blob.size == 48 * 1024 * 1024
    assert peak < 8 * 1024 * 1024, f"peak {peak} bytes while storing a 48 MB file"
    out = store.get(blob.digest, tmp_path / "back.bin")
    assert out.stat().st_size == blob.size


def test_get_refuses_a_corrupted_blob_and_writes_nothing(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "arts")
    blob = store.put(b"the real content")
    path = store.root / "blobs" / "sha256" / blob.digest[:2] / blob.digest[2:]
    path.chmod(0o644)
    path.write_bytes(b"the fake content")
    dest = tmp_path / "out" / "file.txt"
    with pytest.raises(picidae.ArtifactCorrupt, match="does not match"):
        store.get(blob.digest, dest)
    assert not dest.exists() and list(dest.parent.iterdir()) == []


def test_missing_blob_is_artifact_not_found(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "arts")
    with pytest.raises(picidae.ArtifactNotFound):
        store.open("0" * 64)


def test_folder_digest_is_the_digest_of_its_sha256sum_manifest(tmp_path: Path) -> None:
    root = tmp_path / "data"
    (root / "sub").mkdir(parents=True)
    (root / "b.txt").write_text("bee")
    (root / "sub" / "a.txt").write_text("ay")
    digest, size, count = folder_digest(root)
    lines = "".join(f"{hashlib.sha256(data).hexdigest()}  {rel}\n"
                    for rel, data in [("b.txt", b"bee"), ("sub/a.txt", b"ay")])
    assert digest == hashlib.sha256(lines.encode()).hexdigest()
    assert (size, count) == (5, 2)
    assert manifest_digest([]) == hashlib.sha256(b"").hexdigest()


@pytest.mark.parametrize("name", [
    "../escape", "a/../../b", "a/..", "/etc/passwd", "C:\\Windows\\x", "c:/x", "~/x",
    "bad\x00name", "new\nline", "tab\tname", "esc\x1b[31m", "", "   ", "a//b", "a//", "./a",
    "a/./b", " lead/b", "/",
])
def test_unsafe_artifact_names_are_refused(name: str) -> None:
    with pytest.raises(picidae.InvalidInput):
        clean_artifact_name(name)


def test_a_trailing_slash_names_the_folder() -> None:
    assert clean_artifact_name("game_records/") == "game_records"
    assert clean_artifact_name("eval\\predictions\\") == "eval/predictions"


def test_safe_names_pass_and_backslashes_become_slashes() -> None:
    assert clean_artifact_name("checkpoints/epoch-3/model.pt") == "checkpoints/epoch-3/model.pt"
    assert clean_artifact_name("reports\\eval.html") == "reports/eval.html"
    assert clean_artifact_name("weird name (1).txt") == "weird name (1).txt"
    assert clean_artifact_name("..hidden/x..y") == "..hidden/x..y"
