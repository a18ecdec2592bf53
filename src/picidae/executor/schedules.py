"""Schedules: a command (or a flow) submitted at each slot of a cron expression.

``add`` stores one (``picidae schedule add``); ``fire_due`` fires the slots that are due,
and ``Scheduler`` calls it on a timer inside ``picidae server``, ``picidae ui`` and
``picidae worker``. Each slot is taken by a conditional insert keyed by schedule and slot
(``ScheduleBook.claim``), so however many of them run, a slot fires exactly once; after
downtime only the newest missed slot fires (at most one catch-up). A fired run is queued
with trigger ``schedule`` and names its schedule in ``execution.schedule`` (``{name,
slot}``). Schedules live in a SQL store's database (``ScheduleStore``); a server fires those
of every workspace, each run landing in its schedule's workspace. Over ``--store http://``
they are managed through the server's API, and the server fires them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from picidae.core import cron as crons
from picidae.core.submission import Spec, plan, plan_children
from picidae.errors import InvalidInput, PicidaeError
from picidae.store.base import Store
from picidae.store.capabilities import (
    EventSource,
    ScheduleBook,
    ScheduleStore,
    WorkspacedStore,
)
from picidae.store.registry import StoreLocation, open_store
from picidae.ticker import Ticker

log = logging.getLogger("picidae.schedules")

ACTOR = "schedule"
#: Seconds between two looks for due slots (per-second cron expressions need under one).
TICK_S = 0.5


def book(store: Store) -> ScheduleBook:
    """The store's schedules, or ``InvalidInput`` for a store that keeps none."""
    if not isinstance(store, ScheduleStore):
        raise InvalidInput(f"this store keeps no schedules: {store.url}", field="store")
    return store.schedules()


def add(name: str, cron: str, *, command: Any = None, flow: str | None = None,
        tz: str | None = None, spec: dict[str, Any] | None = None,
        store: StoreLocation = None, now: float | None = None, executor: str | None = None,
        partition: str | None = None, account: str | None = None,
        slurm_args: Any = None, ray_address: str | None = None) -> dict[str, Any]:
    """Store schedule ``name``: at each slot of ``cron`` (in ``tz``, default UTC) submit
    ``command`` with the submit options in ``spec`` (``config``, ``cpus``, ``queue``...), or
    the latest version of ``flow``. ``executor`` and its options (as ``picidae.submit``
    takes them) are kept in the stored spec's ``engine``: each fired run waits in that
    engine's queue for its follower (``picidae worker --executor slurm``). Everything is
    checked before anything is stored."""
    from picidae.executor.engines import resolve

    text = crons.check(cron, tz)
    if (command is None) == (flow is None):
        raise InvalidInput("a schedule runs a command (after '--') or a flow (--flow), one "
                           "of them", field="command")
    engine, options = resolve(executor, partition=partition, account=account,
                              slurm_args=slurm_args, ray_address=ray_address)
    if options is not None and flow is not None:
        raise InvalidInput("--executor applies to a command schedule; a flow's runs go to "
                           "the local queue", field="executor")
    target = open_store(store)
    table = book(target)
    data: dict[str, Any] | None = None
    if command is not None:
        from picidae.executor.submit import pin_inputs

        given = dict(spec or {})
        if options is not None:
            given["queue"] = engine.queue
        built = Spec.build(command, **given)
        pin_inputs(built)
        data = built.to_dict()
        if options is not None:
            data["engine"] = options
    else:
        target.get_flow(str(flow))  # FlowNotFound now, not at the first slot
    return table.add(name, text, tz or "UTC", spec=data, flow=flow, now=now)


