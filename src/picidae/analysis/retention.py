"""Retention: deleting runs for good — chosen ones (``remove``) or by age and count (``gc``).

The rules, so that nothing a kept run needs is ever deleted:

- deleting a run deletes its descendants (children, their children...) with it;
- a run that another, kept run points at — the run it retries or replays, or the producer
  of a version it consumed — is not deleted: ``remove`` refuses, naming the referring run;
  ``gc`` keeps it (and its whole tree);
- live runs (queued, provisioning, syncing data, running, evaluating, lost) are never
  deleted: ``remove`` refuses, ``gc`` keeps their tree;
- ``gc`` only considers top-level runs in a terminal or archived state; ``keep_last``
  counts them, newest first, among those its filters select;
- an artifact blob is deleted only when no remaining run (in any workspace) references it.

Over HTTP the server does the deleting (``HttpStore.remove_runs``), so blobs go from the
server's artifact store.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from picidae.artifacts.registry import for_store, open_artifacts
from picidae.core.durations import parse_duration
from picidae.core.states import TERMINAL, UNFINISHED, State
from picidae.core.times import epoch
from picidae.errors import InvalidInput, PicidaeError
from picidae.store.base import RunQuery, Store
from picidae.store.capabilities import RemovalStore

#: States ``gc`` may delete.
COLLECTABLE = tuple(sorted({s.value for s in TERMINAL} | {State.ARCHIVED.value}))
_LIVE = {s.value for s in UNFINISHED}
_BATCH = 200
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _in(ids: list[str]) -> str:
    return ", ".join(json.dumps(i) for i in ids)


def _listing(store: Store, where: str) -> list[dict[str, Any]]:
    return store.list_runs(RunQuery(where=where, include_archived=True))


def trees(store: Store, roots: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    """Each of ``roots`` with every run below it: ``{root: [records]}``."""
    out: dict[str, list[dict[str, Any]]] = {}
    for root in roots:
        out[root] = []
    owner: dict[str, str] = {r: r for r in out}
    frontier = list(out)
    records = {}
    for lo in range(0, len(frontier), _BATCH):
        for rec in _listing(store, f"id in ({_in(frontier[lo:lo + _BATCH])})"):
            records[rec["id"]] = rec
    while frontier:
        found: list[dict[str, Any]] = []
        for lo in range(0, len(frontier), _BATCH):
            found.extend(_listing(store, f"parent_id in ({_in(frontier[lo:lo + _BATCH])})"))
        frontier = []
        for rec in found:
            if rec["id"] not in owner:
                owner[rec["id"]] = owner[rec["parent_id"]]
                records[rec["id"]] = rec
                frontier.append(rec["id"])
    for run_id, root in owner.items():
        if run_id in records:
            out[root].append(records[run_id])
    return out


def _referrers(store: Store, ids: list[str]) -> list[dict[str, Any]]:
    return store.referrers(ids) if ids else []


def plan_removal(store: Store, run_ids: Iterable[str]) -> list[str]:
    """The runs ``remove`` deletes: ``run_ids`` and their descendants. ``InvalidInput`` when
    one is live or a run outside the set points at one (see the module docstring)."""
    ids = [store.get_run(run_id)["id"] for run_id in dict.fromkeys(run_ids)]
    doomed = {}
    for members in trees(store, ids).values():
        for rec in members:
            if rec["status"] in _LIVE:
                raise InvalidInput(f"run {rec['id']} is {rec['status']}: cancel it first "
                                   f"(picidae cancel {rec['id']})", field="run_ids")
            doomed[rec["id"]] = rec
    for edge in _referrers(store, list(doomed)):
        if edge["to"] not in doomed:
            raise InvalidInput(
                f"run {edge['from']} is referenced by run {edge['to']} ({edge['relation']}"
                f"{' ' + edge['name'] if edge.get('name') else ''}): remove that run too, or "
                "keep this one", field="run_ids")
    return list(doomed)


def _delete_blobs(store: Store, blobs: list[dict[str, Any]]) -> list[str]:
    """Remove unreferenced blobs from the artifact stores holding them."""
    removed = []
    stores: list[Any] = []
    try:
        stores.append(for_store(store))
    except PicidaeError:
        pass
    for blob in blobs:
        where = list(stores)
        if blob.get("location"):
            where.append(open_artifacts(blob["location"]))
        if any([s.delete(blob["digest"]) for s in where]):
            removed.append(blob["digest"])
    return removed


def purge(store: Store, run_ids: list[str]) -> dict[str, Any]:
    """Delete exactly ``run_ids`` (already planned) and the blobs that frees."""
    deleted: list[str] = []
    blobs: list[str] = []
    for lo in range(0, len(run_ids), _BATCH):
        result = store.purge_runs(run_ids[lo:lo + _BATCH])
        deleted.extend(result["deleted"])
        blobs.extend(_delete_blobs(store, result["blobs"]))
    return {"deleted": deleted, "blobs": blobs}


def remove(store: Store, run_ids: Iterable[str], *, dry_run: bool = False) -> dict[str, Any]:
    """Delete runs with their descendants, metrics, logs and no longer referenced artifact
    blobs (see the module docstring). Returns ``{deleted, blobs, dry_run}``."""
    if isinstance(store, RemovalStore):
        return store.remove_runs(list(run_ids), dry_run=dry_run)
    doomed = plan_removal(store, run_ids)
    if dry_run:
        return {"deleted": doomed, "blobs": [], "dry_run": True}
    return {**purge(store, doomed), "dry_run": False}


def _cutoff(value: Any, field: str, now: float) -> float | None:
    """The creation time before which runs are old: ``value`` is an age (``"30d"``, seconds,
    a timedelta) or a point in time (a datetime, or an ISO date such as ``2026-01-15``)."""
    if value is None:
        return None
    if isinstance(value, datetime) or (isinstance(value, str) and _DATE.match(value.strip())):
        return epoch(value, field)
    try:
        age = parse_duration(value, field=field)
    except InvalidInput as exc:
        raise InvalidInput(f"{exc.message} (or a point in time: a datetime, or a date such as "
                           "2026-01-15)", field=field) from None
    return None if age is None else now - age


def gc(store: Store, *, older_than: Any = None, keep_last: int | None = None,
       status: Iterable[str] | None = None, where: str | None = None,
       dry_run: bool = False, now: float | None = None) -> dict[str, Any]:
    """Delete top-level runs (with their trees) created more than ``older_than`` ago (``30d``,
    seconds or a timedelta) or before it (a datetime or ISO date), beyond the newest
    ``keep_last``, in a terminal or archived state (``status`` narrows it) and matching
    ``where``. Returns ``{deleted, roots, kept, blobs, dry_run}``: ``kept`` lists ``{id,
    reason}`` of candidates spared."""
    now = time.time() if now is None else now
    cutoff = _cutoff(older_than, "older_than", now)
    if keep_last is not None and (isinstance(keep_last, bool) or not isinstance(keep_last, int)
                                  or keep_last < 0):
        raise InvalidInput(f"keep_last must be a non-negative int, got {keep_last!r}",
                           field="keep_last")
    if cutoff is None and keep_last is None:
        raise InvalidInput("say what to remove: older_than (e.g. 30d) and/or keep_last",
                           field="older_than")
    from picidae.core.lifecycle import parse_state

    states = sorted({parse_state(s).value for s in status}) if status else list(COLLECTABLE)
    for state in states:
        if state not in COLLECTABLE:
            raise InvalidInput(f"gc only deletes ended runs ({', '.join(COLLECTABLE)}), not "
                               f"{state}", field="status")
    expr = "parent_id is null" + (f" and ({where})" if where and where.strip() else "")
    top = store.list_runs(RunQuery(where=expr, status=states, include_archived=True,
                                   order_by=[("created_at", True)]))
    protected = {r["id"] for r in top[:keep_last]} if keep_last is not None else set()
    candidates = [r["id"] for r in top if r["id"] not in protected
                  and (cutoff is None or r["created_at"] < cutoff)]
    members = trees(store, candidates)
    kept: dict[str, str] = {}
    for root, recs in members.items():
        live = next((r for r in recs if r["status"] in _LIVE), None)
        if live is not None:
            kept[root] = f"run {live['id']} in it is {live['status']}"
    while True:  # keep trees a kept run points into, until nothing changes
        owner = {r["id"]: root for root, recs in members.items() if root not in kept
                 for r in recs}
        spared = False
        for edge in _referrers(store, list(owner)):
            holder = owner.get(edge["from"])
            if edge["to"] not in owner and holder is not None and holder not in kept:
                kept[holder] = (f"run {edge['to']} points at run {edge['from']} "
                                f"({edge['relation']})")
                spared = True
        if not spared:
            break
    roots = [root for root in candidates if root not in kept]
    doomed = [r["id"] for root in roots for r in members[root]]
    result: dict[str, Any] = {"roots": roots, "deleted": doomed, "blobs": [],
                              "kept": [{"id": k, "reason": v} for k, v in kept.items()],
                              "dry_run": dry_run}
    if not dry_run and doomed:
        done = (store.remove_runs(roots) if isinstance(store, RemovalStore)
                else purge(store, doomed))
        result.update(deleted=done["deleted"], blobs=done["blobs"])
    return result
