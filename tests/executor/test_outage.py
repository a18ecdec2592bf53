"""A worker keeps everything its run records while the store is away: the command's output
and the resource samples wait in the SDK's outbox (as a program's own points do) and reach
the store once it is back — a real worker process, a real server stopped and restarted."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import picidae
from processes import ServerProcess

from .conftest import wait_for

PROGRAM = """
    import os, sys, time
    flag, i, after = sys.argv[1], 0, None
    while after is None or i < after:
        print(f"line {i}", flush=True)
        i += 1
        if after is None and os.path.exists(flag):
            after = i + 20
        time.sleep(0.05)
    print(f"total {i}", flush=True)
"""


def test_a_store_outage_loses_no_line_and_no_sample_of_a_workers_run(
        start_worker: Callable[..., Any], script: Callable[[str], str],
        subprocess_env: dict[str, str], env: dict[str, str], tmp_path: Path) -> None:
    server = ServerProcess(str(tmp_path / "server-store"), subprocess_env,
                           log=tmp_path / "server.log").start()
    try:
        flag = tmp_path / "finish"
        rv = picidae.submit([sys.executable, script(PROGRAM), str(flag)], store=server.url)
        worker = start_worker("--once", "--store", server.url)

        def printing() -> bool:
            run = picidae.get_run(rv.id, store=server.url)
            return run.status == "running" and "line 5" in run.logs()

        wait_for(printing, timeout=60)
        server.stop()  # the store goes away while the command prints and is sampled
        down_at = time.time()
        time.sleep(2.5)
        up_at = time.time()
        server.start()
        flag.touch()
        _, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err
    finally:
        server.stop()
    server.start()
    try:
        done = picidae.get_run(rv.id, store=server.url)
        texts = [ln.text for ln in done.logs() if ln.stream == "stdout"]
        total = int(texts[-1].split()[1])
        assert texts == [f"line {i}" for i in range(total)] + [f"total {total}"]  # all, once
        assert done.status == "completed", done.transitions
        cpu = done.metrics("system/cpu_percent")
        assert cpu.steps == list(range(len(cpu)))  # no sample dropped
        assert any(down_at < t < up_at for t in cpu.times)  # taken during the outage
        assert "could not write run" in err or "could not reach the store" in err
    finally:
        server.stop()
