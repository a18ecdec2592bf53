"""Lineage and staleness on the SQL stores.

``run_io`` mirrors each run's versioned ``inputs`` (``use_input``) and ``outputs`` (an output
that is a dict with a ``version`` or a ``digest``, as ``log_artifact(..., version=...)``
records): one row each. Two entries are the *same version* of a name when their versions are
equal or their digests are (both set). A version produced by a later-created run (ties: the
larger id) is the newer one.

Staleness is derived from those rows alone and stored in ``run_stale``, so ``where stale =
true`` is one SQL condition:

- a run that consumed a version of ``N`` is stale when another run has since produced a newer
  version of ``N`` (the version it consumed was produced earlier, or — produced by no run —
  before the consumer was created);
- a run that consumed an output of a stale run is stale too, transitively downstream;
- of the runs of one flow, only the flow's latest run is marked: older ones are superseded.

``refresh`` recomputes it for a workspace whenever lineage changes (a run's inputs or outputs
change, or runs are deleted), inside that write's transaction.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, insert, or_, select, update

from picidae.store.sql.tables import run_io, run_stale, runs

#: Lineage walks stop after this many runs.
MAX_NODES = 500
_CHUNK = 500
#: One run's staleness (``get_run`` asks it on every read): built once.
_STALE_OF_ONE = select(run_stale).where(run_stale.c.run_id == bindparam("s_id"))


@dataclass(frozen=True)
class Entry:
    """One versioned input or output of a run."""

    run_id: str
    direction: str
    name: str
    version: str | None
    digest: str | None
    at: float

    def same(self, other: Entry) -> bool:
        """Whether both name the same version (equal versions, or equal digests)."""
        return ((self.version is not None and self.version == other.version)
                or (self.digest is not None and self.digest == other.digest))

    def label(self) -> str:
        """The version as people read it: ``v2`` or ``sha256:1a2b3c4d5e6f``."""
        if self.version is not None:
            return self.version
        return f"sha256:{(self.digest or '')[:12]}"

    def order(self) -> tuple[float, str]:
        """What "newer" is measured by."""
        return self.at, self.run_id


def _text(value: Any, limit: int) -> str | None:
    if value is None or isinstance(value, bool | dict | list):
        return None
    text = str(value).strip()
    return text[:limit] if text else None


def entries(run_id: str, created_at: float, inputs: Any, outputs: Any) -> list[Entry]:
    """The lineage rows of a run's ``inputs`` (list of dicts) and ``outputs`` (dict)."""
    found: dict[tuple[str, str, str | None, str | None], Entry] = {}

    def add(direction: str, name: Any, version: Any, digest: Any) -> None:
        if not isinstance(name, str) or not name:
            return
        ver, dig = _text(version, 256), _text(digest, 128)
        if ver is None and dig is None:
            return
        entry = Entry(run_id, direction, name[:256], ver, dig, created_at)
        found.setdefault((direction, entry.name, ver, dig), entry)

    for item in inputs or []:
        if isinstance(item, Mapping):
            add("input", item.get("name"), item.get("version"), item.get("digest"))
    if isinstance(outputs, Mapping):
        for name, value in outputs.items():
            if isinstance(value, Mapping):
                add("output", name, value.get("version"), value.get("digest"))
    return list(found.values())


def _entry(row: Any) -> Entry:
    return Entry(row.run_id, row.direction, row.name, row.version, row.digest, row.at)


def sync(conn: Connection, run_id: str, created_at: float, inputs: Any, outputs: Any) -> bool:
    """Bring the run's ``run_io`` rows in line with its inputs and outputs; whether they
    changed (and staleness needs a ``refresh``)."""
    new = entries(run_id, created_at, inputs, outputs)
    old = [_entry(r) for r in conn.execute(select(run_io).where(run_io.c.run_id == run_id))]
    if sorted(map(_key, old)) == sorted(map(_key, new)):
        return False
    conn.execute(delete(run_io).where(run_io.c.run_id == run_id))
    if new:
        conn.execute(insert(run_io), [_row(e) for e in new])
    return True


