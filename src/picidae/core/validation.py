"""Checks on user input, each raising ``InvalidInput`` with a message that says what to fix."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from picidae.errors import InvalidInput

MAX_NAME = 512
MAX_KEY = 256
MAX_TAG = 128
MAX_TEXT_LINE = 64 * 1024
MAX_TAGS = 1000
#: Limits on one JSON document (config, summary, outputs, ...) in one write: its compact
#: JSON at most this many bytes (UTF-8), and at most this many keys once flattened.
MAX_DOC_BYTES = 1 << 20
MAX_DOC_KEYS = 10_000

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def clean_text(value: str, field: str) -> str:
    """``value`` if it is valid Unicode text (UTF-8 can hold it: no lone surrogates such as
    ``"\\udfff"``, which ``surrogateescape`` decoding and broken JSON produce)."""
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidInput(
                f"{field} is not valid text: it holds a lone surrogate "
                f"{value[exc.start]!r} at character {exc.start}", field=field) from None
    return value


def clean_name(name: object) -> str:
    """A run name: ``None`` becomes ``default``, backslashes become ``/``; ``..``, empty
    segments and control characters are refused."""
    if name is None:
        return "default"
    if not isinstance(name, str):
        raise InvalidInput(f"name must be a string, got {type(name).__name__}", field="name")
    value = clean_text(name, "name").replace("\\", "/").strip()
    if not value:
        raise InvalidInput("name must not be empty (leave it None for 'default')", field="name")
    if _CONTROL.search(value):
        raise InvalidInput(f"name {name!r} contains a control character", field="name")
    if len(value) > MAX_NAME:
        raise InvalidInput(f"name is {len(value)} characters; at most {MAX_NAME}", field="name")
    for segment in value.split("/"):
        if segment == "":
            raise InvalidInput(
                f"name {name!r} has an empty segment (leading, trailing or doubled '/')",
                field="name",
            )
        if segment == "..":
            raise InvalidInput(f"name {name!r} contains a '..' segment", field="name")
    return value


def clean_label(value: object, field: str, *, max_len: int = MAX_TAG) -> str | None:
    """A short optional label (alias, kind, agent, benchmark): a one-line string or ``None``."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be a string, got {type(value).__name__}", field=field)
    value = clean_text(value, field).strip()
    if not value:
        return None
    if _CONTROL.search(value):
        raise InvalidInput(f"{field} {value!r} contains a control character", field=field)
    if len(value) > max_len:
        raise InvalidInput(f"{field} is {len(value)} characters; at most {max_len}", field=field)
    return value


def clean_tags(tags: object) -> list[str]:
    """Tags: a string or an iterable of strings, deduplicated, order kept."""
    if tags is None:
        return []
    if isinstance(tags, str):
        tags = [tags]
    if not isinstance(tags, Iterable) or isinstance(tags, Mapping):
        raise InvalidInput(f"tags must be a list of strings, got {type(tags).__name__}",
                           field="tags")
    out: list[str] = []
    for tag in tags:
        label = clean_label(tag, "tags")
        if label is not None and label not in out:
            out.append(label)
            if len(out) > MAX_TAGS:
                raise InvalidInput(f"a run has at most {MAX_TAGS} tags", field="tags")
    return out


#: Keys ``clean_key`` passed (plain ``str`` only; at most ``_GOOD_KEYS_MAX``, then
#: forgotten): a sweep's runs log the same few keys, each run's first ``log`` and each batch
#: a store checks would otherwise check them all again.
_good_keys: set[str] = set()
_GOOD_KEYS_MAX = 4096


def clean_key(key: object, field: str = "key") -> str:
    """A metric, config or summary key: a non-empty one-line string."""
    if type(key) is str and key in _good_keys:
        return key
    if not isinstance(key, str):
        raise InvalidInput(f"{field} must be a string, got {type(key).__name__}", field=field)
    clean_text(key, field)
    if not key or key != key.strip():
        raise InvalidInput(f"{field} {key!r} must be non-empty without surrounding spaces",
                           field=field)
    if _CONTROL.search(key):
        raise InvalidInput(f"{field} {key!r} contains a control character", field=field)
    if len(key) > MAX_KEY:
        raise InvalidInput(f"{field} is {len(key)} characters; at most {MAX_KEY}", field=field)
    if type(key) is str:
        if len(_good_keys) >= _GOOD_KEYS_MAX:
            _good_keys.clear()
        _good_keys.add(key)
    return key


