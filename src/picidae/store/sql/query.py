"""Listing queries: a ``RunQuery`` turned into SQL (filters, sort, page).

A page with a ``where`` or sorted by a metric is read in two steps (``run_rows``): first the
page's run ids from a narrow plan, then the wide rows (with their JSON documents) for those
ids only. The narrow plan is picked so that SQLite — which keeps no planner statistics here
— finds a page of a large store in milliseconds:

- when a condition of the query matches few runs (a probe counts up to ``DRIVER_MAX`` of
  them, from an index), the plan starts from those runs and checks the rest on each;
- else, sorted by ``metrics.K``, it walks the ``metric_latest (key, value)`` index in order
  and stops at the page's end (runs without a value for ``K`` follow, as ``NULLS LAST``);
- else, sorted by ``config.K`` or ``summary.K``, it walks the ``run_fields (section, key,
  num, created_at, run_id)`` index: the page's first ``offset + limit`` numbers in value
  order, then the runs tied with the last of them newest first, as the index holds them
  (``_FieldWalk``; a page that reaches past the numbers takes the set-based plan);
- else it walks runs newest first, checking the conditions (as ``EXISTS``) on each.

Every plan returns exactly what the one-statement form (``list_statement``) returns.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Connection, Select, String, Text, and_, exists, func, not_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal

from picidae.core.fields import names
from picidae.core.states import State
from picidae.core.where import And, Compare, Contains, In, Like, parse
from picidae.errors import InvalidInput
from picidae.store.base import RunQuery
from picidae.store.sql import package_sets
from picidae.store.sql.tables import metric_latest, run_fields, run_tags, runs

#: Columns a listing may sort by directly.
SORTABLE = set(names(sort=True))


class bytewise(ColumnElement[Any]):
    """A text column ordered by code point on every store: SQLite's own order; on PostgreSQL
    ``COLLATE "C"``, or the database's locale would decide (``B`` before or after ``a``)."""

    inherit_cache = True
    _traverse_internals = [("clause", InternalTraversal.dp_clauseelement)]

    def __init__(self, clause: ColumnElement[Any]) -> None:
        self.clause = clause
        self.type = clause.type


@compiles(bytewise)
def _bytewise(element: bytewise, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.clause, **kw)


@compiles(bytewise, "postgresql")
def _bytewise_pg(element: bytewise, compiler: SQLCompiler, **kw: Any) -> str:
    return f'{compiler.process(element.clause, **kw)} COLLATE "C"'


def _ordered(column: ColumnElement[Any]) -> ColumnElement[Any]:
    return bytewise(column) if isinstance(column.type, String | Text) else column


def glob_to_like(pattern: str) -> str:
    """A shell glob (``*``, ``?``) as a LIKE pattern with ``\\`` escaping."""
    out = []
    for ch in pattern:
        if ch in "%_\\":
            out.append("\\" + ch)
        elif ch == "*":
            out.append("%")
        elif ch == "?":
            out.append("_")
        else:
            out.append(ch)
    return "".join(out)


def _filters(q: RunQuery, *, correlated: bool = False,
             now: float | None = None) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = [runs.c.workspace == q.workspace]
    if q.status:
        conds.append(runs.c.status.in_(q.status))
    elif not q.include_archived:
        conds.append(runs.c.status != State.ARCHIVED.value)
    if q.name:
        if any(ch in q.name for ch in "*?"):
            conds.append(runs.c.name.like(glob_to_like(q.name), escape="\\"))
        else:
            conds.append(runs.c.name == q.name)
    if q.parent:
        conds.append(runs.c.parent_id == q.parent)
    if q.root:
        conds.append(runs.c.root_id == q.root)
    if q.kind:
        conds.append(runs.c.kind == q.kind)
    for tag in q.tags or []:
        conds.append(exists().where(and_(run_tags.c.run_id == runs.c.id, run_tags.c.tag == tag)))
    if q.created_after is not None:
        conds.append(runs.c.created_at >= q.created_after)
    if q.created_before is not None:
        conds.append(runs.c.created_at < q.created_before)
    if q.where:
        from picidae.store.sql.where_sql import compile_where

        conds.append(compile_where(q.where, correlated=correlated, now=now))
    return conds


