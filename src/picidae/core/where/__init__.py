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

from picidae.core.where.errors import WhereError
from picidae.core.where.evaluate import evaluate, like_regex, stored_value
from picidae.core.where.lexer import Token, tokenize
from picidae.core.where.nodes import (
    BOOL_FIELDS,
    FIELDS,
    KEYWORDS,
    MAX_DEPTH,
    MAX_LENGTH,
    MAX_PREDICATES,
    MAX_VALUES,
    NUMBER_FIELDS,
    SECTIONS,
    TEXT_FIELDS,
    TIME_FIELDS,
    And,
    Compare,
    Contains,
    Field,
    In,
    IsNull,
    Like,
    Node,
    Not,
    Or,
    Predicate,
    Value,
)
from picidae.core.where.parser import parse

__all__ = [
    "BOOL_FIELDS", "FIELDS", "KEYWORDS", "MAX_DEPTH", "MAX_LENGTH", "MAX_PREDICATES",
    "MAX_VALUES", "NUMBER_FIELDS", "SECTIONS", "TEXT_FIELDS", "TIME_FIELDS", "And", "Compare",
    "Contains", "Field", "In", "IsNull", "Like", "Node", "Not", "Or", "Predicate", "Token",
    "Value", "WhereError", "evaluate", "like_regex", "parse", "stored_value", "tokenize",
]
