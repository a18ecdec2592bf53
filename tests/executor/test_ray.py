"""``--executor ray`` on a real local Ray head (``ray start --head`` on 127.0.0.1)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import picidae

from .conftest import Cli, wait_for

METRICS = """
    import picidae
    run = picidae.init(config={"lr": 0.5})
    for step in range(3):
        run.log(loss=run.config["lr"] / (step + 1))
    print("trained on ray")
"""


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"the Ray tests must run in CI, but {reason}", pytrace=False)
    pytest.skip(reason)


def _port() -> int:
    while True:  # outside Ray's default worker ports (10002-19999)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if not 10000 <= port <= 20000:
            return port


@pytest.fixture(scope="module")
def ray_head() -> Iterator[str]:
    """A Ray head in its own process group (stopped by that group, never ``ray stop``);
    yields the dashboard's address."""
    ray = Path(sys.executable).with_name("ray")
    try:
        from ray.job_submission import JobSubmissionClient
    except ImportError:
        _unavailable("Ray is not installed (pip install 'picidae[ray]')")
    if not ray.exists():
        _unavailable(f"no ray command next to {sys.executable}")
    temp = tempfile.mkdtemp(prefix="pray", dir="/tmp")  # Ray's socket paths must be short
    dash = _port()
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    head = subprocess.Popen(
        [str(ray), "start", "--head", "--block", "--node-ip-address", "127.0.0.1",
         "--port", str(_port()), "--dashboard-host", "127.0.0.1", "--dashboard-port",
         str(dash), "--ray-client-server-port", str(_port()),
         "--dashboard-agent-listen-port", str(_port()), "--num-cpus", "2",
         "--include-dashboard", "true", "--temp-dir", temp, "--disable-usage-stats"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    address = f"http://127.0.0.1:{dash}"
    try:
        deadline = time.time() + 90
        while True:
            try:
                JobSubmissionClient(address).list_jobs()
                break
            except Exception:
                if head.poll() is not None or time.time() > deadline:
                    _unavailable("the Ray head did not come up")
                time.sleep(0.5)
        yield address
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(head.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            head.wait(timeout=15)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(head.pid, signal.SIGKILL)
        head.wait(timeout=10)
        shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture
def ray(ray_head: str, start_worker: Callable[..., Any], sqlite_url: str,
        monkeypatch: pytest.MonkeyPatch) -> str:
    """The head, as ``RAY_ADDRESS``, with a follower (``picidae worker --executor ray``)."""
    monkeypatch.setenv("RAY_ADDRESS", ray_head)
    start_worker("--executor", "ray", "--store", sqlite_url,
                 extra_env={"RAY_ADDRESS": ray_head})
    return ray_head


def _status(run_id: str, store: str, *wanted: str) -> Any:
    rv = picidae.get_run(run_id, store=store)
    return rv if rv.status in wanted else None


def test_a_script_runs_as_a_ray_job_and_completes_with_its_metrics(
        ray: str, sqlite_url: str, script: Callable[[str], str]) -> None:
    rv = picidae.submit([sys.executable, script(METRICS)], set=["lr=0.1"], cpus=1,
                        executor="ray", store=sqlite_url)
    done = wait_for(lambda: _status(rv.id, sqlite_url, "completed", "failed"), timeout=90)
    assert done.status == "completed", done.failure
    assert done.compute["executor"] == "ray" and done.compute["job_id"] == f"picidae-{rv.id}"
    assert [p.value for p in done.metrics("loss")] == pytest.approx([0.1, 0.05, 0.1 / 3])
    assert "trained on ray" in done.logs()


def test_a_failing_command_fails_the_run_with_its_exit_code(ray: str,
                                                            sqlite_url: str) -> None:
    rv = picidae.submit(["sh", "-c", "exit 3"], executor="ray", store=sqlite_url)
    done = wait_for(lambda: _status(rv.id, sqlite_url, "completed", "failed"), timeout=90)
    assert done.status == "failed" and done.failure["exit_code"] == 3


def test_picidae_cancel_stops_the_ray_job(ray: str, sqlite_url: str, cli: Cli) -> None:
    from ray.job_submission import JobSubmissionClient

    rv = picidae.submit(["sleep", "60"], executor="ray", store=sqlite_url)
    wait_for(lambda: _status(rv.id, sqlite_url, "running"), timeout=90)
    cli("cancel", rv.id, "--store", sqlite_url)
    client = JobSubmissionClient(ray)
    # Stopped by Ray, or ended by its wrapper on seeing the run canceled: over either way.
    wait_for(lambda: client.get_job_status(f"picidae-{rv.id}").is_terminal(), timeout=60)
    done = picidae.get_run(rv.id, store=sqlite_url)
    assert done.status == "canceled" and done.transitions[-1]["actor"] == "user"


def test_a_job_stopped_in_ray_is_recorded_as_canceled(ray: str, sqlite_url: str) -> None:
    from ray.job_submission import JobSubmissionClient

    rv = picidae.submit(["sleep", "60"], executor="ray", store=sqlite_url)
    wait_for(lambda: _status(rv.id, sqlite_url, "running"), timeout=90)
    JobSubmissionClient(ray).stop_job(f"picidae-{rv.id}")
    done = wait_for(lambda: _status(rv.id, sqlite_url, "canceled", "failed", "completed"),
                    timeout=60)
    assert done.status == "canceled", done.failure
    assert "stopped in Ray" in done.transitions[-1]["reason"]


def test_ray_without_an_address_is_refused(cli: Cli, sqlite_url: str,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    out = cli("submit", "--executor", "ray", "--store", sqlite_url, "--", "true",
              extra_env={"RAY_ADDRESS": ""}, check=False)
    assert out.returncode == 1 and "--ray-address" in out.stderr
    assert picidae.runs(store=sqlite_url) == []