def _sort_key(stmt: Select[Any], field: str, n: int,
              table: Any = runs) -> tuple[Select[Any], list[Any]]:
    """Join what sorting by ``field`` needs and return the columns to order by."""
    if field in SORTABLE:
        return stmt, [_ordered(table.c[field])]
    if field == "duration_s":  # a live run counts to its last heartbeat; unstarted runs last
        end = func.coalesce(table.c.ended_at, table.c.last_heartbeat_at, table.c.started_at)
        return stmt, [end - table.c.started_at]
    section, _, key = field.partition(".")
    if not key:
        raise InvalidInput(
            f"cannot sort by {field!r}; use a run field ({', '.join(sorted(SORTABLE))}), "
            "metrics.KEY, summary.KEY or config.KEY", field="order_by")
    if section == "metrics":
        ml = metric_latest.alias(f"ml{n}")
        stmt = stmt.outerjoin(ml, and_(ml.c.run_id == table.c.id, ml.c.key == key))
        return stmt, [ml.c.value]
    if section in ("summary", "config"):
        rf = run_fields.alias(f"rf{n}")
        stmt = stmt.outerjoin(rf, and_(rf.c.run_id == table.c.id, rf.c.section == section,
                                       rf.c.key == key))
        return stmt, [rf.c.num, _ordered(rf.c.text)]
    raise InvalidInput(f"cannot sort by {field!r}: unknown prefix {section!r}", field="order_by")


def list_statement(q: RunQuery, *, columns: list[Any] | None = None,
                   conds: list[ColumnElement[bool]] | None = None,
                   table: Any = runs) -> Select[Any]:
    """The SELECT for a listing page (of ``columns``, default every column of ``runs``;
    ``conds`` replaces the query's filters; ``table``: an alias of ``runs`` to sort)."""
    stmt = select(*(columns or [table])).where(*(_filters(q) if conds is None else conds))
    order: list[Any] = []
    for n, (field, desc) in enumerate(q.order_by):
        stmt, cols = _sort_key(stmt, field, n, table)
        order.extend((c.desc() if desc else c.asc()).nulls_last() for c in cols)
    order.extend([table.c.created_at.desc(), _ordered(table.c.id).desc()])
    stmt = stmt.order_by(*order)
    if q.limit is not None:
        stmt = stmt.limit(q.limit)
    if q.offset:
        stmt = stmt.offset(q.offset)
    return stmt


#: A condition matching fewer runs than this is where a page's plan starts.
DRIVER_MAX = 1000
#: How many entries of the sort order a walk samples to estimate its length, and the longest
#: walk (in entries) worth taking: past it, the set-based plan is cheaper.
WALK_SAMPLE = 200
WALK_BUDGET = 5000
#: Run columns with an index, so a condition on them can start a plan.
_INDEXED = ("id", "name", "parent_id", "root_id", "status")
_CHUNK = 500


def run_rows(conn: Connection, q: RunQuery) -> list[Any]:
    """The ``runs`` rows of a listing page, in order (see the module docstring)."""
    key = _walk_key(q)
    field = _field_key(q)
    if q.limit is None or not (q.where or key or any(f not in SORTABLE for f, _ in q.order_by)):
        return list(conn.execute(list_statement(q, columns=[runs, package_sets.PACKAGES])))
    now = time.time()
    start = _smallest(conn, _drivers(q, now))
    if start is not None:
        # The few candidates, as literal ids on an alias whose only other condition is
        # opaque: no planner can prefer another index (or an ordered scan) to starting there.
        first = sorted(set(_ids(conn, start)))
        cand = runs.alias("cand")
        check = select(runs.c.id).where(runs.c.id == cand.c.id,
                                        *_filters(q, correlated=True, now=now))
        conds: list[ColumnElement[bool]] = [cand.c.id.in_(first),
                                            check.scalar_subquery().is_not(None)]
        ids = _ids(conn, list_statement(q, columns=[cand.c.id], conds=conds, table=cand)) \
            if first else []
    else:
        walk = _Walk(q, key, now) if key is not None or _by_creation(q) \
            else _FieldWalk(q, field, now) if field is not None else None
        found = walk.page(conn) if walk is not None and walk.worthwhile(conn) else None
        ids = found if found is not None else _ids(
            conn, list_statement(q, columns=[runs.c.id], conds=_filters(q, now=now)))
    rows: dict[str, Any] = {}
    for lo in range(0, len(ids), _CHUNK):
        rows.update((r.id, r) for r in conn.execute(
            select(runs, package_sets.PACKAGES).where(runs.c.id.in_(ids[lo:lo + _CHUNK]))))
    return [rows[i] for i in ids if i in rows]


def _ids(conn: Connection, stmt: Select[Any]) -> list[str]:
    return list(conn.execute(stmt).scalars())


def _by_creation(q: RunQuery) -> bool:
    """Whether the listing is in creation order (the default, or ``created_at`` alone)."""
    return not q.order_by or (len(q.order_by) == 1 and q.order_by[0][0] == "created_at")


