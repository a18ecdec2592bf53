"""The where-language's vocabulary (fields, sections, keywords, limits) and its AST: what
``parse`` returns and what the evaluator (``evaluate.py``) and ``store/sql/where_sql.py``
compile."""

from __future__ import annotations

from dataclasses import dataclass

from picidae.core.fields import COLUMN, names

#: Run columns holding text, numbers, and epoch-second times (from the field table,
#: ``core.fields``).
TEXT_FIELDS = names(query="text")
NUMBER_FIELDS = names(stored=COLUMN, query="number")
TIME_FIELDS = names(query="time")
#: True or false for every run: ``stale`` (a newer version of an input exists upstream).
BOOL_FIELDS = names(query="bool")
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

Value = str | int | float | bool


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
