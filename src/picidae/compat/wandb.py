"""A W&B-shaped SDK on Picidae's: ``import picidae.compat.wandb as wandb`` and a W&B training
script records into Picidae unchanged (no ``wandb`` package needed). See docs/migrating.md.

How W&B's words map: ``project`` is the run-name prefix (``PROJECT/NAME``); ``group`` is a
parent run named ``PROJECT/GROUP`` (kind ``group``), found by name or created, so the runs of a
group are its children (``PROJECT/GROUP/NAME``); ``job_type`` is the kind; ``notes`` the run's
notes; ``config`` the config; ``summary`` the summary (W&B's meaning: the last logged value of
each key unless set explicitly); ``define_metric(name, summary="max"|"min")`` the primary
metric; ``Image`` an image; ``save`` an artifact; ``alert`` an alert; ``finish(exit_code)``
ends the run (``failed`` for a non-zero code). ``mode="disabled"`` (or ``WANDB_MODE=disabled``)
gives a run that records nothing.
"""

from __future__ import annotations

import atexit
import glob
import logging
import os
from collections.abc import Mapping
from typing import Any

from picidae.compat.wandb_objects import (
    AlertLevel,
    Artifact,
    Audio,
    Config,
    Histogram,
    Html,
    Image,
    Summary,
    Table,
    Video,
    alert_level,
)
from picidae.core.states import TERMINAL, State
from picidae.errors import InvalidInput, PicidaeError
from picidae.sdk.noop import NoopRun
from picidae.sdk.run import Run as PicidaeRun

__all__ = ["AlertLevel", "Artifact", "Audio", "Histogram", "Html", "Image", "Run", "Table",
           "Video", "alert", "config", "define_metric", "finish", "init", "log",
           "log_artifact", "login", "run", "save", "summary", "watch"]

log_ = logging.getLogger("picidae")

#: The current run (``wandb.run``), ``None`` outside ``init`` … ``finish``.
run: Run | None = None
#: The current run's config and summary (W&B's module-level ``wandb.config``/``wandb.summary``).
config: Config | dict[str, Any] = {}
summary: Summary | dict[str, Any] = {}
_hooked = False


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flatten(value, name + "."))
        else:
            out[name] = value
    return out


def _scalar(value: Any) -> float | None:
    """A loggable number, or ``None`` for what W&B keeps but a metric cannot be."""
    if isinstance(value, bool | int | float):
        return float(value)
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "ndim", getattr(value, "dim", lambda: 1)) in (0, ()):
        try:
            result = item()
        except (TypeError, ValueError, RuntimeError):
            return None
        return float(result) if isinstance(result, int | float) else None
    return None


