"""The ``where`` language as text: what parses to what, and what each mistake says."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from picidae.core.where import (
    MAX_DEPTH,
    MAX_PREDICATES,
    And,
    Compare,
    Contains,
    Field,
    In,
    IsNull,
    Like,
    Not,
    Or,
    WhereError,
    parse,
)
from picidae.errors import InvalidInput

CFG_LR = Field("config", "lr")
ACC = Field("metrics", "acc")
STATUS = Field("run", "status")


# -- valid ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("expr", "tree"), [
    ("config.lr = 0.01", Compare(CFG_LR, "=", 0.01)),
    ("config.lr == 0.01", Compare(CFG_LR, "=", 0.01)),
    ("config.lr <> 1", Compare(CFG_LR, "!=", 1)),
    ("metrics.acc>=0.9", Compare(ACC, ">=", 0.9)),
    ("metrics.acc < -1e-3", Compare(ACC, "<", -0.001)),
    ("metrics.acc <= .5", Compare(ACC, "<=", 0.5)),
    ("metrics.acc > 1e999", Compare(ACC, ">", float("inf"))),
    ('status = "completed"', Compare(STATUS, "=", "completed")),
    ("status = 'finished'", Compare(STATUS, "=", "completed")),
    ('status in ("succeeded", "abandoned")', In(STATUS, ("completed", "canceled"))),
    ('status not in ("lost",)', In(STATUS, ("lost",), negated=True)),
    ('tags contains "ablation"', Contains(Field("tags", ""), "ablation")),
    ('tags not contains "x"', Contains(Field("tags", ""), "x", negated=True)),
    ('name like "cv/%"', Like(Field("run", "name"), "cv/%")),
    ('name not like "cv/_"', Like(Field("run", "name"), "cv/_", negated=True)),
    ('name contains "res"', Contains(Field("run", "name"), "res")),
    ("alias is null", IsNull(Field("run", "alias"))),
    ("summary.best IS NOT NULL", IsNull(Field("summary", "best"), negated=True)),
    ("config.opt.lr = 0.1", Compare(Field("config", "opt.lr"), "=", 0.1)),
    ("metrics.train/loss < 0.5", Compare(Field("metrics", "train/loss"), "<", 0.5)),
    ("metrics.val-loss@top:1 < 0.5", Compare(Field("metrics", "val-loss@top:1"), "<", 0.5)),
    ("config.`my key` = 1", Compare(Field("config", "my key"), "=", 1)),
    ("config.opt.`a=b`.c = 1", Compare(Field("config", "opt.a=b.c"), "=", 1)),
    (r"config.`tick\`s` = 1", Compare(Field("config", "tick`s"), "=", 1)),
    ("config.flag = true", Compare(Field("config", "flag"), "=", True)),
    ("config.flag = FALSE", Compare(Field("config", "flag"), "=", False)),
    ("config.Name = 'x'", Compare(Field("config", "Name"), "=", "x")),
    ("seed = 42", Compare(Field("run", "seed"), "=", 42)),
    ("attempt > 1", Compare(Field("run", "attempt"), ">", 1)),
    ("duration_s > 3600", Compare(Field("run", "duration_s"), ">", 3600)),
    ("duration_s > 1h", Compare(Field("run", "duration_s"), ">", 3600)),
    ("duration_s < 1h30m", Compare(Field("run", "duration_s"), "<", 5400)),
    ("duration_s >= 1.5d", Compare(Field("run", "duration_s"), ">=", 129600)),
    ("duration_s > 2w", Compare(Field("run", "duration_s"), ">", 1209600)),
    ("duration_s < '45s'", Compare(Field("run", "duration_s"), "<", 45)),
    ("config.timeout = 30m", Compare(Field("config", "timeout"), "=", 1800)),
    ('created_at > "2026-11-01"', Compare(Field("run", "created_at"), ">",
                                          datetime(2026, 11, 1, tzinfo=UTC).timestamp())),
    ('ended_at < "2026-11-01T12:30:00Z"', Compare(
        Field("run", "ended_at"), "<", datetime(2026, 11, 1, 12, 30, tzinfo=UTC).timestamp())),
    ('started_at >= "2026-11-01T12:30:00+02:00"', Compare(
        Field("run", "started_at"), ">=",
        datetime(2026, 11, 1, 10, 30, tzinfo=UTC).timestamp())),
    ("last_heartbeat_at > 1700000000", Compare(Field("run", "last_heartbeat_at"), ">",
                                               1700000000)),
    ('STATUS = "running" AND Not config.lr = 1 oR tags CONTAINS "a"',
     Or((And((Compare(STATUS, "=", "running"), Not(Compare(CFG_LR, "=", 1)))),
         Contains(Field("tags", ""), "a")))),
    ("(config.lr = 1 or config.lr = 2) and metrics.acc > 0",
     And((Or((Compare(CFG_LR, "=", 1), Compare(CFG_LR, "=", 2))), Compare(ACC, ">", 0)))),
    ("not not metrics.acc > 0", Not(Not(Compare(ACC, ">", 0)))),
    ('config.opt in ("adam", 1, true,)', In(Field("config", "opt"), ("adam", 1, True))),
    ('name = "say \\"hi\\"\\n"', Compare(Field("run", "name"), "=", 'say "hi"\n')),
    (r'name like "50\%"', Like(Field("run", "name"), r"50\%")),
    ("config.x = 'it''s'", None),  # two strings in a row: malformed, tested below
])
def test_valid_expressions_parse_to_the_expected_tree(expr: str, tree: object) -> None:
    if tree is None:
        with pytest.raises(InvalidInput):
            parse(expr)
        return
    assert parse(expr) == tree


def test_and_binds_tighter_than_or() -> None:
    a, b, c = (Compare(Field("run", "seed"), "=", n) for n in (1, 2, 3))
    assert parse("seed = 1 or seed = 2 and seed = 3") == Or((a, And((b, c))))
    assert parse("seed = 1 and seed = 2 or seed = 3") == Or((And((a, b)), c))
    assert parse("not seed = 1 and seed = 2") == And((Not(a), b))


def test_whitespace_and_newlines_are_insignificant() -> None:
    assert parse("  config.lr\n=\t0.01  ") == Compare(CFG_LR, "=", 0.01)


# -- malformed: the message quotes the expression and points at the column -----------------

def test_missing_value_points_past_the_operator() -> None:
    expr = "config.lr = 0.01 and metrics.acc >"
    with pytest.raises(WhereError) as info:
        parse(expr)
    err = info.value
    assert isinstance(err, InvalidInput) and isinstance(err, ValueError)
    assert err.field == "where" and err.code == "invalid_input"
    assert err.column == len(expr) + 1
    assert str(err) == (
        "where: expected a value after '>' at column 35\n"
        "  config.lr = 0.01 and metrics.acc >\n"
        "                                    ^")


@pytest.mark.parametrize(("expr", "column", "says"), [
    ("", 1, "empty expression"),
    ("   ", 4, "empty expression"),
    ("config.lr =", 12, "expected a value after '='"),
    ("config.lr = and x", 13, "expected a value after '=', found 'and'"),
    ("config.lr 0.01", 11, "expected an operator after 'config.lr'"),
    ("foo = 1", 1, "unknown field 'foo'"),
    ("metrics.acc > 1 and lr = 1", 21, "unknown field 'lr'"),
    ("params.lr = 1", 1, "unknown field 'params.lr'"),
    ("config = 1", 1, "config needs a key"),
    ("config. = 1", 1, "config. needs a key"),
    ("stauts = 'x'", 1, "unknown field 'stauts'"),
    ('status = "bogus"', 10, "unknown state 'bogus'"),
    ("name = 3", 8, "name takes a quoted string"),
    ("seed = 'x'", 8, "seed takes a number"),
    ("seed = true", 8, "seed takes a number, not true or false"),
    ('metrics.acc = "high"', 15, "metrics.acc takes a number"),
    ('created_at > "yesterday"', 14, '"yesterday" is not a date'),
    ("created_at > 1d", 14, "created_at takes a date"),
    ("duration_s > 'long'", 14, "duration_s takes seconds"),
    ("config.lr = 'abc", 13, "unterminated string"),
    ("config.`abc = 1", 8, "unterminated key"),
    ("`x` = 1", 1, "backtick-quoted key needs a section"),
    ("metrics.acc > 1x", 15, "malformed number '1x'"),
    ("metrics.acc > 1.2.3", 15, "malformed number"),
    ("metrics.acc > 5ms", 15, "malformed number"),
    ("metrics.acc # 1", 13, "unexpected character '#'"),
    ("(metrics.acc > 1", 17, "expected ')' to close the '(' at column 1"),
    ("metrics.acc > 1)", 16, "unmatched ')'"),
    ("metrics.acc > 1 metrics.acc < 2", 17, "unexpected 'metrics.acc' after a complete"),
    ("metrics.acc > 1 and", 20, "expected a condition after 'and'"),
    ("and metrics.acc > 1", 1, "expected a condition"),
    ("()", 2, "expected a condition after '('"),
    ("not", 4, "expected a condition after 'not'"),
    ("config.x not = 1", 14, "expected 'in', 'like' or 'contains' after 'not'"),
    ("config.x is 1", 13, "expected 'null' after 'is'"),
    ("config.x is not", 16, "expected 'null' after 'not'"),
    ("config.x = null", 12, "null is not a value here"),
    ("config.x in 1", 13, "'in' needs a list in parentheses"),
    ("config.x in (1 2)", 16, "expected ',' or ')' in the list opened at column 13"),
    ("config.x in ()", 14, "expected a value after '('"),
    ("config.x like 1", 15, "expected a quoted string after 'like'"),
    ("metrics.acc like 'a%'", 13, "'like' works on text fields"),
    ("seed contains '1'", 6, "'contains' works on text fields"),
    ("tags = 'a'", 6, "tags is a list"),
    ("tags in ('a')", 6, "tags is a list"),
    ("tags is null", 9, "tags is a list and never null"),
    ("tags like 'a%'", 6, "'like' works on text fields"),
    (r"name like 'a\\'", 11, "must not end with a lone backslash"),
    ("config.x = 'a\x00b'", 12, "NUL"),
])
def test_malformed_expressions_name_the_problem_and_column(expr: str, column: int,
                                                            says: str) -> None:
    with pytest.raises(WhereError) as info:
        parse(expr)
    err = info.value
    assert says in err.message
    assert err.column == column, err.message
    lines = err.message.splitlines()
    assert lines[0].startswith("where: ") and f"column {column}" in lines[0]
    assert lines[1] == "  " + expr.replace("\x00", " ")
    assert lines[2] == "  " + " " * (column - 1) + "^"


def test_unknown_field_lists_the_valid_ones_and_suggests() -> None:
    with pytest.raises(WhereError) as info:
        parse("stauts = 'running'")
    assert "Did you mean status?" in info.value.message
    for name in ("status", "name", "duration_s", "tags", "config.KEY", "metrics.KEY"):
        assert name in info.value.message
    with pytest.raises(WhereError) as info:
        parse("lr = 0.1")
    assert "config.lr, summary.lr or metrics.lr" in info.value.message


def test_error_in_a_multiline_expression_names_the_line() -> None:
    with pytest.raises(WhereError) as info:
        parse("config.lr = 0.01\n  and metrics.acc >")
    err = info.value
    assert (err.line, err.column) == (2, 20)
    assert err.message.splitlines() == [
        "where: expected a value after '>' at line 2, column 20",
        "    and metrics.acc >",
        "  " + " " * 19 + "^"]


def test_long_expressions_are_shown_around_the_caret() -> None:
    expr = " and ".join(f"config.k{i} = {i}" for i in range(40)) + " and nope = 1"
    with pytest.raises(WhereError) as info:
        parse(expr)
    shown, caret = info.value.message.splitlines()[1:3]
    assert len(shown) < 110
    assert shown[caret.index("^"):].startswith("nope")


def test_limits_are_errors_not_crashes() -> None:
    with pytest.raises(WhereError, match="nested more than"):
        parse("(" * (MAX_DEPTH + 1) + "seed = 1" + ")" * (MAX_DEPTH + 1))
    with pytest.raises(WhereError, match="nested more than"):
        parse("not " * 2000 + "seed = 1")
    with pytest.raises(WhereError, match="more than"):
        parse(" or ".join(["seed = 1"] * (MAX_PREDICATES + 1)))
    with pytest.raises(InvalidInput, match="at most"):
        parse("seed = 1 or " * 2000 + "seed = 1")
    with pytest.raises(InvalidInput, match="must be a string"):
        parse(42)  # type: ignore[arg-type]
    with pytest.raises(WhereError, match="UTF-8"):
        parse("name = '\ud800'")


# -- fuzz: user mistakes never surface as anything but InvalidInput ------------------------

_VOCAB = [
    "status", "name", "config.lr", "config.`a b`", "metrics.train/loss", "summary.x", "tags",
    "duration_s", "created_at", "seed", "alias", "config", "metrics.", "foo", "=", "!=", "<",
    "<=", ">", ">=", "==", "<>", "and", "or", "not", "in", "like", "contains", "is", "null",
    "true", "false", "(", ")", ",", "'x'", '"completed"', '"finished"', "'2026-11-01'",
    "'a%'", "'\\'", "1", "-2.5", "1h", "1e999", "0.01", ".", "`", '"', "'", "#", "-", "1x",
    "\n", "\x00", "é", "\\",
]


@settings(max_examples=1500, deadline=None)
@given(st.text(max_size=60))
def test_random_text_never_raises_anything_but_invalid_input(text: str) -> None:
    try:
        parse(text)
    except InvalidInput:
        pass


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.sampled_from(_VOCAB), max_size=14),
       st.lists(st.sampled_from(["", " ", "  ", "\t"]), min_size=14, max_size=14))
def test_random_token_soup_never_raises_anything_but_invalid_input(
        tokens: list[str], spaces: list[str]) -> None:
    text = "".join(tok + sep for tok, sep in zip(tokens, spaces, strict=False))
    try:
        parse(text)
    except InvalidInput as exc:
        if isinstance(exc, WhereError):
            assert 1 <= exc.column <= len(text) + 1
            assert exc.message.splitlines()[0].startswith("where: ")
