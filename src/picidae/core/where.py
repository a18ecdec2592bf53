"""The ``where`` filter language: tokenizer, recursive-descent parser, AST and evaluator.

::

    expr      := and ("or" and)*
    and       := unary ("and" unary)*
    unary     := "not" unary | "(" expr ")" | predicate
    predicate := FIELD ("=" | "!=" | "<" | "<=" | ">" | ">=") VALUE
               | FIELD ["not"] "in" "(" VALUE ("," VALUE)* ")"
               | FIELD ["not"] "like" STRING
               | FIELD ["not"] "contains" STRING
               | FIELD "is" ["not"] "null"

One rule makes SQL and Python agree (``store/sql/where_sql.py`` compiles the same AST):
every predicate is true or false, never unknown. A comparison with a missing or null value
(NaN counts as null) is false, and so is a comparison across types (a number literal only
matches numbers and booleans, a string literal only text); a negated comparison (``!=``,
``not in``, ``not like``, ``not contains``) is "the field has a value and the positive
comparison is false". ``not EXPR`` is plain negation, so ``not config.lr = 0.01`` matches
runs without ``config.lr`` while ``config.lr != 0.01`` does not. See ``docs/querying.md``.
"""

from __future__ import annotations

import json
import math
import operator
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from difflib import get_close_matches
from functools import lru_cache
from typing import Any

from picidae.core.lifecycle import parse_state
from picidae.core.states import SYNONYMS, State
from picidae.core.validation import flatten
from picidae.errors import InvalidInput

#: Run columns holding text, numbers, and epoch-second times.
TEXT_FIELDS = ("status", "name", "alias", "kind", "agent", "benchmark", "trigger", "id",
               "parent_id", "root_id", "retry_of", "replay_of")
NUMBER_FIELDS = ("seed", "attempt")
TIME_FIELDS = ("created_at", "started_at", "ended_at", "last_heartbeat_at")
#: True or false for every run: ``stale`` (a newer version of an input exists upstream).
BOOL_FIELDS = ("stale",)
#: Sections whose keys follow a dot: ``config.opt.lr``, ``metrics.train/loss``.
SECTIONS = ("config", "summary", "metrics")
#: Every bare field name the language knows.
FIELDS = (*TEXT_FIELDS, *NUMBER_FIELDS, *TIME_FIELDS, "duration_s", *BOOL_FIELDS, "tags")

# Limits that keep every valid expression executable (SQLite's expression depth is 1000).
MAX_LENGTH = 10_000
MAX_DEPTH = 32
MAX_PREDICATES = 256
MAX_VALUES = 1_000

KEYWORDS = frozenset({"and", "or", "not", "in", "like", "contains", "is", "null", "true",
                      "false"})
_OPS = ("<=", ">=", "!=", "<>", "==", "=", "<", ">")
_DIGITS = r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
_NUMBER = re.compile(rf"-?{_DIGITS}(?:[eE][+-]?[0-9]+)?")
_DURATION = re.compile(rf"-?(?:{_DIGITS}[smhdw])+")
_DURATION_PART = re.compile(rf"({_DIGITS})([smhdw])")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_WORD = re.compile(r"[^\W\d]\w*")
_KEY_CHARS = re.compile(r"[\w./:@+\-]+")
_ESCAPES = {"\\": "\\", '"': '"', "'": "'", "`": "`", "n": "\n", "t": "\t", "r": "\r"}

Value = str | int | float | bool


# -- errors ---------------------------------------------------------------------------------

class WhereError(InvalidInput):
    """A malformed ``where`` expression. The message quotes the expression with a caret under
    ``column`` (1-based, within ``line``); ``position`` is the 0-based offset; ``hint`` (if
    any) follows on the last line."""

    def __init__(self, expression: str, position: int, problem: str,
                 hint: str | None = None) -> None:
        self.expression = expression
        self.position = position
        self.problem = problem
        start = expression.rfind("\n", 0, position) + 1
        end = expression.find("\n", position)
        shown = expression[start:len(expression) if end < 0 else end]
        self.line = expression.count("\n", 0, position) + 1
        self.column = position - start + 1
        at = f"line {self.line}, column {self.column}" if "\n" in expression \
            else f"column {self.column}"
        caret = self.column - 1
        if len(shown) > 100:  # a window around the caret keeps the message readable
            lo = max(0, caret - 60)
            shown = ("…" if lo else "") + shown[lo:lo + 100] + ("…" if lo + 100 < len(shown)
                                                                else "")
            caret = caret - lo + (1 if lo else 0)
        shown = "".join(ch if ch.isprintable() else " " for ch in shown)
        tail = f"\n{hint}" if hint else ""
        super().__init__(f"where: {problem} at {at}\n  {shown}\n  {' ' * caret}^{tail}",
                         field="where")


