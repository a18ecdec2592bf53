"""Checks on batches arriving over HTTP: the same rules the SDK applies on the caller's thread,
applied again because a server cannot trust its clients."""

from __future__ import annotations

from typing import Any

from picidae.core.validation import (
    MAX_TEXT_LINE,
    clean_key,
    clean_label,
    clean_mapping,
    clean_tags,
    json_value,
)
from picidae.errors import InvalidInput
from picidae.store.base import Batch

#: Data fields a batch may replace whole, and how each is checked.
_FIELDS = {"primary_metric", "progress", "tags", "code", "env", "command", "image", "inputs",
           "resources", "cost", "compute", "evaluation"}


def check_batch(batch: Batch) -> None:
    """Raise ``InvalidInput`` naming the first bad part of ``batch``."""
    for chunk in batch.chunks:
        clean_key(chunk.key, "metric key")
        if chunk.stage is not None:
            clean_label(chunk.stage, "stage")
    for line in batch.logs:
        if len(line.text) > MAX_TEXT_LINE:
            raise InvalidInput(f"a log line is over {MAX_TEXT_LINE} characters", field="logs")
        clean_label(line.stream, "stream")
    batch.config = clean_mapping(batch.config, "config")
    batch.summary = clean_mapping(batch.summary, "summary")
    for name in batch.outputs:
        clean_key(name, "output name")
    batch.outputs = json_value(batch.outputs, "outputs")
    for name, value in batch.fields.items():
        if name not in _FIELDS:
            raise InvalidInput(f"field {name!r} cannot be set in a batch; settable: "
                               f"{', '.join(sorted(_FIELDS))}", field=f"fields.{name}")
        batch.fields[name] = _field(name, value)


def _field(name: str, value: Any) -> Any:
    if name == "tags":
        return clean_tags(value)
    if name == "primary_metric":
        from picidae.core.record import clean_primary

        return clean_primary(value)
    return json_value(value, f"fields.{name}")
