"""State changes on a SQL store: transitions, heartbeats and the watchdog.

What a move does (``started_at``, ``ended_at``, ``lost_from``, ``failure``...) and what a
heartbeat does are decided by the rules in ``core/lifecycle.py``; this module only writes
their answer. Every move is a conditional update, so two processes racing for one run get an
ordinary ``IllegalTransition``.
"""

from __future__ import annotations

import copy
import functools
import json
import time
from typing import Any

from sqlalchemy import Connection, and_, bindparam, insert, literal_column, or_, select, update

from picidae.core import lifecycle
from picidae.core.states import LEASED, LIVE, TERMINAL, State
from picidae.errors import IllegalTransition
from picidae.settings import settings
from picidae.store.sql.base import SqlBase, fact_columns, facts, safe_text
from picidae.store.sql.documents import dumps
from picidae.store.sql.prepared import Prepared
from picidae.store.sql.tables import runs, transitions

_INSERT_TRANSITION = Prepared(insert(transitions))
# SET takes the columns named in the parameters; the WHERE makes the move conditional.
_MOVE = Prepared(update(runs).where(runs.c.id == bindparam("b_id"),
                                    runs.c.status == bindparam("b_status")))
# A heartbeat on a run neither lost nor ended: stamp it and say its status, in one statement.
_BEAT = (update(runs)
         .where(runs.c.id == bindparam("b_id"), runs.c.workspace == bindparam("b_ws"),
                runs.c.status.not_in([State.LOST.value, State.ARCHIVED.value,
                                      *sorted(s.value for s in TERMINAL)]))
         .values(last_heartbeat_at=bindparam("b_at"))
         .returning(runs.c.status))



def _states(states: frozenset[State]) -> list[Any]:
    """States as SQL literals: an ``IN`` list compiled once (bound lists expand per call)."""
    return [literal_column(f"'{s.value}'") for s in sorted(states, key=lambda s: s.value)]


# The runs the watchdog must move (see ``apply_liveness``), built and compiled once: a read
# of an embedded store asks it every time (it cost more to build than to run). ``l_beat``:
# heartbeats before it are overdue; ``l_lost``: lost runs lost before it have failed.
_OVERDUE = or_(
    and_(runs.c.status.in_(_states(LIVE)), runs.c.last_heartbeat_at < bindparam("l_beat")),
    # Claimed by a worker (it has a queue) that went silent before the command ran.
    and_(runs.c.status.in_(_states(LEASED)), runs.c.queue.is_not(None),
         runs.c.last_heartbeat_at < bindparam("l_beat")),
    and_(runs.c.status == literal_column(f"'{State.LOST.value}'"),
         runs.c.lost_at < bindparam("l_lost")),
)
_OVERDUE_IDS = Prepared(select(runs.c.id).where(_OVERDUE))

_NOT_LIVE = ", ".join(f"'{s}'" for s in sorted([State.LOST.value, State.ARCHIVED.value,
                                                *(s.value for s in TERMINAL)]))


@functools.lru_cache(maxsize=64)
def _beats_sql(n: int, paramstyle: str) -> str:
    """``_BEAT`` for ``n`` runs of one workspace at once: ``(id, at)`` pairs, then the
    workspace, as positional parameters. Plain SQL that SQLite (3.33+) and PostgreSQL share
    (a ``VALUES`` list's columns are ``column1``, ``column2`` in both)."""
    mark = "?" if paramstyle == "qmark" else "%s"
    pairs = ", ".join([f"({mark}, {mark})"] * n)
    return (f"UPDATE runs SET last_heartbeat_at = b.column2 FROM (VALUES {pairs}) AS b "
            f"WHERE runs.id = b.column1 AND runs.workspace = {mark} "
            f"AND runs.status NOT IN ({_NOT_LIVE}) RETURNING runs.id, runs.status")


