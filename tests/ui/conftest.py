"""Browser tests of the web UI: a real ``picidae server`` over a store filled by ``picidae demo``,
driven by headless Chromium (Debian's ``chromium``) through Playwright.

Under ``CI=true`` these tests must run: a missing browser or Playwright fails them. Elsewhere
they skip, saying what to install (``apt-get install chromium``; never ``playwright install``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from processes import ServerProcess

CHROMIUM = os.environ.get("PICIDAE_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
VIEWPORT = {"width": 1280, "height": 800}


def _unavailable() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the 'playwright' package is missing: pip install -e '.[test]'"
    if not Path(CHROMIUM).exists():
        return f"no Chromium at {CHROMIUM}: apt-get install chromium"
    return None


def _require_browser() -> None:
    reason = _unavailable()
    if reason is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"UI tests must run under CI=true, but {reason}")
    pytest.skip(reason)


def child_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment for a child process: no inherited PICIDAE_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PICIDAE_")}
    env["PICIDAE_HOME"] = str(home)
    env.update(extra)
    return env


class DemoServer(ServerProcess):
    """A ``picidae server`` subprocess on loopback over a store filled by ``picidae demo``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        super().__init__(str(root / "store"), child_env(root / "home"),
                         log=root / "server.log")

    def start(self) -> DemoServer:
        subprocess.run([sys.executable, "-m", "picidae", "demo", "--store", self.store],
                       env=self.env, check=True, capture_output=True, timeout=120)
        super().start()
        return self

    def api(self, path: str, **params: Any) -> Any:
        response = httpx.get(f"{self.url}{path}", params=params, timeout=30)
        response.raise_for_status()
        return response.json()

    def run_named(self, name: str) -> dict[str, Any]:
        runs = self.api("/api/v1/runs", name=name, limit=2)["runs"]
        assert len(runs) == 1, f"expected one run named {name!r}, found {len(runs)}"
        return runs[0]


@pytest.fixture(scope="session")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    """One server for the session over the demo store (tests only add runs to it)."""
    _require_browser()
    server = DemoServer(tmp_path_factory.mktemp("ui")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser(demo_server: DemoServer) -> Iterator[Any]:
    """Headless Chromium (the system's, never a downloaded one)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Console:
    """Console errors and uncaught exceptions of a page."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def on_console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text}")

    def on_error(self, error: Any) -> None:
        self.errors.append(f"pageerror: {error}")

    def take(self) -> list[str]:
        errors, self.errors = self.errors, []
        return errors


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh 1280×800 page; ``page.console.take()`` returns its errors so far."""
    context = browser.new_context(viewport=VIEWPORT, color_scheme="light")
    context.set_default_timeout(15_000)
    tab = context.new_page()
    console = Console()
    tab.on("console", console.on_console)
    tab.on("pageerror", console.on_error)
    tab.console = console
    yield tab
    context.close()
