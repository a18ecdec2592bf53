"""What a run cost: a price table per compute target, applied to the lease and usage.

The table is a small file: ``PICIDAE_PRICES`` names it, else ``$PICIDAE_HOME/prices.toml``
(``~/.picidae/prices.toml``). TOML or JSON (by extension; YAML too when PyYAML is
installed)::

    currency = "USD"

    [targets.local]
    hour = 0.0              # per hour the run holds a worker (claim to end)
    cpu_hour = 0.04         # per CPU-hour: requested cpus × hours, else CPU time used
    gpu_hour = 2.50         # per GPU-hour: requested gpus × hours, else GPU busy time
    memory_gb_hour = 0.005  # per GB-hour: requested memory × hours, else peak memory × hours

A worker's compute target is ``picidae worker --target NAME`` (or ``PICIDAE_COMPUTE_TARGET``;
default ``local``). A target missing from the table, or no table, leaves ``cost`` unset.
"""

from __future__ import annotations

import json
import math
import tomllib
from pathlib import Path
from typing import Any

from picidae.errors import InvalidInput, MissingDependency
from picidae.settings import settings

RATES = ("hour", "cpu_hour", "gpu_hour", "memory_gb_hour")


def table_path() -> Path:
    """Where the price table is looked for."""
    cfg = settings()
    return Path(cfg.prices).expanduser() if cfg.prices else cfg.home / "prices.toml"


def load_table(path: Path | None = None) -> dict[str, Any] | None:
    """The price table (``{currency, targets: {name: {rate: price}}}``), or ``None`` when
    there is no file. A malformed file raises ``InvalidInput`` naming it."""
    path = path or table_path()
    if not path.is_file():
        return None
    text = path.read_text()
    try:
        if path.suffix == ".json":
            data = json.loads(text)
        elif path.suffix in (".yaml", ".yml"):
            try:
                import yaml  # type: ignore[import-untyped]
            except ImportError:
                raise MissingDependency("pyyaml", "flows") from None
            data = yaml.safe_load(text)
        else:
            data = tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise InvalidInput(f"cannot read the price table {path}: {exc}", field="prices") from None
    if not isinstance(data, dict) or not isinstance(data.get("targets"), dict):
        raise InvalidInput(f"the price table {path} needs a [targets.NAME] section per compute "
                           "target (see docs/running.md)", field="prices")
    for name, rates in data["targets"].items():
        if not isinstance(rates, dict):
            raise InvalidInput(f"{path}: targets.{name} must be a table of rates",
                               field="prices")
        for key, value in rates.items():
            if key not in RATES or isinstance(value, bool) \
                    or not isinstance(value, int | float) or value < 0:
                raise InvalidInput(f"{path}: targets.{name}.{key} must be one of "
                                   f"{', '.join(RATES)} with a price ≥ 0", field="prices")
    return data


def cost(table: dict[str, Any] | None, target: str, *, hours: float,
         request: dict[str, Any] | None, usage: dict[str, Any]) -> dict[str, Any] | None:
    """The cost record of a run (``amount``, ``currency``, ``target``, ``breakdown``), or
    ``None`` when the table has no price for ``target``."""
    if not table or target not in table["targets"]:
        return None
    rates = table["targets"][target]
    request = request or {}
    total = usage.get("total", {})
    peak = usage.get("peak", {})
    cpu_h = (request["cpus"] * hours if request.get("cpus")
             else total.get("cpu_seconds", 0.0) / 3600)
    gpu_h = (request["gpus"] * hours if request.get("gpus")
             else total.get("gpu_seconds", 0.0) / 3600)
    mem_gb = (request["memory_mb"] if request.get("memory_mb") else peak.get("memory_mb", 0.0))
    quantities = {"hour": hours, "cpu_hour": cpu_h, "gpu_hour": gpu_h,
                  "memory_gb_hour": mem_gb / 1024 * hours}
    breakdown = {rate: round(rates.get(rate, 0.0) * qty, 6)
                 for rate, qty in quantities.items() if rates.get(rate)}
    amount = math.fsum(breakdown.values())
    return {"amount": round(amount, 6), "currency": str(table.get("currency") or "USD"),
            "target": target, "hours": round(hours, 6), "breakdown": breakdown}
