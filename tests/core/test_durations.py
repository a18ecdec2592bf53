"""The one duration grammar: what it accepts, what it refuses and how it says so — and that
the where-language, ``submit --timeout`` and ``gc --older-than`` all read it the same way."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

import picidae
from picidae.core.durations import DURATION, parse_duration, seconds
from picidae.core.submission import Spec
from picidae.core.where import Compare, Field, WhereError, parse
from picidae.errors import InvalidInput


@pytest.mark.parametrize(("text", "expected"), [
    ("90", 90), ("1.5", 1.5), (" 45s ", 45), ("30m", 1800), ("2h", 7200), ("1h30m", 5400),
    ("1.5d", 129600), ("2w", 1209600), (".5h", 1800), ("2H", 7200), ("1d12h", 129600),
    ("1e3", 1000), ("+90", 90),
])
def test_parse_duration_accepts_numbers_units_and_compounds(text: str, expected: float) -> None:
    assert parse_duration(text) == expected


def test_parse_duration_takes_numbers_and_timedeltas_and_passes_none() -> None:
    assert parse_duration(90) == 90.0
    assert parse_duration(2.5) == 2.5
    assert parse_duration(timedelta(hours=2)) == 7200
    assert parse_duration(None) is None


@pytest.mark.parametrize(("value", "message"), [
    ("30min", "unknown unit 'min'"),
    ("2 weeks", "unknown unit 'weeks'"),
    ("1y", "unknown unit 'y'"),
    ("1h 30m", "is a duration such as 90 (seconds), 45s"),
    ("h", "is a duration such as"),
    ("inf", "is a duration such as"),
    ("1e999", "must be a positive duration"),
    ("", "is a duration such as"),
    ("0", "must be a positive duration"),
    ("-1h", "must be a positive duration"),
    (-5, "must be a positive duration"),
    (float("inf"), "must be a positive duration"),
    (float("nan"), "must be a positive duration"),
    (True, "got bool True"),
    ([1], "got list"),
])
def test_parse_duration_refuses_with_a_message_naming_the_field(value: object,
                                                                message: str) -> None:
    with pytest.raises(InvalidInput, match=r"^timeout") as info:
        parse_duration(value, field="timeout")  # type: ignore[arg-type]
    assert message in info.value.message
    assert info.value.field == "timeout"


def test_the_pattern_matches_inside_text_and_seconds_converts() -> None:
    m = DURATION.match("1h30m and more")
    assert m is not None and m.group() == "1h30m" and seconds(m.group()) == 5400
    assert seconds("-2d") == -172800 and isinstance(seconds("1m"), int)
    assert seconds("1.25s") == 1.25


def test_where_submit_and_gc_read_the_same_grammar(tmp_path: Path) -> None:
    for text, expected in (("1.5d", 129600), ("2w", 1209600), ("1h30m", 5400)):
        assert parse(f"duration_s > {text}") == Compare(Field("run", "duration_s"), ">",
                                                        expected)
        assert Spec.build(["true"], timeout=text).timeout_s == expected
    store = str(tmp_path / "store")
    assert picidae.cleanup(older_than="2w", store=store) == []
    # One refusal everywhere for a unit outside the grammar.
    with pytest.raises(WhereError, match="malformed number '30min'"):
        parse("duration_s > 30min")
    with pytest.raises(InvalidInput, match=r"^timeout: unknown unit 'min'"):
        Spec.build(["true"], timeout="30min")
    with pytest.raises(InvalidInput, match=r"^older_than: unknown unit 'min'"):
        picidae.cleanup(older_than="30min", store=store)
