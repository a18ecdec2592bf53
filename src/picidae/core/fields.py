"""The one table of run fields: for every field of a run, where it is stored, who may set
it, and the check its value passes.

Everything that needs a list of run fields derives it from ``TABLE``: the record layout
(``core.run``), the stores (which fields are columns, which travel in the data document,
defaults), the server's create and batch checks, the HTTP store's create body and the
filter language's field types. Add a field here and every layer knows it.

- ``stored``: ``column`` (a column of the runs table: filterable and sortable in SQL),
  ``data`` (a key of the run's JSON document), ``rows`` (rows of their own:
  ``transitions``) or ``derived`` (computed when read: ``duration_s``, ``stale``).
- ``batch``: a ``Batch.fields`` entry may replace it (the SDK and the launcher send these;
  ``config``, ``summary`` and ``outputs`` are merged through their own ``Batch`` parts).
- ``create``: a create request (``POST /api/v1/runs``, ``new_record``) may give it.
- ``clean``: the validator, ``value → cleaned value``, raising ``InvalidInput`` naming the
  field. Batch values pass the same check as create values, so whatever the SDK produced is
  accepted by every store.
- ``carried`` and ``load``: a run moved whole (a bundle, another tracker's run, the server's
  import route: ``analysis.bundle``) carries every field but the store's own and the derived
  ones, each through ``load`` (``clean_loaded``).
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from picidae.core.times import from_iso
from picidae.core.validation import (
    clean_fraction,
    clean_key,
    clean_label,
    clean_mapping,
    clean_name,
    clean_tags,
    clean_text,
    json_value,
)
from picidae.errors import InvalidInput

TRIGGERS = ("user", "agent", "policy", "schedule", "webhook", "retry", "replay", "child")

MAX_ID = 64


# -- validators of single fields ----------------------------------------------------------

def clean_seed(seed: Any) -> int | None:
    """A seed: an int (NumPy integers accepted) or ``None``."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not hasattr(seed, "__index__"):
        raise InvalidInput(f"seed must be an int, got {seed!r}", field="seed")
    value = int(seed.__index__())
    if not -(2**63) <= value < 2**63:
        raise InvalidInput(f"seed must fit in 64 bits, got {value}", field="seed")
    return value


def clean_trigger(trigger: Any) -> str:
    """What started the run; ``user`` when not said."""
    value = clean_label(trigger, "trigger") or "user"
    if value not in TRIGGERS:
        raise InvalidInput(f"trigger must be one of {', '.join(TRIGGERS)}; got {value!r}",
                           field="trigger")
    return value


def clean_primary(primary_metric: Any) -> dict[str, Any] | None:
    """``"acc"``, ``("loss", "min")`` or ``{"name", "mode"}`` as a primary-metric record
    (its ``best`` and ``step`` are the store's to keep)."""
    if primary_metric is None:
        return None
    name: Any
    mode: Any
    if isinstance(primary_metric, str):
        name, mode = primary_metric, "max"
    elif isinstance(primary_metric, Mapping):
        name, mode = primary_metric.get("name"), primary_metric.get("mode", "max")
    elif isinstance(primary_metric, list | tuple) and len(primary_metric) == 2:
        name, mode = primary_metric
    else:
        raise InvalidInput("primary_metric must be a name, (name, mode) or {name, mode}",
                           field="primary_metric")
    if not isinstance(name, str) or not name:
        raise InvalidInput("primary_metric needs a metric name", field="primary_metric")
    clean_key(name, "primary_metric")
    if mode not in ("max", "min"):
        raise InvalidInput(f"primary_metric mode must be 'max' or 'min', got {mode!r}",
                           field="primary_metric")
    return {"name": name, "mode": mode, "best": None, "step": None}


def json_field(value: Any, field: str) -> Any:
    """A free-form field (evaluation, compute, resources...): a string or a JSON-like dict."""
    if value is None:
        return None
    if isinstance(value, str):
        return clean_text(value, field)
    return clean_mapping(value, field)


def _json_dict(field: str) -> Callable[[Any], Any]:
    """A JSON-like dict (keys as the producer wrote them: environment names, git fields)."""
    def clean(value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, Mapping):
            raise InvalidInput(f"{field} must be an object, got {type(value).__name__}",
                               field=field)
        return json_value(value, field)
    return clean


