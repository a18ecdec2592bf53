"""The where-language's evaluator in Python: whether one run's record matches an AST, by the
same rules ``store/sql/where_sql.py`` compiles to SQL (see the package docstring)."""

from __future__ import annotations

import json
import math
import operator
import re
import time
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from picidae.core.validation import flatten
from picidae.core.where import nodes
from picidae.core.where.parser import parse


def stored_value(value: Any) -> tuple[float | None, str | None]:
    """A config or summary value as the store indexes it: ``(num, text)``. Numbers go to
    ``num`` (NaN to neither; an int past every float as an infinity), strings to ``text``,
    booleans to both (1/0 and "true"/"false"), other JSON (lists, empty dicts) to ``text``
    as compact JSON, ``None`` to neither."""
    if isinstance(value, bool):
        return float(value), "true" if value else "false"
    if isinstance(value, int | float):
        try:
            num = float(value)
        except OverflowError:  # an int past any float (JSON holds it): beyond them all
            return (math.inf if value > 0 else -math.inf), None
        return (None if math.isnan(num) else num), None
    if isinstance(value, str):
        return None, value.replace("\x00", "\ufffd")  # as stored: PostgreSQL holds no NUL
    if value is None:
        return None, None
    return None, json.dumps(value, separators=(",", ":"), allow_nan=True)


_CMP: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}


@lru_cache(maxsize=256)
def like_regex(pattern: str) -> re.Pattern[str]:
    """A ``like`` pattern as a regex to ``fullmatch``: ``%``, ``_``, ``\\`` escapes."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def _cell(fld: nodes.Field, run: Mapping[str, Any], now: float) -> tuple[Any, str | None]:
    """The field's ``(num, text)`` for this run; both ``None`` when it has no value."""
    if fld.section == "run":
        if fld.key in nodes.BOOL_FIELDS:
            return (1.0 if run.get(fld.key) else 0.0), None
        if fld.key == "duration_s":
            start, end = run.get("started_at"), run.get("ended_at")
            if start is None:
                return None, None
            return max(0.0, (end if end is not None else now) - start), None
        value = run.get(fld.key)
        return (None, value) if fld.kind == "text" else (value, None)
    if fld.section == "metrics":
        metric = (run.get("metrics") or {}).get(fld.key)
        return (None if metric is None or math.isnan(metric) else metric), None
    values = run.get(fld.section) or {}
    if any(isinstance(v, Mapping) and v for v in values.values()):
        values = flatten(values)  # nested as stored: key it the way the store does
    return stored_value(values.get(fld.key))


def _matches(cell: tuple[Any, str | None], op: str, value: nodes.Value) -> bool:
    """The positive comparison: false when the value is missing or of the other type."""
    num, text = cell
    if isinstance(value, str):
        return text is not None and _CMP[op](text, value)
    return num is not None and _CMP[op](num, float(value) if isinstance(value, bool)
                                        else value)


def _predicate(node: nodes.Predicate, run: Mapping[str, Any], now: float) -> bool:
    if isinstance(node, nodes.Contains) and node.field.kind == "tags":
        return (node.value in (run.get("tags") or ())) != node.negated
    cell = _cell(node.field, run, now)
    present = cell[0] is not None or cell[1] is not None
    if isinstance(node, nodes.IsNull):
        return present == node.negated
    negated = node.negated if not isinstance(node, nodes.Compare) else node.op == "!="
    if isinstance(node, nodes.Compare):
        hit = _matches(cell, "=" if node.op == "!=" else node.op, node.value)
    elif isinstance(node, nodes.In):
        hit = any(_matches(cell, "=", v) for v in node.values)
    elif isinstance(node, nodes.Like):
        hit = cell[1] is not None and like_regex(node.pattern).fullmatch(cell[1]) is not None
    else:
        hit = cell[1] is not None and node.value in cell[1]
    return present and not hit if negated else hit


def _eval(node: nodes.Node, run: Mapping[str, Any], now: float) -> bool:
    if isinstance(node, nodes.And):
        return all(_eval(n, run, now) for n in node.operands)
    if isinstance(node, nodes.Or):
        return any(_eval(n, run, now) for n in node.operands)
    if isinstance(node, nodes.Not):
        return not _eval(node.operand, run, now)
    return _predicate(node, run, now)


def evaluate(node: nodes.Node | str, run: Mapping[str, Any], *, now: float | None = None) -> bool:
    """Whether ``run`` matches. ``run`` holds the run columns (``status``, ``created_at``...),
    ``config`` and ``summary`` (flat, ``{"opt.lr": 0.1}``, or nested as stored), ``metrics``
    as ``{key: latest value}`` and ``tags`` as a list. ``now`` (default: the current time) is
    the end of unfinished runs for ``duration_s``."""
    tree = parse(node) if isinstance(node, str) else node
    return _eval(tree, run, time.time() if now is None else now)
