"""Shared fixtures: every test gets its own embedded store and a clean PICIDAE_* environment."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from picidae.store import registry

_VARS = ("PICIDAE_STORE", "PICIDAE_RUN_ID", "PICIDAE_HEARTBEAT_INTERVAL_S",
         "PICIDAE_HEARTBEAT_TIMEOUT_S", "PICIDAE_LOST_WINDOW_S", "PICIDAE_FLUSH_INTERVAL_S",
         "PICIDAE_DISABLED")


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """PICIDAE_HOME in a temporary folder, no inherited PICIDAE_* settings, fresh SDK state."""
    for name in _VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PICIDAE_HOME", str(tmp_path / "home"))
    import picidae.sdk.api as api

    monkeypatch.setattr(api, "_env_run_used", False)
    monkeypatch.setattr(api, "_enabled", None)
    yield
    from picidae.sdk.writer import writer

    for run in writer().runs():  # a test that left a run open must not leak it
        writer().unregister(run)
    registry.close_all()


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    """A folder for an embedded store (created on first use)."""
    return tmp_path / "store"


@pytest.fixture
def subprocess_env(tmp_path: Path) -> dict[str, str]:
    """The environment for a child Python process using this checkout's picidae."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PICIDAE_")}
    env["PICIDAE_HOME"] = str(tmp_path / "home")
    return env