def _json_list(field: str) -> Callable[[Any], Any]:
    """A list of JSON-like objects (``warnings``)."""
    def clean(value: Any) -> Any:
        if value is None:
            return []
        if not isinstance(value, list | tuple):
            raise InvalidInput(f"{field} must be a list, got {type(value).__name__}",
                               field=field)
        return json_value(list(value), field)
    return clean


def _any_json(field: str) -> Callable[[Any], Any]:
    return lambda value: json_value(value, field)


def _label(field: str, max_len: int) -> Callable[[Any], Any]:
    return lambda value: clean_label(value, field, max_len=max_len)


def _count(field: str) -> Callable[[Any], Any]:
    """A positive int below 2**31 (``attempt``, ``flow_version``) or ``None``."""
    def clean(value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**31:
            raise InvalidInput(f"{field} must be an int ≥ 1, got {value!r}", field=field)
        return value
    return clean


def clean_time(value: Any, field: str = "created_at") -> float | None:
    """Epoch seconds, finite, or ``None``; an ISO 8601 string (as the API answers with) is
    read as its epoch seconds."""
    if value is None:
        return None
    if isinstance(value, str):
        value = from_iso(value, field)
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not math.isfinite(value):
        raise InvalidInput(f"{field} must be epoch seconds, got {value!r}", field=field)
    return float(value)


def clean_command(value: Any) -> list[str] | None:
    """The argv: a list of strings."""
    if value is None:
        return None
    if not isinstance(value, list | tuple) or not all(isinstance(a, str) for a in value):
        raise InvalidInput("command must be a list of strings (argv)", field="command")
    return [clean_text(a, "command") for a in value]


def clean_progress(value: Any) -> dict[str, Any] | None:
    """``{fraction, message, at}``: the fraction in [0, 1], the message text."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InvalidInput("progress must be an object {fraction, message}", field="progress")
    out = json_value(dict(value), "progress")
    out["fraction"] = clean_fraction(value.get("fraction"))
    message = value.get("message")
    if message is not None and not isinstance(message, str):
        raise InvalidInput("progress message must be a string", field="progress")
    return out  # type: ignore[no-any-return]


_SHA256 = re.compile(r"[0-9a-f]{64}")


def clean_inputs(value: Any) -> list[dict[str, Any]]:
    """Inputs: each ``NAME=PATH_OR_URI`` or an object with a ``name`` and optionally a
    ``version``, a ``uri`` and a SHA-256 ``digest`` (other keys, such as what a worker noted
    when syncing, are kept). ``picidae submit`` asks more of the inputs a worker must sync
    (``core.submit_args.clean_input``)."""
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise InvalidInput("inputs must be a list", field="inputs")
    out = []
    for item in value:
        if isinstance(item, str):
            from picidae.core.submit_args import parse_input

            out.append(parse_input(item))
            continue
        if not isinstance(item, Mapping):
            raise InvalidInput(f"an input is NAME=PATH_OR_URI or an object, got {item!r}",
                               field="inputs")
        entry = json_value(dict(item), "inputs")
        name = clean_key(item.get("name"), "input name")
        digest, uri = item.get("digest"), item.get("uri")
        if digest is not None and not (isinstance(digest, str) and _SHA256.fullmatch(digest)):
            raise InvalidInput(f"input {name!r}: digest must be SHA-256 hex, got {digest!r}",
                               field="inputs")
        if uri is not None and (not isinstance(uri, str) or not uri):
            raise InvalidInput(f"input {name!r}: uri must be a string", field="inputs")
        version = item.get("version")
        entry.update(name=name, version=None if version is None else str(version))
        out.append(entry)
    return out


def _new_status(value: Any) -> str:
    if value is None:
        return "running"
    if value not in ("queued", "running"):
        raise InvalidInput(f"a new run starts queued or running, not {value!r}",
                           field="status")
    return str(value)


# -- validators of imported values (a whole run from a bundle or another tracker) ------------

_ID_CHARS = frozenset("0123456789abcdefABCDEF-")


def _run_id(field: str, required: bool = False) -> Callable[[Any], Any]:
    """A run id as stores make them (up to 36 hex digits and dashes)."""
    def clean(value: Any) -> Any:
        if value is None and not required:
            return None
        if not isinstance(value, str) or not 0 < len(value) <= 36 \
                or not set(value) <= _ID_CHARS:
            raise InvalidInput(f"{field} must be a run id (up to 36 hex digits and dashes), "
                               f"got {value!r}", field=field)
        return value
    return clean


def _stored_time(field: str, required: bool = False) -> Callable[[Any], Any]:
    """Epoch seconds (or ISO 8601); ``None`` only when not ``required``."""
    def clean(value: Any) -> Any:
        if value is None and required:
            raise InvalidInput(f"{field} must be epoch seconds, got None", field=field)
        return clean_time(value, field)
    return clean


def _stored_status(value: Any) -> str:
    from picidae.core.lifecycle import parse_state

    return parse_state(str(value)).value


def _stored_notes(value: Any) -> str | None:
    from picidae.core.edits import clean_notes

    return clean_notes(value) or None


def _attempt(value: Any) -> Any:
    return _count("attempt")(1 if value is None else value)


def clean_moves(value: Any) -> list[dict[str, Any]]:
    """Stored transitions: ``{from, to, at, reason, actor}`` each, states canonical."""
    from picidae.core.lifecycle import parse_state

    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise InvalidInput("transitions must be a list", field="transitions")
    moves = []
    for i, move in enumerate(value):
        if not isinstance(move, Mapping):
            raise InvalidInput(f"transitions[{i}] must be an object", field="transitions")
        reason, actor = move.get("reason"), move.get("actor")
        if reason is not None and not isinstance(reason, str):
            raise InvalidInput(f"transitions[{i}].reason must be text", field="transitions")
        moves.append({"from": parse_state(str(move["from"])).value if move.get("from")
                      else None,
                      "to": parse_state(str(move.get("to"))).value,
                      "at": _stored_time(f"transitions[{i}].at", required=True)(move.get("at")),
                      "reason": reason,
                      "actor": clean_label(actor, f"transitions[{i}].actor")})
    return moves


# -- the table ------------------------------------------------------------------------------

COLUMN, DATA, ROWS, DERIVED = "column", "data", "rows", "derived"

_Str = str | None
_Doc = dict[str, Any] | str | None


@dataclass(frozen=True)
class Field:
    """One field of a run (see the module docstring)."""

    name: str
    stored: str
    clean: Callable[[Any], Any] | None = None
    batch: bool = False
    create: bool = False
    #: A data field's value in a new run (copied, never shared).
    default: Any = None
    #: The JSON type a create request carries (the API's schema).
    wire: Any = None
    #: Its type in the filter language (``text``, ``number``, ``time``, ``bool``), if any.
    query: str | None = None
    #: A listing may sort by it directly (a column).
    sort: bool = False
    #: It travels with the run when the run is moved whole (a bundle, an import from another
    #: tracker, ``POST /api/v1/runs/import``); ``False``: the store's own (``workspace``) or
    #: computed on reading, dropped on export and set by the importing store.
    carried: bool = True
    #: The check an imported value passes (``clean_loaded``) when ``clean`` does not fit a
    #: stored value (``status``, ``summary``, ``failure``...); else ``clean``, else any JSON.
    load: Callable[[Any], Any] | None = None
    #: Its value is another run's id (lineage): a server refuses one naming a run of another
    #: workspace.
    refers: bool = False
    #: A column of flat exports (``picidae export --format json|csv|parquet``), in table order.
    flat: bool = False
    doc: str = ""


def _f(name: str, stored: str, clean: Callable[[Any], Any] | None = None, **kw: Any) -> Field:
    return Field(name, stored, clean, **kw)


TABLE: tuple[Field, ...] = (
    # columns
    _f("id", COLUMN, load=_run_id("id", required=True), query="text", sort=True,
       doc="Unique, time-sortable id.", flat=True),
    _f("workspace", COLUMN, carried=False,
       doc="The workspace (token scope) the run belongs to."),
    _f("name", COLUMN, clean_name, batch=True, create=True, wire=_Str, query="text",
       sort=True, doc="Hierarchical path; None becomes 'default'.", flat=True),
    _f("alias", COLUMN, lambda v: clean_label(v, "alias"), batch=True, create=True,
       wire=_Str, query="text", sort=True, doc="Short human label.", flat=True),
    _f("parent_id", COLUMN, _label("parent_id", MAX_ID), load=_run_id("parent_id"),
       refers=True, create=True, wire=_Str, query="text", sort=True,
       doc="The parent run's id.", flat=True),
    _f("root_id", COLUMN, load=_run_id("root_id"), refers=True, query="text",
       doc="The top run of the tree (derived).", flat=True),
    _f("kind", COLUMN, lambda v: clean_label(v, "kind"), create=True, wire=_Str,
       query="text", sort=True, doc="What a child is: seed, sweep-point, phase...", flat=True),
    _f("status", COLUMN, _new_status, load=_stored_status, create=True, query="text",
       sort=True, doc="queued (the default: work to be done) or running.", flat=True),
    _f("trigger", COLUMN, clean_trigger, create=True, wire=_Str, query="text", sort=True,
       doc="What started it: " + ", ".join(TRIGGERS) + ".", flat=True),
    _f("agent", COLUMN, lambda v: clean_label(v, "agent"), create=True, wire=_Str,
       query="text", sort=True, doc="Who ran it.", flat=True),
    _f("benchmark", COLUMN, lambda v: clean_label(v, "benchmark"), create=True, wire=_Str,
       query="text", sort=True, doc="Against what.", flat=True),
    _f("seed", COLUMN, clean_seed, create=True, wire=int | None, query="number", sort=True,
       doc="The seed (64-bit int).", flat=True),
    _f("attempt", COLUMN, _count("attempt"), load=_attempt, create=True, wire=int | None,
       query="number", sort=True, doc="1 for a first run; a retry counts up.", flat=True),
    _f("retry_of", COLUMN, _label("retry_of", MAX_ID), load=_run_id("retry_of"),
       refers=True, create=True, wire=_Str, query="text", flat=True,
       doc="The run this one retries."),
    _f("replay_of", COLUMN, _label("replay_of", MAX_ID), load=_run_id("replay_of"),
       refers=True, create=True, wire=_Str, query="text", flat=True,
       doc="The run this one replays."),
    _f("created_at", COLUMN, clean_time, load=_stored_time("created_at", required=True),
       create=True, wire=float | str | None, query="time", sort=True,
       doc="Back-date the run (imports, demos): epoch seconds or ISO 8601.", flat=True),
    _f("started_at", COLUMN, load=_stored_time("started_at"), query="time", sort=True, flat=True),
    _f("ended_at", COLUMN, load=_stored_time("ended_at"), query="time", sort=True, flat=True),
    _f("last_heartbeat_at", COLUMN, load=_stored_time("last_heartbeat_at"), query="time",
       sort=True),
    _f("queue", COLUMN, _label("queue", 64), create=True, wire=_Str,
       doc="The queue a worker claims it from."),
    _f("flow", COLUMN, _label("flow", 256), create=True, wire=_Str,
       doc="The flow it runs a version of."),
    _f("flow_version", COLUMN, _count("flow_version"), create=True, wire=int | None),
    _f("notes", COLUMN, load=_stored_notes, query="text",
       doc="Free markdown; changed by edits (core.edits)."),
    # the data document
    _f("config", DATA, lambda v: clean_mapping(v, "config"), create=True, default={},
       wire=dict[str, Any] | None, doc="Parameters (merged by batches, never replaced)."),
    _f("tags", DATA, clean_tags, batch=True, create=True, default=[],
       wire=list[str] | None, doc="String labels.", flat=True),
    _f("evaluation", DATA, lambda v: json_field(v, "evaluation"), batch=True, create=True,
       wire=_Doc),
    _f("compute", DATA, lambda v: json_field(v, "compute"), batch=True, create=True,
       wire=_Doc),
    _f("progress", DATA, clean_progress, batch=True),
    _f("command", DATA, clean_command, batch=True, create=True, wire=list[str] | None),
    _f("env", DATA, _json_dict("env"), batch=True, create=True,
       wire=dict[str, Any] | None),
    _f("image", DATA, lambda v: json_field(v, "image"), batch=True, create=True, wire=_Doc,
       doc="The container image (runtime, name, digest), if any."),
    _f("code", DATA, _json_dict("code"), batch=True, create=True,
       wire=dict[str, Any] | None),
    _f("inputs", DATA, clean_inputs, load=_json_list("inputs"), batch=True, create=True,
       default=[], wire=list[dict[str, Any] | str] | None),
    _f("outputs", DATA, load=lambda v: clean_mapping(v, "outputs"), default={}),
    _f("resources", DATA, lambda v: json_field(v, "resources"), batch=True, create=True,
       wire=_Doc),
    _f("cost", DATA, _any_json("cost"), batch=True, flat=True),
    _f("summary", DATA, load=lambda v: clean_mapping(v, "summary"), default={}),
    _f("primary_metric", DATA, clean_primary, load=_json_dict("primary_metric"),
       batch=True, create=True, wire=dict[str, Any] | str | None),
    _f("failure", DATA, load=_json_dict("failure")),
    _f("warnings", DATA, _json_list("warnings"), batch=True, default=[]),
    _f("execution", DATA, _json_dict("execution"), create=True,
       wire=dict[str, Any] | None),
    _f("edits", DATA, load=_json_list("edits"), default=[],
       doc="Every edit after the fact: at, actor, changes."),
    # rows of their own, and what is computed on reading
    _f("transitions", ROWS, load=clean_moves, create=True),
    _f("duration_s", DERIVED, carried=False, query="number", flat=True),
    _f("stale", DERIVED, carried=False, query="bool", flat=True),
)

BY_NAME: dict[str, Field] = {f.name: f for f in TABLE}
#: The fields naming another run (lineage).
RUN_REFS: tuple[str, ...] = tuple(f.name for f in TABLE if f.refers)


def names(*, stored: str | None = None, batch: bool | None = None,
          create: bool | None = None, query: str | None = None,
          sort: bool | None = None, carried: bool | None = None,
          flat: bool | None = None) -> tuple[str, ...]:
    """Field names in table order, filtered by the given attributes."""
    return tuple(f.name for f in TABLE
                 if (stored is None or f.stored == stored)
                 and (batch is None or f.batch == batch)
                 and (create is None or f.create == create)
                 and (query is None or f.query == query)
                 and (sort is None or f.sort == sort)
                 and (carried is None or f.carried == carried)
                 and (flat is None or f.flat == flat))


def data_default(name: str) -> Any:
    """A fresh copy of data field ``name``'s default."""
    default = BY_NAME[name].default
    # The usual defaults, copied without deepcopy's machinery (every new record and every
    # record read takes a dozen of them).
    if default is None:
        return None
    kind = type(default)
    if (kind is dict or kind is list) and not default:
        return kind()
    return copy.deepcopy(default)


def clean_batch_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """``Batch.fields`` checked: each a batch-settable field, its value through the field's
    validator. ``InvalidInput`` names the first bad one."""
    out: dict[str, Any] = {}
    for name, value in fields.items():
        spec = BY_NAME.get(name) if isinstance(name, str) else None
        if spec is None or not spec.batch or spec.clean is None:
            raise InvalidInput(f"field {name!r} cannot be set in a batch; settable: "
                               f"{', '.join(sorted(names(batch=True)))}",
                               field=f"fields.{name}")
        out[name] = spec.clean(value)
    return out


#: The create-settable fields' checks, by name.
_CREATE_CHECKS: dict[str, Callable[[Any], Any]] = {
    f.name: f.clean for f in TABLE if f.create and f.clean is not None}


def clean_create_fields(values: Mapping[str, Any]) -> dict[str, Any]:
    """The given create-settable fields (``None`` values skipped), each checked."""
    out: dict[str, Any] = {}
    checks = _CREATE_CHECKS
    for name, value in values.items():
        check = checks.get(name)
        if check is None:
            raise InvalidInput(f"field {name!r} cannot be set when creating a run",
                               field=name)
        if value is not None:
            out[name] = check(value)
    return out


def clean_loaded(record: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a run moved whole (a bundle, another tracker's run, ``POST
    /api/v1/runs/import``), each carried field through its ``load`` check (else ``clean``,
    else any JSON value); a data field left out gets its default. What is not carried
    (``workspace``, the derived fields) and keys the table does not know are dropped.
    ``InvalidInput`` names the first bad field as ``record.NAME``."""
    out: dict[str, Any] = {}
    for spec in TABLE:
        if not spec.carried:
            continue
        value = record.get(spec.name)
        if value is None and spec.default is not None:
            out[spec.name] = data_default(spec.name)
            continue
        check = spec.load or spec.clean or _any_json(spec.name)
        try:
            out[spec.name] = check(value)
        except InvalidInput as exc:
            raise InvalidInput(exc.message, field=f"record.{exc.field or spec.name}") from None
    return out