def _walk_key(q: RunQuery) -> tuple[str, bool] | None:
    """``(metric key, descending)`` when the listing is sorted by one metric only."""
    if len(q.order_by) != 1 or not q.order_by[0][0].startswith("metrics."):
        return None
    field, desc = q.order_by[0]
    return field.partition(".")[2], desc


def _field_key(q: RunQuery) -> tuple[str, str, bool] | None:
    """``(section, key, descending)`` when the listing is sorted by one config or summary
    key only."""
    if len(q.order_by) != 1:
        return None
    field, desc = q.order_by[0]
    section, _, key = field.partition(".")
    return (section, key, desc) if section in ("config", "summary") and key else None


def _drivers(q: RunQuery, now: float) -> list[Select[Any]]:
    """``SELECT run_id`` of runs each condition of the query may match (supersets, from an
    index): where a plan may start."""
    from picidae.store.sql.where_sql import driver

    out: list[Select[Any]] = []
    for column, value in (("parent_id", q.parent), ("root_id", q.root)):
        if value:
            out.append(select(runs.c.id).where(runs.c[column] == value))
    if q.name and not any(ch in q.name for ch in "*?"):
        out.append(select(runs.c.id).where(runs.c.name == q.name))
    if q.status:
        out.append(select(runs.c.id).where(runs.c.status.in_(q.status)))
    out.extend(select(run_tags.c.run_id).where(run_tags.c.tag == tag) for tag in q.tags or [])
    if not q.where or not q.where.strip():
        return out
    tree = parse(q.where)
    for node in tree.operands if isinstance(tree, And) else (tree,):
        if isinstance(node, Compare | In) and node.field.section == "run":
            if node.field.key in _INDEXED and (
                    (isinstance(node, In) and not node.negated)
                    or (isinstance(node, Compare) and node.op == "=")):
                values = node.values if isinstance(node, In) else (node.value,)
                texts = [v for v in values if isinstance(v, str)]
                out.append(select(runs.c.id).where(runs.c[node.field.key].in_(texts)))
        elif isinstance(node, Compare | In | Like | Contains):
            found = driver(node, now)
            if found is not None:
                out.append(found)
    return out


def _smallest(conn: Connection, drivers: list[Select[Any]]) -> Select[Any] | None:
    """The driver matching the fewest runs, if that is under ``DRIVER_MAX``."""
    best, fewest = None, DRIVER_MAX
    for candidate in drivers:
        n = conn.execute(select(func.count()).select_from(
            candidate.limit(fewest).subquery())).scalar_one()
        if n < fewest:
            best, fewest = candidate, n
    return best


class _Walk:
    """A page read by walking the sort order's index — ``metric_latest (key, value)`` for one
    metric, ``runs (workspace, created_at)`` newest first — checking the conditions on each
    entry and stopping at the page's end. Checked as a scalar subquery, not ``EXISTS``:
    PostgreSQL would turn an ``EXISTS`` into a join planned from its (often poor) estimates,
    where the walk wants each entry checked in index order."""

    def __init__(self, q: RunQuery, key: tuple[str, bool] | None, now: float) -> None:
        self.q = q
        self.key = key
        conds = _filters(q, correlated=True, now=now)
        if key is None:
            self.entry = runs.alias("entry")
            self.id = self.entry.c.id
            self.scope = [self.entry.c.workspace == q.workspace]
            oldest_first = bool(q.order_by) and not q.order_by[0][1]
            born = self.entry.c.created_at
            self.order = [born.asc() if oldest_first else born.desc(),
                          bytewise(self.id).desc()]
        else:
            name, desc = key
            self.entry = metric_latest.alias("entry")
            self.id = self.entry.c.run_id
            self.scope = [self.entry.c.key == name, self.entry.c.value.is_not(None)]
            created = select(runs.c.created_at).where(runs.c.id == self.id).scalar_subquery()
            value = self.entry.c.value
            self.order = [value.desc() if desc else value.asc(), created.desc(),
                          bytewise(self.id).desc()]
        self.wanted = select(runs.c.id).where(runs.c.id == self.id, *conds) \
            .scalar_subquery().is_not(None)

    def worthwhile(self, conn: Connection) -> bool:
        """Whether the walk is expected to fill the page within ``WALK_BUDGET`` entries,
        judging by how many of the first ``WALK_SAMPLE`` entries match."""
        head = select(self.id.label("id")).where(*self.scope).order_by(*self.order[:1]) \
            .limit(WALK_SAMPLE).subquery()
        again = select(runs.c.id).where(runs.c.id == head.c.id,
                                        *_filters(self.q, correlated=True)).scalar_subquery()
        hits = conn.execute(select(func.count()).select_from(head)
                            .where(again.is_not(None))).scalar_one()
        need = self.q.offset + (self.q.limit or 0)
        return hits > 0 and need * WALK_SAMPLE / hits <= WALK_BUDGET

    def page(self, conn: Connection) -> list[str] | None:
        """The page's ids in order; for a metric, runs without a value follow (newest
        first), exactly as ``list_statement`` orders them."""
        q = self.q
        assert q.limit is not None
        valued = select(self.id).where(*self.scope, self.wanted)
        ids = _ids(conn, valued.order_by(*self.order).limit(q.limit).offset(q.offset))
        if self.key is None or len(ids) == q.limit:
            return ids
        if ids or not q.offset:
            before = q.offset + len(ids)
        else:  # the page starts past the runs with a value: how many are there?
            before = conn.execute(select(func.count()).select_from(valued.subquery())
                                  ).scalar_one()
        has = exists(select(metric_latest.c.run_id).where(
            metric_latest.c.run_id == runs.c.id, metric_latest.c.key == self.key[0],
            metric_latest.c.value.is_not(None)))
        rest = (select(runs.c.id).where(*_filters(q), not_(has))
                .order_by(runs.c.created_at.desc(), _ordered(runs.c.id).desc())
                .limit(q.limit - len(ids)).offset(max(0, q.offset - before)))
        return ids + _ids(conn, rest)


