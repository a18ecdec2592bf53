"""``compare``: what differs between runs — config, summary, final and best metrics, inputs,
code, environment and command — and, unless asked for everything, only that.

Each section is a list of rows ``{key, values, differs}`` with ``values`` in the order the run
ids were given (``None`` where a run has no such key). Metric rows also carry ``best`` (the
best value of the run's series), ``mode`` (``max`` or ``min``) and ``better``. Summary rows
with numbers carry ``mode`` and ``better`` too. The mode is the primary metric's for the
primary metric; for other keys it is ``min`` when the key names a loss or an error (see
``MIN_HINTS``), else ``max``.

``better`` (the id of the run with the best value, ``None`` on a tie) is a judgement, so it is
given only where the run's author said what "better" means or reported a result: on the
primary metric's row and on summary values. Other metrics — a learning rate, a throughput,
and never the ``system/*`` samples (CPU, memory, GPU) — get ``better: None``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from picidae.core.stats import is_number, same
from picidae.core.times import iso
from picidae.core.validation import flatten
from picidae.errors import InvalidInput
from picidae.store.base import Store

#: Metric keys containing one of these are better when lower.
MIN_HINTS = ("loss", "err", "perplexity", "ppl", "mse", "mae", "rmse", "wer", "cer",
             "latency", "regret", "time", "duration")
#: The sections of a comparison, in the order they are shown.
SECTIONS = ("config", "summary", "metrics", "inputs", "code", "env", "command")
#: Environment facts compared besides packages (a pid or hostname differs every time).
ENV_KEYS = ("python", "implementation", "platform")
CODE_KEYS = ("commit", "branch", "dirty", "remote")
MAX_RUNS = 50


def metric_mode(key: str, primary: Mapping[str, Any] | None) -> str:
    """``max`` or ``min``: the primary metric's mode, else a guess from the key's name."""
    if primary and primary.get("name") == key and primary.get("mode") in ("max", "min"):
        return str(primary["mode"])
    low = key.lower()
    return "min" if any(hint in low for hint in MIN_HINTS) else "max"


def judged(key: str, primary: Mapping[str, Any] | None, *, section: str) -> bool:
    """Whether a row of ``section`` names a ``better`` run: summary values and the primary
    metric, never a ``system/*`` key (resource samples are not results)."""
    if key.startswith("system/"):
        return False
    if section == "summary":
        return True
    return primary is not None and primary.get("name") == key


def _rows(maps: list[dict[str, Any]], *, ordered: bool = True) -> list[dict[str, Any]]:
    keys: list[str] = []
    seen: set[str] = set()
    for mapping in maps:
        for key in mapping:
            if key not in seen:
                seen.add(key)
                keys.append(key)
    if ordered:
        keys.sort()
    rows = []
    for key in keys:
        values = [m.get(key) for m in maps]
        differs = any(key not in m for m in maps) or not same(values)
        rows.append({"key": key, "values": values, "differs": differs})
    return rows


def _best(values: Sequence[float], mode: str) -> float | None:
    real = [v for v in values if not math.isnan(v)]
    if not real:
        return None
    return max(real) if mode == "max" else min(real)


def _winner(ids: Sequence[str], values: Sequence[Any], mode: str) -> str | None:
    """The id whose value is best by ``mode``; ``None`` on a tie or with no values."""
    scored = [(v, i) for v, i in zip(values, ids, strict=True)
              if is_number(v) and not math.isnan(v)]
    if not scored:
        return None
    top = max(v for v, _ in scored) if mode == "max" else min(v for v, _ in scored)
    best = [i for v, i in scored if v == top]
    return best[0] if len(best) == 1 else None


def _inputs(record: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in record.get("inputs") or []:
        if not isinstance(item, Mapping) or not item.get("name"):
            continue
        version = item.get("version")
        digest = item.get("digest")
        label = version if version is not None else None
        if digest:
            short = f"sha256:{str(digest)[:12]}"
            label = f"{label} ({short})" if label is not None else short
        if label is None:
            label = item.get("uri") or "(no version)"
        name = str(item["name"])
        out[name] = label if name not in out else f"{out[name]}, {label}"
    return out


def _code(record: Mapping[str, Any]) -> dict[str, Any]:
    code = record.get("code") or {}
    if not isinstance(code, Mapping):
        return {}
    out = {key: code[key] for key in CODE_KEYS if key in code}
    for part in ("diff", "snapshot"):
        item = code.get(part)
        if isinstance(item, Mapping) and item.get("digest"):
            out[part] = f"sha256:{str(item['digest'])[:12]}"
    return out


def _env(record: Mapping[str, Any]) -> dict[str, Any]:
    env = record.get("env") or {}
    out: dict[str, Any] = {}
    if isinstance(env, Mapping):
        out.update({key: env[key] for key in ENV_KEYS if key in env})
        packages = env.get("packages")
        if isinstance(packages, Mapping):
            out.update({f"packages.{name}": version for name, version in packages.items()})
    if record.get("image"):
        image = record["image"]
        out["image"] = image.get("digest") or image.get("name") \
            if isinstance(image, Mapping) else image
    return out


def _command(record: Mapping[str, Any]) -> dict[str, Any]:
    argv = record.get("command")
    if not argv:
        return {}
    return {"command": " ".join(str(a) for a in argv) if isinstance(argv, list) else argv}


def compare(store: Store, run_ids: Sequence[str], *, everything: bool = False) -> dict[str, Any]:
    """The comparison of ``run_ids`` (at least two) in ``store`` (see the module docstring):
    ``{runs, primary_metric, winner, sections: {name: rows}, hidden: {name: n}}``. Rows where
    every run agrees are left out (and counted in ``hidden``) unless ``everything``."""
    if isinstance(run_ids, str):
        run_ids = [run_ids]
    ids = list(dict.fromkeys(run_ids))
    if len(ids) < 2:
        raise InvalidInput("compare needs at least two different run ids", field="run_ids")
    if len(ids) > MAX_RUNS:
        raise InvalidInput(f"compare takes at most {MAX_RUNS} runs, got {len(ids)}",
                           field="run_ids")
    records = [store.get_run(run_id) for run_id in ids]
    latest = store.latest_metrics(ids)
    primary = next((r["primary_metric"] for r in records if r.get("primary_metric")), None)
    sections: dict[str, list[dict[str, Any]]] = {
        "config": _rows([flatten(r.get("config") or {}) for r in records]),
        "summary": _summary_rows(ids, records, primary),
        "metrics": _metric_rows(store, ids, records, latest, primary),
        "inputs": _rows([_inputs(r) for r in records]),
        "code": _rows([_code(r) for r in records], ordered=False),
        "env": _rows([_env(r) for r in records]),
        "command": _rows([_command(r) for r in records]),
    }
    hidden = {name: sum(not row["differs"] for row in rows) for name, rows in sections.items()}
    winner = next((row["better"] for row in sections["metrics"]
                   if primary and row["key"] == primary["name"]), None)
    if not everything:
        sections = {name: [row for row in rows if row["differs"]]
                    for name, rows in sections.items()}
    return {
        "runs": [{"id": r["id"], "name": r["name"], "status": r["status"],
                  "created_at": iso(r["created_at"]), "stale": r.get("stale")}
                 for r in records],
        "primary_metric": ({"name": primary["name"], "mode": primary["mode"]}
                           if primary else None),
        "winner": winner,
        "sections": sections,
        "hidden": hidden if not everything else {name: 0 for name in sections},
        "everything": everything,
    }


def _metric_rows(store: Store, ids: list[str], records: list[dict[str, Any]],
                 latest: Mapping[str, Mapping[str, float]],
                 primary: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    keys = sorted({k for run_id in ids for k in latest.get(run_id, {})})
    rows = []
    for key in keys:
        mode = metric_mode(key, primary)
        finals = [latest.get(run_id, {}).get(key) for run_id in ids]
        bests: list[float | None] = []
        for run_id, rec, final in zip(ids, records, finals, strict=True):
            pm = rec.get("primary_metric") or {}
            if final is None:
                bests.append(None)
            elif pm.get("name") == key and pm.get("mode") == mode and pm.get("best") is not None:
                bests.append(pm["best"])  # kept up to date by the store
            else:
                bests.append(_best(store.metrics(run_id, key).values, mode))
        differs = (any(v is None for v in finals) or not same(finals)
                   or not same([b if b is not None else math.nan for b in bests]))
        scores = [b if b is not None else f for b, f in zip(bests, finals, strict=True)]
        better = _winner(ids, scores, mode) if judged(key, primary, section="metrics") else None
        rows.append({"key": key, "values": finals, "best": bests, "mode": mode,
                     "better": better, "differs": differs})
    return rows


def _summary_rows(ids: list[str], records: list[dict[str, Any]],
                  primary: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    rows = _rows([flatten(r.get("summary") or {}) for r in records])
    for row in rows:
        numbers = [v for v in row["values"] if is_number(v)]
        if numbers and judged(row["key"], primary, section="summary"):
            row["mode"] = metric_mode(row["key"], primary)
            row["better"] = _winner(ids, row["values"], row["mode"])
    return rows
