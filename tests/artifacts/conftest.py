"""Fixtures for artifact tests: a clean artifact environment, child Python processes, and an
S3 server (moto in server mode, a real process on 127.0.0.1) for the S3 backend."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import pytest

from picidae.artifacts import registry as artifact_registry
from picidae.sdk import capture
from processes import free_port

_VARS = ("PICIDAE_ARTIFACTS", "PICIDAE_TQDM_MODE", "PICIDAE_SNAPSHOT_MAX_MB",
         "PICIDAE_SNAPSHOT_MAX_FILES", "PICIDAE_CAPTURE_GIT", "PICIDAE_CAPTURE_PACKAGES",
         "PICIDAE_IMAGE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3")

BUCKET = "picidae-test"

RunScript = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(autouse=True)
def _clean_artifacts(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No inherited artifact settings; forget opened artifact stores and cached capture."""
    for name in _VARS:
        monkeypatch.delenv(name, raising=False)
    artifact_registry.clear()
    capture.clear_cache()
    yield
    artifact_registry.clear()
    capture.clear_cache()


@pytest.fixture
def child_env(subprocess_env: dict[str, str]) -> dict[str, str]:
    """The environment for a child process, without inherited artifact settings."""
    return {k: v for k, v in subprocess_env.items() if k not in _VARS}


@pytest.fixture
def script_env(child_env: dict[str, str]) -> dict[str, str]:
    """``run_script`` children start without inherited artifact settings."""
    return child_env


# -- S3 -------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A moto S3 server process on 127.0.0.1 for the session. Skipped where moto is not
    installed — except under CI=true, where these tests must run."""
    if importlib.util.find_spec("moto") is None or importlib.util.find_spec("boto3") is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("moto[server] and boto3 are needed under CI=true: "
                        "pip install -e '.[test]'")
        pytest.skip("moto[server] is not installed (pip install 'moto[server]')")
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1",
                                 "-p", str(port)], stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"moto server did not start: {log.read_text()[-2000:]}")
            time.sleep(0.1)
    try:
        yield endpoint
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def s3_env(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest,
           ) -> dict[str, str]:
    """AWS variables pointing at the moto server, a fresh prefix in the test bucket, and
    ``PICIDAE_ARTIFACTS`` set to it. Returns the variables (for child processes too)."""
    import boto3

    prefix = f"t/{request.node.name[:40]}-{time.time_ns()}".replace("[", "-").replace("]", "")
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": moto_endpoint,
           "PICIDAE_ARTIFACTS": f"s3://{BUCKET}/{prefix}"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    client = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    try:
        client.create_bucket(Bucket=BUCKET)
    except client.exceptions.BucketAlreadyOwnedByYou:
        pass
    return env


@pytest.fixture
def s3_client(s3_env: dict[str, str]) -> object:
    """A boto3 client on the moto server."""
    import boto3

    return boto3.client("s3", endpoint_url=s3_env["AWS_ENDPOINT_URL"], region_name="us-east-1")
