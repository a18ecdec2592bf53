"""The Slurm executor: an ``sbatch`` job per run, and a follower that records Slurm's word.

``dispatch`` claims the runs waiting in the ``slurm`` queue (they move to ``provisioning``)
and submits each with ``sbatch`` (``script`` shows the job); the job's id goes into
``compute.job_id``. Inside the job, ``python -m picidae.executor.attach RUN_ID`` runs the
run exactly as a local worker would (heartbeats, console, exit code, eval phase, timeout,
retries). ``poll`` reads ``squeue`` (and ``scontrol show job`` for jobs that left the queue;
no accounting needed): while Slurm holds the job pending the run stays ``provisioning`` and
is heartbeaten; when the job ended without the run ending, Slurm's verdict is recorded —
``TIMEOUT`` → ``failed`` reason ``timeout``, ``CANCELLED`` → ``canceled`` (by the cluster),
``PREEMPTED`` → ``failed`` reason ``preempted``, ``OUT_OF_MEMORY`` → ``failed`` reason
``oom``, ``NODE_FAIL`` or a job Slurm no longer knows → ``lost`` (then ``failed`` reason
``lost`` when the lost window passes), any other ending → ``failed`` reason ``error``.
"""

from __future__ import annotations

import contextlib
import math
import re
import shlex
import subprocess
import sys
from typing import Any

from picidae.core.states import State
from picidae.errors import InvalidInput, PicidaeError, RunFinished
from picidae.executor.engines.common import OPEN, dispatch, held_runs, move, record_job
from picidae.settings import settings
from picidae.store.base import Store