def split_spec(data: dict[str, Any]) -> tuple[Spec, dict[str, Any] | None]:
    """A stored schedule spec: the submission spec, and the executor's options (``engine``,
    ``None`` for the local queue)."""
    data = dict(data)
    engine = data.pop("engine", None)
    if engine is not None:
        from picidae.executor.engines import ENGINES

        if not isinstance(engine, dict) or engine.get("name") not in ENGINES:
            raise InvalidInput(f"a schedule's engine names one of {', '.join(ENGINES)}",
                               field="spec.engine")
    return Spec.from_dict(data), engine


def _submit(store: Store, schedule: dict[str, Any], slot: float) -> str:
    """Queue the schedule's work for ``slot`` (the records ``picidae submit`` makes)."""
    flow, engine = None, None
    if schedule.get("flow"):
        stored = store.get_flow(schedule["flow"])
        spec, flow = Spec.from_dict(stored["spec"]), (stored["name"], stored["version"])
    else:
        spec, engine = split_spec(schedule["spec"])
    top = plan(spec, name=schedule["name"], trigger="schedule", flow=flow, actor=ACTOR)
    top["execution"]["schedule"] = {"name": schedule["name"], "slot": slot}
    if engine:
        top["execution"]["engine"] = engine
    top = store.create_run(top)
    for child in plan_children(spec, top, actor=ACTOR):
        if engine:
            child["execution"]["engine"] = engine
        store.create_run(child)
    return str(top["id"])


def fires_here(store: Store) -> bool:
    """Whether this process fires ``store``'s schedules: a store whose database it reads
    (a server's store, HTTP, is its server's to fire)."""
    return isinstance(store, ScheduleStore) and isinstance(store, EventSource)


def every_workspace(store: Store, found: list[str]) -> list[Store]:
    """``store`` bound to each workspace in ``found`` (itself alone for a store without
    workspaces), so what fires there lands there."""
    if not isinstance(store, WorkspacedStore):
        return [store]
    return [store if ws == store.workspace else store.for_workspace(ws) for ws in found]


def fire_due(store: Store, now: float | None = None) -> list[tuple[str, float, str]]:
    """Fire every active schedule, of every workspace, whose newest slot at or before
    ``now`` is newer than the last it fired: ``(name, slot, run id)`` for each this caller
    fired. The run is submitted to its schedule's workspace."""
    if not fires_here(store):
        return []
    assert isinstance(store, ScheduleStore)
    now = time.time() if now is None else now
    out = []
    for bound in every_workspace(store, store.schedules().workspaces()):
        assert isinstance(bound, ScheduleStore)
        out.extend(_fire_workspace(bound, now))
    return out


def _fire_workspace(store: ScheduleStore, now: float) -> list[tuple[str, float, str]]:
    table = store.schedules()
    out = []
    for schedule in table.list():
        if schedule["paused"]:
            continue
        try:
            slot = crons.latest_slot(schedule["cron"], schedule["tz"], now)
        except PicidaeError as exc:
            log.warning("schedule %s: %s", schedule["name"], exc)
            continue
        if slot <= schedule["last_slot"] or not table.claim(schedule["name"], slot, now=now):
            continue
        try:
            run_id = _submit(store, schedule, slot)
        except PicidaeError as exc:  # a removed flow, a bad spec: the slot is spent
            log.warning("schedule %s could not submit its slot: %s", schedule["name"], exc)
            continue
        table.fired(schedule["name"], slot, run_id)
        out.append((schedule["name"], slot, run_id))
    return out


class Scheduler(Ticker):
    """A daemon thread calling ``fire_due`` every ``tick_s`` seconds (a server's, a
    worker's). ``clock`` gives the time (tests inject one)."""

    name = "picidae-scheduler"

    def __init__(self, store: Store, *, tick_s: float = TICK_S,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.store = store
        self.tick_s = self.retry_s = tick_s
        self.clock = clock

    def _enabled(self) -> bool:
        return fires_here(self.store)

    def _tick(self) -> float:
        for name, slot, run_id in fire_due(self.store, self.clock()):
            log.info("schedule %s fired slot %s: run %s", name, slot, run_id)
        return self.tick_s
