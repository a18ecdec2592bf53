"""Opening a store from a URL or path: ``None`` → the embedded store under ``PICIDAE_HOME``;
a folder → an embedded store there; ``postgresql://`` → PostgreSQL; ``http(s)://`` → a server.

Stores are cached per process, so every ``init`` and ``get_run`` shares one engine.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from picidae.errors import InvalidInput, StoreUnavailable
from picidae.settings import settings

_lock = threading.Lock()
_cache: dict[str, Any] = {}


def resolve(url: str | Path | None) -> str:
    """The canonical location a store argument names."""
    if url is None:
        cfg = settings()
        url = cfg.store or str(cfg.home)
    if isinstance(url, Path):
        url = str(url)
    if not isinstance(url, str):
        raise InvalidInput(f"store must be a path or URL, got {type(url).__name__}",
                           field="store")
    if "://" in url:
        return url
    return str(Path(url).expanduser().resolve())


def open_store(url: str | Path | None = None) -> Any:
    """The store for ``url`` (see the module docstring), opened once per process."""
    key = resolve(url)
    with _lock:
        store = _cache.get(key)
        if store is None:
            store = _open(key)
            _cache[key] = store
        return store


def _open(key: str) -> Any:
    scheme = key.split("://", 1)[0].lower() if "://" in key else ""
    if scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        raise StoreUnavailable("PostgreSQL stores arrive with team mode (issue 3)")
    if scheme in ("http", "https"):
        raise StoreUnavailable("server stores arrive with team mode (issue 3)")
    if scheme == "sqlite":
        path = Path(key.split(":///", 1)[-1])
        from picidae.store.sql.sqlite import SqliteStore

        return SqliteStore(path.parent, db_file=path)
    if scheme:
        raise InvalidInput(f"unknown store URL scheme {scheme!r} in {key!r}; use a folder, "
                           "postgresql://..., or http(s)://...", field="store")
    from picidae.store.sql.sqlite import SqliteStore

    path = Path(key)
    if path.is_file() or path.suffix in (".db", ".sqlite", ".sqlite3"):
        return SqliteStore(path.parent, db_file=path)
    return SqliteStore(path)


def close_all() -> None:
    """Close every cached store (tests use it between stores)."""
    with _lock:
        for store in _cache.values():
            store.close()
        _cache.clear()
