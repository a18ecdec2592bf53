"""``picidae sweep`` and ``picidae.sweep``: a search whose runs are chosen from the results so
far, by an Optuna sampler (random, TPE or grid).

The sweep is a parent run (kind ``sweep``) and its controller, this module: it asks the
sampler for the next point, submits it as a child (kind ``sweep-point``, trigger ``policy``)
through the usual submit path, keeps ``parallel`` children unfinished, and stops at
``trials``. A child's value is the latest value of the sweep's primary metric (or its
summary's). With ``prune="median"`` the controller reports each running child's
intermediate values to Optuna's ``MedianPruner`` and cancels it (reason ``pruned``) when the
pruner says so.

The store is the source of truth: the definition is the parent's config, the template of the
children its ``execution.sweep``, each trial a child. The Optuna study lives in memory and is
rebuilt from the children whenever a controller starts, so ``resume`` continues a sweep whose
controller died without repeating a trial. The parent's summary names the best child
(``best_run``, ``best_value``, ``best_params``) and counts ``trials_completed``,
``trials_pruned``, ``trials_failed`` and ``trials_running``; the controller ends the parent
``completed`` when its last child ends. Optuna is imported only here (``picidae[optuna]``).
"""

from __future__ import annotations

import contextlib
import math
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from picidae.core.record import new_record
from picidae.core.search_space import Param, SweepDef, parse_params
from picidae.core.states import TERMINAL, UNFINISHED, State
from picidae.core.submission import Spec, nest
from picidae.core.validation import deep_merge, flatten
from picidae.errors import (
    IllegalTransition,
    InvalidInput,
    MissingDependency,
    RunFinished,
    StoreUnavailable,
)
from picidae.executor.cancel import cancel_tree
from picidae.executor.engines import for_options, resolve
from picidae.executor.parents import latest_attempts
from picidae.executor.submit import store_spec
from picidae.sdk.view import RunView
from picidae.store.base import Batch, RunQuery, Store
from picidae.store.registry import StoreLocation, open_store

if TYPE_CHECKING:
    import optuna

ACTOR = "sweep"
#: Seconds between the controller's looks at its children.
POLL_S = 0.5
#: Seconds between the controller's heartbeats of the parent.
HEARTBEAT_S = 5.0


def _optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise MissingDependency("optuna", "optuna") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def _distributions(params: list[Param]) -> dict[str, Any]:
    dist = _optuna().distributions
    out: dict[str, Any] = {}
    for p in params:
        if p.kind == "choice":
            out[p.name] = dist.CategoricalDistribution(list(p.choices))
        elif p.kind == "int":
            out[p.name] = dist.IntDistribution(int(p.low), int(p.high))
        else:
            out[p.name] = dist.FloatDistribution(p.low, p.high, log=p.kind == "loguniform")
    return out


def _grid_sampler(optuna: Any, space: dict[str, list[Any]], seed: int | None) -> Any:
    class StoredGrid(optuna.samplers.GridSampler):  # type: ignore[misc]
        """A grid sampler that counts the points of replayed (enqueued) children as visited,
        so a rebuilt study never visits a point twice."""

        def before_trial(self, study: Any, trial: Any) -> None:
            fixed = trial.system_attrs.get("fixed_params")
            if fixed is None or "grid_id" in trial.system_attrs:
                super().before_trial(study, trial)
                return
            point = tuple(fixed.get(name) for name in self._param_names)
            if point in self._all_grids:
                storage = study._storage
                storage.set_trial_system_attr(trial._trial_id, "search_space",
                                              self._search_space)
                storage.set_trial_system_attr(trial._trial_id, "grid_id",
                                              self._all_grids.index(point))

        def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
            """Nothing: the controller stops at its trial count (Optuna's ``study.stop`` is
            for ``optimize`` only)."""

    return StoredGrid(space, seed=seed)


def _study(defn: SweepDef) -> optuna.Study:
    optuna = _optuna()
    if defn.strategy == "grid":
        sampler = _grid_sampler(optuna, {p.name: p.grid_values() for p in defn.params},
                                defn.seed)
    elif defn.strategy == "random":
        sampler = optuna.samplers.RandomSampler(seed=defn.seed)
    else:
        sampler = optuna.samplers.TPESampler(seed=defn.seed)
    pruner = (optuna.pruners.MedianPruner() if defn.prune == "median"
              else optuna.pruners.NopPruner())
    direction = "maximize" if defn.mode == "max" else "minimize"
    return optuna.create_study(sampler=sampler, pruner=pruner,  # type: ignore[no-any-return]
                               direction=direction)


