"""Sampling what a command uses: CPU and memory of its process tree (psutil), and GPU
utilisation and memory (NVML, when ``pynvml`` is importable and a GPU is present).

A ``Sampler`` follows one process and its descendants. Each ``sample()`` returns the system
metrics the worker logs on the run (``system/cpu_percent``, ``system/memory_mb``,
``system/gpu_percent``, ``system/gpu_memory_mb``) and keeps the peaks and totals that end up
in the run's ``resources``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import psutil  # type: ignore[import-untyped]

log = logging.getLogger("picidae.worker")

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


def usage(sampler: Sampler | None, *, wall_s: float, rusage: Any = None) -> dict[str, Any]:
    """``peak`` and ``total`` of a command's run, for the run's ``resources``. ``rusage`` (from
    ``os.wait4``) gives the exact CPU time and largest resident set of the process and its
    waited-for descendants; the samples fill in the rest."""
    peak: dict[str, float] = dict(sampler.peak) if sampler else {}
    total: dict[str, float] = {"wall_seconds": round(wall_s, 3)}
    cpu_s = sampler.cpu_seconds() if sampler else 0.0
    if rusage is not None:
        cpu_s = max(cpu_s, rusage.ru_utime + rusage.ru_stime)
        # ru_maxrss is in kilobytes on Linux: the largest single process, a floor for the tree.
        peak["memory_mb"] = max(peak.get("memory_mb", 0.0), rusage.ru_maxrss / 1024)
    total["cpu_seconds"] = round(cpu_s, 3)
    if sampler and sampler.gpu_seconds:
        total["gpu_seconds"] = round(sampler.gpu_seconds, 3)
    return {"peak": {k: round(v, 3) for k, v in peak.items()}, "total": total,
            "samples": sampler.samples if sampler else 0}


def merge_usage(a: dict[str, Any] | None, b: dict[str, Any]) -> dict[str, Any]:
    """Two phases' usage (the command and its ``--eval``) as one: peaks the larger, totals
    added."""
    if not a:
        return b
    peak = dict(a.get("peak", {}))
    for key, value in b.get("peak", {}).items():
        peak[key] = max(peak.get(key, 0.0), value)
    total = dict(a.get("total", {}))
    for key, value in b.get("total", {}).items():
        total[key] = round(total.get(key, 0.0) + value, 3)
    return {"peak": peak, "total": total,
            "samples": a.get("samples", 0) + b.get("samples", 0)}
