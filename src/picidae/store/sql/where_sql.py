"""The ``where`` language compiled to SQL over the ``runs`` table, values as bound parameters.

``picidae.core.where`` parses; this module turns its AST into one portable SQLAlchemy Core
condition (SQLite and PostgreSQL). Each predicate compiles to a condition that is never NULL
(a subquery test, or a comparison guarded by ``IS NOT NULL``), so ``NOT`` is plain negation,
exactly as in the Python evaluator (the rules are in ``core/where/__init__.py``):

- run columns directly; ``duration_s`` as ``ended_at`` (or now) minus ``started_at``;
- ``config.K`` / ``summary.K`` on ``run_fields`` (a number compares with ``num``, a string
  with ``text``); ``metrics.K`` on ``metric_latest`` (a NULL value there is NaN: no value);
  ``tags contains`` on ``run_tags`` — as ``runs.id IN (SELECT run_id ...)`` where the result
  is used as is, and as ``EXISTS`` under ``not`` (see ``_keyed``); ``correlated=True``
  makes every one an ``EXISTS`` (for plans that walk runs in order, see ``query.py``);
- ``stale`` as whether the run has a row in ``run_stale`` (store/sql/lineage.py).

Text ordering (``<``, ``>``...) is by code point on both databases (``query.bytewise``:
SQLite's own order; ``COLLATE "C"`` on PostgreSQL), as in Python.
"""

from __future__ import annotations

