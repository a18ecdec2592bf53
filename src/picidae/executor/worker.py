"""``picidae worker``: claim queued runs and run them, ``concurrency`` at a time.

Any number of workers, on one machine or many, may share a store: a claim is atomic
(``Store.claim``), so no run is started twice. Each claimed run gets a ``Launcher`` thread.
With ``once``, the worker stops when a claim finds nothing and none of its runs is still
going (so retries it queued itself are run too). ``stop()`` (SIGTERM, Ctrl-C) stops claiming,
stops the running commands (SIGTERM, then SIGKILL after the grace period) and cancels their
runs. A worker that dies without stopping leaves its runs to the heartbeat watchdog: they
become ``lost``, then ``failed`` — and, on Linux, its commands die with it (``orphans``).

A worker has a capacity (``cpus``, ``gpus``, ``memory``; by default the machine's): it claims
only runs whose ``resources.request`` fits what its running runs leave free, so a worker
started with ``gpus=0`` never takes a run that asked for a GPU.

With ``executor`` (``slurm``) the worker is that engine's follower instead: it submits the
runs waiting for the engine and records what the engine says about them
(``engines/slurm.py``).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from picidae.core.submission import DEFAULT_QUEUE, parse_memory
from picidae.core.validation import clean_label
from picidae.errors import InvalidInput, PicidaeError
from picidae.executor import prices
from picidae.executor.alerts import Deliverer
from picidae.executor.launcher import Launcher, Options
from picidae.executor.schedules import Scheduler
from picidae.settings import settings
from picidae.store.base import Store
from picidae.store.registry import open_store, resolve

log = logging.getLogger("picidae.worker")


def machine_gpus() -> int:
    """How many NVIDIA GPUs this machine has (NVML; 0 without a GPU or ``pynvml``)."""
    try:
        import pynvml  # type: ignore[import-not-found]

        pynvml.nvmlInit()
        return int(pynvml.nvmlDeviceGetCount())
    except Exception:
        return 0


def capacity(cpus: float | None = None, gpus: int | None = None,
             memory: str | float | None = None) -> dict[str, float]:
    """A worker's capacity: what is given, the rest from the machine (its logical CPUs,
    NVIDIA GPUs and total memory, in MB)."""
    import psutil  # type: ignore[import-untyped]

    for name, value in (("cpus", cpus), ("gpus", gpus)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                                  or value < 0):
            raise InvalidInput(f"{name} must be a non-negative number, got {value!r}",
                               field=name)
    memory_mb = parse_memory(memory) if memory is not None else None
    return {"cpus": float(cpus if cpus is not None else psutil.cpu_count() or 1),
            "gpus": float(gpus if gpus is not None else machine_gpus()),
            "memory_mb": float(memory_mb if memory_mb is not None
                               else psutil.virtual_memory().total / 2**20)}


def request_of(record: dict[str, Any]) -> dict[str, float]:
    """A run's resource request (``resources.request``) as numbers."""
    resources = record.get("resources")
    request = resources.get("request") if isinstance(resources, dict) else None
    if not isinstance(request, dict):
        return {}
    return {k: float(v) for k, v in request.items()
            if k in ("cpus", "gpus", "memory_mb") and isinstance(v, int | float)
            and not isinstance(v, bool)}


def worker_name() -> str:
    """``host:pid:xxxx``: unique among the workers of a store."""
    return f"{socket.gethostname()[:64]}:{os.getpid()}:{uuid.uuid4().hex[:4]}"


