"""Waiting runs written whole (``deferred.py``): each run's rows in their final form, and the
rows of every run of a commit in one statement per table.

A short run that ended while its rows waited — ``init``, ``log``, ``finish`` — needs no
insert-then-update: its row is inserted ``completed`` (or ``failed``, ``canceled``), its
summary and points beside it. The generic path (``_insert_new_run`` then
``_write_and_move_in``) reads the row back, updates it and its indexes and runs a dozen
statements per run; here the same rows cost one statement per table for the whole commit.

Only the usual end is written so (``plain``): a last batch of points, log lines and a
summary, no lineage, no primary metric to score, OpenLineage off. Anything else goes the
generic way, which stays the one definition of what a batch and a move write; the tests
compare the two (``tests/store/test_deferred_runs.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from picidae.core import lifecycle
from picidae.core.lifecycle import RunFacts
from picidae.core.states import State
from picidae.core.validation import deep_merge
from picidae.store.sql import package_sets
from picidae.store.sql.base import fact_columns, field_tuples, safe_text
from picidae.store.sql.documents import dumps
from picidae.store.sql.writes import _PRIMARY_SET, log_rows, point_tuples

if TYPE_CHECKING:
    from picidae.store.sql.deferred import NewRun, Waiting


def plain(waiting: Waiting) -> bool:
    """Whether ``rows`` can write ``waiting`` (see the module docstring)."""
    end = waiting.end
    if end is None:
        return False
    batch, new = end.batch, waiting.new
    return not (batch.config or batch.outputs or batch.fields or batch.alerts
                or batch.heartbeat_at is not None or batch.backfill
                or new.data["inputs"] or new.data["outputs"]
                or _PRIMARY_SET in new.row["data"])


#: The columns of ``Rows``' tuples, by table (``Prepared.run_rows``).
TAG_COLUMNS = ("run_id", "tag")
TRANSITION_COLUMNS = ("run_id", "from_state", "to_state", "at", "reason", "actor")
EVENT_COLUMNS = ("workspace", "run_id", "type", "at", "payload")


class Rows:
    """The rows of a commit's whole runs, by table, in the order the runs were made: the
    ``runs`` and ``logs`` rows as mappings, the others as tuples of the columns above,
    ``FIELD_COLUMNS``, ``CHUNK_COLUMNS`` and ``LATEST_COLUMNS`` (a commit of a thousand runs
    has some 40,000 rows: a mapping each cost it a conversion per row)."""

    def __init__(self) -> None:
        self.runs: list[dict[str, Any]] = []
        self.packages: dict[str, str] = {}
        self.fields: list[tuple[Any, ...]] = []
        self.tags: list[tuple[Any, ...]] = []
        self.transitions: list[tuple[Any, ...]] = []
        self.events: list[tuple[Any, ...]] = []
        self.chunks: list[tuple[Any, ...]] = []
        self.latest: list[tuple[Any, ...]] = []
        self.logs: list[dict[str, Any]] = []

    def add(self, waiting: Waiting) -> None:
        """A plain waiting run's rows (``plain``), as ended."""
        new, end = waiting.new, waiting.end
        assert end is not None
        run_id, created, ws = new.run_id, new.created, new.row["workspace"]
        batch = end.batch
        row = dict(new.row)
        data = dict(new.data)
        start = State(row["status"])
        move = lifecycle.effects(RunFacts(run_id, start, row.get("started_at")), end.target,
                                 at=end.at, reason=end.reason, failure=end.failure)
        row["status"] = end.target.value
        row.update(move.columns)
        if batch.summary:
            data["summary"] = deep_merge(data.get("summary") or {}, batch.summary)
        data.update(move.data)
        if batch.summary or move.data:  # the document changed: written as it ends
            row["data"] = dumps(package_sets.split(data)[0])  # the same packages, digest
            row.update(fact_columns(data))
        digest = row["packages_digest"]
        if digest is not None and new.packages is not None:
            self.packages[digest] = new.packages
        self.runs.append(row)
        self.fields += field_tuples(run_id, "config", data["config"], created)
        self.fields += field_tuples(run_id, "summary", data["summary"], created)
        self.tags += [(run_id, t) for t in data["tags"]]
        at, target = float(end.at), end.target.value
        finals = {"from": start.value, "to": target, "at": at,
                  "reason": safe_text(end.reason), "actor": end.actor}
        self.transitions += transition_tuples(run_id, [*new.moves, finals])
        events = created_events(new)
        if batch.summary:
            events.append(("run.summary", run_id, at, {"summary": batch.summary}))
        events.append(("run.transition", run_id, at,
                       {"from": start.value, "to": target, "reason": end.reason,
                        "actor": end.actor}))
        self.events += [(ws, rid, kind, float(when), dumps(payload))
                        for kind, rid, when, payload in events]
        points, latest = point_tuples(run_id, batch)
        self.chunks += points
        self.latest += latest
        self.logs += log_rows(run_id, batch)


def transition_tuples(run_id: str, moves: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """The ``transitions`` rows of a run's moves (``from``, ``to``, ``at``, ``reason``
    already made safe, ``actor``), in order, as tuples of ``TRANSITION_COLUMNS``' values
    (``at`` a float)."""
    return [(run_id, t["from"], t["to"], float(t["at"]), t["reason"], t["actor"])
            for t in moves]


def created_events(new: NewRun) -> list[tuple[str, str | None, float, dict[str, Any]]]:
    """A new run's events (``SqlBase._events``' items): ``run.created``, then a
    ``run.transition`` for each move it was made with."""
    run_id, source = new.run_id, new.source
    events: list[tuple[str, str | None, float, dict[str, Any]]] = [
        ("run.created", run_id, new.created, {"name": source["name"],
                                              "status": source["status"],
                                              "parent_id": source.get("parent_id")})]
    events += [("run.transition", run_id, t["at"], {"from": t["from"], "to": t["to"],
                                                    "reason": t.get("reason"),
                                                    "actor": t.get("actor")})
               for t in source.get("transitions") or []]
    return events
