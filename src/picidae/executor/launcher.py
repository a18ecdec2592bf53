"""One claimed run, from ``provisioning`` to its ending, on a worker.

The ``Launcher`` prepares the work folder (``provision``), syncs inputs, then runs the
command as a subprocess in its own process group (``start_new_session``) with
``PICIDAE_RUN_ID``, ``PICIDAE_STORE`` and ``PICIDAE_MANAGED`` set, so ``picidae.init()`` in it
attaches to this run (see ``sdk/managed.py``). While it runs, the launcher streams its stdout
and stderr into the run's log and samples its resources as ``system/*`` metrics — through
the SDK's outbox (``recorder.Recorder``); if the worker dies, the command's group dies with it
(``orphans``), so a store outage delays them and loses nothing;
they are drained into the store before every move. A keeper
thread heartbeats the run (and its group parent) and polls its status: a run canceled (or
failed by the watchdog) meanwhile gets its process group SIGTERM, then SIGKILL after the
grace period. Then the ``--eval`` command, if any, in ``evaluating``; then the ending:
``completed``; ``failed`` with reason ``error`` and the exit code (retried first when the
run was submitted with ``retries``); ``failed`` with reason ``timeout``; or ``canceled``.

Every move is conditional (``expect``): a run ended elsewhere is left as it is.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from picidae.core.lifecycle import heartbeat_every
from picidae.core.states import TERMINAL, State
from picidae.core.validation import MAX_TEXT_LINE
from picidae.errors import IllegalTransition, PicidaeError, RunFinished, StoreUnavailable
from picidae.executor import orphans, parents, prices, provision
from picidae.executor.recorder import Recorder
from picidae.executor.resources import Sampler, merge_usage, usage
from picidae.sdk import managed
from picidae.settings import settings
from picidae.store.base import Store
from picidae.store.lifecycle import retry_if_lost

log = logging.getLogger("picidae.worker")

_ENDED = {s.value for s in TERMINAL} | {State.ARCHIVED.value}
#: Variables a command must not inherit from the worker's own environment.
_OWN_VARS = ("PICIDAE_RUN_ID", "PICIDAE_MANAGED", "PICIDAE_SEED", "PICIDAE_WORKDIR",
             "PICIDAE_INPUTS")


@dataclass
class Options:
    """How a worker runs its runs (see ``worker.Worker``)."""

    worker: str
    store_url: str
    root: Path
    target: str = "local"
    keep_workdirs: bool = False
    poll_s: float = 1.0
    grace_s: float = 10.0
    sample_s: float = 5.0
    prices: dict[str, Any] | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    echo: Callable[[str], None] | None = None


@dataclass
class Exit:
    """How a command ended: its exit code (negative: killed by that signal), why the worker
    stopped it (``canceled`` — ended elsewhere —, ``timeout``, ``worker``), its usage."""

    code: int
    stopped: str | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def _signal_name(code: int) -> str:
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


def _killpg(pgid: int, sig: int) -> bool:
    try:
        os.killpg(pgid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False


class Launcher:
    """Runs one claimed run (see the module docstring)."""

    def __init__(self, store: Store, record: dict[str, Any], opts: Options) -> None:
        self.store = store
        self.rec = record
        self.id: str = record["id"]
        self.opts = opts
        self.execution: dict[str, Any] = record.get("execution") or {}
        self.out = Recorder(store, self.id, record.get("name"))
        self._ended_elsewhere: str | None = None
        self._done = threading.Event()
        self._keeper = threading.Thread(target=self._keep, daemon=True,
                                        name=f"picidae-keeper-{self.id[:8]}")
        self._parent_group = False
        self._usage: dict[str, Any] | None = None
        self._deadline: float | None = None
        self._compute: dict[str, Any] = dict(record.get("compute") or {})
        self._compute.setdefault("executor", "local")
        self.started_at: float | None = None
        self.final: str | None = None

    # -- the run's life -----------------------------------------------------------------

    def run(self) -> str | None:
        """Take the run to its ending; returns the state it ended in (``None``: ended
        elsewhere, e.g. canceled)."""
        started = time.time()
        self._keeper.start()
        ready: provision.Prepared | None = None
        try:
            self._start_parent()
            ready = self._provision()
            if ready is not None:
                self._execute(ready)
        except Exception as exc:  # a bug or a store outage must not leave the run hanging
            log.exception("worker: run %s failed in the worker", self.id)
            with contextlib.suppress(Exception):
                self._finish_failed("error", f"the worker failed: {type(exc).__name__}: {exc}")
        finally:
            self._done.set()
            self._keeper.join(timeout=5)
            self.out.ended = self.out.ended or self._ended_elsewhere is not None
            with contextlib.suppress(Exception):
                self.out.close(settings().finish_timeout_s)
            if ready is not None and not self.opts.keep_workdirs:
                shutil.rmtree(ready.workdir, ignore_errors=True)
            with contextlib.suppress(Exception):
                parents.settle(self.store, self.rec.get("parent_id"), self.opts.worker)
        if self.opts.echo:
            status = self.final or self._ended_elsewhere or "?"
            self.opts.echo(f"{self.id}  {self.rec['name']}: {status} "
                           f"({time.time() - started:.1f}s)")
        return self.final

    def _start_parent(self) -> None:
        parent_id = self.rec.get("parent_id")
        if not parent_id:
            return
        parent = self.store.get_run(parent_id)
        if parents.group_of(parent) is not None:
            self._parent_group = True
            parents.start(self.store, parent_id, self.opts.worker)

    def _provision(self) -> provision.Prepared | None:
        self._note(f"claimed by worker {self.opts.worker} on {socket.gethostname()}")
        try:
            ready = provision.prepare(self.store, self.rec, self.opts.root)
        except (provision.ProvisionError, PicidaeError, OSError) as exc:
            if not self.opts.keep_workdirs:
                shutil.rmtree(self.opts.root / self.id, ignore_errors=True)
            self._finish_failed("error", f"provisioning failed: {exc}")
            return None
        self._notes(ready)
        if self.rec.get("inputs"):
            if not self._move(State.SYNCING_DATA, {State.PROVISIONING}, "syncing inputs"):
                return ready
            try:
                inputs = provision.sync_inputs(self.store, self.rec, ready)
            except (provision.ProvisionError, PicidaeError, OSError) as exc:
                self._notes(ready)
                self._finish_failed("error", f"syncing inputs failed: {exc}")
                return ready  # ended: the move to running will find it so
            self._notes(ready)
            self.out.set_fields(inputs=inputs)
        return ready

    def _notes(self, ready: provision.Prepared) -> None:
        for note in ready.notes:
            self._note(note)
        ready.notes.clear()

    def _execute(self, ready: provision.Prepared) -> None:
        argv = self.rec.get("command") or []
        if not argv:
            self._finish_failed("error", "the run has no command")
            return
        if not self._move(State.RUNNING, {State.PROVISIONING, State.SYNCING_DATA},
                          f"command started by worker {self.opts.worker}"):
            return
        self.started_at = time.time()
        timeout = self.execution.get("timeout_s")
        self._deadline = self.started_at + float(timeout) if timeout else None
        wish_file = ready.workdir / ".picidae" / "end.json"
        result = self._watch(argv, ready, wish_file, "command")
        if self._after_phase(result, managed.read_end(wish_file), "command"):
            return
        evaluate = self.execution.get("eval")
        if evaluate:
            if not self._move(State.EVALUATING, {State.RUNNING}, "eval command started"):
                return
            wish_file = ready.workdir / ".picidae" / "eval-end.json"
            result = self._watch(list(evaluate), ready, wish_file, "eval command")
            if self._after_phase(result, managed.read_end(wish_file), "eval command"):
                return
        self._record_usage()
        if self._move(State.COMPLETED, {State.RUNNING, State.EVALUATING}, "exited 0"):
            self.final = State.COMPLETED.value

    def _after_phase(self, result: Exit, wish: dict[str, Any] | None, what: str) -> bool:
        """Handle a phase's ending; True when the run has ended (nothing more to do)."""
        self._usage = merge_usage(self._usage, result.usage)
        if result.stopped == "canceled":
            self._note(f"stopped the {what}: the run was {self._ended_elsewhere} elsewhere")
            self._record_usage()
            return True
        if result.stopped == "worker":
            self._record_usage()
            if self._move(State.CANCELED, {State.RUNNING, State.EVALUATING},
                          f"worker {self.opts.worker} stopped"):
                self.final = State.CANCELED.value
            return True
        if result.stopped == "timeout":
            limit = self.execution.get("timeout_s")
            self._finish_failed("timeout", f"the {what} exceeded the timeout of {limit:g}s",
                                exit_code=result.code)
            return True
        if result.code != 0:
            self._crashed(result, wish, what)
            return True
        if wish and wish.get("status") in (State.FAILED.value, State.CANCELED.value):
            failure = wish.get("failure") or {}
            reason = failure.get("reason") or wish.get("reason") or "error"
            self._record_usage()
            if wish["status"] == State.CANCELED.value:
                if self._move(State.CANCELED, {State.RUNNING, State.EVALUATING},
                              wish.get("reason") or "canceled by the program"):
                    self.final = State.CANCELED.value
            else:
                self._finish_failed(reason, failure.get("message") or f"the {what} asked to "
                                    "fail", exit_code=0, traceback=failure.get("traceback"),
                                    record=False)
            return True
        return False

    def _crashed(self, result: Exit, wish: dict[str, Any] | None, what: str) -> None:
        if result.error:
            message = f"the {what} could not start: {result.error}"
        elif result.code < 0:
            message = f"the {what} was killed by {_signal_name(result.code)}"
        else:
            message = f"the {what} exited with code {result.code}"
        failure = (wish or {}).get("failure") or {}
        if failure.get("message"):
            message += f": {failure['message']}"
        attempt = int(self.rec.get("attempt") or 1)
        retries = int(self.execution.get("retries") or 0)
        if what == "command" and attempt <= retries:
            # Queue the retry before ending this attempt, so the parent never sees all
            # children ended in between.
            from picidae.executor.rerun import rerun_record

            again = rerun_record(self.store, self.store.get_run(self.id), "retry",
                                 actor=self.opts.worker)
            self._note(f"retrying as run {again['id']} (attempt {attempt + 1} of "
                       f"{retries + 1})")
        self._finish_failed("error", message, exit_code=result.code,
                            traceback=failure.get("traceback"))

    # -- endings ------------------------------------------------------------------------

    def _finish_failed(self, reason: str, message: str, *, exit_code: int | None = None,
                       traceback: str | None = None, record: bool = True) -> None:
        if record:
            self._record_usage()
        failure: dict[str, Any] = {"reason": reason, "message": message}
        if exit_code is not None:
            failure["exit_code"] = exit_code
        if traceback:
            failure["traceback"] = traceback
        self._note(f"failed ({reason}): {message}")
        if self._move(State.FAILED, {s.value for s in State if s.value not in _ENDED},
                      reason, failure=failure):
            self.final = State.FAILED.value

    def _move(self, to: State, expect: set[Any], reason: str,
              failure: dict[str, Any] | None = None) -> bool:
        """Move the run if it is in one of ``expect``; False when it was ended elsewhere."""
        allowed = {State(s).value for s in expect}
        if not self.out.drain(settings().finish_timeout_s) and to in TERMINAL:
            # Ending the run now would make the store refuse what still waits.
            raise StoreUnavailable(f"could not write run {self.id} before moving it to "
                                   f"{to.value}: {self.out.outbox.last_error}")
        try:
            # Our heartbeats may have lapsed (a store outage): a heartbeat brings it back.
            retry_if_lost(self.store, self.id, lambda: self.store.transition(
                self.id, to.value, reason=reason, actor=self.opts.worker, expect=allowed,
                failure=failure))
            return True
        except (IllegalTransition, RunFinished) as exc:
            current = exc.current if isinstance(exc, IllegalTransition) else exc.status
            if current not in _ENDED:
                raise
            self._ended_elsewhere = current
            self.out.ended = True
            log.info("run %s is %s already; left it so", self.id, current)
            return False

    def _record_usage(self) -> None:
        """Write ``resources`` (request, peak, total), ``cost`` and ``compute``."""
        fields: dict[str, Any] = {"compute": self._compute}
        request = (self.rec.get("resources") or {}).get("request") \
            if isinstance(self.rec.get("resources"), dict) else None
        if self._usage:
            res = {"request": request} if request else {}
            fields["resources"] = {**res, **self._usage}
            claimed = float(self._compute.get("claimed_at") or self.started_at or time.time())
            hours = max(0.0, time.time() - claimed) / 3600
            cost = prices.cost(self.opts.prices, self.opts.target, hours=hours,
                               request=request, usage=self._usage)
            if cost is not None:
                fields["cost"] = cost
        self.out.set_fields(**fields)

    # -- the subprocess -----------------------------------------------------------------

    def _env(self, ready: provision.Prepared, wish_file: Path) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _OWN_VARS}
        env.update(PICIDAE_RUN_ID=self.id, PICIDAE_STORE=self.opts.store_url,
                   PICIDAE_MANAGED=str(wish_file), PICIDAE_WORKDIR=str(ready.workdir),
                   PYTHONUNBUFFERED="1")
        if self.rec.get("seed") is not None:
            env["PICIDAE_SEED"] = str(self.rec["seed"])
        if ready.inputs:
            env["PICIDAE_INPUTS"] = str(ready.workdir / "inputs")
        return env

    def _watch(self, argv: list[str], ready: provision.Prepared, wish_file: Path,
               what: str) -> Exit:
        """Run one command to its end (see the module docstring)."""
        began = time.time()
        guard = orphans.Guard()  # the group dies with the worker
        try:
            proc = subprocess.Popen(argv, cwd=ready.cwd, env=self._env(ready, wish_file),
                                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, start_new_session=True,
                                    preexec_fn=orphans.die_with_parent())
        except OSError as exc:
            guard.release()
            code = 127 if isinstance(exc, FileNotFoundError) else 126
            return Exit(code=code, error=str(exc))
        guard.watch(proc.pid)
        self._compute.update(host=socket.gethostname(), pid=proc.pid,
                             target=self.opts.target, workdir=str(ready.workdir),
                             cwd=str(ready.cwd))
        self.out.set_fields(compute=dict(self._compute))
        self.out.flush()
        self._note(f"started the {what} (pid {proc.pid}) in {ready.cwd}: "
                   f"{' '.join(argv)}"[:MAX_TEXT_LINE])
        pumps = [threading.Thread(target=self._pump, args=(pipe, name), daemon=True)
                 for pipe, name in ((proc.stdout, "stdout"), (proc.stderr, "stderr"))]
        for pump in pumps:
            pump.start()
        sampler = Sampler(proc.pid)
        next_sample = time.monotonic() + min(1.0, self.opts.sample_s)
        stopping: str | None = None
        kill_at = float("inf")
        rusage: Any = None
        code = 0
        last_flush = time.monotonic()
        while True:
            pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                code = os.waitstatus_to_exitcode(status)
                proc.returncode = code  # reaped here (wait4 gives its rusage)
                break
            now = time.monotonic()
            if stopping is None:
                if self._ended_elsewhere is not None:
                    stopping = "canceled"
                elif self.opts.stop.is_set():
                    stopping = "worker"
                elif self._deadline is not None and time.time() > self._deadline:
                    stopping = "timeout"
                if stopping is not None:
                    self.out.ended = self.out.ended or stopping == "canceled"
                    self._note(f"sending SIGTERM to the {what}'s process group ({stopping}); "
                               f"SIGKILL in {self.opts.grace_s:g}s")
                    _killpg(proc.pid, signal.SIGTERM)
                    kill_at = now + self.opts.grace_s
            elif now >= kill_at:
                self._note(f"the {what} outlived the grace period: SIGKILL")
                _killpg(proc.pid, signal.SIGKILL)
                kill_at = float("inf")
            if now >= next_sample:
                self.out.sample(sampler.sample())
                next_sample = now + self.opts.sample_s
            if now - last_flush >= 0.5:
                self.out.flush(scheduled=True)
                last_flush = now
            time.sleep(0.05)
        # The leader is gone; nothing it started may outlive it (nor hold the pipes open).
        if _killpg(proc.pid, signal.SIGTERM):
            time.sleep(0.1)
            _killpg(proc.pid, signal.SIGKILL)
        guard.release()
        for pump in pumps:
            pump.join(timeout=5)
        wall = time.time() - began
        if stopping:
            how = f"killed by {_signal_name(code)}" if code < 0 else f"exited with code {code}"
            self._note(f"the {what} {how} after it was stopped ({stopping})")
        self.out.flush(scheduled=True)
        return Exit(code=code, stopped=stopping, usage=usage(sampler, wall_s=wall,
                                                             rusage=rusage))

    def _pump(self, pipe: IO[bytes], stream: str) -> None:
        with contextlib.suppress(ValueError, OSError), pipe:
            for raw in iter(pipe.readline, b""):
                self.out.line(stream, raw.decode("utf-8", "replace").rstrip("\r\n"))

    # -- log and keeper -----------------------------------------------------------------

    def _note(self, text: str) -> None:
        self.out.note(text)

    def _keep(self) -> None:
        """Heartbeat the run (and its group parent) and watch for it ending elsewhere."""
        cfg = settings()
        every = heartbeat_every(cfg.heartbeat_interval_s, cfg.heartbeat_timeout_s)
        next_beat = time.monotonic() + every
        while not self._done.wait(self.opts.poll_s):
            try:
                if time.monotonic() >= next_beat:
                    next_beat = time.monotonic() + every
                    status = self.store.heartbeat(self.id)
                    if self._parent_group:
                        with contextlib.suppress(RunFinished):  # settled meanwhile
                            self.store.heartbeat(self.rec["parent_id"])
                else:
                    status = self.store.get_run(self.id)["status"]
            except RunFinished as exc:  # ended elsewhere: canceled, or failed by the watchdog
                status = exc.status or State.CANCELED.value
            except PicidaeError as exc:
                log.warning("worker: could not reach the store for run %s: %s", self.id, exc)
                continue
            if status in _ENDED and self.final is None:
                self._ended_elsewhere = status
                self.out.ended = True