class Run:
    """A W&B-shaped handle on a Picidae run (``wandb.init`` returns one)."""

    def __init__(self, inner: PicidaeRun | NoopRun, *, project: str | None,
                 group: str | None, job_type: str | None) -> None:
        self._run = inner
        self.project = project
        self.group = group
        self.job_type = job_type
        self._step = 0
        self._pending: dict[str, float] = {}
        self._primary: str | None = None
        self._finished = False
        self.config = Config(inner.config, lambda values: inner.log_config(values))
        self.summary = Summary(lambda values: inner.summary(values))

    @property
    def id(self) -> str:
        """The Picidae run id."""
        return self._run.id

    @property
    def name(self) -> str:
        """The run's name (``PROJECT/NAME``)."""
        return self._run.name

    @property
    def url(self) -> str | None:
        """The run's page: on the server the store points at, or under ``PICIDAE_PUBLIC_URL``."""
        base = (os.environ.get("PICIDAE_PUBLIC_URL") or "").strip().rstrip("/")
        store_url = str(getattr(self._run.store, "url", "") or "")
        if not base and store_url.startswith(("http://", "https://")):
            base = store_url.rstrip("/")
        return f"{base}/runs/{self.id}" if base and self.id != "disabled" else None

    @property
    def step(self) -> int:
        """The step the next ``log`` without ``step`` writes to."""
        return self._step

    @property
    def picidae_run(self) -> PicidaeRun | NoopRun:
        """The Picidae run underneath, for everything else the SDK offers."""
        return self._run

    def log(self, data: Mapping[str, Any], step: int | None = None,
            commit: bool | None = None) -> None:
        """Log values at the current step (W&B's: ``step`` moves it forward; values logged
        with ``commit=False``, or with an explicit ``step`` and no ``commit``, gather into one
        step until the next commit). Images are logged as images; other values W&B keeps
        but that are not numbers are logged as a text line."""
        if not isinstance(data, Mapping):
            raise InvalidInput(f"log() takes a dict, got {type(data).__name__}", field="data")
        if step is not None:
            if not isinstance(step, int) or isinstance(step, bool) or step < 0:
                raise InvalidInput(f"step must be a non-negative int, got {step!r}",
                                   field="step")
            if step < self._step:
                log_.warning("picidae.compat.wandb: step %d is before the current step %d; "
                             "ignored, as W&B does", step, self._step)
                return
            if step > self._step:
                self._commit()
                self._step = step
        if commit is None:
            commit = step is None
        for key, value in _flatten(data).items():
            number = _scalar(value)
            if number is not None:
                self._pending[key] = number
            elif isinstance(value, Image):
                self._run.log_image(key, value.data, caption=value.caption, step=self._step)
            elif isinstance(value, list | tuple) and value and all(
                    isinstance(v, Image) for v in value):
                for i, img in enumerate(value):
                    self._run.log_image(f"{key}/{i}", img.data, caption=img.caption,
                                        step=self._step)
            else:
                self._run.log_text(f"{key} (step {self._step}): {value!r}"[:2000])
        if commit:
            self._commit()
            self._step += 1

    def _commit(self) -> None:
        if self._pending:
            values, self._pending = self._pending, {}
            self._run.log(values, step=self._step)
            self.summary.observe(values)

    def define_metric(self, name: str, step_metric: str | None = None,
                      summary: str | None = None, goal: str | None = None,
                      **_ignored: Any) -> None:
        """``summary="max"|"min"`` (or ``goal="maximize"|"minimize"``) keeps the best value
        in the summary; the first such metric becomes the run's primary metric."""
        mode = {"max": "max", "min": "min", "maximize": "max", "minimize": "min"}.get(
            str(summary or goal or "").split(",")[0].strip())
        if mode is None or "*" in name:
            return
        self.summary.track(name, mode)
        if self._primary is None:
            self._primary = name
            self._run.set_primary_metric(name, mode)

    def alert(self, title: str, text: str | None = None, level: Any = "INFO",
              wait_duration: Any = None) -> None:
        """Raise an alert (``picidae alerts add --on alert`` rules deliver it)."""
        self._run.alert(title, text, alert_level(level))

    def save(self, glob_str: str, base_path: str | None = None, policy: str = "live") -> None:
        """Keep the matching files as artifacts of the run."""
        paths = sorted(glob.glob(os.fspath(glob_str))) or [os.fspath(glob_str)]
        for path in paths:
            name = os.path.relpath(path, base_path) if base_path else os.path.basename(path)
            self._run.log_artifact(path, name=name)

    def log_artifact(self, artifact: Artifact | str, name: str | None = None,
                     type: str | None = None, aliases: Any = None) -> None:
        """An ``Artifact``'s files and folders (``NAME/PATH``), or one path, as artifacts."""
        if not isinstance(artifact, Artifact):
            self._run.log_artifact(artifact, name=name, type=type)
            return
        for path, inner in artifact.paths:
            label = f"{artifact.name}/{inner or os.path.basename(os.path.normpath(path))}"
            self._run.log_artifact(path, name=label, type=type or artifact.type)

    def watch(self, *args: Any, **kwargs: Any) -> None:
        """Accepted and ignored (W&B's gradient histograms)."""

    def log_code(self, *args: Any, **kwargs: Any) -> None:
        """Accepted and ignored (use ``picidae.init(snapshot_code=True)``)."""

    def finish(self, exit_code: int | None = 0, quiet: bool | None = None) -> None:
        """End the run: ``completed``, or ``failed`` (reason ``error``) for a non-zero code.
        The summary's logged values are written first."""
        global run
        if self._finished:
            return
        self._finished = True
        if run is self:
            run = None
        if isinstance(self._run, NoopRun):
            return
        if self._run.status in {s.value for s in TERMINAL | {State.ARCHIVED}}:
            return
        self.settle()
        if exit_code:
            self._run.fail("error", message=f"exit code {exit_code}", exit_code=exit_code)
        else:
            self._run.finish()

    def settle(self) -> None:
        """Write what waits: the values gathered for the current step and the summary's
        logged values."""
        if isinstance(self._run, NoopRun):
            return
        self._commit()
        logged = self.summary.logged_only()
        if logged:
            self._run.summary(logged)

    def __enter__(self) -> Run:
        return self

    def __exit__(self, exc_type: Any, exc: Any, trace: Any) -> None:
        self.finish(exit_code=1 if exc is not None else 0)

    def __repr__(self) -> str:
        return f"<picidae.compat.wandb.Run {self.name} ({self.id})>"


def _group_parent(store: Any, project: str | None, group: str) -> str:
    """The id of the group's parent run (kind ``group``), found by name or created ended."""
    import picidae
    from picidae.sdk.api import create_run
    from picidae.store.registry import open_store

    name = f"{project}/{group}" if project else group
    found = picidae.runs(store=store, name=name, kind="group", limit=1)
    if found:
        return str(found[0].id)
    parent = create_run(open_store(store), name, kind="group", capture_env=False,
                        system_metrics=False)
    parent.finish()
    return parent.id