class Moves(SqlBase):
    """Transitions, heartbeats and liveness (see the module docstring)."""

    def _move(self, conn: Connection, row: Any, to: State, *, reason: str | None,
              actor: str | None, at: float, failure: dict[str, Any] | None = None,
              ) -> dict[str, Any]:
        """Apply a checked transition to a locked row: the lifecycle rules' changes, the
        transition row and its event. Returns the columns it set."""
        current = State(row.status)
        move = lifecycle.effects(facts(row), to, at=at, reason=reason, failure=failure)
        values: dict[str, Any] = {"status": to.value, **move.columns}
        if move.data:
            data = {**json.loads(row.data), **move.data}
            values["data"] = dumps(data)
            values.update(fact_columns(data))
        moved = _MOVE.rowcount(conn, {"b_id": row.id, "b_status": current.value, **values})
        if moved != 1:  # another writer moved it between our read and write
            now_row = self._load_row(conn, row.id)
            lifecycle.require(row.id, State(now_row.status), to)
            raise IllegalTransition(row.id, now_row.status, to.value, [])
        _INSERT_TRANSITION.run(conn, {"run_id": row.id, "from_state": current.value,
                                      "to_state": to.value, "at": at,
                                      "reason": safe_text(reason), "actor": actor})
        self._event(conn, "run.transition", row.id, at,
                    {"from": current.value, "to": to.value, "reason": reason, "actor": actor})
        return values

    def transition(self, run_id: str, to: str, *, reason: str | None = None,
                   actor: str | None = None, at: float | None = None,
                   failure: dict[str, Any] | None = None,
                   expect: set[str] | None = None) -> dict[str, Any]:
        """See ``Store.transition``."""
        target = lifecycle.parse_state(to)
        at = time.time() if at is None else at
        with self._tx(write=True) as conn:
            row = self._load_row(conn, run_id, lock=True)
            if expect is not None and row.status not in expect:
                raise IllegalTransition(run_id, row.status, target.value, sorted(expect))
            values = self._move(conn, row, target, reason=reason, actor=actor, at=at,
                                failure=failure)
            # The row as moved, from what was read and written (no second read).
            rec = self._record_of({**row._mapping, **values})
            rec["transitions"] = self._transitions(conn, run_id)
        return rec

    def _heartbeat(self, conn: Connection, row: Any, at: float) -> str:
        """A heartbeat on a locked row, as ``lifecycle.on_heartbeat`` decides it."""
        beat = lifecycle.on_heartbeat(facts(row), at=at, window_s=settings().lost_window_s)
        if beat.target is None:
            conn.execute(update(runs).where(runs.c.id == row.id).values(last_heartbeat_at=at))
            return str(row.status)
        self._move(conn, row, beat.target, reason=beat.reason, actor=beat.actor, at=at,
                   failure=beat.failure)
        return beat.target.value

    def heartbeat(self, run_id: str, at: float | None = None) -> str:
        """See ``Store.heartbeat``. The usual case (a live run) is one conditional UPDATE;
        a lost, ended or unknown run takes the full path."""
        at = time.time() if at is None else at
        with self._tx(write=True) as conn:
            status = conn.execute(_BEAT, {"b_id": run_id, "b_ws": self.workspace,
                                          "b_at": at}).scalar()
            if status is not None:
                return str(status)
            return self._heartbeat(conn, self._load_row(conn, run_id, lock=True), at)

    def heartbeat_many(self, beats: list[tuple[str, str, float]]) -> list[str | Exception]:
        """See ``BeatStore.heartbeat_many``: the live runs' heartbeats are one transaction,
        one ``UPDATE … FROM (VALUES …)`` per workspace (rows first locked in id order where
        the database locks rows, so two servers' batches never wait on each other in a
        cycle); a run's last heartbeat in the batch is the one stamped, as one after another
        would leave it. A lost, ended or unknown run then takes ``heartbeat``'s full path,
        each beat in a transaction of its own. A failure of the shared transaction is every
        beat's answer."""
        latest: dict[str, dict[str, float]] = {}
        for workspace, run_id, at in beats:
            latest.setdefault(workspace, {})[run_id] = at
        stamped: dict[tuple[str, str], str] = {}
        try:
            with self._tx(write=True, urgent=True) as conn:  # short, and many wait on it
                for workspace, ats in latest.items():
                    run_ids = sorted(ats)
                    self._lock_runs(conn, run_ids)
                    params = [v for run_id in run_ids for v in (run_id, ats[run_id])]
                    sql = _beats_sql(len(run_ids), conn.dialect.paramstyle)
                    for run_id, status in conn.exec_driver_sql(sql, (*params, workspace)):
                        stamped[(workspace, run_id)] = str(status)
        except Exception as exc:  # the database's failure is each caller's to report
            return [exc] * len(beats)
        answers: list[str | Exception] = []
        for workspace, run_id, at in beats:
            status = stamped.get((workspace, run_id))
            if status is not None:
                answers.append(status)
                continue
            try:
                answers.append(self._in_workspace(workspace).heartbeat(run_id, at))
            except Exception as exc:
                answers.append(exc)
        return answers

    def _lock_runs(self, conn: Connection, run_ids: list[str]) -> None:
        """Lock these run rows, in id order (SQLite's write lock is the whole database: it
        skips this)."""
        if len(run_ids) > 1:
            conn.execute(select(runs.c.id).where(runs.c.id.in_(run_ids))
                         .order_by(runs.c.id).with_for_update())

    def _in_workspace(self, workspace: str) -> Moves:
        if workspace == self.workspace:
            return self
        other = copy.copy(self)
        other.workspace = workspace
        return other

    def _maybe_apply_liveness(self) -> None:
        if self.liveness_on_read:
            self.apply_liveness()

    def apply_liveness(self, now: float | None = None) -> list[tuple[str, str, str]]:
        """See ``Store.apply_liveness``."""
        cfg = settings()
        now = time.time() if now is None else now
        limits = {"l_beat": now - cfg.heartbeat_timeout_s, "l_lost": now - cfg.lost_window_s}
        with self._tx() as conn:
            ids = [r[0] for r in _OVERDUE_IDS.all(conn, limits)]
        if not ids:
            return []
        moves: list[tuple[str, str, str]] = []
        with self._liveness_lock, self._tx(write=True) as conn:
            for row in conn.execute(select(runs).where(runs.c.id.in_(ids), _OVERDUE)
                                    .with_for_update(skip_locked=True), limits).all():
                moves.extend(self._watch(conn, row, now))
        return moves

    def _watch(self, conn: Connection, row: Any, now: float) -> list[tuple[str, str, str]]:
        """The watchdog's moves for one overdue run (see ``lifecycle.liveness_target``)."""
        cfg = settings()
        target = lifecycle.liveness_target(
            State(row.status), now=now, last_heartbeat_at=row.last_heartbeat_at,
            lost_at=row.lost_at, timeout_s=cfg.heartbeat_timeout_s,
            window_s=cfg.lost_window_s, claimed=row.queue is not None)
        if target is State.FAILED and row.status in LEASED:
            # A worker claimed it and went silent before the command ran.
            self._move(conn, row, target, reason="lost", actor="watchdog", at=now,
                       failure=lifecycle.lost_failure(
                           f"the worker holding it ({row.status}) sent no heartbeat for "
                           f"{now - row.last_heartbeat_at:.0f}s"))
            return [(row.id, row.status, target.value)]
        moves: list[tuple[str, str, str]] = []
        if target is State.LOST:
            silent = now - row.last_heartbeat_at
            # Lost when the timeout expired, not when someone happened to read the store: a
            # run silent past timeout + window fails on this same read.
            lost_at = min(now, row.last_heartbeat_at + cfg.heartbeat_timeout_s)
            self._move(conn, row, target, actor="watchdog", at=lost_at,
                       reason=f"no heartbeat for {silent:.0f}s "
                              f"(timeout {cfg.heartbeat_timeout_s:g}s)")
            moves.append((row.id, row.status, target.value))
            if not lifecycle.lost_expired(lost_at, now, cfg.lost_window_s):
                return moves
            row = self._load_row(conn, row.id)
            target = State.FAILED
        if target is State.FAILED:
            self._move(conn, row, target, reason="lost", actor="watchdog", at=now,
                       failure=lifecycle.lost_failure(
                           f"lost for over {cfg.lost_window_s:g}s without a heartbeat"))
            moves.append((row.id, row.status, target.value))
        return moves
