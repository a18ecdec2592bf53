"""Exporting a listing as a flat table: JSON, CSV or Parquet.

One row per run: its fields (times as ISO 8601 UTC strings), then ``config.KEY``,
``summary.KEY`` (flattened with dots) and ``metrics.KEY`` (latest values). Lists and dicts
stay as they are in JSON and become compact JSON text in CSV and Parquet. Parquet needs
``pyarrow`` (``pip install 'picidae[parquet]'``); a column whose values differ in type there
is written as text.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import IO, Any

from picidae.core.fields import names
from picidae.core.validation import flatten
from picidae.errors import InvalidInput, MissingDependency
from picidae.store.base import RunQuery, Store

FORMATS = ("json", "csv", "parquet")
#: Run fields, in column order: the table's ``flat`` fields (``core.fields``).
COLUMNS = names(flat=True)
_TIMES = frozenset(names(query="time"))
_PAGE = 1000


def iso(value: float | None) -> str | None:
    """Epoch seconds as an ISO 8601 UTC string."""
    if value is None:
        return None
    return datetime.fromtimestamp(value, UTC).isoformat().replace("+00:00", "Z")


def row(record: dict[str, Any], latest: dict[str, float]) -> dict[str, Any]:
    """One run as a flat row (see the module docstring)."""
    out: dict[str, Any] = {}
    for name in COLUMNS:
        value = record.get(name)
        if name in _TIMES:
            value = iso(value)
        elif name == "stale":
            value = value is not None
        elif name == "cost" and isinstance(value, dict):
            value = value.get("amount", value.get("total"))
        out[name] = value
    for section in ("config", "summary"):
        for key, value in flatten(record.get(section) or {}).items():
            out[f"{section}.{key}"] = value
    for key, value in sorted(latest.items()):
        out[f"metrics.{key}"] = value
    return out


def rows(store: Store, query: RunQuery) -> Iterator[dict[str, Any]]:
    """The flat rows of every run ``query`` matches (its ``limit`` respected), read a page at
    a time."""
    remaining = query.limit
    offset = query.offset
    while remaining is None or remaining > 0:
        size = _PAGE if remaining is None else min(_PAGE, remaining)
        page = store.list_runs(replace(query, limit=size, offset=offset))
        if not page:
            return
        latest = store.latest_metrics([r["id"] for r in page])
        for rec in page:
            yield row(rec, latest.get(rec["id"], {}))
        offset += len(page)
        if remaining is not None:
            remaining -= len(page)
        if len(page) < size:
            return


def _columns(table: list[dict[str, Any]]) -> list[str]:
    names = list(COLUMNS)
    extra: set[str] = set()
    for item in table:
        extra.update(k for k in item if k not in COLUMNS)
    order = {"config": 0, "summary": 1, "metrics": 2}
    return names + sorted(extra, key=lambda k: (order.get(k.split(".", 1)[0], 3), k))


def _cell(value: Any) -> Any:
    """A value for CSV or Parquet: lists and dicts as compact JSON text."""
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(",", ":"), allow_nan=True)
    return value


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN or infinities
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    return value


def write(table: Iterator[dict[str, Any]] | list[dict[str, Any]], fmt: str,
          out: IO[bytes]) -> int:
    """Write the rows to a binary stream in ``fmt``; returns how many were written."""
    if fmt not in FORMATS:
        raise InvalidInput(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}",
                           field="format")
    items = list(table)
    if fmt == "json":
        out.write(json.dumps([_json_safe(r) for r in items], indent=2, ensure_ascii=False)
                  .encode())
        out.write(b"\n")
    elif fmt == "csv":
        text = io.StringIO(newline="")
        writer = csv.DictWriter(text, fieldnames=_columns(items), extrasaction="ignore",
                                lineterminator="\n")
        writer.writeheader()
        for item in items:
            writer.writerow({k: _cell(v) for k, v in item.items()})
        out.write(text.getvalue().encode())
    else:
        _parquet(items, out)
    return len(items)


def _parquet(items: list[dict[str, Any]], out: IO[bytes]) -> None:
    try:
        import pyarrow as pa  # type: ignore[import-untyped]
        import pyarrow.parquet as pq  # type: ignore[import-untyped]
    except ImportError:
        raise MissingDependency("pyarrow", "parquet") from None
    columns: dict[str, list[Any]] = {}
    for name in _columns(items):
        values = [_cell(item.get(name)) for item in items]
        kinds = {type(v) for v in values if v is not None}
        if kinds == {int, float}:
            values = [None if v is None else float(v) for v in values]
        elif len(kinds) > 1:
            values = [None if v is None else str(v) for v in values]
        columns[name] = values
    pq.write_table(pa.table(columns), out)
