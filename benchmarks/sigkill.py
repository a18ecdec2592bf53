"""The SIGKILL loss window: how much logging a process killed mid-run loses.

A child process logs a point every ~2 ms and prints each point's time as the SDK stamped it;
it is SIGKILLed at a random moment. The loss is the time of the last point it logged minus
the time of the last point the store kept (point times, so a slow machine does not inflate
it). The contract's bound is 1 s; the writer's fixed 0.5 s flush schedule should keep the
worst case near half a second plus one write.
"""

from __future__ import annotations

import random
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

LOGGER = textwrap.dedent("""
    import sys, time, picidae
    run = picidae.init("bench/sigkill", store=sys.argv[1], capture_env=False)
    print("ready", run.id, flush=True)
    step = 0
    while True:
        run.log(x=float(step))
        print(step, run._points[-1][1] if run._points else time.time(), flush=True)
        step += 1
        time.sleep(0.002)
""")


def loss_once(root: Path, rng: random.Random) -> float:
    """Seconds of logging lost by one process killed at a random moment."""
    import picidae

    folder = Path(tempfile.mkdtemp(dir=root))
    script = folder / "logger.py"
    script.write_text(LOGGER)
    proc = subprocess.Popen([sys.executable, str(script), str(folder / "store")], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    run_id = proc.stdout.readline().split()[1]
    logged: list[float] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            parts = line.split()
            if len(parts) == 2 and line.endswith("\n"):
                logged.append(float(parts[1]))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    time.sleep(2.0 + rng.random())  # past the first flushes, at a random phase of the next
    proc.kill()
    proc.wait()
    reader.join()
    proc.stdout.close()
    last = picidae.get_run(run_id, store=folder / "store").metrics("x").last()
    return logged[-1] - (last.time if last else logged[0])


def losses(root: Path, times: int, seed: int = 7) -> list[float]:
    """``times`` kills' losses, in seconds."""
    rng = random.Random(seed)
    return [loss_once(root, rng) for _ in range(times)]