def metric_value(key: str, value: object) -> float:
    """A metric value as a float: int and float as they are (NaN and ±inf kept), bool as 0/1,
    numpy scalars and 0-d tensors through ``.item()``; anything else is refused naming the key
    and the type."""
    kind = type(value)
    try:
        if kind is float or kind is int:
            return float(value)  # type: ignore[arg-type]
        if kind is bool:
            return 1.0 if value else 0.0
        item = getattr(value, "item", None)
        if (item is not None and getattr(value, "ndim", 0) == 0
                and not isinstance(value, str | bytes)):
            try:
                inner = item()
            except (ValueError, RuntimeError, TypeError):
                inner = None
            if type(inner) in (int, float, bool):
                return float(inner)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    except OverflowError:  # an int past any float (about 1.8e308)
        raise InvalidInput(f"metric {key!r} must be an int or float a float can hold, got "
                           f"{kind.__name__} too large for one", field=key) from None
    raise InvalidInput(
        f"metric {key!r} must be an int or float, got {kind.__name__} ({value!r:.60})",
        field=key,
    )


MAX_STEP = (1 << 63) - 1  # steps are stored as int64


def clean_step(step: object) -> int:
    """A step: a non-negative int below 2**63 (numpy integers accepted)."""
    if type(step) is int and 0 <= step <= MAX_STEP:
        return step
    if isinstance(step, bool) or not hasattr(step, "__index__"):
        raise InvalidInput(f"step must be a non-negative int, got {step!r}", field="step")
    value = int(step.__index__())
    if not 0 <= value <= MAX_STEP:
        raise InvalidInput(f"step must be a non-negative int below 2**63, got {value}",
                           field="step")
    return value


def json_value(value: Any, field: str, depth: int = 0) -> Any:
    """A value that can be stored as JSON: dicts with string keys, lists, str, int, float
    (NaN/inf kept), bool, None; tuples become lists, numpy scalars and arrays become Python
    values. Anything else is refused naming the field."""
    kind = type(value)
    if kind is float or kind is int or kind is bool or value is None:
        return value  # the usual leaves first, without the checks below
    if isinstance(value, str):
        return clean_text(value, field)
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value
    if depth > 32:
        raise InvalidInput(f"{field} is nested more than 32 levels deep", field=field)
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if type(k) is not str or not k.isascii():
                if not isinstance(k, str):
                    raise InvalidInput(f"{field} keys must be strings, got {k!r}",
                                       field=field)
                clean_text(k, field)
            kind = type(v)
            if kind is float or kind is int or kind is bool or v is None or (
                    kind is str and v.isascii()):
                out[k] = v  # a leaf as the call below would return it, without the call
            else:
                out[k] = json_value(v, f"{field}.{k}", depth + 1)
        return out
    if isinstance(value, list | tuple | set | frozenset):
        return [json_value(v, field, depth + 1) for v in value]
    tolist = getattr(value, "tolist", None)
    if tolist is not None:
        return json_value(tolist(), field, depth + 1)
    if hasattr(value, "__fspath__"):
        return str(value)
    raise InvalidInput(f"{field} must be JSON-like, got {type(value).__name__}", field=field)