# -- the AST --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Field:
    """A field: ``section`` is ``run`` (``key`` names the column or ``duration_s``),
    ``config``, ``summary``, ``metrics`` (``key`` is the flattened key) or ``tags``."""

    section: str
    key: str

    @property
    def kind(self) -> str:
        """``text``, ``number``, ``time``, ``duration``, ``bool``, ``any`` (config/summary),
        ``metric`` or ``tags``: what values and operators the field takes."""
        if self.section == "run":
            if self.key in TEXT_FIELDS:
                return "text"
            if self.key in BOOL_FIELDS:
                return "bool"
            if self.key in TIME_FIELDS:
                return "time"
            return "duration" if self.key == "duration_s" else "number"
        return {"config": "any", "summary": "any", "metrics": "metric"}.get(self.section,
                                                                           "tags")

    def __str__(self) -> str:
        return self.key if self.section == "run" else \
            "tags" if self.section == "tags" else f"{self.section}.{self.key}"


@dataclass(frozen=True)
class Compare:
    """``field op value`` with ``op`` one of ``= != < <= > >=``."""

    field: Field
    op: str
    value: Value


@dataclass(frozen=True)
class In:
    """``field [not] in (values...)``."""

    field: Field
    values: tuple[Value, ...]
    negated: bool = False


@dataclass(frozen=True)
class Like:
    """``field [not] like pattern``: ``%`` any run of characters, ``_`` one; ``\\`` escapes."""

    field: Field
    pattern: str
    negated: bool = False


@dataclass(frozen=True)
class Contains:
    """``tags contains "x"`` (membership) or ``field contains "x"`` (substring)."""

    field: Field
    value: str
    negated: bool = False


@dataclass(frozen=True)
class IsNull:
    """``field is [not] null``: missing, null and NaN all count as null."""

    field: Field
    negated: bool = False


@dataclass(frozen=True)
class Not:
    """``not operand``: plain negation (predicates are never unknown)."""

    operand: Node


@dataclass(frozen=True)
class And:
    """All ``operands`` hold."""

    operands: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    """Any of ``operands`` holds."""

    operands: tuple[Node, ...]


Predicate = Compare | In | Like | Contains | IsNull
Node = Predicate | Not | And | Or


# -- tokens ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Token:
    """One token: ``kind`` is ``field``, ``string``, ``number``, ``duration``, ``keyword``,
    ``op``, ``(``, ``)``, ``,`` or ``end``; ``pos`` is its 0-based offset."""

    kind: str
    value: Any
    pos: int
    text: str


def _seconds(text: str) -> int | float:
    total = math.fsum(float(n) * _UNIT_S[u] for n, u in _DURATION_PART.findall(text))
    total = -total if text.startswith("-") else total
    return int(total) if total.is_integer() and abs(total) < 2**53 else total


def _number(text: str) -> int | float:
    if re.fullmatch(r"-?[0-9]+", text):
        value = int(text)
        return value if abs(value) < 2**63 else float(value)
    return float(text)


def _quoted(expr: str, i: int, quote: str) -> tuple[str, int]:
    """The text of a quoted string or backtick key starting at ``expr[i]``, and its end."""
    out: list[str] = []
    j = i + 1
    while j < len(expr):
        ch = expr[j]
        if ch == quote:
            return "".join(out), j + 1
        if ch == "\\" and j + 1 < len(expr):
            nxt = expr[j + 1]
            # Unknown escapes keep their backslash, so like "50\%" still escapes the %.
            out.append(_ESCAPES.get(nxt, "\\" + nxt))
            j += 2
            continue
        out.append(ch)
        j += 1
    what = "key" if quote == "`" else "string"
    raise WhereError(expr, i, f"unterminated {what} (no closing {quote})")


def _section_key(expr: str, i: int) -> tuple[str, int]:
    """A key after ``config.``/``summary.``/``metrics.``: bare characters (letters, digits,
    ``_ . / : @ + -``) and backtick-quoted parts, concatenated."""
    parts: list[str] = []
    while i < len(expr):
        if expr[i] == "`":
            text, i = _quoted(expr, i, "`")
            parts.append(text)
            continue
        m = _KEY_CHARS.match(expr, i)
        if not m:
            break
        parts.append(m.group())
        i = m.end()
    return "".join(parts), i


