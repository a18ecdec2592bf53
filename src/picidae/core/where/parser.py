"""The where-language's recursive-descent parser: tokens → the AST in ``nodes.py``, each
mistake a ``WhereError`` with the column and, where it helps, a hint ("Did you mean ...?")."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from difflib import get_close_matches
from functools import lru_cache

from picidae.core.durations import DURATION, seconds
from picidae.core.lifecycle import parse_state
from picidae.core.states import SYNONYMS, State
from picidae.core.where import nodes
from picidae.core.where.errors import WhereError
from picidae.core.where.lexer import Token, tokenize
from picidae.errors import InvalidInput


def _describe(tok: Token) -> str:
    return "the end of the expression" if tok.kind == "end" else repr(tok.text)


def _found(tok: Token) -> str:
    return "" if tok.kind == "end" else f", found {tok.text!r}"


def _field_list() -> str:
    return ", ".join(nodes.FIELDS) + ", config.KEY, summary.KEY, metrics.KEY"


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
        if self.depth > nodes.MAX_DEPTH:
            raise self.error(tok, f"expression nested more than {nodes.MAX_DEPTH} levels deep")

    def parse(self) -> nodes.Node:
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

    def or_(self) -> nodes.Node:
        items = [self.and_()]
        while self.at_keyword("or"):
            self.take()
            items.append(self.and_())
        return items[0] if len(items) == 1 else nodes.Or(tuple(items))

    def and_(self) -> nodes.Node:
        items = [self.unary()]
        while self.at_keyword("and"):
            self.take()
            items.append(self.unary())
        return items[0] if len(items) == 1 else nodes.And(tuple(items))

    def unary(self) -> nodes.Node:
        tok = self.peek()
        if tok.kind == "keyword" and tok.value == "not":
            self.take()
            self.enter(tok)
            node: nodes.Node = nodes.Not(self.unary())
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

    def field(self, tok: Token) -> nodes.Field:
        section, key = tok.value
        if section is not None:
            if not key:
                raise self.error(tok, f"{section}. needs a key, e.g. {section}.lr or "
                                 f"{section}.`odd key`")
            if "\x00" in key:
                raise self.error(tok, "a key must not contain a NUL character")
            return nodes.Field(section, key)
        name = key.lower()
        if name in nodes.SECTIONS:
            raise self.error(tok, f"{name} needs a key: {name}.KEY, e.g. {name}.lr")
        if name in nodes.FIELDS:
            return nodes.Field("tags", "") if name == "tags" else nodes.Field("run", name)
        hint = get_close_matches(name, nodes.FIELDS, n=1)
        if hint:
            guess = f"Did you mean {hint[0]}?"
        elif "." in key:
            guess = "Keys go under config., summary. or metrics."
        else:
            guess = f"For a key, say config.{key}, summary.{key} or metrics.{key}."
        raise self.error(tok, f"unknown field {key!r}", f"{guess} Fields: {_field_list()}.")

    def predicate(self) -> nodes.Predicate:
        ftok = self.take()
        fld = self.field(ftok)
        self.predicates += 1
        if self.predicates > nodes.MAX_PREDICATES:
            raise self.error(ftok, f"more than {nodes.MAX_PREDICATES} conditions")
        tok = self.peek()
        if tok.kind == "op":
            self.take()
            if fld.kind == "tags":
                raise self.error(tok, "tags is a list: use tags contains \"x\" or "
                                 "not tags contains \"x\"")
            return nodes.Compare(fld, tok.value, self.value(fld, tok.value))
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
                return nodes.Contains(fld, self.string(), negated)
            if fld.kind not in ("text", "any"):
                raise self.error(tok, f"'{tok.value}' works on text fields; {fld} takes "
                                 f"{_TAKES[fld.kind]}")
            if tok.value == "contains":
                return nodes.Contains(fld, self.string(), negated)
            pattern = self.string()
            if re.search(r"(?<!\\)(?:\\\\)*\\$", pattern):
                raise self.error(self.prev(), "a like pattern must not end with a lone "
                                 "backslash (write \\\\\\\\ for a literal one)")
            return nodes.Like(fld, pattern, negated)
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
            return nodes.IsNull(fld, neg)
        raise self.error(tok, f"expected an operator after {ftok.text!r}{_found(tok)}",
                         "operators: = != < <= > >= in, not in, like, contains, is null")

    def in_list(self, fld: nodes.Field, negated: bool) -> nodes.In:
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
        return nodes.In(fld, tuple(values), negated)

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

    def value(self, fld: nodes.Field, op: str) -> nodes.Value:
        tok = self.peek()
        self.values += 1
        if self.values > nodes.MAX_VALUES:
            raise self.error(tok, f"more than {nodes.MAX_VALUES} values")
        if tok.kind == "keyword" and tok.value == "null":
            raise self.error(tok, "null is not a value here",
                             f"write {fld} is null, or {fld} is not null")
        if tok.kind not in ("string", "number", "duration") and not (
                tok.kind == "keyword" and tok.value in ("true", "false")):
            raise self.error(tok, f"expected a value after {self.prev().text!r}{_found(tok)}")
        self.take()
        value: nodes.Value = tok.value == "true" if tok.kind == "keyword" else tok.value
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
            if DURATION.fullmatch(text):
                return seconds(text)
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
def _parse_cached(expr: str) -> nodes.Node:
    return _Parser(expr).parse()


def parse(expr: str) -> nodes.Node:
    """The AST of a ``where`` expression; ``WhereError`` (an ``InvalidInput``) when it is
    malformed, pointing at the column."""
    if not isinstance(expr, str):
        raise InvalidInput(f"where must be a string, got {type(expr).__name__}", field="where")
    if len(expr) > nodes.MAX_LENGTH:
        raise InvalidInput(f"where expression is {len(expr)} characters; at most "
                           f"{nodes.MAX_LENGTH}", field="where")
    try:
        expr.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise WhereError(expr, exc.start, "invalid character (not encodable as UTF-8)") \
            from None
    return _parse_cached(expr)
