"""MLflow's search grammar: filters (``metrics.acc > 0.5 and params.lr = '0.01'``), order_by
(``metrics.acc DESC``) and page tokens, evaluated over MLflow ``Run`` views (or anything a
``lookup(kind, key)`` can read: experiments, logged models).

A filter is clauses joined by ``AND``; a clause is ``ENTITY.KEY OP VALUE`` where the entity
is ``metrics``, ``params``, ``tags`` or ``attributes`` (and their singular and short forms),
a key may be quoted with backticks or double quotes, OP is ``= != > >= < <= LIKE ILIKE IN
NOT IN`` or ``IS [NOT] NULL``, and VALUE a number, a quoted string or a parenthesized list.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from picidae.server.mlflow.errors import invalid

ENTITIES = {"metric": "metrics", "metrics": "metrics", "param": "params", "params": "params",
            "parameter": "params", "parameters": "params", "tag": "tags", "tags": "tags",
            "attribute": "attributes", "attributes": "attributes", "attr": "attributes",
            "run": "attributes", "dataset": "datasets", "datasets": "datasets"}
NUMERIC_ATTRIBUTES = {"start_time", "end_time", "created", "creation_time",
                      "last_update_time", "creation_timestamp_ms", "last_updated_timestamp_ms"}
_TOKEN = re.compile(r"""\s*(?:
    (?P<str>'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.)*")
  | (?P<tick>`[^`]*`)
  | (?P<op>!=|>=|<=|=|>|<|\(|\)|,|\.)
  | (?P<num>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
  | (?P<word>[A-Za-z_][\w\-:/]*)
)""", re.X)


@dataclass
class Clause:
    """One comparison: ``entity`` (metrics, params, tags, attributes), ``key``, ``op`` and
    ``value`` (a list for IN, None for IS NULL)."""

    entity: str
    key: str
    op: str
    value: Any


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if not text[pos:].strip():
            break
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise invalid(f"Error on parsing filter '{text}': unexpected text at character "
                          f"{pos}: {text[pos:pos + 20]!r}")
        kind = match.lastgroup or ""
        value = match.group(kind)
        if kind == "str":
            value = value[1:-1].replace("''", "'") if value[0] == "'" else value[1:-1]
            value = re.sub(r"\\(.)", r"\1", value)
        elif kind == "tick":
            kind, value = "str", value[1:-1]
        out.append((kind, value))
        pos = match.end()
    return out


def parse_filter(text: str | None) -> list[Clause]:
    """The clauses of a filter string (empty for none); ``INVALID_PARAMETER_VALUE`` naming the
    problem otherwise."""
    if not text or not text.strip():
        return []
    tokens = _tokens(text)
    clauses: list[Clause] = []
    i = 0

    def take() -> tuple[str, str]:
        nonlocal i
        if i >= len(tokens):
            raise invalid(f"Error on parsing filter '{text}': it ends too early")
        i += 1
        return tokens[i - 1]

    while True:
        kind, word = take()
        if kind != "word":
            raise invalid(f"Error on parsing filter '{text}': expected an identifier such as "
                          f"metrics.acc, got {word!r}")
        entity, key = "attributes", word
        if i < len(tokens) and tokens[i] == ("op", "."):
            take()
            head = word
            key = take()[1]
            if head.lower() not in ENTITIES:
                raise invalid(f"Invalid entity type '{head}' in filter '{text}': use metrics, "
                              "params, tags or attributes")
            entity = ENTITIES[head.lower()]
        kind, op = take()
        op = op.upper()
        if op == "NOT":
            if take()[1].upper() != "IN":
                raise invalid(f"Error on parsing filter '{text}': NOT must be followed by IN")
            op = "NOT IN"
        if op == "IS":
            nxt = take()[1].upper()
            op = "IS NOT NULL" if nxt == "NOT" else "IS NULL"
            if nxt == "NOT":
                take()
            value: Any = None
        elif op in ("IN", "NOT IN"):
            if take() != ("op", "("):
                raise invalid(f"Error on parsing filter '{text}': IN takes a list in (...)")
            value = []
            while True:
                k, v = take()
                if (k, v) == ("op", ")"):
                    break
                if (k, v) != ("op", ","):
                    value.append(v)
        elif op in ("=", "!=", ">", ">=", "<", "<=", "LIKE", "ILIKE"):
            k, value = take()
            if k not in ("str", "num"):
                raise invalid(f"Error on parsing filter '{text}': expected a value after {op}")
        else:
            raise invalid(f"Invalid comparator '{op}' in filter '{text}'")
        clauses.append(Clause(entity, key, op, value))
        if i >= len(tokens):
            return clauses
        kind, word = take()
        if word.upper() != "AND":
            raise invalid(f"Error on parsing filter '{text}': clauses are joined by AND, "
                          f"got {word!r}")


def _like(pattern: str, text: str, ignore_case: bool) -> bool:
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, text, re.I | re.S if ignore_case else re.S) is not None


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def matches(clause: Clause, found: Any) -> bool:
    """Whether a value read for ``clause`` satisfies it (a missing value never does, but for
    ``IS NULL``)."""
    op = clause.op
    if op == "IS NULL":
        return found is None
    if op == "IS NOT NULL":
        return found is not None
    if found is None:
        return False
    if op in ("IN", "NOT IN"):
        return (str(found) in [str(v) for v in clause.value]) == (op == "IN")
    if op in ("LIKE", "ILIKE"):
        return _like(str(clause.value), str(found), op == "ILIKE")
    numeric = clause.entity == "metrics" or clause.key in NUMERIC_ATTRIBUTES
    left: Any = _number(found) if numeric else str(found)
    right: Any = _number(clause.value) if numeric else str(clause.value)
    if left is None or right is None:
        raise invalid(f"Expected a number for {clause.entity}.{clause.key}, got "
                      f"{clause.value!r}")
    if op == "=":
        return bool(left == right)
    if op == "!=":
        return bool(left != right)
    if op == ">":
        return bool(left > right)
    if op == ">=":
        return bool(left >= right)
    if op == "<":
        return bool(left < right)
    return bool(left <= right)


Lookup = Callable[[Any, str, str], Any]


def run_lookup(run: dict[str, Any], entity: str, key: str) -> Any:
    """A value of an MLflow ``Run`` view: ``metrics``/``params``/``tags`` by key, or an
    attribute of its info (``run_name``, ``status``, ``start_time``...)."""
    if entity in ("metrics", "params", "tags"):
        for item in run["data"][entity]:
            if item["key"] == key:
                return item["value"]
        return None
    if entity == "datasets":
        return None
    key = {"id": "run_id", "name": "run_name", "created": "start_time",
           "Created": "start_time"}.get(key, key)
    return run["info"].get(key)


def apply(items: list[Any], clauses: list[Clause], lookup: Lookup) -> list[Any]:
    """The items every clause matches."""
    return [it for it in items
            if all(matches(c, lookup(it, c.entity, c.key)) for c in clauses)]


def order(items: list[Any], order_by: list[str], lookup: Lookup,
          default: tuple[str, str, bool]) -> list[Any]:
    """``items`` sorted by ``order_by`` (``ENTITY.KEY [ASC|DESC]``; missing values last),
    then by ``default`` ``(entity, key, descending)``."""
    keys: list[tuple[str, str, bool]] = []
    for text in order_by:
        parts = text.strip().rsplit(None, 1)
        desc = False
        if len(parts) == 2 and parts[1].upper() in ("ASC", "DESC"):
            desc = parts[1].upper() == "DESC"
            text = parts[0]
        clauses = parse_filter(f"{text.strip()} IS NULL") if text.strip() else []
        if len(clauses) != 1:
            raise invalid(f"Invalid order_by clause '{text}'")
        keys.append((clauses[0].entity, clauses[0].key, desc))
    keys.append(default)
    out = list(items)
    for entity, key, desc in reversed(keys):
        def sort_key(item: Any, entity: str = entity, key: str = key) -> tuple[int, Any]:
            value = lookup(item, entity, key)
            if value is None:
                return (1, 0)
            number = _number(value) if entity == "metrics" or key in NUMERIC_ATTRIBUTES \
                else None
            return (0, number if number is not None else str(value))
        present = [it for it in out if lookup(it, entity, key) is not None]
        missing = [it for it in out if lookup(it, entity, key) is None]
        out = sorted(present, key=sort_key, reverse=desc) + missing
    return out


def page(items: list[Any], token: str | None, max_results: int) -> tuple[list[Any],
                                                                           str | None]:
    """One page of ``items`` from ``token`` and the token of the next one."""
    offset = 0
    if token:
        try:
            offset = int(json.loads(base64.b64decode(token))["offset"])
            if offset < 0:
                raise ValueError
        except (ValueError, KeyError, TypeError):
            raise invalid(f"Invalid page token {token!r}") from None
    chunk = items[offset:offset + max_results]
    more = offset + max_results < len(items)
    return chunk, (base64.b64encode(json.dumps({"offset": offset + max_results}).encode())
                   .decode() if more else None)
