"""Checks on user input: run names, metric values, steps, tags and JSON-like values."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction
from types import MappingProxyType
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from picidae.core.ids import id_time, new_id
from picidae.core.validation import (
    MAX_DOC_BYTES,
    clean_fraction,
    clean_key,
    clean_mapping,
    clean_name,
    clean_step,
    clean_tags,
    deep_merge,
    flatten,
    metric_value,
)
from picidae.errors import InvalidInput


def test_none_name_becomes_default() -> None:
    assert clean_name(None) == "default"


@pytest.mark.parametrize(("raw", "clean"), [
    ("cv/resnet50/baseline", "cv/resnet50/baseline"),
    ("cv\\resnet50\\baseline", "cv/resnet50/baseline"),
    ("a\\b/c", "a/b/c"),
    ("a/.../b", "a/.../b"),
    ("ünïcode/名前", "ünïcode/名前"),
])
def test_valid_names_are_kept_with_backslashes_as_slashes(raw: str, clean: str) -> None:
    assert clean_name(raw) == clean


@pytest.mark.parametrize("bad", [
    "..", "a/..", "../a", "a/../b", "a\\..\\b", "", "   ", "/a", "a/", "a//b", "\\a",
    "a\x00b", "a\nb", "a\tb", "a\rb", "a\x1bb", "a\x7fb",
])
def test_bad_names_are_refused_with_a_value_error(bad: str) -> None:
    with pytest.raises(InvalidInput) as info:
        clean_name(bad)
    assert isinstance(info.value, ValueError)
    assert info.value.field == "name"
    assert "name" in str(info.value)


def test_non_string_name_is_refused() -> None:
    with pytest.raises(InvalidInput, match="name must be a string"):
        clean_name(42)


@pytest.mark.parametrize(("value", "expected"), [
    (1, 1.0), (-3, -3.0), (0.25, 0.25), (True, 1.0), (False, 0.0),
    (np.float32(0.5), 0.5), (np.float64(2.5), 2.5), (np.int64(7), 7.0), (np.int8(-2), -2.0),
    (np.bool_(True), 1.0), (np.array(1.5), 1.5), (np.array(3, dtype=np.int32), 3.0),
    (2**70, float(2**70)),
])
def test_metric_values_convert_to_float(value: object, expected: float) -> None:
    out = metric_value("acc", value)
    assert type(out) is float
    assert out == expected


@pytest.mark.parametrize("value", [math.nan, np.float64("nan"), np.float32("nan")])
def test_nan_metric_values_are_kept_as_nan(value: object) -> None:
    assert math.isnan(metric_value("loss", value))


@pytest.mark.parametrize("value", [math.inf, -math.inf, np.float64("-inf")])
def test_infinite_metric_values_are_kept(value: object) -> None:
    out = metric_value("loss", value)
    assert math.isinf(out) and (out > 0) == (float(value) > 0)  # type: ignore[arg-type]


@pytest.mark.parametrize(("value", "type_name"), [
    ("0.5", "str"), (None, "NoneType"), ([1.0], "list"), ({"a": 1}, "dict"),
    (np.array([1.0, 2.0]), "ndarray"), (b"1", "bytes"), (1 + 2j, "complex"),
    (Decimal("0.5"), "Decimal"), (Fraction(1, 2), "Fraction"), (object(), "object"),
])
def test_non_numeric_metric_values_name_the_key_and_the_type(value: object,
                                                            type_name: str) -> None:
    with pytest.raises(ValueError) as info:
        metric_value("val/acc", value)
    assert isinstance(info.value, InvalidInput)
    assert "val/acc" in str(info.value)
    assert type_name in str(info.value)


@pytest.mark.parametrize("key", ["", " acc", "acc ", "a\nb", "x" * 257, 3, None])
def test_bad_metric_keys_are_refused(key: object) -> None:
    with pytest.raises(InvalidInput):
        clean_key(key)


def test_steps_accept_ints_and_numpy_integers_only() -> None:
    assert clean_step(0) == 0
    assert clean_step(np.int64(12)) == 12
    for bad in (-1, 1.0, 1.5, True, "3", None, np.int64(-4)):
        with pytest.raises(InvalidInput, match="step"):
            clean_step(bad)


def test_tags_are_deduplicated_in_order_and_a_single_string_is_one_tag() -> None:
    assert clean_tags(["b", "a", "b", " c "]) == ["b", "a", "c"]
    assert clean_tags("ablation") == ["ablation"]
    assert clean_tags(None) == []


@pytest.mark.parametrize("bad", [[1], {"a": "b"}, 5, ["a\nb"], ["x" * 200]])
def test_bad_tags_are_refused(bad: object) -> None:
    with pytest.raises(InvalidInput, match="tags"):
        clean_tags(bad)


def test_config_values_must_be_json_like_with_string_keys() -> None:
    cfg = clean_mapping({"lr": np.float32(0.5), "layers": (1, 2), "opt": {"m": np.int64(3)},
                         "nan": math.nan}, "config")
    assert cfg["lr"] == 0.5 and cfg["layers"] == [1, 2] and cfg["opt"] == {"m": 3}
    assert math.isnan(cfg["nan"])
    with pytest.raises(InvalidInput, match="config"):
        clean_mapping({1: "a"}, "config")
    with pytest.raises(InvalidInput, match=r"config\.fn"):
        clean_mapping({"fn": object()}, "config")
    with pytest.raises(InvalidInput, match="config must be a dict"):
        clean_mapping([("a", 1)], "config")


def test_flatten_and_deep_merge_follow_nested_dicts() -> None:
    assert flatten({"opt": {"lr": 0.1, "betas": [0.9, 0.99]}, "bs": 32}) == {
        "opt.lr": 0.1, "opt.betas": [0.9, 0.99], "bs": 32}
    assert deep_merge({"a": {"b": 1, "c": 2}, "d": 1}, {"a": {"c": 3}, "e": 4}) == {
        "a": {"b": 1, "c": 3}, "d": 1, "e": 4}


@pytest.mark.parametrize("bad", [-0.01, 1.01, math.nan, math.inf, "0.5", None])
def test_progress_fraction_must_be_within_zero_and_one(bad: object) -> None:
    with pytest.raises(InvalidInput, match="progress"):
        clean_fraction(bad)
    assert clean_fraction(0) == 0.0 and clean_fraction(1) == 1.0


def test_ids_are_unique_time_sortable_uuid7_strings() -> None:
    ids = [new_id() for _ in range(5000)]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    assert all(len(i) == 36 and i[14] == "7" for i in ids)
    assert abs(id_time(ids[0]) - id_time(ids[-1])) < 60
    past = new_id(at=1_000_000.0)
    assert id_time(past) == 1_000_000.0
    assert past < ids[0]


def test_new_records_share_no_default_and_keep_plain_values() -> None:
    from picidae.core.record import new_record

    first, second = new_record("a"), new_record("b")
    for name in ("config", "tags", "inputs"):
        assert first[name] == second[name] and first[name] is not second[name]
    first["config"]["x"] = 1
    assert new_record("c")["config"] == {}
    given = {"f": 1.5, "i": 7, "b": True, "n": None, "s": "t", "np": np.float64(0.5),
             "nested": {"deep": [1, (2, 3)]}, "nan": float("nan")}
    kept = clean_mapping(given, "config")
    assert kept["nested"] == {"deep": [1, [2, 3]]} and math.isnan(kept["nan"])
    assert [type(kept[k]) for k in ("f", "i", "b", "n", "s", "np")] == [
        float, int, bool, type(None), str, np.float64]


# -- clean_mapping's one-pass path for plain dicts gives what the careful path gives ------

_text = st.text(alphabet=st.characters(max_codepoint=0x3000, blacklist_categories=()),
                max_size=6) | st.sampled_from(["lr", " lr", "lr ", "", "a\x7f", "x" * 257])
_leaf = (st.floats(allow_nan=False) | st.integers(min_value=-(1 << 70), max_value=1 << 70)
         | st.booleans() | st.none() | _text | st.just(np.float32(0.5)) | st.just(object()))
_docs = st.recursive(
    _leaf, lambda inner: st.lists(inner, max_size=3) | st.tuples(inner, inner)
    | st.dictionaries(_text | st.integers(), inner, max_size=4), max_leaves=20)


def _outcome(value: object) -> object:
    try:
        return ("ok", repr(clean_mapping(value, "config")))
    except InvalidInput as exc:
        return ("refused", str(exc), exc.field)


@hypothesis_settings(max_examples=400, deadline=None)
@given(st.dictionaries(_text | st.integers(), _docs, max_size=6))
def test_a_plain_dict_is_cleaned_as_any_other_mapping(doc: dict[Any, Any]) -> None:
    # A MappingProxyType is not a dict: it takes the careful path, key by key.
    assert _outcome(doc) == _outcome(MappingProxyType(doc))


def test_a_deep_or_large_plain_dict_is_measured_exactly() -> None:
    deep: dict[str, Any] = {"v": 1}
    for _ in range(40):
        deep = {"d": deep}
    with pytest.raises(InvalidInput, match="nested more than 32 levels"):
        clean_mapping(deep, "config")
    big = {"s": "x" * (MAX_DOC_BYTES - 8)}  # its bound is over the limit; its JSON is not
    assert clean_mapping(big, "config") == big
    with pytest.raises(InvalidInput, match="bytes as JSON"):
        clean_mapping({"s": "x" * MAX_DOC_BYTES}, "config")
    wide = {f"k{i}": {str(j): j for j in range(101)} for i in range(100)}
    with pytest.raises(InvalidInput, match="more than 10000 keys"):
        clean_mapping(wide, "config")


def test_a_key_is_judged_the_same_however_often_it_is_checked() -> None:
    from picidae.core import validation

    for _ in range(3):
        assert validation.clean_key("loss", "metric key") == "loss"
        for bad, field in ((" loss", "metric key"), ("a\nb", "output name"), ("", "x")):
            with pytest.raises(InvalidInput) as refused:
                validation.clean_key(bad, field)
            assert refused.value.field == field
    for i in range(validation._GOOD_KEYS_MAX + 10):  # past the bound: forgotten, still right
        assert validation.clean_key(f"k{i}") == f"k{i}"
    assert len(validation._good_keys) <= validation._GOOD_KEYS_MAX
    with pytest.raises(InvalidInput):
        validation.clean_key("x" * (validation.MAX_KEY + 1))