class _FieldWalk(_Walk):
    """A page sorted by one config or summary key, from the ``run_fields (section, key, num,
    created_at, run_id)`` index. The listing's order there is the number, then the text
    (only a boolean has both: ``1.0`` and ``"true"``), then newest first; so the page's
    first ``offset + limit`` numbers are walked in value order (checking the conditions on
    each, as ``_Walk`` does), which settles every run but those tied with the last number,
    and those are read newest first from the same index (``num = last``: it holds them in
    ``created_at, run_id`` order). A page reaching past the runs with a number for the key
    (text values, or none) is left to the set-based plan (``page`` returns ``None``)."""

    def __init__(self, q: RunQuery, field: tuple[str, str, bool], now: float) -> None:
        section, name, desc = field
        self.q = q
        self.key = None
        self.desc = desc
        self.entry = run_fields.alias("entry")
        self.id = self.entry.c.run_id
        self.scope = [self.entry.c.section == section, self.entry.c.key == name,
                      self.entry.c.num.is_not(None)]
        # Plain DESC/ASC (no NULLS LAST: the scope has no NULL), so PostgreSQL walks the
        # index too.
        num = self.entry.c.num
        self.order = [num.desc() if desc else num.asc()]
        self.wanted = select(runs.c.id).where(
            runs.c.id == self.id, *_filters(q, correlated=True, now=now)
        ).scalar_subquery().is_not(None)

    def page(self, conn: Connection) -> list[str] | None:
        """The page's ids in order, or ``None`` when it reaches past the numbers."""
        q, e = self.q, self.entry
        assert q.limit is not None
        need = q.offset + q.limit
        head = conn.execute(select(e.c.run_id, e.c.num, e.c.text, e.c.created_at)
                            .where(*self.scope, self.wanted).order_by(*self.order)
                            .limit(need)).all()
        if len(head) < need or any(r.created_at is None for r in head):
            return None
        last = head[-1].num
        settled = [r for r in head if r.num != last]
        # The listing's order, by stable sorts from the last key to the first: id and
        # created_at descending, a text before none, the number in the asked direction.
        settled.sort(key=lambda r: r.run_id, reverse=True)
        settled.sort(key=lambda r: r.created_at, reverse=True)
        settled.sort(key=lambda r: r.text is None)
        settled.sort(key=lambda r: r.num, reverse=self.desc)
        ids = [r.run_id for r in settled]
        tied = [e.c.num == last]
        # Among the tied: a boolean's text ("true" for 1.0, "false" for 0.0) comes first.
        for text in ([e.c.text.is_not(None), e.c.text.is_(None)] if last in (0.0, 1.0)
                     else [e.c.text.is_(None)]):
            if len(ids) >= need:
                break
            ids += _ids(conn, select(e.c.run_id).where(*self.scope, *tied, text, self.wanted)
                        .order_by(e.c.created_at.desc(), bytewise(e.c.run_id).desc())
                        .limit(need - len(ids)))
        return ids[q.offset:need]


def count_statement(q: RunQuery) -> Select[Any]:
    """SELECT COUNT(*) of the runs a query matches."""
    return select(func.count()).select_from(runs).where(*_filters(q))
