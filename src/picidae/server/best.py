"""``GET /api/v1/runs?order_by=best``: the best-run order computed over every matching run
(``core.ranking``), not only one page, then cut to the page asked for."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from picidae.core import ranking
from picidae.errors import InvalidInput
from picidae.store.base import RunQuery, Store

_BEST = re.compile(r"^\s*best(?:\s+(asc|desc))?\s*$", re.IGNORECASE)
_PLAIN_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_CHUNK = 100


def parse(order_by: str | None) -> bool | None:
    """``None`` unless ``order_by`` is ``best`` / ``best desc`` (best first: False) or
    ``best asc`` (worst first: True)."""
    if not order_by or not order_by.strip().lower().startswith("best"):
        return None
    found = _BEST.match(order_by)
    if not found:
        raise InvalidInput("order_by best takes no other field: 'best', 'best desc' (best "
                           "first) or 'best asc' (worst first)", field="order_by")
    return (found.group(1) or "desc").lower() == "asc"


def _children(store: Store, ids: list[str], query: RunQuery) -> list[dict[str, Any]]:
    kids: list[dict[str, Any]] = []
    plain = [i for i in ids if _PLAIN_ID.match(i)]
    for start in range(0, len(plain), _CHUNK):
        values = ", ".join(f'"{i}"' for i in plain[start:start + _CHUNK])
        kids.extend(store.list_runs(RunQuery(where=f"parent_id in ({values})",
                                             include_archived=query.include_archived)))
    for run_id in ids:
        if run_id not in plain:
            kids.extend(store.list_runs(RunQuery(parent=run_id)))
    return kids


def _parent_scores(store: Store, records: list[dict[str, Any]],
                   query: RunQuery) -> dict[str, float]:
    """Scores of runs with a primary metric but no value of their own, from their children."""
    waiting = {r["id"]: ranking.primary(r) for r in records
               if ranking.primary(r) and ranking.own_value(r) is None}
    if not waiting:
        return {}
    kids = _children(store, list(waiting), query)
    latest = store.latest_metrics([k["id"] for k in kids]) if kids else {}
    by_parent: dict[str, list[dict[str, Any]]] = {}
    for kid in kids:
        by_parent.setdefault(kid["parent_id"], []).append(kid)
    scores = {}
    for run_id, key in waiting.items():
        assert key is not None
        name, mode = key
        family = by_parent.get(run_id, [])
        value = ranking.parent_value(mode, family, (
            ranking.child_value(k, name, latest.get(k["id"], {})) for k in family))
        if value is not None:
            scores[run_id] = value
    return scores


def page(store: Store, query: RunQuery, worst_first: bool, offset: int,
         limit: int) -> list[dict[str, Any]]:
    """``limit`` runs from ``offset`` of the runs ``query`` matches, in best-run order."""
    everything = store.list_runs(replace(query, order_by=[], limit=None, offset=0))
    ordered = ranking.best_order(everything, _parent_scores(store, everything, query),
                                 worst_first=worst_first)
    return ordered[offset:offset + limit]
