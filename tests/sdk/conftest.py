"""Fixtures for SDK tests: running a Python snippet in a real child process."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

RunScript = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def write_script(tmp_path: Path) -> Callable[[str], Path]:
    """Write a dedented Python snippet to a file and return its path."""
    count = 0

    def write(code: str) -> Path:
        nonlocal count
        count += 1
        path = tmp_path / f"script_{count}.py"
        path.write_text(textwrap.dedent(code))
        return path

    return write


@pytest.fixture
def run_script(write_script: Callable[[str], Path],
               subprocess_env: dict[str, str]) -> RunScript:
    """Run a snippet in a fresh interpreter; ``env`` adds variables, ``args`` are argv."""

    def run(code: str, *args: str, env: dict[str, str] | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
        path = write_script(code)
        return subprocess.run([sys.executable, str(path), *args], env={**subprocess_env,
                              **(env or {})}, capture_output=True, text=True, timeout=timeout)

    return run
