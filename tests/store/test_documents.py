"""``documents.reparsed(doc)`` is exactly ``json.loads(documents.dumps(doc))`` whenever it
gives anything: the same types (bool, int, float, their subclasses made plain), the same
values (NaN, infinities, -0.0, ints of any size, any text), the same key order, and nothing
shared with ``doc``; for what it does not copy it says so (``None``) and the caller parses."""

from __future__ import annotations

import enum
import json
import math
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from picidae.store.sql.documents import dumps, reparsed


class Mode(enum.IntEnum):
    FAST = 1


class Ratio(float):
    pass


class Label(str):
    pass


_LEAF = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(), st.just(-0.0), st.text(),
    st.just(Mode.FAST), st.builds(Ratio, st.floats()), st.builds(Label, st.text()))
_KEY = st.one_of(st.text(), st.builds(Label, st.text()), st.integers(), st.booleans(),
                 st.none(), st.floats())
_DOC = st.recursive(_LEAF, lambda inner: st.one_of(
    st.lists(inner), st.lists(inner).map(tuple), st.dictionaries(st.text(), inner),
    st.dictionaries(_KEY, inner)), max_leaves=15)


def _same(a: Any, b: Any) -> bool:
    """Equal with the same types and key order all the way down; NaN equal to NaN and -0.0
    told from 0.0."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (
            a == b and math.copysign(1.0, a) == math.copysign(1.0, b))
    if isinstance(a, dict):
        return (list(a) == list(b) and all(type(k) is type(j) for k, j in zip(a, b, strict=True))
                and all(_same(a[k], b[k]) for k in a))
    if isinstance(a, list):
        return len(a) == len(b) and all(map(_same, a, b))
    return bool(a == b)


def _containers(value: Any, into: set[int]) -> set[int]:
    if isinstance(value, dict | list | tuple):
        into.add(id(value))
        for item in value.values() if isinstance(value, dict) else value:
            _containers(item, into)
    return into


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.dictionaries(st.text(max_size=5), _DOC, max_size=6))
def test_a_copied_document_is_what_its_json_parses_to(doc: dict[Any, Any]) -> None:
    got = reparsed(doc)
    if got is None:
        return  # not copied: the caller parses the text
    assert _same(got, json.loads(dumps(doc)))
    assert not _containers(got, set()) & _containers(doc, set())  # nothing shared


def test_what_json_changes_or_cannot_write_is_not_copied() -> None:
    shared = [1.5]
    deep: dict[str, Any] = {}
    inner = deep
    for _ in range(200):
        inner["a"] = {}
        inner = inner["a"]
    loop: dict[str, Any] = {}
    loop["self"] = loop
    for doc in ({"k": (1, 2)}, {"k": Mode.FAST}, {"k": Label("x")}, {1: "int key"},
                {"k": {"n": Ratio(0.5)}}, deep, loop):
        assert reparsed(doc) is None
    copied = reparsed({"a": shared, "b": shared, "big": 10**400, "neg": -0.0})
    assert copied is not None and copied["a"] is not copied["b"] and copied["a"] is not shared
    assert copied["big"] == 10**400 and math.copysign(1.0, copied["neg"]) == -1.0
