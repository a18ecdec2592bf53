"""Explicit re-execution: ``retry`` and ``replay`` make new queued runs, never touching the
original.

- ``retry``: the same work again after it ended — ``attempt`` + 1, ``retry_of`` the run,
  ``trigger=retry``, under the same parent. Workers also retry a crash by themselves when it
  was submitted with ``retries``.
- ``replay``: the same command, code snapshot, inputs and config (plus overrides) as a new
  run — ``replay_of`` the run, ``trigger=replay``, ``attempt`` 1, under the same parent.

A group parent (seeds, sweep points) is re-run as a new parent with a re-run of each child.
A run recorded in-process (``picidae.init``) can be replayed too: its captured command runs
in the folder it ran in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from picidae.core.record import new_record
from picidae.core.states import TERMINAL, State
from picidae.core.submission import DEFAULT_QUEUE
from picidae.core.validation import clean_mapping, deep_merge
from picidae.errors import InvalidInput
from picidae.executor.parents import group_of, latest_attempts
from picidae.sdk.view import RunView
from picidae.store.base import RunQuery, Store
from picidae.store.registry import StoreLocation, open_store


def _execution(orig: dict[str, Any]) -> dict[str, Any]:
    execution = dict(orig.get("execution") or {})
    if "cwd" not in execution:  # recorded in-process: run where it ran
        execution["cwd"] = (orig.get("env") or {}).get("cwd")
    execution.pop("group", None)
    return execution


def rerun_record(store: Store, orig: dict[str, Any], mode: str, *,
                 overrides: Mapping[str, Any] | None = None,
                 parent: dict[str, Any] | None = None, actor: str = "user") -> dict[str, Any]:
    """A new queued record re-running ``orig`` (``mode``: ``retry`` or ``replay``) under
    ``parent`` (default: ``orig``'s parent), stored; returns it."""
    group = group_of(orig)
    if not orig.get("command") and group is None:
        raise InvalidInput(f"run {orig['id']} has no command to run again (it was not "
                           "submitted, and its command was not captured)", field="id")
    if parent is None and orig.get("parent_id"):
        parent = store.get_run(orig["parent_id"])
    config = deep_merge(orig.get("config") or {}, clean_mapping(overrides, "overrides"))
    request = (orig.get("resources") or {}).get("request") \
        if isinstance(orig.get("resources"), dict) else None
    rec = new_record(orig["name"], status="queued", parent=parent, alias=orig.get("alias"),
                     kind=orig.get("kind"), config=config, tags=orig.get("tags"),
                     agent=orig.get("agent"), benchmark=orig.get("benchmark"),
                     seed=orig.get("seed"), trigger=mode,
                     evaluation=orig.get("evaluation"),
                     resources={"request": request} if request else None,
                     primary_metric=orig.get("primary_metric"), command=orig.get("command"),
                     actor=actor)
    if rec["primary_metric"]:
        rec["primary_metric"] = {**rec["primary_metric"], "best": None, "step": None}
    execution = _execution(orig)
    if group is not None:
        execution["group"] = dict(group)
    inputs = [{k: i.get(k) for k in ("name", "version", "digest", "uri")}
              for i in orig.get("inputs") or [] if isinstance(i, dict)]
    rec.update(inputs=inputs, code=orig.get("code"), execution=execution,
               queue=None if group is not None else (orig.get("queue") or DEFAULT_QUEUE),
               flow=orig.get("flow"), flow_version=orig.get("flow_version"),
               attempt=(orig.get("attempt") or 1) + 1 if mode == "retry" else 1,
               retry_of=orig["id"] if mode == "retry" else None,
               replay_of=orig["id"] if mode == "replay" else None)
    new = store.create_run(rec)
    if group is not None:
        kids = latest_attempts(store.list_runs(RunQuery(parent=orig["id"],
                                                        order_by=[("created_at", False)])))
        for kid in kids:
            rerun_record(store, kid, mode, overrides=overrides, parent=new, actor=actor)
    return new


def retry_run(store: Store, run_id: str, *, actor: str = "user") -> dict[str, Any]:
    """``retry`` on an open store: the new queued record. A run that has not ended is
    refused (cancel it first)."""
    orig = store.get_run(run_id)
    status = State(orig["status"])
    if status not in TERMINAL and status is not State.ARCHIVED:
        raise InvalidInput(f"run {run_id} is {status.value}; only an ended run can be retried "
                           f"(cancel it first: picidae cancel {run_id})", field="id")
    return rerun_record(store, orig, "retry", actor=actor)


def retry(run_id: str, *, store: StoreLocation = None, actor: str = "user") -> RunView:
    """Run an ended run again: a new queued run with ``attempt`` + 1, ``retry_of`` and
    ``trigger=retry``, under the same parent. A run that has not ended is refused (cancel it
    first)."""
    target = open_store(store)
    new = retry_run(target, run_id, actor=actor)
    return RunView(target, target.get_run(new["id"]))


def replay_run(store: Store, run_id: str, overrides: Mapping[str, Any] | None = None, *,
               actor: str = "user") -> dict[str, Any]:
    """``replay`` on an open store: the new queued record."""
    return rerun_record(store, store.get_run(run_id), "replay", overrides=overrides,
                        actor=actor)


def replay(run_id: str, overrides: Mapping[str, Any] | None = None, *, store: StoreLocation = None,
           actor: str = "user") -> RunView:
    """A new queued run with ``run_id``'s command, code snapshot, inputs and config, with
    ``overrides`` merged into the config (nested dicts key by key); ``replay_of`` and
    ``trigger=replay``. The original may be in any state."""
    target = open_store(store)
    new = replay_run(target, run_id, overrides, actor=actor)
    return RunView(target, target.get_run(new["id"]))
