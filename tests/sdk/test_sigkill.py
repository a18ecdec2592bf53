"""The SIGKILL loss window: a process killed mid-logging loses at most the points it logged in
the last second (the contract's bound). Measured with point times — the time the SDK stamped
on the last point the store kept, against the time of the last point the process logged —
never with wall-clock assertions on speed."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import picidae
from picidae.store.registry import open_store

LOGGER = """
    import sys, time, picidae
    run = picidae.init("killed", store=sys.argv[1], capture_env=False)
    print("ready", run.id, flush=True)
    step = 0
    while True:
        run.log(x=float(step))
        print(step, run._points[-1][1] if run._points else time.time(), flush=True)
        step += 1
        time.sleep(0.002)
"""


def test_a_sigkilled_process_loses_at_most_one_second_of_points(
        write_script: Callable[[str], Path], subprocess_env: dict[str, str],
        store_dir: Path) -> None:
    proc = subprocess.Popen([sys.executable, str(write_script(LOGGER)), str(store_dir)],
                            env=subprocess_env, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout is not None
    first = proc.stdout.readline().split()
    assert first[:1] == ["ready"], proc.communicate()[1]
    run_id = first[1]
    logged: list[tuple[int, float]] = []  # (step, the time the SDK stamped on it)

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            parts = line.split()
            if len(parts) == 2 and line.endswith("\n"):  # not a line cut short by the kill
                logged.append((int(parts[0]), float(parts[1])))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    store = open_store(store_dir)
    # Kill at the worst moment: just before the next flush would land, after one was seen.
    # A 1 s flush interval loses over a second here; the fixed 0.5 s schedule about half that.
    seen, landed, deadline = 0, 0, time.monotonic() + 60
    while landed < 2:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the logging process did not get going: {proc.communicate()[1]}")
        time.sleep(0.01)
        count = len(store.metrics(run_id, "x"))
        if count > seen:
            seen, landed = count, landed + 1
    time.sleep(1.0)
    proc.kill()
    proc.wait(timeout=30)
    reader.join(timeout=30)
    proc.stdout.close()
    assert proc.stderr is not None
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL

    stored = picidae.get_run(run_id, store=store_dir).metrics("x")
    assert stored.steps == list(range(len(stored)))  # a gap-free prefix
    last_logged_step, last_logged_at = logged[-1]
    last = stored.last()
    assert last is not None and last.step <= last_logged_step
    lost_s = last_logged_at - last.time
    assert lost_s <= 1.0, f"lost {lost_s:.2f}s of points ({last_logged_step - last.step} points)"
