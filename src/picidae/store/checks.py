"""The check every store applies to a batch before writing it (the SQL stores in ``write``,
the server on ``POST /runs/{id}/batch``): the same rules the SDK applies on the caller's
thread, applied again because a store cannot trust its callers — so a bad batch is the same
``InvalidInput``, with the same message, on every store. Which fields a batch may set, and
each one's check, come from the field table (``core.fields``)."""

from __future__ import annotations

from picidae.core.fields import clean_batch_fields
from picidae.core.validation import (
    MAX_TEXT_LINE,
    check_size,
    clean_key,
    clean_label,
    clean_mapping,
    clean_text,
    json_value,
)
from picidae.errors import InvalidInput
from picidae.store.base import Batch


def check_batch(batch: Batch) -> None:
    """Raise ``InvalidInput`` naming the first bad part of ``batch``."""
    for chunk in batch.chunks:
        clean_key(chunk.key, "metric key")
        if chunk.stage is not None:
            clean_label(chunk.stage, "stage")
    for line in batch.logs:
        if len(line.text) > MAX_TEXT_LINE:
            raise InvalidInput(f"a log line is over {MAX_TEXT_LINE} characters", field="logs")
        clean_text(line.text, "logs")
        clean_label(line.stream, "stream")
    # An empty dict passes each check as it is (most batches carry only points).
    if batch.config or type(batch.config) is not dict:
        batch.config = clean_mapping(batch.config, "config")
    if batch.summary or type(batch.summary) is not dict:
        batch.summary = clean_mapping(batch.summary, "summary")
    if batch.outputs or type(batch.outputs) is not dict:
        for name in batch.outputs:
            clean_key(name, "output name")
        batch.outputs = json_value(batch.outputs, "outputs")
        check_size(batch.outputs, "outputs")
    if batch.fields or type(batch.fields) is not dict:
        batch.fields = clean_batch_fields(batch.fields)
