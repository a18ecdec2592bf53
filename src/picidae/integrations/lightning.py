"""Lightning: ``PicidaeLogger``, a ``Logger`` for ``lightning.pytorch`` and
``pytorch_lightning``.

>>> trainer = L.Trainer(max_epochs=3, logger=[CSVLogger("logs"), PicidaeLogger("lit/mlp")])

Hyperparameters (``save_hyperparameters()``, ``log_hyperparams``; nested dicts and
``Namespace``s kept as nested config) go to config; what the module logs with ``self.log``
is metrics at the step Lightning reports (the trainer's global step); ``finalize`` ends the
run: ``completed`` on success, ``failed`` (reason ``crash``, with the traceback) on an
exception, ``canceled`` (reason ``interrupted``) on Ctrl-C. ``log_checkpoints=True`` stores
the best and last checkpoints of the ``ModelCheckpoint`` callback as artifacts (type
``checkpoint``) before the run ends. Records on global rank 0 only.

Each ``fit``/``validate``/``test`` call is a run of its own: Lightning finalizes its loggers
after each one, so a ``trainer.test()`` after ``trainer.fit()`` starts a second run (same
name and ``init`` arguments) unless the logger was given ``run=``.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from picidae.errors import MissingDependency
from picidae.integrations._common import Recorder, config_dict, metric_values

_FLAVOURS = ("lightning.pytorch", "pytorch_lightning")
_class: type | None = None


def _flavours() -> list[Any]:
    """The Lightning packages to be a ``Logger`` of: those already imported, else the first
    that imports."""
    import importlib

    loaded = [f for f in _FLAVOURS if f in sys.modules]
    found = []
    for flavour in loaded or _FLAVOURS:
        try:
            found.append(importlib.import_module(flavour))
        except ImportError:
            continue
        if not loaded:
            break
    if not found:
        raise MissingDependency("lightning", "lightning")
    return found


def _logger_class() -> type:
    global _class
    if _class is not None:
        return _class
    flavours = _flavours()
    bases = tuple(f.loggers.Logger for f in flavours)
    rank_zero = flavours[0].utilities.rank_zero_only

    class PicidaeLogger(*bases):  # type: ignore[misc]
        """Records a Lightning training as a run (see the module docstring). Takes
        ``name=None, *, run=None, log_checkpoints=False, **init_kwargs``; with ``run=``
        records into that run and leaves it open."""

        def __init__(self, name: str | None = None, *, run: Any = None,
                     log_checkpoints: bool = False, **init_kwargs: Any) -> None:
            super().__init__()
            self._rec = Recorder(name, run, init_kwargs,
                                 rank=lambda: getattr(rank_zero, "rank", 0) or 0)
            self._log_checkpoints = bool(log_checkpoints)
            self._checkpoints: Any = None

        @property
        def name(self) -> str:
            """The run's name (``picidae`` until there is one)."""
            run = self.run
            return str(run.name) if run is not None else (self._rec.name or "picidae")

        @property
        def version(self) -> str:
            """The run's id (Lightning puts checkpoints under ``NAME/VERSION``)."""
            run = self.run if self.run is not None else self.experiment
            return str(getattr(run, "id", None) or "rank-not-zero")

        @property
        def run(self) -> Any:
            """The run being recorded into, or the last one this logger recorded (``None``
            before training, or off rank 0)."""
            rec = self._rec
            return rec.active if rec.active is not None else rec.last

        @property
        def experiment(self) -> Any:
            """The ``picidae`` run, started on first use (``None`` off rank 0)."""
            return self._rec.start()

        def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
            """Merge hyperparameters into the run's config."""
            run = self._rec.start()
            if run is not None and params is not None:
                run.log_config(config_dict(params))

        def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
            """Record metrics at the step Lightning gives."""
            run = self._rec.start()
            if run is None:
                return
            values = metric_values(metrics)
            if values:
                run.log(values, step=step)

        def after_save_checkpoint(self, checkpoint_callback: Any) -> None:
            """Remember the checkpoint callback, to store its files at the end."""
            self._checkpoints = checkpoint_callback

        def _store_checkpoints(self, run: Any) -> None:
            callback = self._checkpoints
            if not self._log_checkpoints or callback is None:
                return
            best = getattr(callback, "best_model_path", "") or ""
            last = getattr(callback, "last_model_path", "") or ""
            stored: set[str] = set()
            for role, path in (("best", best), ("last", last)):
                if path and os.path.exists(path) and path not in stored:
                    stored.add(path)
                    run.log_artifact(path, name=os.path.basename(path), type="checkpoint")
                    run.summary({f"{role}_checkpoint": os.path.basename(path)})
            score = getattr(callback, "best_model_score", None)
            if best and score is not None:
                run.summary(metric_values({"best_model_score": score}))

        def finalize(self, status: str) -> None:
            """End the run Lightning's way: ``success`` completes it; ``failed`` fails it
            (or cancels it, when the exception being handled is a ``KeyboardInterrupt``)."""
            run = self._rec.active
            if run is None:
                return
            self._store_checkpoints(run)
            if self._rec.given is not None:
                return
            if status == "success":
                self._rec.end()
                return
            exc = sys.exc_info()[1]  # Lightning calls finalize inside its ``except``
            self._rec.end(exc if exc is not None else RuntimeError(f"training {status}"))

    # Lightning's decorator keeps these off ranks other than 0.
    for method in ("log_hyperparams", "log_metrics", "after_save_checkpoint", "finalize"):
        setattr(PicidaeLogger, method, rank_zero(getattr(PicidaeLogger, method)))
    _class = PicidaeLogger
    return _class


def __getattr__(name: str) -> Any:
    if name == "PicidaeLogger":
        return _logger_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

