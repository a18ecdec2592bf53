"""``WhereError``: a malformed expression, quoted with a caret under the column."""

from __future__ import annotations

from picidae.errors import InvalidInput


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
