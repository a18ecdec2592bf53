"""What a command used, for the run's ``resources``: peaks and totals from the worker's
``Sampler`` (``sdk.system``: the same sampler, and so the same ``system/*`` metric names, as
an in-process run's system metrics) and the exit's ``rusage``.
"""

from __future__ import annotations

from typing import Any

from picidae.sdk.system import Sampler

__all__ = ["Sampler", "merge_usage", "usage"]


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
