"""What users type for submitted work, as values: ``--set k=v`` words, seed ranges, grids,
memory sizes, commands and inputs. Durations (``--timeout 2h``) are ``core.durations``.

Each function takes the loose forms a command line, a flow file or ``picidae.submit()``
gives and returns checked data, or raises ``InvalidInput`` naming the field.
"""

from __future__ import annotations

import json
import math
import re
import shlex
from collections.abc import Iterable, Mapping
from typing import Any

from picidae.core.record import clean_seed
from picidae.core.validation import clean_key, json_value
from picidae.errors import InvalidInput

#: At most this many children (seeds × grid points) in one submission.
MAX_CHILDREN = 10_000

_UNITS_MB = {"": 1, "k": 1 / 1024, "m": 1, "g": 1024, "t": 1024 * 1024}


def as_list(value: Any, field_name: str) -> list[Any]:
    """``value`` as a list: ``None`` → ``[]``, one string or mapping → a list of it."""
    if value is None:
        return []
    if isinstance(value, str | Mapping):
        return [value]
    if not isinstance(value, list | tuple):
        raise InvalidInput(f"{field_name} must be a list, got {type(value).__name__}",
                           field=field_name)
    return list(value)


def parse_value(text: str) -> Any:
    """A ``--set`` value: JSON when it parses (``0.01`` → float, ``true`` → bool, ``[1, 2]``
    → list, ``null`` → None), otherwise the string as written."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    if isinstance(value, float) and not math.isfinite(value):
        return text  # "NaN"/"Infinity" stay words: config values are meant literally
    return value


def nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """``{"opt.lr": 0.1}`` → ``{"opt": {"lr": 0.1}}`` (dots make nested config keys)."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        parts = key.split(".")
        if any(p == "" for p in parts):
            raise InvalidInput(f"config key {key!r} has an empty part", field="config")
        node = out
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[parts[-1]] = value
    return out


def parse_assignments(items: Iterable[str] | None, what: str = "--set") -> dict[str, Any]:
    """``["lr=0.01", "opt.name=adam"]`` as a nested config dict."""
    flat: dict[str, Any] = {}
    for item in as_list(items, "config"):
        if not isinstance(item, str):
            raise InvalidInput(f"{what} takes KEY=VALUE words, got {item!r}", field="config")
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InvalidInput(f"{what} takes KEY=VALUE, got {item!r}", field="config")
        clean_key(key, "config")
        flat[key] = parse_value(raw)
    return nest(flat)