import operator
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import (
    BigInteger,
    Float,
    and_,
    case,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import ColumnElement

from picidae.core.where import nodes, parse
from picidae.store.sql.query import bytewise
from picidae.store.sql.tables import metric_latest, run_fields, run_stale, run_tags, runs

#: The LIKE escape character; user patterns escape with ``\\`` and are rewritten to it, so no
#: backslash ever reaches the SQL text (string-literal escaping differs between databases).
_ESC = "!"


def sql_like_pattern(pattern: str) -> str:
    """A ``where`` like pattern (``\\`` escapes) as a LIKE pattern escaped with ``!``."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            out.append(_ESC + nxt if nxt in ("%", "_", _ESC) else nxt)
            i += 2
            continue
        out.append(_ESC + ch if ch == _ESC else ch)
        i += 1
    return "".join(out)


def _contains_pattern(text: str) -> str:
    escaped = "".join(_ESC + ch if ch in ("%", "_", _ESC) else ch for ch in text)
    return f"%{escaped}%"


def _number(value: nodes.Value) -> ColumnElement[Any]:
    """A number literal as a typed bound parameter: floats as FLOAT, ints as BIGINT, booleans
    as 1.0/0.0. The type matters on PostgreSQL: a float bound with an integer column's type
    would be cast (rounded) to an integer."""
    if isinstance(value, str):
        raise TypeError(f"not a number: {value!r}")  # the parser rules this out
    if isinstance(value, bool | float):
        return literal(float(value), Float)
    return literal(value, BigInteger)


_CMP: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
    "=": operator.eq, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}


def _compare(col: Any, op: str, value: Any) -> ColumnElement[bool]:
    return _CMP[op](col, value)


class _Target:
    """What a predicate compares: a number expression and a text expression (a run column
    has only one of them; ``None`` for the other), and ``present``, the condition that it
    has a value (``None``: always). ``wrap(cond, positive)`` turns a condition on the target
    into one over ``runs`` (a subquery for keyed sections, see ``_keyed``). ``typed``
    targets (config, summary) hold either a number or a text, so each comparison also checks
    that its own column is set."""

    def __init__(self, num: Any, text: Any, present: ColumnElement[bool] | None,
                 wrap: Any = None, typed: bool = False,
                 keyed: tuple[Any, list[ColumnElement[bool]]] | None = None) -> None:
        self.num = num
        self.text = text
        self.present = present
        self.wrap = wrap
        self.typed = typed
        #: For keyed sections: the table's run id column and the conditions picking the key.
        self.keyed = keyed

    def _guard(self, col: Any, cond: ColumnElement[bool]) -> ColumnElement[bool]:
        return and_(col.is_not(None), cond) if self.typed else cond

    def matches(self, op: str, value: nodes.Value) -> ColumnElement[bool]:
        """The positive comparison; never NULL once ``present`` holds."""
        if isinstance(value, str):
            if self.text is None:
                return false()
            col = self.text if op == "=" else bytewise(self.text)
            return self._guard(self.text, _compare(col, op, value))
        if self.num is None:
            return false()
        return self._guard(self.num, _compare(self.num, op, _number(value)))

    def member(self, values: tuple[nodes.Value, ...]) -> ColumnElement[bool]:
        """``in (values)``: text values against the text, numbers against the number."""
        texts = [v for v in values if isinstance(v, str)]
        nums = [_number(v) for v in values if not isinstance(v, str)]
        parts = []
        if texts and self.text is not None:
            parts.append(self._guard(self.text, self.text.in_(texts)))
        if nums and self.num is not None:
            parts.append(self._guard(self.num, self.num.in_(nums)))
        return or_(*parts) if parts else false()

    def like(self, pattern: str) -> ColumnElement[bool]:
        """``like``: the text matches the LIKE pattern."""
        if self.text is None:
            return false()
        return self._guard(self.text, self.text.like(pattern, escape=_ESC))

    def over_runs(self, cond: ColumnElement[bool], negated: bool,
                  positive: bool) -> ColumnElement[bool]:
        """``cond`` (positive) as a condition on a run; negated: present and not ``cond``.
        ``positive``: whether the result is used as is (not under a ``not``)."""
        if negated:
            cond = not_(cond)
        if self.present is not None:
            cond = and_(self.present, cond)
        return self.wrap(cond, positive) if self.wrap is not None else cond

    def is_null(self, negated: bool, positive: bool) -> ColumnElement[bool]:
        """``is null`` (no value: missing, NULL or NaN) or ``is not null``."""
        present = self.present if self.present is not None else true()
        if self.wrap is not None:
            present = self.wrap(present, positive if negated else not positive)
        return present if negated else not_(present)


def _keyed(run_id: Any, where: list[ColumnElement[bool]], positive: bool
           ) -> ColumnElement[bool]:
    """Runs with a row in a keyed table (``run_fields``, ``metric_latest``, ``run_tags``)
    matching ``where``. Used as is: ``runs.id IN (SELECT run_id ...)``, uncorrelated, so the
    planner may start from the key's index when it is selective. Under ``not``: ``EXISTS``,
    so the negation is ``NOT EXISTS``, an anti-join (``NOT IN`` is not one on PostgreSQL).
    Neither is ever NULL: run ids never are."""
    if positive:
        return runs.c.id.in_(select(run_id).where(*where))
    return select(run_id).where(run_id == runs.c.id, *where).exists()


def _target(fld: nodes.Field, now: float, correlated: bool = False) -> _Target:
    if fld.section == "run":
        if fld.key == "stale":
            flag = case((runs.c.id.in_(select(run_stale.c.run_id)), literal(1.0, Float)),
                        else_=literal(0.0, Float))
            return _Target(flag, None, None)
        if fld.key == "duration_s":
            start, end = runs.c.started_at, runs.c.ended_at
            raw = func.coalesce(end, literal(now, Float)) - start
            duration = case((raw < 0.0, literal(0.0, Float)), else_=raw)
            return _Target(duration, None, start.is_not(None))
        col = runs.c[fld.key]
        present = col.is_not(None) if col.nullable else None
        return _Target(None, col, present) if fld.kind == "text" else \
            _Target(col, None, present)
    if fld.section == "metrics":
        ml = metric_latest.alias()
        metric = [ml.c.key == fld.key]
        return _Target(ml.c.value, None, ml.c.value.is_not(None),
                       wrap=lambda cond, positive: _keyed(
                           ml.c.run_id, [*metric, cond], positive and not correlated),
                       keyed=(ml.c.run_id, metric))
    rf = run_fields.alias()
    field = [rf.c.section == fld.section, rf.c.key == fld.key]
    return _Target(rf.c.num, rf.c.text, or_(rf.c.num.is_not(None), rf.c.text.is_not(None)),
                   typed=True, wrap=lambda cond, positive: _keyed(
                       rf.c.run_id, [*field, cond], positive and not correlated),
                   keyed=(rf.c.run_id, field))


def _predicate(node: nodes.Predicate, now: float, positive: bool,
               correlated: bool = False) -> ColumnElement[bool]:
    fld = node.field
    if isinstance(node, nodes.Contains) and fld.kind == "tags":
        if node.negated:
            return not_(_keyed(run_tags.c.run_id, [run_tags.c.tag == node.value],
                               not positive and not correlated))
        return _keyed(run_tags.c.run_id, [run_tags.c.tag == node.value],
                      positive and not correlated)
    target = _target(fld, now, correlated)
    if isinstance(node, nodes.IsNull):
        return target.is_null(node.negated, positive)
    if isinstance(node, nodes.Compare):
        cond = target.matches("=" if node.op == "!=" else node.op, node.value)
        return target.over_runs(cond, node.op == "!=", positive)
    if isinstance(node, nodes.In):
        return target.over_runs(target.member(node.values), node.negated, positive)
    pattern = sql_like_pattern(node.pattern) if isinstance(node, nodes.Like) \
        else _contains_pattern(node.value)
    return target.over_runs(target.like(pattern), node.negated, positive)


def compile_node(node: nodes.Node, now: float, positive: bool = True,
                 correlated: bool = False) -> ColumnElement[bool]:
    """The SQL condition for a parsed expression (``now`` ends unfinished runs;
    ``positive`` is false under an odd number of ``not``; ``correlated``: keyed lookups as
    ``EXISTS``, never ``IN``)."""
    if isinstance(node, nodes.And):
        return and_(*(compile_node(n, now, positive, correlated) for n in node.operands))
    if isinstance(node, nodes.Or):
        return or_(*(compile_node(n, now, positive, correlated) for n in node.operands))
    if isinstance(node, nodes.Not):
        return not_(compile_node(node.operand, now, not positive, correlated))
    return _predicate(node, now, positive, correlated)


def compile_where(expr: str, *, now: float | None = None,
                  correlated: bool = False) -> ColumnElement[bool]:
    """A ``where`` expression as a condition on ``runs``; a blank one matches every run.
    Raises ``InvalidInput`` (a ``WhereError``, pointing at the column) when malformed."""
    if isinstance(expr, str) and not expr.strip():
        return true()
    return compile_node(parse(expr), time.time() if now is None else now,
                        correlated=correlated)


def driver(node: nodes.Predicate, now: float) -> Select[Any] | None:
    """For a predicate that only runs with a row in a keyed table can satisfy (a positive
    comparison, ``in``, ``like`` or ``contains`` on config, summary, metrics or tags):
    ``SELECT run_id ...`` of those runs, a superset of the runs it matches (to start a plan
    from when it is small, see ``query.py``); ``None`` for other predicates."""
    fld = node.field
    if getattr(node, "negated", False) or (isinstance(node, nodes.Compare) and node.op == "!="):
        return None
    if isinstance(node, nodes.Contains) and fld.kind == "tags":
        return select(run_tags.c.run_id).where(run_tags.c.tag == node.value)
    if fld.section not in ("config", "summary", "metrics") or isinstance(node, nodes.IsNull):
        return None
    target = _target(fld, now)
    if isinstance(node, nodes.Compare):
        cond = target.matches(node.op, node.value)
    elif isinstance(node, nodes.In):
        cond = target.member(node.values)
    else:
        pattern = sql_like_pattern(node.pattern) if isinstance(node, nodes.Like) \
            else _contains_pattern(node.value)
        cond = target.like(pattern)
    assert target.keyed is not None and target.present is not None
    run_id, key = target.keyed
    return select(run_id).where(*key, target.present, cond)
