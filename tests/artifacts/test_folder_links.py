"""Symbolic links inside a folder artifact are recorded as links, never followed: a link to
a secret outside the folder uploads the link's target text, not the secret; downloading
recreates only the links that stay inside the folder."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

import picidae
from picidae.artifacts.base import folder_digest, scan_folder
from processes import ServerProcess

QUIET = {"capture_env": False, "capture_git": False}
SECRET = b"outside the folder: never uploaded \x00 9f1c"


def _folder(tmp_path: Path) -> Path:
    secret = tmp_path / "secret.txt"
    secret.write_bytes(SECRET)
    root = tmp_path / "out"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("inside")
    (root / "sub" / "real.txt").write_text("also inside")
    os.symlink(secret, root / "abs-secret")                  # absolute, outside
    os.symlink("../secret.txt", root / "rel-secret")         # relative, outside
    os.symlink("/etc", root / "etc-dir")                     # a folder outside
    os.symlink("a.txt", root / "alias.txt")                  # inside
    os.symlink("../a.txt", root / "sub" / "back.txt")        # inside, via ..
    os.symlink("sub", root / "sub-link")                     # a folder inside
    os.symlink(".", root / "sub" / "here")                   # a folder inside...
    os.symlink("here/../../secret.txt", root / "sub" / "sly")  # ...used to climb out
    if Path("/etc/passwd").exists():
        os.symlink("/etc/passwd", root / "passwd")
    return root


LINKS_INSIDE = {"alias.txt": "a.txt", "sub/back.txt": "../a.txt", "sub-link": "sub",
                "sub/here": "."}


def _blobs(root: Path) -> set[str]:
    return {p.name for p in root.rglob("*") if p.is_file()}


def _check(art: Any, folder: Path, tmp_path: Path) -> None:
    assert art["kind"] == "folder"
    assert [f["path"] for f in art["files"]] == ["a.txt", "sub/real.txt"]
    links = {link["path"]: link["target"] for link in art["links"]}
    assert links["abs-secret"] == str(tmp_path / "secret.txt")
    assert links["rel-secret"] == "../secret.txt" and links["etc-dir"] == "/etc"
    assert links["sub/sly"] == "here/../../secret.txt"
    assert {k: links[k] for k in LINKS_INSIDE} == LINKS_INSIDE
    assert art["size"] == len("inside") + len("also inside")
    assert art["digest"] == folder_digest(folder)[0]

    out = art.download(tmp_path / "restored")
    assert (out / "a.txt").read_text() == "inside"
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")
                  if p.is_symlink()) == sorted(LINKS_INSIDE)
    for path, target in LINKS_INSIDE.items():
        assert os.readlink(out / path) == target
    for gone in ("abs-secret", "rel-secret", "etc-dir", "sub/sly", "passwd"):
        assert not (out / gone).exists() and not (out / gone).is_symlink()


def test_links_in_a_folder_are_recorded_never_followed(tmp_path: Path,
                                                       store_dir: Path) -> None:
    folder = _folder(tmp_path)
    files, links = scan_folder(folder)
    assert [rel for rel, _ in files] == ["a.txt", "sub/real.txt"]
    assert len(links) >= 8
    run = picidae.init("links", store=store_dir, **QUIET)
    run.log_artifact(folder, name="out/").finish()
    (art,) = picidae.get_run(run.id, store=store_dir).artifacts()
    _check(art, folder, tmp_path)
    stored = _blobs(store_dir / "artifacts")
    assert hashlib.sha256(SECRET).hexdigest()[2:] not in stored
    if Path("/etc/passwd").exists():
        assert hashlib.sha256(Path("/etc/passwd").read_bytes()).hexdigest()[2:] not in stored


def test_links_over_http(tmp_path: Path, subprocess_env: dict[str, str],
                         monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _folder(tmp_path)
    monkeypatch.delenv("PICIDAE_TOKEN", raising=False)
    server = ServerProcess(str(tmp_path / "server-store"), subprocess_env).start()
    try:
        run = picidae.init("links", store=server.url, **QUIET)
        run.log_artifact(folder).finish()
        (art,) = picidae.get_run(run.id, store=server.url).artifacts()
        _check(art, folder, tmp_path)
    finally:
        server.stop()
    assert hashlib.sha256(SECRET).hexdigest()[2:] not in _blobs(tmp_path / "server-store")


def test_a_forged_link_record_is_refused(store_dir: Path) -> None:
    run = picidae.init("forged", store=store_dir, **QUIET)
    record = {"name": "f", "kind": "folder", "digest": "0" * 64, "size": 0, "files": [],
              "created_at": 1.0}
    for links, field in (([{"path": "../x", "target": "y"}], "path"),
                         ([{"path": "x", "target": ""}], "links[0]"), ("x", "links")):
        with pytest.raises(picidae.InvalidInput) as err:
            run.store.add_artifact(run.id, {**record, "links": links})
        assert err.value.field == field
    run.finish()


def test_a_recorded_location_never_gets_our_token(store_dir: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """An artifact record's ``location`` is data whoever wrote the run chose: reading the
    artifact may ask that server for the blob, but never with this process's token."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen: list[str | None] = []

    class Capture(BaseHTTPRequestHandler):
        def do_HEAD(self) -> None:
            seen.append(self.headers.get("Authorization"))
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return None

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Capture)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("PICIDAE_TOKEN", "do-not-leak")
        run = picidae.init("lure", store=store_dir, **QUIET)
        run.store.add_artifact(run.id, {
            "name": "bait.bin", "kind": "file", "digest": "ab" * 32, "size": 1,
            "created_at": 1.0, "location": f"http://127.0.0.1:{httpd.server_address[1]}"})
        run.finish()
        (art,) = picidae.get_run(run.id, store=store_dir).artifacts()
        with pytest.raises(picidae.ArtifactNotFound):
            art.read_bytes()
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert seen == [None]
