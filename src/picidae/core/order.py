"""The sort order of a listing, as users write it: ``"metrics.acc desc, created_at"``.

Pure Python, so the SDK and the server parse it without loading a store's SQL code (an
``http://`` store never imports SQLAlchemy).
"""

from __future__ import annotations

from picidae.errors import InvalidInput


def parse_order_by(value: str | list[str] | None) -> list[tuple[str, bool]]:
    """``"metrics.acc desc, created_at"`` → ``[("metrics.acc", True), ("created_at", False)]``
    (a list of ``"FIELD [asc|desc]"`` strings works too); ``InvalidInput`` (field
    ``order_by``) for anything else."""
    if not value:
        return []
    parts = value.split(",") if isinstance(value, str) else list(value)
    out = []
    for part in parts:
        words = part.strip().split() if isinstance(part, str) else []
        if not words or len(words) > 2:
            raise InvalidInput(f"order_by {part!r} should be 'FIELD' or 'FIELD asc|desc'",
                               field="order_by")
        direction = words[1].lower() if len(words) == 2 else "asc"
        if direction not in ("asc", "desc"):
            raise InvalidInput(f"order_by direction must be asc or desc, got {words[1]!r}",
                               field="order_by")
        out.append((words[0], direction == "desc"))
    return out