def _key(e: Entry) -> tuple[str, str, str, str]:
    return e.direction, e.name, e.version or "", e.digest or ""


def _row(e: Entry) -> dict[str, Any]:
    return {"run_id": e.run_id, "direction": e.direction, "name": e.name,
            "version": e.version, "digest": e.digest, "at": e.at}


# -- staleness -------------------------------------------------------------------------------

def compute(rows: Iterable[Entry], superseded: set[str]) -> dict[str, tuple[str, str, str]]:
    """Stale runs from lineage rows: ``{run_id: (reason, upstream_id, input name)}``.
    ``superseded`` runs (older runs of a flow) are never marked."""
    outputs: dict[str, list[Entry]] = {}
    inputs: list[Entry] = []
    by_run: dict[str, list[Entry]] = {}
    for e in rows:
        if e.direction == "output":
            outputs.setdefault(e.name, []).append(e)
            by_run.setdefault(e.run_id, []).append(e)
        else:
            inputs.append(e)
    consumers: dict[str, list[Entry]] = {}
    stale: dict[str, tuple[str, str, str]] = {}
    for used in sorted(inputs, key=lambda e: (e.run_id, e.name, e.label())):
        consumers.setdefault(used.name, []).append(used)
        if used.run_id in superseded or used.run_id in stale:
            continue
        made = [o for o in outputs.get(used.name, ()) if o.run_id != used.run_id]
        if not made:
            continue
        newest = max(made, key=Entry.order)
        if newest.same(used):
            continue
        sources = [o.order() for o in made if o.same(used)]
        consumed = min(sources) if sources else (used.at, used.run_id)
        if newest.order() > consumed:
            stale[used.run_id] = (
                f"input {used.name} {used.label()} is outdated: run {newest.run_id} produced "
                f"{newest.label()}", newest.run_id, used.name)
    todo = deque(sorted(stale))
    while todo:
        upstream = todo.popleft()
        for out in by_run.get(upstream, ()):
            for used in consumers.get(out.name, ()):
                run_id = used.run_id
                if run_id in stale or run_id in superseded or run_id == upstream \
                        or not out.same(used):
                    continue
                stale[run_id] = (f"upstream run {upstream} is stale (input {used.name} "
                                 f"{used.label()})", upstream, used.name)
                todo.append(run_id)
    return stale


def refresh(conn: Connection, workspace: str, now: float | None = None) -> None:
    """Recompute ``run_stale`` for the runs of ``workspace`` (see the module docstring).
    The caller serialises concurrent refreshes (see ``SqlStore._lock_lineage``)."""
    now = time.time() if now is None else now
    rows = [_entry(r) for r in conn.execute(
        select(run_io).join(runs, runs.c.id == run_io.c.run_id)
        .where(runs.c.workspace == workspace))]
    consumers = {e.run_id for e in rows if e.direction == "input"}
    superseded: set[str] = set()
    flows: dict[str, list[tuple[float, str]]] = {}
    for lo in range(0, len(consumers), _CHUNK):
        part = sorted(consumers)[lo:lo + _CHUNK]
        for r in conn.execute(select(runs.c.id, runs.c.flow, runs.c.created_at)
                              .where(runs.c.id.in_(part), runs.c.flow.is_not(None))):
            flows.setdefault(r.flow, []).append((r.created_at, r.id))
    if flows:
        latest = {r.flow: r.newest for r in conn.execute(
            select(runs.c.flow, func.max(runs.c.created_at).label("newest"))
            .where(runs.c.workspace == workspace, runs.c.flow.in_(list(flows)))
            .group_by(runs.c.flow))}
        for flow, members in flows.items():
            superseded.update(run_id for at, run_id in members if at < latest[flow])
    result = compute(rows, superseded)
    current = {r.run_id: r for r in conn.execute(
        select(run_stale).join(runs, runs.c.id == run_stale.c.run_id)
        .where(runs.c.workspace == workspace))}
    gone = [run_id for run_id in current if run_id not in result]
    for lo in range(0, len(gone), _CHUNK):
        conn.execute(delete(run_stale).where(run_stale.c.run_id.in_(gone[lo:lo + _CHUNK])))
    new = []
    for run_id, (reason, upstream, name) in result.items():
        old = current.get(run_id)
        if old is None:
            new.append({"run_id": run_id, "reason": reason, "upstream_id": upstream,
                        "input": name, "at": now})
        elif (old.reason, old.upstream_id, old.input) != (reason, upstream, name):
            conn.execute(update(run_stale).where(run_stale.c.run_id == run_id).values(
                reason=reason, upstream_id=upstream, input=name, at=now))
    if new:
        conn.execute(insert(run_stale), new)


