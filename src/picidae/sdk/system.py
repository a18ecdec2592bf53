"""System metrics: what a process tree uses, sampled as ``system/*`` metrics.

``Sampler`` follows one process and its descendants: CPU % and resident memory (psutil), GPU
utilisation and memory (NVML, when ``pynvml`` — the ``nvidia-ml-py`` package — is importable
and a GPU is present). The worker samples the commands it runs with it; ``Monitor`` samples an
in-process run's own process with it, adding the machine's memory, disk and network I/O and
per-GPU readings. Names: ``system/cpu_percent``, ``system/memory_mb``, ``system/gpu_percent``,
``system/gpu_memory_mb`` (both), and for in-process runs also ``system/system_memory_percent``,
``system/disk_read_mb``, ``system/disk_write_mb``, ``system/net_sent_mb``,
``system/net_recv_mb`` (since the run began) and ``system/gpu.N.utilization``,
``system/gpu.N.memory_mb``, ``system/gpu.N.power_w``.

An in-process run is sampled on the SDK's background writer thread (``tick``), every
``PICIDAE_SYSTEM_INTERVAL_S`` seconds (10), from ``init(system_metrics=True)`` (the default;
``PICIDAE_SYSTEM_METRICS=0`` turns it off). Sampling never raises into training: a failure
is logged once and the run's sampling stops.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import TYPE_CHECKING, Any

import psutil  # type: ignore[import-untyped]

if TYPE_CHECKING:
    from picidae.sdk.run import Run

log = logging.getLogger("picidae")

MB = 1024 * 1024


class _Nvml:
    """GPU readings through NVML; ``None`` from ``open`` when there is no GPU or no pynvml."""

    def __init__(self, nvml: Any, handles: list[Any]) -> None:
        self._nvml = nvml
        self._handles = handles

    @classmethod
    def open(cls) -> _Nvml | None:
        try:
            import pynvml  # type: ignore[import-not-found]
        except ImportError:
            return None
        try:
            pynvml.nvmlInit()
            count = pynvml.nvmlDeviceGetCount()
            handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
        except Exception:  # no driver, no device: no GPU readings
            return None
        return cls(pynvml, handles) if handles else None

    def read(self, pids: set[int]) -> tuple[float, float] | None:
        """(utilisation %, memory MB) summed over the GPUs the processes ``pids`` use, or
        ``None`` when they use none."""
        util = mem = 0.0
        used = False
        for handle in self._handles:
            try:
                procs = self._nvml.nvmlDeviceGetComputeRunningProcesses(handle)
            except Exception:
                continue
            mine = [p for p in procs if p.pid in pids]
            if not mine:
                continue
            used = True
            mem += sum((p.usedGpuMemory or 0) for p in mine) / MB
            try:
                util += float(self._nvml.nvmlDeviceGetUtilizationRates(handle).gpu)
            except Exception:
                pass
        return (util, mem) if used else None

    def devices(self) -> dict[str, float]:
        """Each GPU's utilisation (%), memory used (MB) and power (W), as
        ``system/gpu.N.utilization``, ``…memory_mb``, ``…power_w``."""
        nvml = self._nvml
        out: dict[str, float] = {}
        for index, handle in enumerate(self._handles):
            prefix = f"system/gpu.{index}."
            for name, call, scale in (("utilization", "nvmlDeviceGetUtilizationRates", 1.0),
                                      ("memory_mb", "nvmlDeviceGetMemoryInfo", 1.0 / MB),
                                      ("power_w", "nvmlDeviceGetPowerUsage", 1e-3)):
                try:
                    reading = getattr(nvml, call)(handle)
                    value: Any = {"utilization": getattr(reading, "gpu", None),
                                  "memory_mb": getattr(reading, "used", None)}.get(name, reading)
                    out[prefix + name] = float(value) * scale
                except Exception:  # a reading this GPU does not support
                    continue
        return out


class Sampler:
    """Samples the process ``pid`` and its descendants (see the module docstring)."""

    def __init__(self, pid: int, *, gpu: bool = True) -> None:
        self.pid = pid
        self._procs: dict[int, psutil.Process] = {}
        self._cpu_s: dict[int, float] = {}  # the last CPU time seen of every process
        self._nvml = _Nvml.open() if gpu else None
        self._last: float | None = None
        self.samples = 0
        self.peak: dict[str, float] = {}
        self.gpu_seconds = 0.0

    def _tree(self) -> list[psutil.Process]:
        try:
            root = self._procs.get(self.pid) or psutil.Process(self.pid)
            found = [root, *root.children(recursive=True)]
        except psutil.Error:
            return []
        procs = []
        for proc in found:
            known = self._procs.get(proc.pid)
            if known is None:
                self._procs[proc.pid] = known = proc
                try:
                    known.cpu_percent(None)  # primes the counter: the next call measures
                except psutil.Error:
                    continue
            procs.append(known)
        return procs

    def sample(self) -> dict[str, float]:
        """The system metrics now (empty when the process is gone)."""
        now = time.monotonic()
        procs = self._tree()
        if not procs:
            return {}
        cpu = mem = 0.0
        for proc in procs:
            try:
                with proc.oneshot():
                    cpu += proc.cpu_percent(None)
                    mem += proc.memory_info().rss / MB
                    times = proc.cpu_times()
                    self._cpu_s[proc.pid] = times.user + times.system
            except psutil.Error:
                continue
        out = {"system/cpu_percent": cpu, "system/memory_mb": mem}
        if self._nvml is not None:
            reading = self._nvml.read({p.pid for p in procs})
            if reading is not None:
                out["system/gpu_percent"], out["system/gpu_memory_mb"] = reading
                if self._last is not None:
                    self.gpu_seconds += reading[0] / 100.0 * (now - self._last)
        self._last = now
        self.samples += 1
        for key, value in out.items():
            name = key.split("/", 1)[1]
            self.peak[name] = max(self.peak.get(name, 0.0), value)
        return out

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the tree used, as far as the samples saw it."""
        return sum(self._cpu_s.values())