def child_value(rec: Mapping[str, Any], latest: Mapping[str, float], metric: str,
                ) -> float | None:
    """A child's value: the latest value of ``metric``, else its summary's, else None."""
    value = latest.get(metric)
    if value is None:
        value = flatten(rec.get("summary") or {}).get(metric)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(
            value):
        return None
    return float(value)


@dataclass
class _Trial:
    """A child the controller follows, and its Optuna trial."""

    trial: Any
    params: dict[str, Any]
    reported: int = -1  # the highest step reported to the pruner


class Controller:
    """Drives one sweep parent until its last child ends (see the module docstring)."""

    def __init__(self, store: Store, parent_id: str, *, poll_s: float = POLL_S,
                 sleep: Callable[[float], None] = time.sleep,
                 echo: Callable[[str], None] | None = None) -> None:
        self.store = store
        self.parent = store.get_run(parent_id)
        if self.parent.get("kind") != "sweep" or not (self.parent.get("execution") or {}
                                                      ).get("sweep"):
            raise InvalidInput(f"run {parent_id} is not a sweep", field="run_id")
        self.defn = SweepDef.from_config(self.parent["config"])
        self.spec = Spec.from_dict(self.parent["execution"]["sweep"])
        self.engine_options = self.parent["execution"].get("engine")
        self.engine = for_options(self.engine_options)
        self.poll_s = poll_s
        self.sleep = sleep
        self.echo = echo or (lambda _line: None)
        self.dists = _distributions(self.defn.params)
        self.study = _study(self.defn)
        self.open: dict[str, _Trial] = {}  # origin child id → its trial
        self.counts = {"completed": 0, "pruned": 0, "failed": 0}
        self.best: tuple[float, str, dict[str, Any]] | None = None
        self.created = 0
        self._beat = 0.0
        self._written: dict[str, Any] = {}

    # -- reading the store ------------------------------------------------------------

    def _children(self) -> list[tuple[str, dict[str, Any]]]:
        """Each trial's latest attempt, oldest trial first, with the id of its first."""
        kids = self.store.list_runs(RunQuery(parent=self.parent["id"],
                                             order_by=[("created_at", False)]))
        by_id = {k["id"]: k for k in kids}
        out = []
        for kid in latest_attempts(kids):
            origin = kid
            while origin.get("retry_of") in by_id:
                origin = by_id[origin["retry_of"]]
            out.append((origin["id"], kid))
        return out

    def _params(self, rec: Mapping[str, Any]) -> dict[str, Any]:
        flat = flatten(rec.get("config") or {})
        return {p.name: flat.get(p.name) for p in self.defn.params}

    def _outcome(self, rec: Mapping[str, Any], latest: Mapping[str, float],
                 ) -> tuple[str, float | None]:
        if rec["status"] == State.COMPLETED.value:
            value = child_value(rec, latest, self.defn.metric)
            return ("completed", value) if value is not None else ("failed", None)
        if rec["status"] == State.CANCELED.value:
            moves = self.store.get_transitions(rec["id"])
            if moves and moves[-1].get("reason") == "pruned":
                return "pruned", None
        return "failed", None

    def _report(self, origin: str, rec: Mapping[str, Any], *, prune: bool) -> bool:
        """Report the child's new intermediate values; True when the pruner stops it."""
        entry = self.open[origin]
        series = self.store.metrics(rec["id"], self.defn.metric)
        for step, value in zip(series.steps, series.values, strict=True):
            if step > entry.reported and math.isfinite(value):
                entry.trial.report(value, step)
                entry.reported = step
        return prune and entry.reported >= 0 and bool(entry.trial.should_prune())

    # -- the study --------------------------------------------------------------------

    def _follow(self, origin: str, params: dict[str, Any]) -> None:
        """Put a stored child into the study as a trial with its own params."""
        self.study.enqueue_trial(params, skip_if_exists=False)
        self.open[origin] = _Trial(self.study.ask(self.dists), params)

    def _close(self, origin: str, rec: Mapping[str, Any], latest: Mapping[str, float]) -> None:
        """Tell the study how an ended child did, and count it."""
        optuna = _optuna()
        self._report(origin, rec, prune=False)
        entry = self.open.pop(origin)
        outcome, value = self._outcome(rec, latest)
        self.counts[outcome] += 1
        if outcome == "completed":
            assert value is not None
            self.study.tell(entry.trial, value)
            if self.best is None or (value > self.best[0] if self.defn.mode == "max"
                                     else value < self.best[0]):
                self.best = (value, rec["id"], entry.params)
        else:
            state = "PRUNED" if outcome == "pruned" else "FAIL"
            self.study.tell(entry.trial, state=getattr(optuna.trial.TrialState, state))
        self.echo(f"{rec['name']}: {outcome}" + (f", {self.defn.metric} = {value:g}"
                                                 if value is not None else ""))

    def _submit(self) -> None:
        trial = self.study.ask(self.dists)
        params = {name: trial.params[name] for name in self.dists}
        spec = replace(self.spec, config=deep_merge(self.spec.config, nest(params)))
        number = self.created + 1
        rec, _ = store_spec(self.store, spec, name=f"{self.parent['name']}/trial-{number}",
                            parent=self.parent["id"], trigger="policy", kind="sweep-point",
                            actor=ACTOR, engine=self.engine_options)
        self.store.write(rec["id"], Batch(fields={"primary_metric": {  # ranks the trials
            "name": self.defn.metric, "mode": self.defn.mode, "best": None, "step": None}}))
        self.open[rec["id"]] = _Trial(trial, params)
        self.created = number
        self.echo(f"{rec['name']} ({rec['id']}): " + ", ".join(f"{k}={v!r}"
                                                              for k, v in params.items()))

    # -- the loop ---------------------------------------------------------------------

    def _heartbeat(self, force: bool = False) -> None:
        now = time.time()
        if force or now - self._beat >= HEARTBEAT_S:
            self.store.heartbeat(self.parent["id"], at=now)
            self._beat = now

    def summary(self) -> dict[str, Any]:
        """The parent's summary as the controller knows it now."""
        out: dict[str, Any] = {f"trials_{k}": v for k, v in self.counts.items()}
        out["trials_running"] = len(self.open)
        if self.best is not None:
            value, run_id, params = self.best
            out.update(best_run=run_id, best_value=value, best_params=nest(params))
        return out

    def _write_summary(self) -> None:
        summary = self.summary()
        if summary != self._written:
            self.store.write(self.parent["id"], Batch(summary=summary))
            self._written = summary

    def rebuild(self) -> None:
        """The study from the stored children: ended ones told, unfinished ones followed."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            children = self._children()
            latest = self.store.latest_metrics([k["id"] for _, k in children])
            for origin, rec in children:
                self._follow(origin, self._params(rec))
                if State(rec["status"]) in TERMINAL:
                    self._close(origin, rec, latest.get(rec["id"], {}))
            self.created = len(children)

    def step(self) -> bool:
        """One look at the children: tell ended ones, prune poor ones, submit new ones.
        Returns True when the sweep is over."""
        parent = self.store.get_run(self.parent["id"])
        if State(parent["status"]) in TERMINAL:
            self.echo(f"sweep {parent['id']} ended elsewhere ({parent['status']})")
            return True
        self._heartbeat()
        children = self._children()
        latest = self.store.latest_metrics([k["id"] for _, k in children if k["status"]
                                            == State.COMPLETED.value])
        for origin, rec in children:
            if origin not in self.open:
                continue
            if State(rec["status"]) in TERMINAL:
                self._close(origin, rec, latest.get(rec["id"], {}))
            elif rec["status"] == State.RUNNING.value and self._report(
                    origin, rec, prune=self.defn.prune != "none"):
                cancel_tree(self.store, rec["id"], reason="pruned", actor=ACTOR)
        before = self.created
        while self.created < self.defn.trials and len(self.open) < self.defn.parallel:
            self._submit()
        if self.created > before:
            self.engine.dispatch(self.store, ACTOR)  # as submit does; the follower too
        self._write_summary()
        if self.created >= self.defn.trials and not self.open:
            self._finish()
            return True
        return False

    def _step_tolerantly(self) -> bool:
        """``step``, riding out a store that is briefly unreachable (a server restarting):
        nothing is lost, the next look sees whatever happened meanwhile."""
        try:
            return self.step()
        except StoreUnavailable as exc:
            self.echo(f"store unavailable, retrying: {exc}")
            return False
        except RunFinished as exc:  # the parent ended between our look and our write
            self.echo(f"sweep {self.parent['id']} ended elsewhere ({exc.status})")
            return True

    def _finish(self) -> None:
        done = self.counts["completed"]
        try:
            self.store.transition(self.parent["id"], State.COMPLETED.value,
                                  reason=f"{done} of {self.created} trials completed",
                                  actor=ACTOR, expect={State.RUNNING.value})
        except IllegalTransition:
            pass  # canceled meanwhile

    def run(self) -> dict[str, Any]:
        """Control the sweep until it ends; returns the parent's record."""
        with contextlib.suppress(RunFinished):  # an ended sweep: the first step says so
            self._heartbeat(force=True)  # a lost parent (its controller died) runs again
        self.rebuild()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Optuna's notes are not the user's problem
            while not self._step_tolerantly():
                self.sleep(self.poll_s)
        return self.store.get_run(self.parent["id"])


