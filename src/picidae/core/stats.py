"""Aggregates over runs: mean ± std across children, percentiles, differences between runs.

Pure functions over run records (plain dicts) and latest-metric maps, shared by the SDK's
``RunView.children_stats`` and the server's UI routes, so both give the same numbers.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from typing import Any


def stats(values: Sequence[float]) -> dict[str, float]:
    """n, mean, sample std (0 for one value), min and max of a non-empty sequence."""
    return {
        "n": len(values),
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "min": min(values),
        "max": max(values),
    }


def is_number(value: Any) -> bool:
    """A real int or float (not a bool)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def final_values(record: Mapping[str, Any], latest: Mapping[str, float]) -> dict[str, float]:
    """A run's final values: its latest metric values, plus numeric summary values under keys
    it did not log as metrics."""
    finals = dict(latest)
    for key, value in (record.get("summary") or {}).items():
        if key not in finals and is_number(value):
            finals[key] = float(value)
    return finals


def children_stats(children: Iterable[Mapping[str, Any]],
                   latest: Mapping[str, Mapping[str, float]],
                   keys: Iterable[str] | None = None) -> dict[str, dict[str, float]]:
    """``{key: {n, mean, std, min, max}}`` over the children's final values (see
    ``final_values``); NaN values are left out, keys sorted."""
    wanted = set(keys) if keys is not None else None
    values: dict[str, list[float]] = {}
    for child in children:
        for key, value in final_values(child, latest.get(child["id"], {})).items():
            if (wanted is None or key in wanted) and not math.isnan(value):
                values.setdefault(key, []).append(value)
    return {key: stats(vals) for key, vals in sorted(values.items())}


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0–100) of already sorted values, linearly interpolated;
    ``None`` for none."""
    if not sorted_values:
        return None
    pos = (len(sorted_values) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts as one level with dotted keys (``{"opt": {"lr": 1}}`` → ``opt.lr``)."""
    out: dict[str, Any] = {}
    if isinstance(value, Mapping):
        for key, inner in value.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(inner, Mapping) and inner:
                out.update(flatten(inner, name))
            else:
                out[name] = inner
    return out


def same(values: Sequence[Any]) -> bool:
    """Whether every value equals the first (NaN equals NaN here)."""
    first = values[0]
    for value in values[1:]:
        if is_number(first) and is_number(value):
            if not (first == value or (math.isnan(first) and math.isnan(value))):
                return False
        elif value != first:
            return False
    return True


#: Run fields a comparison shows before config, summary and metrics.
COMPARED_FIELDS = ("name", "status", "kind", "agent", "benchmark", "seed", "duration_s")


def compare_rows(records: Sequence[Mapping[str, Any]],
                 latest: Mapping[str, Mapping[str, float]]) -> list[dict[str, Any]]:
    """The rows of a comparison of ``records``: one per run field, config key, summary key and
    final metric, each ``{section, key, values, differs}`` (``values`` in the records' order,
    ``None`` where a run lacks the key)."""
    sections: list[tuple[str, list[dict[str, Any]]]] = [
        ("run", [{f: r.get(f) for f in COMPARED_FIELDS} for r in records]),
        ("config", [flatten(r.get("config") or {}) for r in records]),
        ("summary", [flatten(r.get("summary") or {}) for r in records]),
        ("metrics", [dict(latest.get(r["id"], {})) for r in records]),
    ]
    rows = []
    for section, maps in sections:
        keys: list[str] = []
        seen: set[str] = set()
        for mapping in maps:
            for key in mapping:
                if key not in seen:
                    seen.add(key)
                    keys.append(key)
        if section != "run":
            keys.sort()
        for key in keys:
            values = [m.get(key) for m in maps]
            present = [m for m in maps if key in m]
            differs = len(present) != len(maps) or not same(values)
            rows.append({"section": section, "key": key, "values": values,
                         "differs": differs})
    return rows


def cost_amount(cost: Any) -> tuple[float, str | None] | None:
    """A run's ``cost`` as ``(amount, currency)``: a bare number, or a dict with ``amount``
    (or ``total``/``value``) and ``currency`` (or ``unit``); ``None`` when it has none."""
    if is_number(cost):
        return float(cost), None
    if isinstance(cost, Mapping):
        for name in ("amount", "total", "value"):
            if is_number(cost.get(name)):
                unit = cost.get("currency") or cost.get("unit")
                return float(cost[name]), str(unit) if unit else None
    return None


#: Ended states, for failure rates and durations.
ENDED = ("completed", "failed", "canceled")


def failure_rate(counts: Mapping[str, int]) -> float | None:
    """Failed runs among ended ones (completed, failed, canceled); ``None`` when none ended."""
    ended = sum(counts.get(s, 0) for s in ENDED)
    return counts.get("failed", 0) / ended if ended else None


def durations(records: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """n, mean, p50/p90/p95/p99 and max of the records' ``duration_s`` (seconds)."""
    values = sorted(float(r["duration_s"]) for r in records if r.get("duration_s") is not None)
    return {
        "n": len(values),
        "mean": statistics.fmean(values) if values else None,
        **{f"p{q}": percentile(values, q) for q in (50, 90, 95, 99)},
        "max": values[-1] if values else None,
    }


def costs(records: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The total of the records' ``cost`` (see ``cost_amount``), how many runs had one, and the
    currency when they agree on one."""
    total = 0.0
    n = 0
    currencies: set[str] = set()
    for rec in records:
        paid = cost_amount(rec.get("cost"))
        if paid is not None:
            n += 1
            total += paid[0]
            if paid[1]:
                currencies.add(paid[1])
    return {"total": total, "runs": n,
            "currency": currencies.pop() if len(currencies) == 1 else None}