def stale_of(conn: Connection, run_ids: list[str]) -> dict[str, dict[str, Any]]:
    """``{run_id: {reason, upstream_id, input, since}}`` for those of ``run_ids`` that are
    stale."""
    out: dict[str, dict[str, Any]] = {}
    if len(run_ids) == 1:
        found = conn.execute(_STALE_OF_ONE, {"s_id": run_ids[0]}).first()
        if found is not None:
            out[found.run_id] = {"reason": found.reason, "upstream_id": found.upstream_id,
                                 "input": found.input, "since": found.at}
        return out
    if not run_ids or (len(run_ids) > _CHUNK and conn.execute(
            select(run_stale.c.run_id).limit(1)).first() is None):
        return out  # a long listing, and no run is stale: skip the lookups
    for lo in range(0, len(run_ids), _CHUNK):
        for r in conn.execute(select(run_stale).where(
                run_stale.c.run_id.in_(run_ids[lo:lo + _CHUNK]))):
            out[r.run_id] = {"reason": r.reason, "upstream_id": r.upstream_id,
                             "input": r.input, "since": r.at}
    return out


# -- walking the graph -----------------------------------------------------------------------

def _io(conn: Connection, run_ids: Iterable[str], direction: str) -> list[Entry]:
    ids = list(run_ids)
    out: list[Entry] = []
    for lo in range(0, len(ids), _CHUNK):
        out.extend(_entry(r) for r in conn.execute(select(run_io).where(
            run_io.c.run_id.in_(ids[lo:lo + _CHUNK]), run_io.c.direction == direction)))
    return out


def _matching(conn: Connection, workspace: str, wanted: list[Entry],
              direction: str) -> list[tuple[Entry, Entry]]:
    """Pairs ``(wanted entry, matching entry of the other direction)`` in ``workspace``:
    producers of inputs (``direction="output"``) or consumers of outputs (``"input"``)."""
    names = sorted({e.name for e in wanted})
    found: list[tuple[Entry, Entry]] = []
    for lo in range(0, len(names), _CHUNK):
        rows = [_entry(r) for r in conn.execute(
            select(run_io).join(runs, runs.c.id == run_io.c.run_id)
            .where(run_io.c.name.in_(names[lo:lo + _CHUNK]), run_io.c.direction == direction,
                   runs.c.workspace == workspace))]
        for w in wanted:
            found.extend((w, r) for r in rows if r.name == w.name and r.run_id != w.run_id
                         and r.same(w))
    return found