QUEUE = "slurm"
_PENDING = {"PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "RESIZING", "SUSPENDED"}
_ACTIVE = {"RUNNING", "COMPLETING", "STAGE_OUT", "SIGNALING"}
#: Slurm's job endings, as (state, failure reason) for the run when it has not ended itself.
_VERDICTS: dict[str, tuple[State, str | None]] = {
    "TIMEOUT": (State.FAILED, "timeout"),
    "DEADLINE": (State.FAILED, "timeout"),
    "PREEMPTED": (State.FAILED, "preempted"),
    "OUT_OF_MEMORY": (State.FAILED, "oom"),
    "CANCELLED": (State.CANCELED, None),
    "NODE_FAIL": (State.LOST, None),
    "BOOT_FAIL": (State.LOST, None),
}
_TIMEOUT = 30


def _run(argv: list[str], *, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(argv, input=stdin, capture_output=True, text=True,
                              timeout=_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PicidaeError(f"{argv[0]} failed: {exc}") from exc


def options(record: dict[str, Any]) -> dict[str, Any]:
    """The run's Slurm options (``execution.engine``)."""
    engine = (record.get("execution") or {}).get("engine") or {}
    return engine if isinstance(engine, dict) else {}


def script(record: dict[str, Any], store_url: str) -> str:
    """The batch script for a run: its resources as ``#SBATCH`` lines, then the wrapper
    that attaches to the run."""
    request = (record.get("resources") or {}).get("request") or {}
    opts = options(record)
    lines = ["#!/bin/sh", f"#SBATCH --job-name={_job_name(record)}",
             f"#SBATCH --output={settings().home / 'slurm'}/%j.out"]
    if request.get("cpus"):
        lines.append(f"#SBATCH --cpus-per-task={math.ceil(float(request['cpus']))}")
    if request.get("gpus"):
        lines.append(f"#SBATCH --gpus={int(request['gpus'])}")
    if request.get("memory_mb"):
        lines.append(f"#SBATCH --mem={math.ceil(float(request['memory_mb']))}M")
    timeout = (record.get("execution") or {}).get("timeout_s")
    if timeout:
        lines.append(f"#SBATCH --time={max(1, math.ceil(float(timeout) / 60))}")
    for key in ("partition", "account"):
        if opts.get(key):
            lines.append(f"#SBATCH --{key}={opts[key]}")
    lines += [f"#SBATCH {arg}" for arg in opts.get("args") or []]
    lines += [f"export PICIDAE_STORE={shlex.quote(store_url)}",
              f"exec {shlex.quote(sys.executable)} -m picidae.executor.attach "
              f"{shlex.quote(record['id'])}", ""]
    return "\n".join(lines)


def _job_name(record: dict[str, Any]) -> str:
    return "picidae-" + re.sub(r"[^A-Za-z0-9_.-]+", "_", str(record.get("name") or ""))[:64]


def clean_args(args: Any) -> list[str]:
    """``--slurm-arg`` values: each one ``sbatch`` option (``--qos=high``)."""
    out = []
    for arg in args or []:
        if not isinstance(arg, str) or not arg.startswith("-") or "\n" in arg:
            raise InvalidInput(f"a Slurm argument is one sbatch option like --qos=high, got "
                               f"{arg!r}", field="slurm_args")
        out.append(arg)
    return out


def job_states(job_ids: list[str]) -> dict[str, tuple[str, str]]:
    """``{job id: (state, reason)}`` from ``squeue``, then ``scontrol`` for jobs that left
    the queue; a job Slurm no longer knows is missing."""
    if not job_ids:
        return {}
    found: dict[str, tuple[str, str]] = {}
    out = _run(["squeue", "-h", "-t", "all", "-j", ",".join(job_ids), "-o", "%i|%T|%r"])
    for line in out.stdout.splitlines():
        parts = line.strip().split("|")
        if len(parts) == 3 and parts[0] in job_ids:
            found[parts[0]] = (parts[1], parts[2])
    for job in job_ids:
        if job in found:
            continue
        shown = _run(["scontrol", "-o", "show", "job", job])
        state = re.search(r"\bJobState=(\S+)", shown.stdout)
        reason = re.search(r"\bReason=(\S+)", shown.stdout)
        if shown.returncode == 0 and state:
            found[job] = (state.group(1), reason.group(1) if reason else "")
    return found


class SlurmExecutor:
    """``sbatch`` per run (see the module docstring)."""

    name = "slurm"
    queue = QUEUE

    def options(self, **given: Any) -> dict[str, Any] | None:
        """``partition``, ``account``, ``args`` (``--slurm-arg``); sbatch must be here."""
        import shutil

        if given.get("ray_address"):
            raise InvalidInput("--ray-address needs --executor ray", field="executor")
        if shutil.which("sbatch") is None:
            raise InvalidInput("--executor slurm needs Slurm's sbatch on this machine's PATH",
                               field="executor")
        return {"name": self.name, "partition": given.get("partition"),
                "account": given.get("account"), "args": clean_args(given.get("slurm_args"))}

    def submit(self, store: Store, record: dict[str, Any]) -> str:
        """``sbatch`` the run's script; records ``compute.executor`` and ``job_id``."""
        (settings().home / "slurm").mkdir(parents=True, exist_ok=True)
        cwd = (record.get("execution") or {}).get("cwd")
        out = _run(["sbatch", "--parsable", *([f"--chdir={cwd}"] if cwd else [])],
                   stdin=script(record, store.url))
        if out.returncode != 0:
            raise PicidaeError(f"sbatch refused the job: {out.stderr.strip()[:500]}")
        job = out.stdout.strip().split(";")[0]
        record_job(store, record, self.name, job, f"submitted to Slurm as job {job}")
        return job

    def dispatch(self, store: Store, actor: str) -> list[str]:
        """Claim the runs waiting in the ``slurm`` queue and ``sbatch`` each."""
        return dispatch(self, store, actor)

    def poll(self, store: Store, actor: str) -> int:
        """Heartbeat pending jobs' runs; record the verdict of jobs that ended while their
        run did not."""
        held = held_runs(store, self.name)
        if not held:
            return 0
        states = job_states([str(rec["compute"]["job_id"]) for rec in held])
        for rec in held:
            job = str(rec["compute"]["job_id"])
            state, reason = states.get(job, ("VANISHED", ""))
            state = state.rstrip("+")
            if state in _PENDING:
                with contextlib.suppress(RunFinished, PicidaeError):
                    store.heartbeat(rec["id"])
            elif state in _ACTIVE:
                continue  # the wrapper in the job heartbeats the run
            else:
                self._verdict(store, rec, job, state, reason, actor)
        return len(held)

    def _verdict(self, store: Store, rec: dict[str, Any], job: str, state: str, reason: str,
                 actor: str) -> None:
        # Give the wrapper's own ending a moment to land before overruling it.
        fresh = store.get_run(rec["id"])
        if fresh["status"] not in OPEN:
            return
        to, why = _VERDICTS.get(state, (State.FAILED, "error"))
        if state == "VANISHED":
            to, why = State.LOST, None
        text = f"Slurm job {job} ended {state}" + (f" ({reason})" if reason
                                                   and reason != "None" else "")
        if to is State.CANCELED:
            move(store, rec["id"], to, f"canceled in Slurm: job {job}", actor)
        elif to is State.LOST:
            if fresh["status"] != State.LOST.value:
                move(store, rec["id"], to, text if state != "VANISHED"
                      else f"Slurm no longer knows job {job}", actor)
        else:
            move(store, rec["id"], to, text, actor,
                  failure={"reason": why or "error", "message": text})

    def cancel(self, store: Store, record: dict[str, Any]) -> None:
        """``scancel`` the run's job."""
        job = (record.get("compute") or {}).get("job_id")
        if job:
            _run(["scancel", str(job)])
