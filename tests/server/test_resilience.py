"""A client rides out a server that goes away: it buffers, spills to its spool, retries, and
``picidae sync`` uploads what ``finish`` could not send — every point kept exactly once."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

import picidae
from picidae.cli.main import main

pytestmark = pytest.mark.slow

SCRIPT = """
import sys, time, picidae
run = picidae.init("through-an-outage", store=sys.argv[1], capture_env=False)
print(run.id, flush=True)
for i in range(int(sys.argv[2])):
    run.log(x=i)
    if i % 100 == 0:
        run.log_text(f"line {i}")
        run.summary({"last": i})
    time.sleep(0.002)
run.finish()
print("finished", flush=True)
"""


def _client(url: str, n: int, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", SCRIPT, url, str(n)], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for_files(folder: Path, within: float) -> bool:
    deadline = time.time() + within
    while time.time() < deadline:
        if folder.is_dir() and any(p.name.endswith(".batch.json") for p in folder.iterdir()):
            return True
        time.sleep(0.05)
    return False


def test_server_down_mid_run_then_back_spills_and_keeps_every_point_once(
        server, subprocess_env, tmp_path):
    env = {**subprocess_env, "PICIDAE_FLUSH_INTERVAL_S": "0.1", "PICIDAE_BUFFER_MB": "0.001"}
    n = 1500
    client = _client(server.url, n, env)
    assert client.stdout is not None
    run_id = client.stdout.readline().strip()
    time.sleep(0.5)
    server.stop(kill=True)
    spool = tmp_path / "home" / "spool" / run_id
    assert _wait_for_files(spool, within=5), "no batch spilled to the spool while down"
    time.sleep(0.5)
    server.start()
    out, err = client.communicate(timeout=120)
    assert "finished" in out, err
    rv = picidae.get_run(run_id, store=server.url)
    assert rv.status == "completed"
    assert rv.metrics("x").values == [float(i) for i in range(n)]
    assert [ln.text for ln in rv.logs()] == [f"line {i}" for i in range(0, n, 100)]
    assert rv.summary == {"last": 1400}
    assert not spool.exists() and "were not sent" not in err


def test_server_never_back_spools_then_picidae_sync_uploads_once(
        server, subprocess_env, tmp_path, capsys):
    env = {**subprocess_env, "PICIDAE_FLUSH_INTERVAL_S": "0.1",
           "PICIDAE_FINISH_TIMEOUT_S": "1"}
    n = 1000
    client = _client(server.url, n, env)
    assert client.stdout is not None
    run_id = client.stdout.readline().strip()
    time.sleep(0.6)
    server.stop(kill=True)
    out, err = client.communicate(timeout=60)
    assert client.returncode == 0 and "finished" in out  # training was never interrupted
    spool = tmp_path / "home" / "spool" / run_id
    assert "were not sent" in err and str(spool) in err and "picidae sync" in err
    assert "final transition" in err

    server.start()
    kept = sorted(p for p in spool.iterdir() if p.name.endswith(".batch.json"))
    assert kept
    again = tmp_path / "resent.batch.json"
    shutil.copy(kept[0], again)  # as if a sync died after the server took this batch
    sync = subprocess.run([sys.executable, "-m", "picidae", "sync", "--json"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert sync.returncode == 0, sync.stderr
    [result] = json.loads(sync.stdout)
    assert result["run_id"] == run_id and result["ended"] == "made" and result["left"] == 0
    rv = picidae.get_run(run_id, store=server.url)
    assert rv.status == "completed"
    assert rv.metrics("x").values == [float(i) for i in range(n)]
    assert rv.summary == {"last": 900}
    assert not spool.exists()

    spool.mkdir(parents=True)  # the same batch uploaded a second time changes nothing
    (spool / "meta.json").write_text(json.dumps({"run_id": run_id, "store": server.url}))
    shutil.copy(again, spool / kept[0].name)
    main(["sync"])  # in this process (same PICIDAE_HOME): exits 0 when nothing is left
    assert picidae.get_run(run_id, store=server.url).metrics("x").values == [
        float(i) for i in range(n)]
    main(["sync"])
    assert "Nothing to upload" in capsys.readouterr().out
