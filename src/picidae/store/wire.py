"""The wire form of store data, shared by the HTTP client store and the server.

Metric chunks travel as base64 of their packed little-endian arrays (exact, NaN-safe and far
smaller than JSON numbers); everything else is plain JSON, where NaN and infinities are the
strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"`` unless the client asked for them as
bare tokens (``server/jsonresp.py``). No SQLAlchemy here.
"""

from __future__ import annotations

import base64
import sys
from array import array
from typing import Any

from picidae.core.alerts import check_alert
from picidae.core.run import LogLine
from picidae.errors import InvalidInput
from picidae.store.base import Batch, SeriesChunk

_SWAP = sys.byteorder == "big"


def pack(values: array[Any]) -> str:
    """An array as base64 of its little-endian bytes."""
    if _SWAP:
        values = array(values.typecode, values)
        values.byteswap()
    return base64.b64encode(values.tobytes()).decode("ascii")


def unpack(typecode: str, text: str, field: str) -> array[Any]:
    """The array ``pack`` wrote; ``InvalidInput`` naming ``field`` if it is not one."""
    try:
        raw = base64.b64decode(text, validate=True)
        out = array(typecode)
        out.frombytes(raw)
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"{field} is not a packed {typecode!r} array: {exc}",
                           field=field) from None
    if _SWAP:
        out.byteswap()
    return out


def batch_to_wire(batch: Batch) -> dict[str, Any]:
    """A ``Batch`` as JSON-ready data."""
    return {
        "batch_id": batch.batch_id,
        "chunks": [{"key": c.key, "stage": c.stage, "steps": pack(c.steps),
                    "values": pack(c.values), "times": pack(c.times)} for c in batch.chunks],
        "logs": [[ln.time, ln.stream, ln.text] for ln in batch.logs],
        "config": batch.config, "summary": batch.summary, "outputs": batch.outputs,
        "fields": batch.fields, "heartbeat_at": batch.heartbeat_at,
        **({"alerts": batch.alerts} if batch.alerts else {}),
    }


def wire_list(data: Any, name: str) -> list[Any]:
    """``data[name]`` as a list (absent or ``null``: empty), or ``InvalidInput`` naming it."""
    value = data.get(name) if isinstance(data, dict) else None
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidInput(f"{name} must be a list, got {type(value).__name__}", field=name)
    return value


def batch_from_wire(data: dict[str, Any]) -> Batch:
    """A ``Batch`` from its wire form, checking shapes (values are validated by the caller)."""
    chunks = []
    for i, c in enumerate(wire_list(data, "chunks")):
        where = f"chunks[{i}]"
        if not isinstance(c, dict) or not isinstance(c.get("key"), str):
            raise InvalidInput(f"{where} needs a string key", field=where)
        steps = unpack("q", c.get("steps", ""), f"{where}.steps")
        values = unpack("d", c.get("values", ""), f"{where}.values")
        times = unpack("d", c.get("times", ""), f"{where}.times")
        if not len(steps) == len(values) == len(times):
            raise InvalidInput(f"{where}: steps, values and times differ in length",
                               field=where)
        if any(s < 0 for s in steps):
            raise InvalidInput(f"{where}: steps must be non-negative", field=f"{where}.steps")
        stage = c.get("stage")
        if stage is not None and not isinstance(stage, str):
            raise InvalidInput(f"{where}.stage must be a string", field=f"{where}.stage")
        chunks.append(SeriesChunk(c["key"], stage, steps, values, times))
    logs = []
    for i, row in enumerate(wire_list(data, "logs")):
        if (not isinstance(row, list | tuple) or len(row) != 3
                or not isinstance(row[0], int | float) or not isinstance(row[1], str)
                or not isinstance(row[2], str)):
            raise InvalidInput(f"logs[{i}] must be [time, stream, text]", field=f"logs[{i}]")
        logs.append(LogLine(float(row[0]), row[1], row[2]))
    batch = Batch(chunks=chunks, logs=logs)
    for name in ("config", "summary", "outputs", "fields"):
        value = data.get(name) or {}
        if not isinstance(value, dict):
            raise InvalidInput(f"{name} must be an object", field=name)
        setattr(batch, name, value)
    hb = data.get("heartbeat_at")
    if hb is not None and not isinstance(hb, int | float):
        raise InvalidInput("heartbeat_at must be a number", field="heartbeat_at")
    batch.heartbeat_at = hb
    for i, alert in enumerate(wire_list(data, "alerts")):
        if not isinstance(alert, dict):
            raise InvalidInput(f"alerts[{i}] must be an object", field=f"alerts[{i}]")
        at = alert.get("at")
        batch.alerts.append({**check_alert(alert.get("title"), alert.get("text"),
                                           alert.get("level", "info")),
                             "at": float(at) if isinstance(at, int | float) else None})
    batch.batch_id = data.get("batch_id") if isinstance(data.get("batch_id"), str) else None
    return batch


# -- NaN and infinities in JSON (see server/jsonresp.py) ----------------------------------

_NAMES = {float("inf"): "Infinity", float("-inf"): "-Infinity"}


def spell_nonfinite(value: Any, nan: Any = "NaN") -> Any:
    """``value`` with NaN as ``nan`` and infinities as ``"Infinity"``/``"-Infinity"`` (or,
    with ``nan=None``, every non-finite float as ``None``). Containers are copied only when
    they hold a non-finite float."""
    kind = type(value)
    if kind is float:
        if value - value == 0:  # finite (inf - inf and NaN - NaN are NaN)
            return value
        if nan is None:
            return None
        return _NAMES.get(value, nan)
    if kind is dict:
        out = None
        for k, v in value.items():
            new = spell_nonfinite(v, nan)
            if new is not v:
                if out is None:
                    out = dict(value)
                out[k] = new
        return value if out is None else out
    if kind is list or kind is tuple:
        items = None
        for i, v in enumerate(value):
            new = spell_nonfinite(v, nan)
            if new is not v:
                if items is None:
                    items = list(value)
                items[i] = new
        return value if items is None else items
    return value


def parse_nonfinite(value: Any) -> Any:
    """A number the API wrote as ``"NaN"``, ``"Infinity"`` or ``"-Infinity"`` as a float;
    anything else as it is (for values that are always numbers, such as metric values)."""
    if value in ("NaN", "Infinity", "-Infinity"):
        return float(value.replace("Infinity", "inf"))
    return value