def _links(conn: Connection, workspace: str, frontier: set[str],
           up: bool) -> list[dict[str, Any]]:
    """Edges from ``frontier`` one step up (parents, originals, producers) or down (children,
    retries, replays, consumers), as ``{from, to, relation, name, version}`` with ``from``
    always the upstream run."""
    ids = sorted(frontier)
    edges: list[dict[str, Any]] = []
    cols = (runs.c.id, runs.c.parent_id, runs.c.retry_of, runs.c.replay_of)
    relations = (("parent_id", "parent"), ("retry_of", "retry"), ("replay_of", "replay"))
    for lo in range(0, len(ids), _CHUNK):
        part = ids[lo:lo + _CHUNK]
        if up:
            for r in conn.execute(select(*cols).where(runs.c.id.in_(part),
                                                      runs.c.workspace == workspace)):
                for column, relation in relations:
                    if getattr(r, column):
                        edges.append({"from": getattr(r, column), "to": r.id,
                                      "relation": relation})
        else:
            cond = or_(*(runs.c[column].in_(part) for column, _ in relations))
            for r in conn.execute(select(*cols).where(cond, runs.c.workspace == workspace)):
                for column, relation in relations:
                    if getattr(r, column) in frontier:
                        edges.append({"from": getattr(r, column), "to": r.id,
                                      "relation": relation})
    if up:
        pairs = _matching(conn, workspace, _io(conn, ids, "input"), "output")
        edges.extend({"from": made.run_id, "to": used.run_id, "relation": "data",
                      "name": used.name, "version": used.label()} for used, made in pairs)
    else:
        pairs = _matching(conn, workspace, _io(conn, ids, "output"), "input")
        edges.extend({"from": made.run_id, "to": used.run_id, "relation": "data",
                      "name": used.name, "version": used.label()} for made, used in pairs)
    return edges


def graph(conn: Connection, workspace: str, run_id: str, *,
          max_nodes: int = MAX_NODES) -> dict[str, Any]:
    """The run's ancestors and descendants (see ``_links``), walked breadth first up to
    ``max_nodes`` runs: ``{run, nodes, edges, truncated}``; each node has ``depth`` (negative
    for ancestors, positive for descendants)."""
    depth: dict[str, int] = {run_id: 0}
    edges: dict[tuple[str, str, str, str | None], dict[str, Any]] = {}
    truncated = False
    for up in (True, False):
        frontier = {run_id}
        level = 0
        while frontier and not truncated:
            level += 1
            nxt: set[str] = set()
            for edge in _links(conn, workspace, frontier, up):
                key = (edge["from"], edge["to"], edge["relation"], edge.get("name"))
                edges.setdefault(key, edge)
                other = edge["from"] if up else edge["to"]
                if other not in depth:
                    if len(depth) >= max_nodes:
                        truncated = True
                        break
                    depth[other] = -level if up else level
                    nxt.add(other)
            frontier = nxt
    info: dict[str, dict[str, Any]] = {}
    ids = list(depth)
    for lo in range(0, len(ids), _CHUNK):
        for r in conn.execute(select(runs.c.id, runs.c.name, runs.c.status, runs.c.kind,
                                     runs.c.created_at)
                              .where(runs.c.id.in_(ids[lo:lo + _CHUNK]),
                                     runs.c.workspace == workspace)):
            info[r.id] = {"id": r.id, "name": r.name, "status": r.status, "kind": r.kind,
                          "created_at": r.created_at}
    stale = stale_of(conn, ids)
    nodes = []
    for node_id, d in sorted(depth.items(), key=lambda item: (item[1], item[0])):
        node = info.get(node_id, {"id": node_id, "name": None, "status": None, "kind": None,
                                  "created_at": None, "missing": True})
        nodes.append({**node, "depth": d, "stale": stale.get(node_id)})
    kept = [e for e in edges.values() if e["from"] in depth and e["to"] in depth]
    return {"run": run_id, "nodes": nodes, "edges": kept, "truncated": truncated}


def referrers(conn: Connection, workspace: str, run_ids: list[str]) -> list[dict[str, Any]]:
    """Runs outside ``run_ids`` that point into them — as their parent, the run they retry
    or replay, or the producer of a version they consumed — as edges (``from`` in
    ``run_ids``, ``to`` the referring run)."""
    inside = set(run_ids)
    edges: list[dict[str, Any]] = []
    for lo in range(0, len(run_ids), _CHUNK):
        part = set(run_ids[lo:lo + _CHUNK])
        edges.extend(e for e in _links(conn, workspace, part, up=False)
                     if e["to"] not in inside)
    return edges
