"""Opening a store from a URL or path: ``None`` → the embedded store under ``PICIDAE_HOME``;
a folder → an embedded store there; ``postgresql://`` → PostgreSQL; ``http(s)://`` → a server.

Stores are cached per process, so every ``init`` and ``get_run`` shares one engine.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from picidae.errors import InvalidInput
from picidae.settings import settings
from picidae.store.base import Store

#: What a public ``store=`` argument may be: a folder, a ``postgresql://`` or ``http(s)://``
#: URL, or ``None`` for the default store (``PICIDAE_STORE``, else ``PICIDAE_HOME``).
StoreLocation = str | Path | None

_lock = threading.Lock()
_cache: dict[str, Store] = {}
#: ``_real``'s answers: the given path → (its real path, that file's device and inode).
_real_seen: dict[str, tuple[str, tuple[int, int]]] = {}


def resolve(url: StoreLocation) -> str:
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
    return _real(url)


def _real(path: str) -> str:
    """``str(Path(path).expanduser().resolve())``, remembered per given string while the path
    still leads to the same file or folder (its device and inode: one ``stat``), since every
    ``init`` names its store again and the full resolution walks every component in Python.
    A changed working folder, home, symbolic link or a recreated folder fails the check
    (a folder's real path is the only one to its inode), and the path is resolved anew."""
    seen = _real_seen.get(path)
    if seen is not None:
        try:
            st = os.stat(os.path.expanduser(path))
        except (OSError, ValueError):
            pass
        else:
            if (st.st_dev, st.st_ino) == seen[1]:
                return seen[0]
    real = str(Path(path).expanduser().resolve())
    try:
        st = os.stat(real)
    except (OSError, ValueError):
        return real  # nothing there yet: nothing to recognise it by next time
    if len(_real_seen) >= 256:
        _real_seen.clear()
    _real_seen[path] = (real, (st.st_dev, st.st_ino))
    return real


def open_store(url: StoreLocation = None) -> Store:
    """The store for ``url`` (see the module docstring), opened once per process."""
    key = resolve(url)
    with _lock:
        store = _cache.get(key)
        if store is None:
            store = _open(key)
            _cache[key] = store
        return store


def embedded_location(key: str) -> tuple[Path, Path]:
    """The folder and database file of an embedded store named by a resolved ``key`` (a
    folder, a ``.db`` file or a ``sqlite:///`` URL)."""
    if key.lower().startswith("sqlite://"):
        path = Path(key.split(":///", 1)[-1])
        return path.parent, path
    path = Path(key)
    if path.is_file() or path.suffix in (".db", ".sqlite", ".sqlite3"):
        return path.parent, path
    return path, path / "picidae.db"


def _open(key: str) -> Store:
    scheme = key.split("://", 1)[0].lower() if "://" in key else ""
    if scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        from picidae.store.sql.postgres import PostgresStore

        return PostgresStore(key)
    if scheme in ("http", "https"):
        from picidae.store.http import HttpStore

        return HttpStore(key)
    if scheme and scheme != "sqlite":
        from picidae.store.sql.postgres import mask_url

        raise InvalidInput(f"unknown store URL scheme {scheme!r} in {mask_url(key)!r}; use a "
                           "folder, postgresql://..., or http(s)://...", field="store")
    from picidae.store.sql.sqlite import SqliteStore

    folder, db_file = embedded_location(key)
    return SqliteStore(folder, db_file=db_file)


def upgrade(url: StoreLocation = None) -> tuple[str | None, str]:
    """Bring the schema of the database at ``url`` (a PostgreSQL URL, a folder or a ``.db``
    file; ``None``: the default store) to this Picidae's version: what ``picidae db upgrade``
    and a starting server run. Returns the revision before (``None``: an empty database) and
    after; ``InvalidInput`` for a server's URL (a server upgrades its own database)."""
    from picidae.store.sql.migrate import upgrade_url

    return upgrade_url(None if url is None else str(url))


def close_all() -> None:
    """Close every cached store (tests use it between stores)."""
    with _lock:
        for store in _cache.values():
            store.close()
        _cache.clear()