def _io_totals() -> dict[str, float]:
    out: dict[str, float] = {}
    try:
        disk = psutil.disk_io_counters()
        if disk is not None:
            out["disk_read_mb"] = disk.read_bytes / MB
            out["disk_write_mb"] = disk.write_bytes / MB
    except Exception:  # no disks visible (some containers)
        pass
    try:
        net = psutil.net_io_counters()
        if net is not None:
            out["net_sent_mb"] = net.bytes_sent / MB
            out["net_recv_mb"] = net.bytes_recv / MB
    except Exception:
        pass
    return out


class Monitor:
    """Samples this process for one in-process run, every ``interval`` seconds."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._sampler: Sampler | None = None
        self._io_start: dict[str, float] = {}
        self._next = 0.0
        self._step = 0

    def due(self, now: float) -> bool:
        """Whether a sample is due at ``now`` (monotonic seconds)."""
        return now >= self._next

    def sample(self, now: float) -> dict[str, float]:
        """The metrics now; the first call only primes the counters (CPU % and I/O are
        measured between two calls) and returns nothing."""
        self._next = now + self.interval
        if self._sampler is None:
            self._sampler = Sampler(os.getpid())
            self._sampler.sample()
            self._io_start = _io_totals()
            return {}
        out = self._sampler.sample()
        out["system/system_memory_percent"] = float(psutil.virtual_memory().percent)
        for key, value in _io_totals().items():
            out[f"system/{key}"] = max(0.0, value - self._io_start.get(key, value))
        nvml = self._sampler._nvml
        if nvml is not None:
            out.update(nvml.devices())
        return out

    def record(self, run: Run, now: float) -> None:
        """Sample and append the values to ``run``'s buffer at the next system step (a
        counter of its own, as the worker keeps: the program's steps are not touched)."""
        values = self.sample(now)
        if values and not run._ending:
            at = time.time() - (time.monotonic() - now)  # when it was due, on the wall clock
            with run._flush_lock:
                # Once finish has begun, its last batch is taken (or being taken, under this
                # lock): a sample appended now would go out after the run ended, be refused,
                # and warn "has ended ... dropping". A sample due at the end is not taken.
                if run._ending:
                    return
                run._points.append((self._step, at, None, values, [*values]))
            self._step += 1


_monitors: dict[str, Monitor] = {}
_lock = threading.Lock()


def watch(run: Run, interval: float) -> None:
    """Sample ``run``'s process from now on (the writer thread calls ``tick``)."""
    with _lock:
        _monitors[run.id] = Monitor(interval)


def forget(run_id: str) -> None:
    """Stop sampling for ``run_id`` (it ended)."""
    with _lock:
        _monitors.pop(run_id, None)


def tick(run: Run, now: float) -> None:
    """Take ``run``'s sample when one is due. Never raises: a failure stops the run's
    sampling, with one warning."""
    monitor = _monitors.get(run.id)
    if monitor is None or not monitor.due(now):
        return
    try:
        monitor.record(run, now)
    except Exception as exc:
        forget(run.id)
        log.warning("picidae: system metrics of run %s stopped: %s", run.id, exc)