def create(store: Store, command: str | Iterable[str], params: Any, *, metric: str,
           name: str | None = None, strategy: str = "tpe", trials: int = 20,
           parallel: int = 4, mode: str = "max", prune: str = "none",
           seed: int | None = None, submit: Mapping[str, Any] | None = None,
           executor: str | None = None, partition: str | None = None,
           account: str | None = None, slurm_args: Iterable[str] | None = None,
           ray_address: str | None = None) -> dict[str, Any]:
    """Check a sweep's definition and store its parent (running, no children yet). The
    executor's options are kept in the parent's ``execution.engine``, so a resumed
    controller submits its trials the same way."""
    defn = SweepDef(params=parse_params(params), metric=metric, strategy=strategy,
                    trials=trials, parallel=parallel, mode=mode, prune=prune, seed=seed)
    _optuna()  # a missing extra is an error before anything is stored
    engine, options = resolve(executor, partition=partition, account=account,
                              slurm_args=slurm_args, ray_address=ray_address)
    submit = dict(submit or {})
    if options is not None:
        submit["queue"] = engine.queue
    spec = Spec.build(command, **submit)
    if spec.seeds is not None or spec.grid is not None:
        raise InvalidInput("a sweep's trials take no seeds or grid; use --param",
                           field="params")
    rec = new_record(name or "sweep", status=State.RUNNING.value, kind="sweep",
                     config=defn.to_config(), tags=spec.tags, command=spec.command,
                     trigger="user", actor=ACTOR,
                     primary_metric={"name": defn.metric, "mode": defn.mode},
                     reason="sweep controller started")
    rec.update(queue=None, execution={"sweep": spec.to_dict(),
                                      **({"engine": options} if options else {})})
    return store.create_run(rec)