def tokenize(expr: str) -> list[Token]:
    """The tokens of ``expr``, ending with an ``end`` token; ``WhereError`` on a bad one."""
    tokens: list[Token] = []
    i, n = 0, len(expr)
    while True:
        while i < n and expr[i].isspace():
            i += 1
        if i >= n:
            tokens.append(Token("end", None, n, "the end"))
            return tokens
        ch = expr[i]
        if ch in "\"'":
            text, j = _quoted(expr, i, ch)
            tokens.append(Token("string", text, i, expr[i:j]))
        elif ch in "(),":
            j = i + 1
            tokens.append(Token(ch, ch, i, ch))
        elif ch == "`":
            raise WhereError(expr, i, "a backtick-quoted key needs a section first, "
                             "e.g. config.`my key`")
        elif ch.isdigit() or (ch in "-." and i + 1 < n and (expr[i + 1].isdigit()
                                                            or expr[i + 1] == ".")):
            m = _DURATION.match(expr, i)
            if m and not _is_word_char(expr, m.end()):
                j = m.end()
                tokens.append(Token("duration", _seconds(m.group()), i, m.group()))
            else:
                m = _NUMBER.match(expr, i)
                if m is None or _is_word_char(expr, m.end()):
                    j = i
                    while _is_word_char(expr, j) or (j < n and expr[j] in "-+"):
                        j += 1
                    raise WhereError(expr, i, f"malformed number {expr[i:max(j, i + 1)]!r} "
                                     "(durations are like 30s, 15m, 2h, 1d, 1w)")
                j = m.end()
                tokens.append(Token("number", _number(m.group()), i, m.group()))
        elif (m := _WORD.match(expr, i)) is not None:
            word, j = m.group(), m.end()
            low = word.lower()
            if low in SECTIONS and j < n and expr[j] == ".":
                key, j = _section_key(expr, j + 1)
                tokens.append(Token("field", (low, key), i, expr[i:j]))
            elif low in KEYWORDS and not (j < n and expr[j] == "."):
                tokens.append(Token("keyword", low, i, word))
            else:
                if j < n and expr[j] == ".":  # e.g. params.lr: keep it whole for the error
                    j = _section_key(expr, j)[1]
                tokens.append(Token("field", (None, expr[i:j]), i, expr[i:j]))
        else:
            op = next((o for o in _OPS if expr.startswith(o, i)), None)
            if op is None:
                raise WhereError(expr, i, f"unexpected character {ch!r}")
            j = i + len(op)
            tokens.append(Token("op", {"==": "=", "<>": "!="}.get(op, op), i, op))
        i = j


def _is_word_char(expr: str, i: int) -> bool:
    return i < len(expr) and (expr[i].isalnum() or expr[i] in "_.")


# -- the parser -----------------------------------------------------------------------------

def _describe(tok: Token) -> str:
    return "the end of the expression" if tok.kind == "end" else repr(tok.text)


def _found(tok: Token) -> str:
    return "" if tok.kind == "end" else f", found {tok.text!r}"


def _field_list() -> str:
    return ", ".join(FIELDS) + ", config.KEY, summary.KEY, metrics.KEY"


