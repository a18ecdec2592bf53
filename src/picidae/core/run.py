"""The run record: which fields a run has, and where each lives.

A record is a plain dict keyed by the contract's field names. The field table
(``core.fields``) says where each is stored; the tuples here are derived from it:
``COLUMN_FIELDS`` are stored as columns (so they can be filtered and sorted in SQL);
``DATA_FIELDS`` travel together as one JSON document. ``transitions`` are rows of their own.
"""

from __future__ import annotations

from typing import Any, NamedTuple, SupportsIndex, overload

from picidae.core.fields import COLUMN, DATA, TABLE, TRIGGERS, data_default, names

__all__ = ["COLUMN_FIELDS", "DATA_DEFAULTS", "DATA_FIELDS", "FIELDS", "TRIGGERS", "LogLine",
           "Point", "data_default", "duration_s"]

COLUMN_FIELDS: tuple[str, ...] = names(stored=COLUMN)

DATA_FIELDS: tuple[str, ...] = names(stored=DATA)

#: Every field of a run as the contract lists it (``duration_s`` is derived; ``stale`` —
#: ``None``, or why a newer version of an input makes the run outdated — is kept by the
#: store, see ``store/sql/lineage.py``).
FIELDS: tuple[str, ...] = tuple(f.name for f in TABLE)

#: Defaults for the data fields of a new run (read-only: ``data_default`` gives a copy).
DATA_DEFAULTS: dict[str, Any] = {name: data_default(name) for name in DATA_FIELDS}


class Point(NamedTuple):
    """One metric point: ``step``, ``value``, ``time`` (epoch seconds) and ``stage``."""

    step: int
    value: float
    time: float
    stage: str | None


class LogLine(NamedTuple):
    """One line of a run's log: ``time`` (epoch seconds), ``stream`` and the ``text``."""

    time: float
    stream: str
    text: str


class Logs(list[LogLine]):
    """A run's log lines as ``RunView.logs()`` returns them: a list of ``LogLine`` whose
    ``str()`` is the text (one line each) and where ``"text" in logs`` is true when any line
    contains that text (a ``LogLine`` is looked for as a whole line, as in a list)."""

    def __str__(self) -> str:
        return "\n".join(line.text for line in self)

    def __contains__(self, item: object) -> bool:
        if isinstance(item, str):
            return any(item in line.text for line in self)
        return list.__contains__(self, item)

    @overload
    def __getitem__(self, index: SupportsIndex) -> LogLine: ...

    @overload
    def __getitem__(self, index: slice) -> Logs: ...

    def __getitem__(self, index: SupportsIndex | slice) -> LogLine | Logs:
        if isinstance(index, slice):
            return Logs(list.__getitem__(self, index))
        return list.__getitem__(self, index)

    @property
    def text(self) -> str:
        """The lines' text joined with newlines (``str(logs)``)."""
        return str(self)


def duration_s(record: dict[str, Any], now: float) -> float | None:
    """Seconds from start to end (or to now, while the run has not ended)."""
    start = record.get("started_at")
    if start is None:
        return None
    end = record.get("ended_at")
    return max(0.0, float((end if end is not None else now) - start))