class Worker:
    """Claims and runs queued runs (see the module docstring)."""

    def __init__(self, store: str | Path | None = None, *, queue: str = DEFAULT_QUEUE,
                 concurrency: int = 1, once: bool = False, target: str | None = None,
                 workdir: str | Path | None = None, keep_workdirs: bool = False,
                 name: str | None = None, echo: Callable[[str], None] | None = None,
                 cpus: float | None = None, gpus: int | None = None,
                 memory: str | float | None = None, executor: str | None = None) -> None:
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) \
                or not 1 <= concurrency <= 1024:
            raise InvalidInput(f"concurrency must be an int from 1 to 1024, got "
                               f"{concurrency!r}", field="concurrency")
        cfg = settings()
        self.store_url = resolve(store)
        self.store: Store = open_store(self.store_url)
        self.queue = clean_label(queue, "queue", max_len=64) or DEFAULT_QUEUE
        self.concurrency = concurrency
        self.once = once
        root = Path(workdir).expanduser() if workdir else cfg.home / "work"
        root.mkdir(parents=True, exist_ok=True)
        self.opts = Options(
            worker=clean_label(name, "name") or worker_name(), store_url=self.store_url,
            root=root.resolve(), target=clean_label(target, "target") or cfg.compute_target,
            keep_workdirs=keep_workdirs, poll_s=cfg.worker_poll_s,
            grace_s=cfg.cancel_grace_s, sample_s=cfg.sample_interval_s,
            prices=prices.load_table(), echo=echo)
        from picidae.executor.engines import get_executor

        self.engine = get_executor(executor)
        self.capacity = capacity(cpus, gpus, memory)
        self._active: dict[str, threading.Thread] = {}
        self._requests: dict[str, dict[str, float]] = {}
        self._wake = threading.Event()
        self.done: list[tuple[str, str | None]] = []

    @property
    def name(self) -> str:
        """The worker's name (the actor of the moves it makes)."""
        return self.opts.worker

    def stop(self) -> None:
        """Stop claiming; stop running commands and cancel their runs."""
        self.opts.stop.set()
        self._wake.set()

    def _launch(self, record: dict[str, Any]) -> None:
        def body() -> None:
            final = None
            try:
                final = Launcher(self.store, record, self.opts).run()
            finally:
                self.done.append((record["id"], final))
                self._wake.set()

        thread = threading.Thread(target=body, name=f"picidae-run-{record['id'][:8]}",
                                  daemon=True)
        self._active[record["id"]] = thread
        self._requests[record["id"]] = request_of(record)
        thread.start()

    def free(self) -> dict[str, float]:
        """What the runs in progress leave of the worker's capacity."""
        out = dict(self.capacity)
        for request in self._requests.values():
            for key, value in request.items():
                out[key] = max(0.0, out[key] - value)
        return out

    def run(self) -> int:
        """Work until stopped (or, with ``once``, until the queue is empty); returns how many
        runs this worker took."""
        scheduler = Scheduler(self.store)  # a worker fires schedules too (once per slot)
        deliverer = Deliverer(self.store)  # and delivers alerts (once per alert)
        scheduler.start()
        deliverer.start()
        try:
            return self._work() if self.engine.name == "local" else self._follow()
        finally:
            deliverer.stop(flush=self.once)
            scheduler.stop()

    def _follow(self) -> int:
        """The follower of an engine: submit the runs waiting for it, and move the runs it
        holds as it reports them; with ``once``, until none is open."""
        taken = 0
        while not self.opts.stop.is_set():
            try:
                sent = self.engine.dispatch(self.store, self.name)
                taken += len(sent)
                held = self.engine.poll(self.store, self.name)
            except PicidaeError as exc:
                log.warning("worker %s: following %s failed: %s", self.name,
                            self.engine.name, exc)
                sent, held = [], 1
            if self.once and not sent and not held:
                break
            self._wake.wait(self.opts.poll_s)
            self._wake.clear()
        return taken

    def _work(self) -> int:
        taken = 0
        while not self.opts.stop.is_set():
            for run_id, thread in list(self._active.items()):
                if not thread.is_alive():
                    del self._active[run_id]
                    self._requests.pop(run_id, None)
            claimed: list[dict[str, Any]] = []
            # One at a time: each claim must fit what the ones before it left free.
            while len(self._active) < self.concurrency:
                try:
                    got = self.store.claim(self.name, queue=self.queue, limit=1,
                                           fits=self.free())
                except PicidaeError as exc:
                    log.warning("worker %s: could not claim from %s: %s", self.name,
                                self.store_url, exc)
                    break
                if not got:
                    break
                claimed += got
                taken += 1
                self._launch(got[0])
            if self.once and not claimed and not self._active:
                break
            if not claimed or len(self._active) >= self.concurrency:
                self._wake.wait(self.opts.poll_s)
                self._wake.clear()
        for thread in list(self._active.values()):
            thread.join()
        return taken