class _Parser:
    def __init__(self, expr: str) -> None:
        self.expr = expr
        self.tokens = tokenize(expr)
        self.i = 0
        self.depth = 0
        self.predicates = 0
        self.values = 0

    def error(self, tok: Token, problem: str, hint: str | None = None) -> WhereError:
        return WhereError(self.expr, tok.pos, problem, hint)

    def peek(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        tok = self.tokens[self.i]
        if tok.kind != "end":
            self.i += 1
        return tok

    def prev(self) -> Token:
        return self.tokens[self.i - 1]

    def at_keyword(self, *words: str) -> bool:
        tok = self.peek()
        return tok.kind == "keyword" and tok.value in words

    def enter(self, tok: Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(tok, f"expression nested more than {MAX_DEPTH} levels deep")

    def parse(self) -> Node:
        if self.peek().kind == "end":
            raise self.error(self.peek(), "empty expression",
                             "write a condition such as status = \"completed\"")
        node = self.or_()
        tok = self.peek()
        if tok.kind == ")":
            raise self.error(tok, "unmatched ')'")
        if tok.kind != "end":
            raise self.error(tok, f"unexpected {_describe(tok)} after a complete condition",
                             "join conditions with 'and' or 'or'")
        return node

    def or_(self) -> Node:
        items = [self.and_()]
        while self.at_keyword("or"):
            self.take()
            items.append(self.and_())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_(self) -> Node:
        items = [self.unary()]
        while self.at_keyword("and"):
            self.take()
            items.append(self.unary())
        return items[0] if len(items) == 1 else And(tuple(items))

    def unary(self) -> Node:
        tok = self.peek()
        if tok.kind == "keyword" and tok.value == "not":
            self.take()
            self.enter(tok)
            node: Node = Not(self.unary())
            self.depth -= 1
            return node
        if tok.kind == "(":
            self.take()
            self.enter(tok)
            node = self.or_()
            if self.peek().kind != ")":
                raise self.error(self.peek(), f"expected ')' to close the '(' at column "
                                 f"{tok.pos + 1}{_found(self.peek())}")
            self.take()
            self.depth -= 1
            return node
        if tok.kind == "field":
            return self.predicate()
        after = f" after {self.prev().text!r}" if self.i else ""
        raise self.error(tok, f"expected a condition{after}{_found(tok)}",
                         "a condition starts with a field such as status or config.KEY")

    def field(self, tok: Token) -> Field:
        section, key = tok.value
        if section is not None:
            if not key:
                raise self.error(tok, f"{section}. needs a key, e.g. {section}.lr or "
                                 f"{section}.`odd key`")
            if "\x00" in key:
                raise self.error(tok, "a key must not contain a NUL character")
            return Field(section, key)
        name = key.lower()
        if name in SECTIONS:
            raise self.error(tok, f"{name} needs a key: {name}.KEY, e.g. {name}.lr")
        if name in FIELDS:
            return Field("tags", "") if name == "tags" else Field("run", name)
        hint = get_close_matches(name, FIELDS, n=1)
        if hint:
            guess = f"Did you mean {hint[0]}?"
        elif "." in key:
            guess = "Keys go under config., summary. or metrics."
        else:
            guess = f"For a key, say config.{key}, summary.{key} or metrics.{key}."
        raise self.error(tok, f"unknown field {key!r}", f"{guess} Fields: {_field_list()}.")

    def predicate(self) -> Predicate:
        ftok = self.take()
        fld = self.field(ftok)
        self.predicates += 1
        if self.predicates > MAX_PREDICATES:
            raise self.error(ftok, f"more than {MAX_PREDICATES} conditions")
        tok = self.peek()
        if tok.kind == "op":
            self.take()
            if fld.kind == "tags":
                raise self.error(tok, "tags is a list: use tags contains \"x\" or "
                                 "not tags contains \"x\"")
            return Compare(fld, tok.value, self.value(fld, tok.value))
        negated = False
        if tok.kind == "keyword" and tok.value == "not":
            self.take()
            negated = True
            if not self.at_keyword("in", "like", "contains"):
                raise self.error(self.peek(), "expected 'in', 'like' or 'contains' after "
                                 f"'not'{_found(self.peek())}",
                                 "to negate a condition, put 'not' before it: not x = 1")
            tok = self.peek()
        if tok.kind == "keyword" and tok.value == "in":
            return self.in_list(fld, negated)
        if tok.kind == "keyword" and tok.value in ("like", "contains"):
            self.take()
            if tok.value == "contains" and fld.kind == "tags":
                return Contains(fld, self.string(), negated)
            if fld.kind not in ("text", "any"):
                raise self.error(tok, f"'{tok.value}' works on text fields; {fld} takes "
                                 f"{_TAKES[fld.kind]}")
            if tok.value == "contains":
                return Contains(fld, self.string(), negated)
            pattern = self.string()
            if re.search(r"(?<!\\)(?:\\\\)*\\$", pattern):
                raise self.error(self.prev(), "a like pattern must not end with a lone "
                                 "backslash (write \\\\\\\\ for a literal one)")
            return Like(fld, pattern, negated)
        if tok.kind == "keyword" and tok.value == "is":
            self.take()
            neg = self.at_keyword("not")
            if neg:
                self.take()
            if not self.at_keyword("null"):
                raise self.error(self.peek(), f"expected 'null' after '{self.prev().text}'"
                                 f"{_found(self.peek())}")
            null = self.take()
            if fld.kind == "tags":
                raise self.error(null, "tags is a list and never null: use tags contains "
                                 "\"x\" or not tags contains \"x\"")
            return IsNull(fld, neg)
        raise self.error(tok, f"expected an operator after {ftok.text!r}{_found(tok)}",
                         "operators: = != < <= > >= in, not in, like, contains, is null")

    def in_list(self, fld: Field, negated: bool) -> In:
        tok = self.take()
        if fld.kind == "tags":
            raise self.error(tok, "tags is a list: use tags contains \"x\"")
        if self.peek().kind != "(":
            raise self.error(self.peek(), "'in' needs a list in parentheses, e.g. "
                             "in (\"a\", \"b\")")
        opening = self.take()
        values = [self.value(fld, "in")]
        while self.peek().kind == ",":
            self.take()
            if self.peek().kind == ")":  # a trailing comma is fine
                break
            values.append(self.value(fld, "in"))
        if self.peek().kind != ")":
            raise self.error(self.peek(), "expected ',' or ')' in the list opened at column "
                             f"{opening.pos + 1}{_found(self.peek())}")
        self.take()
        return In(fld, tuple(values), negated)

    def string(self) -> str:
        tok = self.peek()
        if tok.kind != "string":
            raise self.error(tok, f"expected a quoted string after {self.prev().text!r}"
                             f"{_found(tok)}")
        self.take()
        self.check_text(tok)
        return str(tok.value)

    def check_text(self, tok: Token) -> None:
        if "\x00" in tok.value:
            raise self.error(tok, "a string must not contain a NUL character")

    def value(self, fld: Field, op: str) -> Value:
        tok = self.peek()
        self.values += 1
        if self.values > MAX_VALUES:
            raise self.error(tok, f"more than {MAX_VALUES} values")
        if tok.kind == "keyword" and tok.value == "null":
            raise self.error(tok, "null is not a value here",
                             f"write {fld} is null, or {fld} is not null")
        if tok.kind not in ("string", "number", "duration") and not (
                tok.kind == "keyword" and tok.value in ("true", "false")):
            raise self.error(tok, f"expected a value after {self.prev().text!r}{_found(tok)}")
        self.take()
        value: Value = tok.value == "true" if tok.kind == "keyword" else tok.value
        kind = fld.kind
        if tok.kind == "string":
            self.check_text(tok)
        if kind == "any":
            return value
        takes = _TAKES[kind]
        if kind == "text":
            if tok.kind != "string":
                raise self.error(tok, f"{fld} takes {takes}")
            if fld.key == "status" and op in ("=", "!=", "in"):
                try:
                    return parse_state(str(value)).value
                except InvalidInput:
                    raise self.error(tok, f"unknown state {value!r}", "states are: "
                                     f"{', '.join(State)} (also {', '.join(SYNONYMS)})"
                                     ) from None
            return value
        if kind == "bool":
            if not isinstance(value, bool):
                raise self.error(tok, f"{fld} takes {takes}")
            return value
        if isinstance(value, bool) and kind != "metric":
            raise self.error(tok, f"{fld} takes {takes}, not true or false")
        if kind == "time":
            if tok.kind == "string":
                return _epoch(self, tok, takes)
            if tok.kind == "duration":
                raise self.error(tok, f"{fld} takes {takes}, not a duration")
            return value
        if kind == "duration" and tok.kind == "string":
            text = str(value).strip()
            if _DURATION.fullmatch(text):
                return _seconds(text)
        if tok.kind == "string":
            raise self.error(tok, f"{fld} takes {takes}, not a string")
        return value


#: What each kind of field is compared with, for error messages.
_TAKES = {
    "text": "a quoted string", "number": "a number",
    "time": "a date such as \"2026-11-01\" (ISO 8601, UTC unless an offset is given) or "
            "epoch seconds",
    "duration": "seconds or a duration such as 1h", "metric": "a number",
    "bool": "true or false",
    "tags": "contains", "any": "any value",
}


def _epoch(parser: _Parser, tok: Token, takes: str) -> float:
    """An ISO date or datetime string as epoch seconds; naive times are UTC."""
    try:
        dt = datetime.fromisoformat(str(tok.value).strip())
        return (dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)).timestamp()
    except (ValueError, OverflowError):
        raise parser.error(tok, f"{tok.text} is not a date", f"times take {takes}") from None


@lru_cache(maxsize=512)
def _parse_cached(expr: str) -> Node:
    return _Parser(expr).parse()


def parse(expr: str) -> Node:
    """The AST of a ``where`` expression; ``WhereError`` (an ``InvalidInput``) when it is
    malformed, pointing at the column."""
    if not isinstance(expr, str):
        raise InvalidInput(f"where must be a string, got {type(expr).__name__}", field="where")
    if len(expr) > MAX_LENGTH:
        raise InvalidInput(f"where expression is {len(expr)} characters; at most "
                           f"{MAX_LENGTH}", field="where")
    try:
        expr.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise WhereError(expr, exc.start, "invalid character (not encodable as UTF-8)") \
            from None
    return _parse_cached(expr)


# -- the evaluator --------------------------------------------------------------------------

def stored_value(value: Any) -> tuple[float | None, str | None]:
    """A config or summary value as the store indexes it: ``(num, text)``. Numbers go to
    ``num`` (NaN to neither), strings to ``text``, booleans to both (1/0 and "true"/"false"),
    other JSON (lists, empty dicts) to ``text`` as compact JSON, ``None`` to neither."""
    if isinstance(value, bool):
        return float(value), "true" if value else "false"
    if isinstance(value, int | float):
        num = float(value)
        return (None if math.isnan(num) else num), None
    if isinstance(value, str):
        return None, value.replace("\x00", "\ufffd")  # as stored: PostgreSQL holds no NUL
    if value is None:
        return None, None
    return None, json.dumps(value, separators=(",", ":"), allow_nan=True)


_CMP: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}


