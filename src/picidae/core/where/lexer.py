"""The where-language's tokenizer: text → ``Token``s (strings, numbers, durations, fields,
keywords, operators), with a ``WhereError`` pointing at the first bad character."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from picidae.core.durations import DURATION, EXAMPLES, seconds
from picidae.core.where.errors import WhereError
from picidae.core.where.nodes import KEYWORDS, SECTIONS

_OPS = ("<=", ">=", "!=", "<>", "==", "=", "<", ">")
_NUMBER = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_WORD = re.compile(r"[^\W\d]\w*")
_KEY_CHARS = re.compile(r"[\w./:@+\-]+")
_ESCAPES = {"\\": "\\", '"': '"', "'": "'", "`": "`", "n": "\n", "t": "\t", "r": "\r"}


@dataclass(frozen=True)
class Token:
    """One token: ``kind`` is ``field``, ``string``, ``number``, ``duration``, ``keyword``,
    ``op``, ``(``, ``)``, ``,`` or ``end``; ``pos`` is its 0-based offset."""

    kind: str
    value: Any
    pos: int
    text: str


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
            m = DURATION.match(expr, i)
            if m and not _is_word_char(expr, m.end()):
                j = m.end()
                tokens.append(Token("duration", seconds(m.group()), i, m.group()))
            else:
                m = _NUMBER.match(expr, i)
                if m is None or _is_word_char(expr, m.end()):
                    j = i
                    while _is_word_char(expr, j) or (j < n and expr[j] in "-+"):
                        j += 1
                    raise WhereError(expr, i, f"malformed number {expr[i:max(j, i + 1)]!r} "
                                     f"(durations are like {EXAMPLES})")
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
