"""Helpers for the framework integrations' tests (see conftest.py)."""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import Any

import pytest


def framework(module: str, extra: str) -> ModuleType:
    """``module`` imported, or the calling test module skipped (failed under CI=true)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        reason = f"{module} is not installed: pip install 'picidae[{extra}]' ({exc})"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"the {extra} integration tests must run in CI, but {reason}",
                        pytrace=False)
        pytest.skip(reason, allow_module_level=True)


def stored(run: Any) -> Any:
    """The stored record of a run an integration recorded (``RunView``)."""
    import picidae

    assert run is not None, "the integration recorded no run"
    return picidae.get_run(run.id)


def points(view: Any, key: str) -> list[tuple[int, float]]:
    """A metric's points as (step, value) pairs."""
    return [(p.step, p.value) for p in view.metrics(key)]