@lru_cache(maxsize=256)
def like_regex(pattern: str) -> re.Pattern[str]:
    """A ``like`` pattern as a regex to ``fullmatch``: ``%``, ``_``, ``\\`` escapes."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def _cell(fld: Field, run: Mapping[str, Any], now: float) -> tuple[Any, str | None]:
    """The field's ``(num, text)`` for this run; both ``None`` when it has no value."""
    if fld.section == "run":
        if fld.key in BOOL_FIELDS:
            return (1.0 if run.get(fld.key) else 0.0), None
        if fld.key == "duration_s":
            start, end = run.get("started_at"), run.get("ended_at")
            if start is None:
                return None, None
            return max(0.0, (end if end is not None else now) - start), None
        value = run.get(fld.key)
        return (None, value) if fld.kind == "text" else (value, None)
    if fld.section == "metrics":
        metric = (run.get("metrics") or {}).get(fld.key)
        return (None if metric is None or math.isnan(metric) else metric), None
    values = run.get(fld.section) or {}
    if any(isinstance(v, Mapping) and v for v in values.values()):
        values = flatten(values)  # nested as stored: key it the way the store does
    return stored_value(values.get(fld.key))


def _matches(cell: tuple[Any, str | None], op: str, value: Value) -> bool:
    """The positive comparison: false when the value is missing or of the other type."""
    num, text = cell
    if isinstance(value, str):
        return text is not None and _CMP[op](text, value)
    return num is not None and _CMP[op](num, float(value) if isinstance(value, bool)
                                        else value)