def parse_seeds(value: str | int | Iterable[Any] | None) -> list[int] | None:
    """Seeds from ``"42-46"``, ``"1,2,3"``, ``"1-3,7"``, an int or a list of ints."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str | list | tuple | range):
        raise InvalidInput(f"seeds must be ints or a range like 42-46, got {value!r}",
                           field="seeds")
    if isinstance(value, int):
        return [value]
    seeds: list[int] = []
    if isinstance(value, str):
        for part in value.split(","):
            part = part.strip()
            match = re.fullmatch(r"(-?\d+)\s*-\s*(-?\d+)", part)
            if match:
                lo, hi = int(match.group(1)), int(match.group(2))
                if hi < lo or hi - lo >= MAX_CHILDREN:
                    raise InvalidInput(f"seed range {part!r} must go up, with at most "
                                       f"{MAX_CHILDREN} seeds", field="seeds")
                seeds.extend(range(lo, hi + 1))
            elif re.fullmatch(r"-?\d+", part):
                seeds.append(int(part))
            else:
                raise InvalidInput(f"seeds are like 42-46 or 1,2,3; got {value!r}",
                                   field="seeds")
    else:
        for item in value:
            seed = clean_seed(item)
            if seed is None:
                raise InvalidInput("seeds must be ints, got None", field="seeds")
            seeds.append(seed)
    if not seeds:
        raise InvalidInput("seeds is empty", field="seeds")
    if len(set(seeds)) != len(seeds):
        raise InvalidInput(f"seeds repeat a value: {value!r}", field="seeds")
    return seeds


def parse_grid(value: Mapping[str, Any] | Iterable[str] | None) -> dict[str, list[Any]] | None:
    """A grid from ``["lr=0.1,0.01", "bs=16,32"]`` or ``{"lr": [0.1, 0.01]}``: each key's
    values, in order."""
    if value is None:
        return None
    grid: dict[str, list[Any]] = {}
    if not isinstance(value, Mapping | list | tuple):
        raise InvalidInput(f"grid is a mapping of key to values, or KEY=A,B words; got "
                           f"{value!r}", field="grid")
    if isinstance(value, Mapping):
        for key, values in value.items():
            clean_key(key, "grid")
            if isinstance(values, str) or not isinstance(values, Iterable):
                values = [values]
            grid[key] = [json_value(v, f"grid.{key}") for v in values]
    else:
        for item in value:
            key, sep, raw = str(item).partition("=")
            key = key.strip()
            if not sep or not key:
                raise InvalidInput(f"--grid takes KEY=A,B,C, got {item!r}", field="grid")
            clean_key(key, "grid")
            grid[key] = [parse_value(v.strip()) for v in raw.split(",")]
    for key, values in grid.items():
        if not values:
            raise InvalidInput(f"grid key {key!r} has no values", field="grid")
    return grid or None


def parse_memory(value: str | float | int | None) -> float | None:
    """Megabytes from ``"4G"``, ``"512M"``, ``"1.5GB"``, ``"8Gi"`` or a number (MB)."""
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        mb = float(value)
    elif isinstance(value, str):
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*", value.lower())
        if not match:
            raise InvalidInput(f"memory is like 4G, 512M or 1.5GB; got {value!r}",
                               field="memory")
        mb = float(match.group(1)) * _UNITS_MB[match.group(2)]
    else:
        raise InvalidInput(f"memory is like 4G or a number of MB, got {value!r}",
                           field="memory")
    if not mb > 0:
        raise InvalidInput(f"memory must be positive, got {value!r}", field="memory")
    return mb


def parse_command(command: str | Iterable[str] | None, field_name: str = "command",
                  ) -> list[str] | None:
    """An argv: a list of strings as given, or a string split like a shell would (use
    ``["sh", "-c", "..."]`` for pipes and redirections)."""
    if command is None:
        return None
    if isinstance(command, str):
        try:
            argv = shlex.split(command)
        except ValueError as exc:
            raise InvalidInput(f"cannot split {field_name} {command!r}: {exc}",
                               field=field_name) from None
    elif isinstance(command, list | tuple):
        argv = list(command)
    else:
        raise InvalidInput(f"{field_name} must be a string or a list of strings (argv)",
                           field=field_name)
    if not argv or not all(isinstance(a, str) for a in argv):
        raise InvalidInput(f"{field_name} must be a non-empty list of strings (argv)",
                           field=field_name)
    return argv


def parse_input(item: str | Mapping[str, Any]) -> dict[str, Any]:
    """An input to sync before the command runs: ``NAME=PATH_OR_URI`` or a dict with
    ``name`` and any of ``uri``/``path``, ``version``, ``digest``."""
    if isinstance(item, str):
        name, sep, where = item.partition("=")
        if not sep or not name.strip() or not where.strip():
            raise InvalidInput(f"--input takes NAME=PATH_OR_URI, got {item!r}", field="inputs")
        spec: dict[str, Any] = {"name": name.strip(), "uri": where.strip()}
    elif isinstance(item, Mapping):
        spec = dict(item)
        if "uri" not in spec and ("path" in spec or "path_or_uri" in spec):
            spec["uri"] = spec.pop("path", None) or spec.pop("path_or_uri", None)
    else:
        raise InvalidInput(f"an input is NAME=PATH_OR_URI or a dict, got {item!r}",
                           field="inputs")
    return clean_input(spec)


def clean_input(spec: Mapping[str, Any]) -> dict[str, Any]:
    """``{name, version, digest, uri}`` checked (the digest is SHA-256 hex when given)."""
    unknown = set(spec) - {"name", "version", "digest", "uri"}
    if unknown:
        raise InvalidInput(f"an input has name, version, digest and uri; not "
                           f"{', '.join(sorted(unknown))}", field="inputs")
    name = clean_key(spec.get("name"), "input name")
    digest = spec.get("digest")
    if digest is not None and not (isinstance(digest, str)
                                   and re.fullmatch(r"[0-9a-f]{64}", digest)):
        raise InvalidInput(f"input {name!r}: digest must be SHA-256 hex, got {digest!r}",
                           field="inputs")
    uri = spec.get("uri")
    if uri is not None and (not isinstance(uri, str) or not uri):
        raise InvalidInput(f"input {name!r}: uri must be a string", field="inputs")
    if uri is None and digest is None:
        raise InvalidInput(f"input {name!r} needs a uri (or path) or a digest", field="inputs")
    version = spec.get("version")
    return {"name": name, "version": None if version is None else str(version),
            "digest": digest, "uri": uri}