def sweep(command: str | Iterable[str], params: Any, *, metric: str, strategy: str = "tpe",
          trials: int = 20, parallel: int = 4, mode: str = "max", prune: str = "none",
          name: str | None = None, seed: int | None = None,
          config: Mapping[str, Any] | None = None, cpus: float | None = None,
          gpus: int | None = None, memory: str | float | None = None,
          timeout: str | float | None = None, queue: str | None = None, retries: int = 0,
          tags: Iterable[str] | None = None, cwd: str | None = None,
          store: StoreLocation = None, poll_s: float = POLL_S,
          echo: Callable[[str], None] | None = None, executor: str | None = None,
          partition: str | None = None, account: str | None = None,
          slurm_args: Iterable[str] | None = None, ray_address: str | None = None,
          ) -> RunView:
    """Search ``params`` (name → ``uniform:A:B``, ``loguniform:A:B``, ``int:A:B`` or
    ``choice:a,b,c``) for the best value of ``metric`` (``mode`` max or min) with
    ``strategy`` (``random``, ``tpe``, ``grid``): ``trials`` runs of ``command``, ``parallel``
    at a time, each a child with its point in config, run by workers (``picidae worker``).
    ``prune="median"`` cancels poor trials early (reason ``pruned``). Blocks until the last
    trial ends and returns the parent (summary: ``best_run``, ``best_value``,
    ``best_params``, ``trials_completed``/``_pruned``/``_failed``). ``executor``
    (``local``, ``slurm``, ``ray``) and its options run the trials as ``picidae.submit``
    would. See docs/sweeps.md."""
    import os

    target = open_store(store)
    submit = {"config": config, "cpus": cpus, "gpus": gpus, "memory": memory,
              "timeout": timeout, "queue": queue, "retries": retries, "tags": tags,
              "cwd": cwd or os.getcwd()}
    rec = create(target, command, params, metric=metric, name=name, strategy=strategy,
                 trials=trials, parallel=parallel, mode=mode, prune=prune, seed=seed,
                 submit=submit, executor=executor, partition=partition, account=account,
                 slurm_args=slurm_args, ray_address=ray_address)
    Controller(target, rec["id"], poll_s=poll_s, echo=echo).run()
    return RunView(target, target.get_run(rec["id"]))


def resume(run_id: str, *, store: StoreLocation = None, poll_s: float = POLL_S,
           echo: Callable[[str], None] | None = None) -> RunView:
    """Continue the sweep ``run_id`` whose controller stopped: its finished and running
    trials count, the rest are submitted; blocks until the last trial ends."""
    target = open_store(store)
    rec = target.get_run(run_id)
    if State(rec["status"]) not in UNFINISHED:
        raise InvalidInput(f"sweep {run_id} has ended ({rec['status']}); nothing to resume",
                           field="run_id")
    Controller(target, run_id, poll_s=poll_s, echo=echo).run()
    return RunView(target, target.get_run(run_id))
