"""The one check on artifact names and paths inside folder artifacts.

An artifact's name becomes a path when it is downloaded (``picidae artifacts get``) and a
folder artifact's member paths become paths under the destination, so a name must never
climb out of where it is put: ``..`` segments, absolute paths, drive letters and control
characters are refused with ``InvalidInput``. Backslashes become ``/`` (as in run names), and
one trailing ``/`` is dropped: ``"game_records/"`` names the folder ``game_records``.
"""

from __future__ import annotations

import re

from picidae.errors import InvalidInput

MAX_NAME = 512
MAX_PATH = 1024

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DRIVE = re.compile(r"^[A-Za-z]:")


def clean_artifact_name(name: object, field: str = "name", *, max_len: int = MAX_NAME) -> str:
    """``name`` as a safe relative path (``a/b/c.pt``), or ``InvalidInput`` saying why not."""
    if not isinstance(name, str):
        raise InvalidInput(f"artifact {field} must be a string, got {type(name).__name__}",
                           field=field)
    if _CONTROL.search(name):
        raise InvalidInput(f"artifact {field} {name!r} contains a control character",
                           field=field)
    value = name.replace("\\", "/")
    if not value.strip():
        raise InvalidInput(f"artifact {field} must not be empty", field=field)
    if value.startswith("/") or value.startswith("~") or _DRIVE.match(value):
        raise InvalidInput(f"artifact {field} {name!r} is an absolute path; use a relative "
                           "name such as 'checkpoints/model.pt'", field=field)
    if value.endswith("/"):
        value = value[:-1]  # "game_records/": a folder's name, written as a folder
    if len(value) > max_len:
        raise InvalidInput(f"artifact {field} is {len(value)} characters; at most {max_len}",
                           field=field)
    for segment in value.split("/"):
        if segment in ("..", "."):
            raise InvalidInput(f"artifact {field} {name!r} contains a {segment!r} segment",
                               field=field)
        if segment == "":
            raise InvalidInput(f"artifact {field} {name!r} has an empty segment (leading, "
                               "trailing or doubled '/')", field=field)
        if segment != segment.strip():
            raise InvalidInput(f"artifact {field} {name!r} has a segment with surrounding "
                               "spaces", field=field)
    return value


def clean_member_path(path: object) -> str:
    """A path inside a folder artifact (same rules, a longer limit)."""
    return clean_artifact_name(path, "path", max_len=MAX_PATH)
