"""What ``picidae mcp`` answers, as plain functions over a store location: compact JSON-ready
dicts an agent can read without flooding its context.

Records drop what is long and rarely needed (each string over ``MAX_TEXT`` characters and
each list over ``MAX_ITEMS`` items is cut, saying so); metrics are downsampled to
``max_points`` (min/max per bucket, so spikes survive); logs are tailed. Every error is a
``PicidaeError`` whose message the MCP layer hands back as the tool error. No MCP here: the
SDK binding is ``agents/server.py``.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Any

from picidae.core.downsample import minmax_indices
from picidae.core.order import parse_order_by
from picidae.core.times import RUN_TIMES, iso
from picidae.errors import InvalidInput
from picidae.store.base import RunQuery, Store
from picidae.store.registry import StoreLocation, open_store

MAX_TEXT = 2000
MAX_ITEMS = 50
MAX_LIMIT = 200
MAX_POINTS = 2000
MAX_TAIL = 2000
MAX_COMPARE = 20
HISTORY_DAYS = 30
_TIMES = RUN_TIMES
#: The fields of a run in a listing (``get_run`` gives them all).
LISTED = ("id", "name", "alias", "status", "kind", "parent_id", "tags", "created_at",
          "ended_at", "duration_s", "primary_metric", "summary", "notes", "failure")


def compact(value: Any, depth: int = 0) -> Any:
    """``value`` with long strings and lists cut (and marked), nested deeply at most 8."""
    if isinstance(value, str):
        if len(value) > MAX_TEXT:
            return value[:MAX_TEXT] + f"… [{len(value) - MAX_TEXT} more characters]"
        return value
    if isinstance(value, float) and value != value:  # NaN: not JSON
        return None
    if depth > 8:
        return "…"
    if isinstance(value, Mapping):
        items = list(value.items())
        out = {str(k): compact(v, depth + 1) for k, v in items[:MAX_ITEMS * 4]}
        if len(items) > MAX_ITEMS * 4:
            out["…"] = f"{len(items) - MAX_ITEMS * 4} more keys"
        return out
    if isinstance(value, list | tuple):
        out_list = [compact(v, depth + 1) for v in value[:MAX_ITEMS]]
        if len(value) > MAX_ITEMS:
            out_list.append(f"… {len(value) - MAX_ITEMS} more")
        return out_list
    return value


def compact_dict(value: Mapping[str, Any]) -> dict[str, Any]:
    """``compact`` of a mapping, typed as a dict."""
    out: dict[str, Any] = compact(value)
    return out


def _times(rec: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(rec)
    for name in _TIMES:
        if name in out:
            out[name] = iso(out[name])
    for move in out.get("transitions") or []:
        move["at"] = iso(move["at"])
    for edit in out.get("edits") or []:
        edit["at"] = iso(edit["at"])
    return out


def _count(value: Any, field: str, default: int, top: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
        raise InvalidInput(f"{field} must be an integer from 1 to {top}, got {value!r}",
                           field=field)
    return value


def _run_id(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("run_id must be a run's id (a non-empty string)", field="run_id")
    return value.strip()


class Tools:
    """The tools, bound to one store location (opened once, on first use)."""

    def __init__(self, store: StoreLocation = None) -> None:
        self.location = store

    @property
    def store(self) -> Store:
        """The opened store."""
        return open_store(self.location)

    # -- reading ------------------------------------------------------------------------

    def list_runs(self, where: str | None = None, order_by: str | None = None,
                  limit: int | None = None) -> dict[str, Any]:
        """Runs matching ``where``, in ``order_by`` order (newest first by default)."""
        limit = _count(limit, "limit", 20, MAX_LIMIT)
        archived = "archived" in (where or "")
        query = RunQuery(where=where, order_by=parse_order_by(order_by), limit=limit + 1,
                         include_archived=archived)
        found = self.store.list_runs(query)
        more = len(found) > limit
        found = found[:limit]
        latest = self.store.latest_metrics([r["id"] for r in found]) if found else {}
        runs = []
        for rec in found:
            row = _times({k: rec.get(k) for k in LISTED})
            row["metrics"] = latest.get(rec["id"], {})
            runs.append(compact({k: v for k, v in row.items() if v not in (None, [], {})}))
        return {"runs": runs, "count": len(runs), "more": more}

    def get_run(self, run_id: str) -> dict[str, Any]:
        """One run: every field, its transitions and edits, latest metrics, children."""
        run_id = _run_id(run_id)
        rec = _times(self.store.get_run(run_id))
        rec["metrics"] = self.store.latest_metrics([run_id]).get(run_id, {})
        env = rec.get("env")
        if isinstance(env, dict) and isinstance(env.get("packages"), dict):
            env["packages"] = (f"{len(env['packages'])} packages (compare_runs shows those "
                               "that differ)")
        kids = self.store.list_runs(RunQuery(parent=run_id, limit=MAX_ITEMS + 1,
                                             include_archived=True))
        rec["children"] = [{"id": k["id"], "name": k["name"], "status": k["status"],
                            "kind": k.get("kind")} for k in kids[:MAX_ITEMS]]
        if len(kids) > MAX_ITEMS:
            rec["children"].append(f"… more than {MAX_ITEMS}: list_runs with "
                                   f"where 'parent_id = \"{run_id}\"'")
        return compact_dict({k: v for k, v in rec.items() if v not in (None, [], {})})

    def get_metrics(self, run_id: str, key: str | None = None,
                    max_points: int | None = None) -> dict[str, Any]:
        """One metric's points, downsampled; without ``key``, every key with its last
        value."""
        run_id = _run_id(run_id)
        store = self.store
        store.get_run(run_id)
        keys = store.metric_keys(run_id)
        if key is None:
            latest = store.latest_metrics([run_id]).get(run_id, {})
            return {"run_id": run_id, "keys": compact(keys),
                    "latest": compact({k: latest.get(k) for k in keys[:MAX_ITEMS * 4]})}
        if key not in keys:
            known = ", ".join(keys[:MAX_ITEMS]) or "none"
            raise InvalidInput(f"run {run_id} has no metric {key!r}; its metrics: {known}",
                               field="key")
        limit = _count(max_points, "max_points", 200, MAX_POINTS)
        series = store.metrics(run_id, key)
        keep = minmax_indices(series.values, limit)
        values = [series.values[i] for i in keep]
        finite = [v for v in series.values if v == v]
        out: dict[str, Any] = {
            "run_id": run_id, "key": key, "points": len(series), "returned": len(keep),
            "steps": [series.steps[i] for i in keep],
            "values": [None if v != v else v for v in values],
        }
        if any(series.stages[i] for i in keep):
            out["stages"] = [series.stages[i] for i in keep]
        if finite:
            out.update(min=min(finite), max=max(finite))
        last = series.last()
        if last is not None:
            out["last"] = {"step": last.step, "value": None if last.value != last.value
                           else last.value}
        return out

    def get_logs(self, run_id: str, tail: int | None = None) -> dict[str, Any]:
        """The last ``tail`` lines of the run's log (stderr lines marked)."""
        run_id = _run_id(run_id)
        tail = _count(tail, "tail", 100, MAX_TAIL)
        store = self.store
        store.get_run(run_id)
        total = _line_count(store, run_id)
        lines = store.logs(run_id, offset=max(0, total - tail), limit=tail)
        text = "\n".join((f"[{ln.stream}] " if ln.stream == "stderr" else "")
                         + compact(ln.text) for ln in lines)
        return {"run_id": run_id, "lines": total, "returned": len(lines), "log": text}

    def compare_runs(self, run_ids: list[str]) -> dict[str, Any]:
        """What differs between the runs (config, summary, metrics, inputs, code...)."""
        from picidae.analysis.compare import compare

        if isinstance(run_ids, str):
            run_ids = [p for p in run_ids.replace(",", " ").split() if p]
        if not isinstance(run_ids, list) or not 2 <= len(run_ids) <= MAX_COMPARE:
            raise InvalidInput(f"run_ids must list 2 to {MAX_COMPARE} run ids",
                               field="run_ids")
        return compact_dict(compare(self.store, [_run_id(r) for r in run_ids]))

    def run_history(self) -> dict[str, Any]:
        """Totals per status, failure rate and durations: overall, and per day over the
        last ``HISTORY_DAYS`` days."""
        import time

        from picidae.analysis.history import history

        overall = history(self.store)
        recent = history(self.store, by="day", created_after=time.time() - HISTORY_DAYS * 86400)
        return compact_dict({"total": overall.get("total"),
                             f"last_{HISTORY_DAYS}_days": recent.get("groups")})

    def get_lineage(self, run_id: str) -> dict[str, Any]:
        """The run's ancestors and descendants (at most 100 runs)."""
        data = self.store.lineage(_run_id(run_id), max_nodes=100)
        for node in data.get("nodes") or []:
            node["created_at"] = iso(node.get("created_at"))
        return compact_dict(data)

    # -- writing (only with --allow-write) -----------------------------------------------

    def submit_run(self, command: list[str] | str, name: str | None = None,
                   config: dict[str, Any] | None = None, seeds: Any = None,
                   grid: dict[str, Any] | None = None) -> dict[str, Any]:
        """Queue a command for a worker: one run, or a parent with one child per seed and
        grid point."""
        from picidae.executor.submit import submit

        if isinstance(command, str):
            try:
                command = shlex.split(command)
            except ValueError as exc:
                raise InvalidInput(f"command: {exc}", field="command") from None
        rv = submit(command, name=name, config=config, seeds=seeds, grid=grid,
                    trigger="agent", store=self.location)
        return self._brief(rv.id)

    def cancel_run(self, run_id: str) -> dict[str, Any]:
        """Cancel a run and its unfinished children."""
        from picidae.executor.cancel import cancel

        rv = cancel(_run_id(run_id), store=self.location, reason="canceled by an agent",
                    actor="mcp")
        return self._brief(rv.id)

    def replay_run(self, run_id: str, overrides: dict[str, Any] | None = None
                   ) -> dict[str, Any]:
        """A new queued run repeating ``run_id`` with ``overrides`` merged into its config."""
        from picidae.executor.rerun import replay

        rv = replay(_run_id(run_id), overrides, store=self.location, actor="mcp")
        return self._brief(rv.id)

    def edit_run(self, run_id: str, add_tags: list[str] | None = None,
                 remove_tags: list[str] | None = None, notes: str | None = None
                 ) -> dict[str, Any]:
        """Add or remove tags, or replace the notes, of a run in any state."""
        rec = self.store.edit_run(_run_id(run_id), {"add_tags": add_tags,
                                                    "remove_tags": remove_tags,
                                                    "notes": notes}, actor="mcp")
        return compact_dict({"id": rec["id"], "status": rec["status"], "tags": rec["tags"],
                        "notes": rec.get("notes"), "edits": len(rec.get("edits") or [])})

    def _brief(self, run_id: str) -> dict[str, Any]:
        rec = self.store.get_run(run_id)
        kids = self.store.list_runs(RunQuery(parent=run_id, limit=MAX_ITEMS))
        out = {"id": rec["id"], "name": rec["name"], "status": rec["status"],
               "config": rec.get("config") or {}}
        if kids:
            out["children"] = [{"id": k["id"], "name": k["name"], "status": k["status"]}
                               for k in kids]
        return compact_dict(out)


def _line_count(store: Store, run_id: str) -> int:
    """How many log lines the run has, found with O(log n) one-line reads (a store has no
    count of its own)."""
    if not store.logs(run_id, offset=0, limit=1):
        return 0
    lo, hi = 1, 1024  # lo lines exist
    while store.logs(run_id, offset=hi - 1, limit=1):
        lo, hi = hi, hi * 8
    while hi - lo > 1:  # line lo exists, line hi does not
        mid = (lo + hi) // 2
        if store.logs(run_id, offset=mid - 1, limit=1):
            lo = mid
        else:
            hi = mid
    return lo
