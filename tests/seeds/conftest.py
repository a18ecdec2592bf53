"""The seeds' examples run against each kind of store a user may point ``PICIDAE_STORE`` at:
the embedded store, and a real ``picidae server`` process on loopback (``http://``).

One server process serves the whole module; each test gets a workspace of its own through
its own token, so every test starts from an empty store either way.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from processes import ServerProcess

_WORKSPACES = 64


@pytest.fixture(autouse=True)
def _quiet_capture(monkeypatch: pytest.MonkeyPatch) -> None:
    """No git state (this checkout's diff) and no package list: not what the seeds show."""
    monkeypatch.setenv("PICIDAE_CAPTURE_GIT", "0")
    monkeypatch.setenv("PICIDAE_CAPTURE_PACKAGES", "0")


@pytest.fixture(scope="module")
def _server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Iterator[str]]]:
    import os

    folder = tmp_path_factory.mktemp("seed-server")
    tokens = [f"seed-token-{i}" for i in range(_WORKSPACES)]
    (folder / "tokens").write_text("".join(f"{t} seed-ws-{i} write\n"
                                           for i, t in enumerate(tokens)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PICIDAE_")}
    env.update(PICIDAE_HOME=str(folder / "home"), PICIDAE_ARTIFACTS=str(folder / "blobs"))
    server = ServerProcess(str(folder / "store"), env, "--token-file", str(folder / "tokens"))
    server.start()
    try:
        yield server.url, iter(tokens)
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "http"])
def seed_store(request: pytest.FixtureRequest, tmp_path: Path,
               monkeypatch: pytest.MonkeyPatch) -> str:
    """An empty store, also set as ``PICIDAE_STORE`` (and ``PICIDAE_TOKEN``) so the
    examples need no ``store=``."""
    if request.param == "sqlite":
        url = str(tmp_path / "store")
    else:
        url, tokens = request.getfixturevalue("_server")
        token = next(tokens, None)
        if token is None:
            raise RuntimeError(f"more than {_WORKSPACES} http tests: raise _WORKSPACES")
        monkeypatch.setenv("PICIDAE_TOKEN", token)
    monkeypatch.setenv("PICIDAE_STORE", url)
    return url