def _predicate(node: Predicate, run: Mapping[str, Any], now: float) -> bool:
    if isinstance(node, Contains) and node.field.kind == "tags":
        return (node.value in (run.get("tags") or ())) != node.negated
    cell = _cell(node.field, run, now)
    present = cell[0] is not None or cell[1] is not None
    if isinstance(node, IsNull):
        return present == node.negated
    negated = node.negated if not isinstance(node, Compare) else node.op == "!="
    if isinstance(node, Compare):
        hit = _matches(cell, "=" if node.op == "!=" else node.op, node.value)
    elif isinstance(node, In):
        hit = any(_matches(cell, "=", v) for v in node.values)
    elif isinstance(node, Like):
        hit = cell[1] is not None and like_regex(node.pattern).fullmatch(cell[1]) is not None
    else:
        hit = cell[1] is not None and node.value in cell[1]
    return present and not hit if negated else hit


def _eval(node: Node, run: Mapping[str, Any], now: float) -> bool:
    if isinstance(node, And):
        return all(_eval(n, run, now) for n in node.operands)
    if isinstance(node, Or):
        return any(_eval(n, run, now) for n in node.operands)
    if isinstance(node, Not):
        return not _eval(node.operand, run, now)
    return _predicate(node, run, now)


def evaluate(node: Node | str, run: Mapping[str, Any], *, now: float | None = None) -> bool:
    """Whether ``run`` matches. ``run`` holds the run columns (``status``, ``created_at``...),
    ``config`` and ``summary`` (flat, ``{"opt.lr": 0.1}``, or nested as stored), ``metrics``
    as ``{key: latest value}`` and ``tags`` as a list. ``now`` (default: the current time) is
    the end of unfinished runs for ``duration_s``."""
    tree = parse(node) if isinstance(node, str) else node
    return _eval(tree, run, time.time() if now is None else now)
