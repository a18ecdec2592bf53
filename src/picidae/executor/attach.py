"""``python -m picidae.executor.attach RUN_ID``: run a claimed run inside an engine's job.

What an engine (Slurm, Ray) starts: it attaches to the run in ``PICIDAE_STORE`` and takes it from
``provisioning`` to its ending with the same ``Launcher`` a local worker uses (heartbeats,
console, exit code, eval phase, timeout, retries). When the engine itself stops the job
(SIGTERM: ``scancel``, a time limit, preemption), the wrapper stops the command but does not
end the run: the engine's follower records the engine's verdict (``engines/slurm.py``).
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
from typing import Any

from picidae.executor import prices
from picidae.executor.launcher import Exit, Launcher, Options
from picidae.settings import settings
from picidae.store.registry import open_store, resolve


class AttachedLauncher(Launcher):
    """A ``Launcher`` that leaves the ending to the engine when the engine stopped it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.signaled = threading.Event()

    def _after_phase(self, result: Exit, wish: dict[str, Any] | None, what: str) -> bool:
        if self.signaled.is_set() and (result.code != 0 or result.stopped == "worker"):
            self._note(f"the engine stopped the job during the {what}; its verdict is "
                       "recorded by the follower")
            self._record_usage()
            self.out.flush()
            return True
        return super()._after_phase(result, wish, what)


def main(run_id: str) -> int:
    """Run ``run_id`` to its ending; 0 when it completed."""
    cfg = settings()
    store_url = resolve(os.environ.get("PICIDAE_STORE"))
    store = open_store(store_url)
    record = store.get_run(run_id)
    job = os.environ.get("SLURM_JOB_ID") or os.environ.get("PICIDAE_JOB_ID")
    engine = (record.get("compute") or {}).get("executor") or "engine"
    root = cfg.home / "work"
    root.mkdir(parents=True, exist_ok=True)
    opts = Options(worker=f"{engine}:{job or os.getpid()}@{socket.gethostname()[:64]}",
                   store_url=store_url, root=root.resolve(), target=cfg.compute_target,
                   poll_s=cfg.worker_poll_s, grace_s=cfg.cancel_grace_s,
                   sample_s=cfg.sample_interval_s, prices=prices.load_table())
    launcher = AttachedLauncher(store, record, opts)

    def stopped(*_: object) -> None:
        launcher.signaled.set()
        opts.stop.set()

    signal.signal(signal.SIGTERM, stopped)
    return 0 if launcher.run() == "completed" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