def clean_mapping(value: object, field: str) -> dict[str, Any]:
    """A dict of JSON-like values (config, summary), or ``InvalidInput``."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidInput(f"{field} must be a dict, got {type(value).__name__}", field=field)
    if len(value) > MAX_DOC_KEYS:
        raise InvalidInput(f"{field} has {len(value)} keys; at most {MAX_DOC_KEYS}",
                           field=field)
    if type(value) is dict:
        plain = _plain_dict(value, 0, True)
        if plain is not None and plain[1] <= MAX_DOC_BYTES and plain[2] <= MAX_DOC_KEYS:
            return plain[0]
    for key in value:
        clean_key(key, field)
    out: dict[str, Any] = json_value(dict(value), field)
    check_size(out, field)
    return out


#: Bounds on a leaf's compact JSON: a float's ``repr`` (``-1.7976931348623157e+308``,
#: ``-Infinity``), an int of at most 64 bits, ``false``, ``null``.
_FLOAT_BYTES, _INT_BYTES, _CONST_BYTES = 24, 20, 5
_INT_MIN, _INT_MAX = -(1 << 63), (1 << 64) - 1


def _plain_dict(doc: dict[str, Any], depth: int, top: bool,
                ) -> tuple[dict[str, Any], int, int] | None:
    """``clean_mapping``'s usual case in one pass: ``json_value(doc)`` for a document of
    plain dicts, lists, tuples and scalars with ASCII text, with an upper bound of its
    compact JSON's UTF-8 bytes (a character escapes to at most 6) and its flattened key
    count (as ``_leaves``), so the document is neither serialized nor walked again to be
    measured. ``None`` for anything else, and for anything the careful path would refuse
    (``top``: the keys ``clean_key`` checks): that path then says precisely what."""
    out: dict[str, Any] = {}
    size = 2
    leaves = 0
    for k, v in doc.items():
        if type(k) is not str or not k.isascii():
            return None
        if top and not (k.isprintable() and 0 < len(k) <= MAX_KEY and k[0] != " "
                        and k[-1] != " "):
            return None
        got = _plain_value(v, depth)
        if got is None:
            return None
        out[k], n, below = got
        size += n + 6 * len(k) + 4
        leaves += below or 1  # a dict's keys below it, else the key itself
    return out, size, leaves


def _plain_list(seq: list[Any] | tuple[Any, ...], depth: int,
                ) -> tuple[list[Any], int] | None:
    """``_plain_dict`` for a list or tuple (a list, as ``json_value`` makes it)."""
    out: list[Any] = []
    size = 2
    for v in seq:
        got = _plain_value(v, depth)
        if got is None:
            return None
        out.append(got[0])
        size += got[1] + 1
    return out, size


def _plain_value(v: Any, depth: int) -> tuple[Any, int, int] | None:
    """One value of ``_plain_dict`` or ``_plain_list`` at ``depth``: as ``json_value``
    makes it, a bound of its compact JSON's bytes, and the flattened keys below it (a
    dict's; 0 for anything else); ``None`` for anything the careful path must see."""
    kind = type(v)
    if kind is float:
        return v, _FLOAT_BYTES, 0
    if kind is int:
        return (v, _INT_BYTES, 0) if _INT_MIN <= v <= _INT_MAX else None
    if kind is bool or v is None:
        return v, _CONST_BYTES, 0
    if kind is str:
        return (v, 6 * len(v) + 2, 0) if v.isascii() else None
    if depth >= 32:
        return None
    if kind is dict:
        return _plain_dict(v, depth + 1, False)
    if kind is list or kind is tuple:
        items = _plain_list(v, depth + 1)
        return None if items is None else (items[0], items[1], 0)
    return None


def _leaves(value: Any, limit: int) -> int:
    """How many keys ``flatten`` makes of ``value`` (counting stops past ``limit``)."""
    if not isinstance(value, Mapping) or not value:
        return 1
    n = 0
    for item in value.values():
        n += _leaves(item, limit - n) if isinstance(item, Mapping) else 1
        if n > limit:
            break
    return n


#: How a document is measured: compact UTF-8 JSON, anything unusual as its ``str``. Made once
#: (``json.dumps`` with arguments builds an encoder per call).
_SIZE_JSON = json.JSONEncoder(separators=(",", ":"), allow_nan=True, ensure_ascii=False,
                              default=str)


def check_size(doc: Mapping[str, Any], field: str) -> None:
    """Refuse a document over ``MAX_DOC_KEYS`` flattened keys or ``MAX_DOC_BYTES`` of JSON,
    naming ``field``."""
    if not doc:
        return
    keys = _leaves(doc, MAX_DOC_KEYS)
    if keys > MAX_DOC_KEYS:
        raise InvalidInput(f"{field} has more than {MAX_DOC_KEYS} keys (flattened with dots);"
                           " store large data as an artifact", field=field)
    try:
        size = len(_SIZE_JSON.encode(doc).encode("utf-8", "surrogatepass"))
    except ValueError as exc:  # an int past Python's int-to-text limit (4,300 digits)
        raise InvalidInput(f"{field} cannot be written as JSON: {exc}", field=field) from None
    if size > MAX_DOC_BYTES:
        raise InvalidInput(f"{field} is {size} bytes as JSON; at most {MAX_DOC_BYTES} "
                           "(store large data as an artifact)", field=field)


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts flattened with dots: ``{"opt": {"lr": 0.1}}`` → ``{"opt.lr": 0.1}``."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, path + "."))
        else:
            out[path] = value
    return out


def deep_merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """``update`` merged into a copy of ``base``; nested dicts merge key by key."""
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def clean_fraction(value: object) -> float:
    """A progress fraction in [0, 1]."""
    try:
        frac = metric_value("progress", value)
    except InvalidInput:
        raise InvalidInput(f"progress must be a number in [0, 1], got {value!r}",
                           field="progress") from None
    if math.isnan(frac) or not 0.0 <= frac <= 1.0:
        raise InvalidInput(f"progress must be a number in [0, 1], got {value!r}",
                           field="progress")
    return frac
