"""``Artifact``: one stored artifact of a run, as ``RunView.artifacts()`` lists them.

An ``Artifact`` is a dict (so it prints and serialises as JSON as it is): ``id``, ``name``,
``type``, ``kind`` (``file``, ``folder`` or ``image``), ``size``, ``digest`` (SHA-256 hex;
for a folder, the digest of its manifest), ``step``, ``created_at`` (ISO 8601 UTC),
``caption``, ``metadata``, ``location`` (the artifact store it was written to) and, for a
folder, ``files`` (``[{path, digest, size}]``). Keys are also attributes (``art.digest``).

Reading always checks the digest: ``open`` raises ``ArtifactCorrupt`` when the stream ends
with content that does not match; ``download`` writes through a temporary file and leaves
nothing at the destination on a mismatch.
"""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import Any

from picidae.artifacts.base import ArtifactStore, VerifyingReader
from picidae.artifacts.paths import clean_artifact_name, clean_member_path
from picidae.errors import ArtifactNotFound, InvalidInput, PicidaeError
from picidae.store.base import Store


def _iso(value: float | None) -> str | None:
    from picidae.sdk.view import iso

    return iso(value)


class Artifact(dict[str, Any]):
    """One artifact of a run (see the module docstring)."""

    def __init__(self, store: Store, run_id: str, record: dict[str, Any]) -> None:
        super().__init__(record)
        self["created_at"] = _iso(record.get("created_at"))
        self["run_id"] = run_id
        self._run_store = store

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"Artifact has no attribute {name!r}") from None

    def __repr__(self) -> str:
        return (f"Artifact(name={self['name']!r}, kind={self['kind']!r}, size={self['size']}, "
                f"digest={self['digest'][:12]!r})")

    # -- finding the content ------------------------------------------------------------

    def _blob_store(self, digest: str) -> ArtifactStore:
        """The artifact store holding ``digest``: the one configured now for this run's
        store, else the one the artifact was written to."""
        from picidae.artifacts.registry import for_store

        tried: list[str] = []
        candidates: list[Any] = []
        try:
            candidates.append(for_store(self._run_store))
        except PicidaeError:
            pass
        if self.get("location"):
            candidates.append(self["location"])
        for candidate in candidates:
            astore = _recorded(candidate) if isinstance(candidate, str) else candidate
            if astore.location in tried:
                continue
            tried.append(astore.location)
            try:
                if astore.exists(digest):
                    return astore
            except PicidaeError:
                if astore is not candidates[0]:
                    continue  # a recorded location that refuses us: as if it had nothing
                raise
        raise ArtifactNotFound(
            f"the content of artifact {self['name']!r} (sha256 {digest[:12]}…) is not in "
            f"{' or '.join(tried) or 'any artifact store'}; set PICIDAE_ARTIFACTS to where "
            "it was stored")

    def _member(self, path: str | None) -> tuple[str, int, str]:
        """``(digest, size, label)`` of the file to read: the artifact, or a folder's file."""
        if self["kind"] != "folder":
            if path is not None:
                raise InvalidInput(f"artifact {self['name']!r} is a single file; open() it "
                                   "without a path", field="path")
            return self["digest"], self["size"], f"artifact {self['name']!r}"
        if path is None:
            raise InvalidInput(f"artifact {self['name']!r} is a folder of "
                               f"{len(self['files'])} files: open(path) one of them, or "
                               "download() the folder", field="path")
        for f in self["files"]:
            if f["path"] == path:
                return f["digest"], f["size"], f"{self['name']}/{path}"
        raise ArtifactNotFound(f"folder artifact {self['name']!r} has no file {path!r}")

    # -- reading ------------------------------------------------------------------------

    def open(self, path: str | None = None) -> VerifyingReader:
        """A binary stream of the content (of one file of a folder with ``path``); the
        digest is checked when the stream is read to its end."""
        digest, size, label = self._member(path)
        raw = self._blob_store(digest).open(digest)
        return VerifyingReader(raw, digest, size, label)

    def read_bytes(self, path: str | None = None) -> bytes:
        """The whole content, checked against the digest."""
        with self.open(path) as f:
            return f.read()

    def read_text(self, path: str | None = None, encoding: str = "utf-8") -> str:
        """The content as text, checked against the digest."""
        return self.read_bytes(path).decode(encoding)

    def download(self, dest: str | Path | None = None) -> Path:
        """Write the artifact to ``dest`` (default: its base name in the current folder; an
        existing folder: inside it) and return the path written. A folder artifact becomes
        a folder. Every file's digest is checked."""
        base = clean_artifact_name(self["name"]).rsplit("/", 1)[-1]
        target = Path.cwd() / base if dest is None else Path(dest).expanduser()
        if self["kind"] == "folder":
            if target.exists() and not target.is_dir():
                raise InvalidInput(f"{target} exists and is not a folder", field="dest")
            if dest is not None and target.is_dir() and any(target.iterdir()):
                target = target / base
            for f in self["files"]:
                rel = clean_member_path(f["path"])
                self._blob_store(f["digest"]).get(f["digest"], target / rel)
            target.mkdir(parents=True, exist_ok=True)
            _relink(target, self.get("links") or [])
            return target
        if target.is_dir():
            target = target / base
        return self._blob_store(self["digest"]).get(self["digest"], target)


def _relink(root: Path, links: list[dict[str, str]]) -> None:
    """Recreate a downloaded folder's symbolic links, after its files (so no file is ever
    written through a link), and only those that resolve inside the folder: a relative
    target that stays inside; a link to anywhere else (or that reaches out through another
    link) is left out."""
    top = root.resolve()
    made: list[Path] = []
    for link in links:
        rel = clean_member_path(link["path"])
        target = str(link["target"])
        inside = posixpath.normpath(posixpath.join(posixpath.dirname(rel), target))
        if posixpath.isabs(target) or inside == ".." or inside.startswith("../"):
            continue
        where = root / rel
        if where.exists() or where.is_symlink() or not _within(where.parent, top):
            continue
        where.parent.mkdir(parents=True, exist_ok=True)
        where.symlink_to(target)
        made.append(where)
    for where in made:  # links through links: check where each one really ends
        if not _within(where, top):
            where.unlink()


def _within(path: Path, top: Path) -> bool:
    return path.resolve().is_relative_to(top)


def _recorded(location: str) -> ArtifactStore:
    """The artifact store at a location an artifact record names. The record is data anyone
    who could write the run chose, so a server named there is asked without this process's
    ``PICIDAE_TOKEN`` (the run store's own artifact store, tried first, has the token)."""
    from picidae.artifacts.registry import open_artifacts

    if location.lower().startswith(("http://", "https://")):
        from picidae.artifacts.http import HttpArtifactStore

        return HttpArtifactStore(location, token="")
    return open_artifacts(location)