def _find_resumable(store: Any, wandb_id: str) -> str | None:
    import picidae

    for found in picidae.runs(store=store, tags=[f"wandb.id={wandb_id}"], limit=5):
        if State(found.status) not in TERMINAL and found.status != State.ARCHIVED.value:
            return str(found.id)
    return None


def init(project: str | None = None, name: str | None = None, config: Any = None,
         group: str | None = None, job_type: str | None = None, tags: Any = None,
         notes: str | None = None, id: str | None = None, resume: Any = None,
         mode: str | None = None, dir: str | None = None, reinit: Any = None,
         *, store: Any = None, **_ignored: Any) -> Run:
    """Start a run, as ``wandb.init`` does (``entity``, ``dir``, ``settings`` and W&B's other
    options are accepted and ignored; ``store=`` or ``PICIDAE_STORE`` says where it goes)."""
    global run
    import picidae

    if run is not None:
        if reinit == "return_previous" or reinit is False:
            return run
        if reinit != "create_new":
            run.finish()
    project = project or os.environ.get("WANDB_PROJECT") or None
    group = group or os.environ.get("WANDB_RUN_GROUP") or None
    job_type = job_type or os.environ.get("WANDB_JOB_TYPE") or None
    if config is not None and not isinstance(config, Mapping):
        config = vars(config)
    mode = mode or os.environ.get("WANDB_MODE")
    full = "/".join(p.strip("/") for p in (project, group, name) if p) or None
    if mode == "disabled":
        inner: PicidaeRun | NoopRun = NoopRun(config, full, kind=job_type)
    else:
        tag_list = [*(list(tags) if tags else []), *([f"wandb.id={id}"] if id else [])]
        resumed = _find_resumable(store, id) if id and resume not in (None, False,
                                                                      "never") else None
        if resumed is None and resume == "must":
            raise InvalidInput(f"no unfinished run to resume with id {id!r}", field="id")
        if resumed is not None:
            inner = picidae.init(full, id=resumed, config=config, store=store)
        else:
            parent = _group_parent(store, project, group) if group else None
            inner = picidae.init(full, parent=parent, kind=job_type, config=config,
                                 tags=tag_list or None, store=store)
        if notes and isinstance(inner, PicidaeRun):
            inner.note(notes)
    run = Run(inner, project=project, group=group, job_type=job_type)
    _publish(run)
    _hook()
    return run


def _publish(current: Run) -> None:
    globals()["config"] = current.config
    globals()["summary"] = current.summary


def _hook() -> None:
    global _hooked
    if not _hooked:
        _hooked = True
        atexit.register(_finish_at_exit)


def _finish_at_exit() -> None:
    from picidae.sdk import api

    if run is not None:
        try:
            if api._uncaught is not None:  # picidae's own exit hook fails (or cancels) it
                run.settle()
            else:
                run.finish()
        except PicidaeError as exc:  # tracking never breaks the program's exit
            log_.warning("picidae.compat.wandb: could not finish the run: %s", exc)


def _current() -> Run:
    if run is None:
        raise InvalidInput("call wandb.init() first", field="run")
    return run


def log(data: Mapping[str, Any], step: int | None = None, commit: bool | None = None) -> None:
    """``run.log`` on the current run."""
    _current().log(data, step=step, commit=commit)


def define_metric(name: str, step_metric: str | None = None, summary: str | None = None,
                  goal: str | None = None, **kwargs: Any) -> None:
    """``run.define_metric`` on the current run."""
    _current().define_metric(name, step_metric=step_metric, summary=summary, goal=goal,
                             **kwargs)


def alert(title: str, text: str | None = None, level: Any = "INFO",
          wait_duration: Any = None) -> None:
    """``run.alert`` on the current run."""
    _current().alert(title, text, level)


def save(glob_str: str, base_path: str | None = None, policy: str = "live") -> None:
    """``run.save`` on the current run."""
    _current().save(glob_str, base_path=base_path, policy=policy)


def finish(exit_code: int | None = 0, quiet: bool | None = None) -> None:
    """End the current run (no-op without one)."""
    if run is not None:
        run.finish(exit_code=exit_code)


def log_artifact(artifact: Artifact | str, name: str | None = None, type: str | None = None,
                 aliases: Any = None) -> None:
    """``run.log_artifact`` on the current run."""
    _current().log_artifact(artifact, name=name, type=type)


def watch(*args: Any, **kwargs: Any) -> None:
    """Accepted and ignored (W&B's gradient histograms)."""


def login(*args: Any, **kwargs: Any) -> bool:
    """Accepted and ignored: Picidae needs no W&B login (``PICIDAE_TOKEN`` for a server)."""
    return True
