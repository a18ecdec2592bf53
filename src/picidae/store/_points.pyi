"""Rows of a tuple subclass (``MetricSeries``' Points) built in C: the optional accelerator
compiled from ``_points.c``; ``picidae.store.series.zip_as_python`` is its fallback."""

from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

_Row = TypeVar("_Row", bound=tuple[Any, ...])

def zip_as(cls: type[_Row], /, *iterables: Iterable[Any]) -> Iterator[_Row]:
    """``zip(*iterables, strict=True)`` with each row made as ``tuple.__new__(cls, row)``;
    ``cls`` must be a tuple subclass with as many ``_fields`` as iterables and no instance
    attributes (a NamedTuple), else TypeError. ValueError when the lengths differ."""
