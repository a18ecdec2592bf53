"""The best-run order (``order_by=best``): each run scored by its own primary metric and mode.

Runs sharing a primary metric (name and mode) are ranked best first — highest first for
``max``, lowest first for ``min`` — and the rankings are interleaved: every metric's best run,
then every metric's second best, and so on, so the first rows of a mixed listing are the best
run of each metric. Runs with no value follow, newest first. A parent without a value of its
own is scored from its children (``parent_value``): the mean of its seeds' values, else the
best of its children's.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from typing import Any


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def primary(record: Mapping[str, Any]) -> tuple[str, str] | None:
    """``(name, mode)`` of a run's primary metric, if it has one."""
    pm = record.get("primary_metric")
    if not isinstance(pm, Mapping) or not pm.get("name"):
        return None
    return str(pm["name"]), "min" if pm.get("mode") == "min" else "max"


def own_value(record: Mapping[str, Any]) -> float | None:
    """The best value of a run's primary metric so far."""
    pm = record.get("primary_metric")
    return _number(pm.get("best")) if isinstance(pm, Mapping) else None


def child_value(child: Mapping[str, Any], name: str, latest: Mapping[str, float]) -> float | None:
    """A child's value of ``name``: its primary best when that is its primary metric, else its
    latest logged value, else a numeric summary value."""
    found = primary(child)
    if found and found[0] == name and own_value(child) is not None:
        return own_value(child)
    if name in latest:
        return _number(latest[name])
    return _number((child.get("summary") or {}).get(name))


def parent_value(mode: str, kids: Sequence[Mapping[str, Any]],
                 values: Iterable[float | None]) -> float | None:
    """A parent's score from its children's values: the mean over seeds (replicates of one
    idea), the best otherwise (sweep points, phases)."""
    found = [v for v in values if v is not None]
    if not found:
        return None
    if kids and all(k.get("kind") == "seed" for k in kids):
        return statistics.fmean(found)
    return max(found) if mode == "max" else min(found)


def best_order(records: Sequence[dict[str, Any]], fallback: Mapping[str, float] | None = None,
               *, worst_first: bool = False) -> list[dict[str, Any]]:
    """``records`` in best-run order (see the module docstring); ``fallback`` scores runs
    without a value of their own (by id); ``worst_first`` reverses each metric's ranking."""
    fallback = fallback or {}
    groups: dict[tuple[str, str], list[tuple[float, dict[str, Any]]]] = {}
    rest: list[dict[str, Any]] = []
    for rec in records:
        key = primary(rec)
        value = own_value(rec)
        if value is None:
            value = fallback.get(rec["id"])
        if key is None or value is None:
            rest.append(rec)
            continue
        groups.setdefault(key, []).append((value, rec))
    ranked: list[tuple[int, str, str, dict[str, Any]]] = []
    for (name, mode), members in groups.items():
        # ties: the newer run first, as listings are
        members.sort(key=lambda m: (-m[1].get("created_at", 0), m[1]["id"]), reverse=False)
        members.sort(key=lambda m: m[0], reverse=(mode == "max") != worst_first)
        ranked.extend((rank, name, mode, rec) for rank, (_, rec) in enumerate(members))
    ranked.sort(key=lambda r: (r[0], r[1], r[2]))
    rest.sort(key=lambda r: (r.get("created_at", 0), r["id"]), reverse=True)
    return [r[3] for r in ranked] + rest
