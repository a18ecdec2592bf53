"""Programs run by a worker (``picidae worker``): how the SDK and the worker share one run.

The worker starts the command with ``PICIDAE_RUN_ID`` (the run it claimed, already
``running``) and ``PICIDAE_MANAGED`` (a file path in the run's work folder). ``picidae.init()``
in the program attaches to that run and records metrics, logs and artifacts as usual, but
does not end it: ``finish()``, ``fail()``, ``cancel()`` and the exit hooks write the
program's wish to the ``PICIDAE_MANAGED`` file instead, and the worker ends the run when the
process exits — it alone knows the exit code, whether the ``--eval`` command still has to
run, and whether a cancel or timeout stopped it. The worker also sends the heartbeats.

The file holds one JSON object: ``{"status", "reason", "failure"}``; the first wish wins.
Child runs the program starts (``run.child``) are ordinary runs and end themselves.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from picidae.settings import settings


def end_file(run_id: str) -> str | None:
    """The file to leave ``run_id``'s ending in, when a worker manages this process's run
    ``run_id``; otherwise ``None``."""
    cfg = settings()
    if cfg.managed and cfg.run_id == run_id:
        return cfg.managed
    return None


def request_end(path: str, status: str, reason: str | None,
                failure: dict[str, Any] | None) -> None:
    """Leave the program's wish for how its run ends (the first one stays)."""
    target = Path(path)
    if target.exists():
        return
    data = {"status": str(status), "reason": reason, "failure": failure}
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, default=str))
    os.replace(tmp, target)


def read_end(path: str | Path) -> dict[str, Any] | None:
    """The wish a managed program left (what the worker reads), or ``None``."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
