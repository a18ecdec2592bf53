"""Listing queries: a ``RunQuery`` turned into one SQL statement (filters, sort, page)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, and_, exists, func, select
from sqlalchemy.sql.elements import ColumnElement

from picidae.core.states import State
from picidae.errors import InvalidInput
from picidae.store.base import RunQuery
from picidae.store.sql.tables import metric_latest, run_fields, run_tags, runs

#: Columns a listing may sort by directly.
SORTABLE = {
    "created_at", "started_at", "ended_at", "last_heartbeat_at", "name", "alias", "kind",
    "status", "trigger", "agent", "benchmark", "seed", "attempt", "id", "parent_id",
}


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


def _filters(q: RunQuery) -> list[ColumnElement[bool]]:
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

        conds.append(compile_where(q.where))
    return conds


def _sort_key(stmt: Select[Any], field: str, n: int) -> tuple[Select[Any], list[Any]]:
    """Join what sorting by ``field`` needs and return the columns to order by."""
    if field in SORTABLE:
        return stmt, [runs.c[field]]
    section, _, key = field.partition(".")
    if not key:
        raise InvalidInput(
            f"cannot sort by {field!r}; use a run field ({', '.join(sorted(SORTABLE))}), "
            "metrics.KEY, summary.KEY or config.KEY", field="order_by")
    if section == "metrics":
        ml = metric_latest.alias(f"ml{n}")
        stmt = stmt.outerjoin(ml, and_(ml.c.run_id == runs.c.id, ml.c.key == key))
        return stmt, [ml.c.value]
    if section in ("summary", "config"):
        rf = run_fields.alias(f"rf{n}")
        stmt = stmt.outerjoin(rf, and_(rf.c.run_id == runs.c.id, rf.c.section == section,
                                       rf.c.key == key))
        return stmt, [rf.c.num, rf.c.text]
    raise InvalidInput(f"cannot sort by {field!r}: unknown prefix {section!r}", field="order_by")


def list_statement(q: RunQuery) -> Select[Any]:
    """The SELECT for a listing page."""
    stmt = select(runs).where(*_filters(q))
    order: list[Any] = []
    for n, (field, desc) in enumerate(q.order_by):
        stmt, cols = _sort_key(stmt, field, n)
        order.extend((c.desc() if desc else c.asc()).nulls_last() for c in cols)
    order.extend([runs.c.created_at.desc(), runs.c.id.desc()])
    stmt = stmt.order_by(*order)
    if q.limit is not None:
        stmt = stmt.limit(q.limit)
    if q.offset:
        stmt = stmt.offset(q.offset)
    return stmt


def count_statement(q: RunQuery) -> Select[Any]:
    """SELECT COUNT(*) of the runs a query matches."""
    return select(func.count()).select_from(runs).where(*_filters(q))


def parse_order_by(value: str | list[str] | None) -> list[tuple[str, bool]]:
    """``"metrics.acc desc, created_at"`` → ``[("metrics.acc", True), ("created_at", False)]``."""
    if not value:
        return []
    parts = value.split(",") if isinstance(value, str) else list(value)
    out = []
    for part in parts:
        words = part.strip().split()
        if not words or len(words) > 2:
            raise InvalidInput(f"order_by {part!r} should be 'FIELD' or 'FIELD asc|desc'",
                               field="order_by")
        direction = words[1].lower() if len(words) == 2 else "asc"
        if direction not in ("asc", "desc"):
            raise InvalidInput(f"order_by direction must be asc or desc, got {words[1]!r}",
                               field="order_by")
        out.append((words[0], direction == "desc"))
    return out
