"""Which artifact store a run uses.

``PICIDAE_ARTIFACTS`` (a folder or ``s3://bucket/prefix``) wins when set. Otherwise an
embedded store keeps artifacts in ``artifacts/`` beside its ``picidae.db``; a PostgreSQL store
falls back to ``$PICIDAE_HOME/artifacts`` on the machine that logged them (set
``PICIDAE_ARTIFACTS`` to share them); through a Picidae server, uploads and downloads go via
its API (``/api/v1/blobs``) into the server's own artifact store.

Stores are opened once per process and location.
"""

from __future__ import annotations

import threading
from pathlib import Path

from picidae.artifacts.base import ArtifactStore
from picidae.settings import settings
from picidae.store.base import Store
from picidae.store.capabilities import FolderStore

_lock = threading.Lock()
_cache: dict[str, ArtifactStore] = {}


def open_artifacts(location: str | Path) -> ArtifactStore:
    """The artifact store at ``location``: a folder path or ``s3://bucket/prefix``."""
    key = str(location)
    with _lock:
        found = _cache.get(key)
        if found is None:
            if key.lower().startswith(("http://", "https://")):
                from picidae.artifacts.http import HttpArtifactStore

                found = HttpArtifactStore(key)
            elif key.lower().startswith("s3://"):
                from picidae.artifacts.s3 import S3ArtifactStore

                found = S3ArtifactStore(key)
            else:
                from picidae.artifacts.local import LocalArtifactStore

                found = LocalArtifactStore(key)
            _cache[key] = found
        return found


def location_for(store: Store) -> str:
    """Where artifacts of runs in ``store`` go (see the module docstring)."""
    cfg = settings()
    if cfg.artifacts:
        return cfg.artifacts
    if isinstance(store, FolderStore):
        return str(Path(store.folder) / "artifacts")
    url = str(store.url)
    if url.lower().startswith(("http://", "https://")):
        return url  # uploads and downloads go through the server's API
    return str(cfg.home / "artifacts")


def for_store(store: Store) -> ArtifactStore:
    """The artifact store for runs recorded in ``store``."""
    return open_artifacts(location_for(store))


def clear() -> None:
    """Close and forget opened artifact stores (tests use it when the environment changes)."""
    with _lock:
        for found in _cache.values():
            close = getattr(found, "close", None)
            if close is not None:
                close()
        _cache.clear()
