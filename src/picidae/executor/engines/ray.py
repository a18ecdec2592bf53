"""The Ray executor: a Ray job per run, through Ray's job-submission API (``ray[default]``).

``submit`` hands Ray an entrypoint that attaches to the run (``python -m
picidae.executor.attach RUN_ID``) with the run id, the store and Picidae's settings in the
job's ``runtime_env`` (Ray jobs do not inherit the submitter's environment), and the run's
request as the entrypoint's resources (``entrypoint_num_cpus``, ``entrypoint_num_gpus``,
``entrypoint_memory``). ``poll`` reads each job's status: ``PENDING`` → the run stays
``provisioning`` (heartbeaten); ``RUNNING`` → the wrapper runs it; a job that ended while the
run did not → ``STOPPED``: ``canceled``, ``FAILED`` or ``SUCCEEDED``: ``failed`` reason
``error``, with the job's logs added to the run's log; a job Ray no longer knows → ``lost``.
``cancel`` is ``stop_job``.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import sys
import time
import uuid
from typing import Any

from picidae.core.run import LogLine
from picidae.core.states import State
from picidae.errors import InvalidInput, PicidaeError, RunFinished
from picidae.executor.engines.common import dispatch, held_runs, move, record_job
from picidae.settings import settings
from picidae.store.base import Batch, Store

QUEUE = "ray"
#: Variables of the submitter that a Ray job is given (Picidae's settings, the code path).
_PASSED = ("PYTHONPATH", "PATH", "HOME")


def _client(address: str) -> Any:
    try:
        from ray.job_submission import JobSubmissionClient  # type: ignore[import-not-found, unused-ignore]
    except ImportError as exc:
        raise InvalidInput("--executor ray needs Ray's job client: pip install "
                           "'picidae[ray]'", field="executor") from exc
    try:
        return JobSubmissionClient(address)
    except Exception as exc:  # Ray raises ConnectionError, RuntimeError, ValueError...
        raise PicidaeError(f"could not reach the Ray cluster at {address}: {exc}") from exc


def _address(record: dict[str, Any]) -> str:
    engine = (record.get("execution") or {}).get("engine") or {}
    return str(engine.get("address") or os.environ.get("RAY_ADDRESS") or "")


def job_env(store_url: str, run_id: str) -> dict[str, str]:
    """The job's environment: the store, the run, Picidae's settings, the code path."""
    env = {k: v for k, v in os.environ.items()
           if k.startswith("PICIDAE_") or k in _PASSED}
    for own in ("PICIDAE_RUN_ID", "PICIDAE_MANAGED", "PICIDAE_SEED", "PICIDAE_WORKDIR",
                "PICIDAE_INPUTS"):
        env.pop(own, None)
    env.update(PICIDAE_STORE=store_url, PICIDAE_HOME=str(settings().home),
               PICIDAE_JOB_ID=f"picidae-{run_id}")
    return env


class RayExecutor:
    """A Ray job per run (see the module docstring)."""

    name = "ray"
    queue = QUEUE

    def options(self, **given: Any) -> dict[str, Any] | None:
        """``address`` (``--ray-address``, default ``RAY_ADDRESS``)."""
        if given.get("partition") or given.get("account") or given.get("slurm_args"):
            raise InvalidInput("--partition, --account and --slurm-arg need --executor "
                               "slurm", field="executor")
        address = given.get("ray_address") or os.environ.get("RAY_ADDRESS")
        if not address:
            raise InvalidInput("--executor ray needs --ray-address or RAY_ADDRESS (the "
                               "cluster's dashboard, like http://head:8265)",
                               field="ray_address")
        try:
            import ray.job_submission  # type: ignore[import-not-found, unused-ignore]  # noqa: F401
        except ImportError as exc:
            raise InvalidInput("--executor ray needs Ray's job client: pip install "
                               "'picidae[ray]'", field="executor") from exc
        return {"name": self.name, "address": str(address)}

    def submit(self, store: Store, record: dict[str, Any]) -> str:
        """Submit the run as a Ray job; records ``compute.executor`` and ``job_id``."""
        address = _address(record)
        client = _client(address)
        request = (record.get("resources") or {}).get("request") or {}
        job = f"picidae-{record['id']}"
        entry = (f"{shlex.quote(sys.executable)} -m picidae.executor.attach "
                 f"{shlex.quote(record['id'])}")
        kwargs: dict[str, Any] = {}
        if request.get("cpus"):
            kwargs["entrypoint_num_cpus"] = float(request["cpus"])
        if request.get("gpus"):
            kwargs["entrypoint_num_gpus"] = float(request["gpus"])
        if request.get("memory_mb"):
            kwargs["entrypoint_memory"] = int(float(request["memory_mb"]) * 2**20)
        try:
            client.submit_job(entrypoint=entry, submission_id=job,
                              runtime_env={"env_vars": job_env(store.url, record["id"])},
                              **kwargs)
        except Exception as exc:
            raise PicidaeError(f"Ray refused the job: {exc}") from exc
        record_job(store, record, self.name, job, f"submitted to Ray at {address} as job "
                   f"{job}")
        return job

    def dispatch(self, store: Store, actor: str) -> list[str]:
        """Claim the runs waiting in the ``ray`` queue and submit each."""
        return dispatch(self, store, actor)

    def poll(self, store: Store, actor: str) -> int:
        """Heartbeat pending jobs' runs; record how jobs that ended while their run did not
        ended."""
        held = held_runs(store, self.name)
        for rec in held:
            job = str(rec["compute"]["job_id"])
            try:
                client = _client(_address(rec))
                status = str(client.get_job_status(job)).rsplit(".", 1)[-1].upper()
            except PicidaeError:
                continue  # the cluster is away: try again next time
            except Exception:
                status = "VANISHED"
            if status == "PENDING":
                with contextlib.suppress(RunFinished, PicidaeError):
                    store.heartbeat(rec["id"])
            elif status != "RUNNING":
                self._verdict(store, client, rec, job, status, actor)
        return len(held)

    def _verdict(self, store: Store, client: Any, rec: dict[str, Any], job: str,
                 status: str, actor: str) -> None:
        if store.get_run(rec["id"])["status"] not in (
                State.PROVISIONING.value, State.SYNCING_DATA.value, State.RUNNING.value,
                State.EVALUATING.value, State.LOST.value):
            return
        if status == "VANISHED":
            move(store, rec["id"], State.LOST, f"Ray no longer knows job {job}", actor)
            return
        with contextlib.suppress(Exception):
            lines = str(client.get_job_logs(job)).splitlines()[-200:]
            now = time.time()
            store.write(rec["id"], Batch(logs=[LogLine(now, "ray", ln) for ln in lines],
                                         batch_id=uuid.uuid4().hex))
        if status == "STOPPED":
            move(store, rec["id"], State.CANCELED, f"stopped in Ray: job {job}", actor)
        else:
            text = f"Ray job {job} ended {status} without ending the run"
            move(store, rec["id"], State.FAILED, text, actor,
                 failure={"reason": "error", "message": text})

    def cancel(self, store: Store, record: dict[str, Any]) -> None:
        """``stop_job`` the run's job."""
        job = (record.get("compute") or {}).get("job_id")
        if job:
            with contextlib.suppress(Exception):
                _client(_address(record)).stop_job(str(job))
