"""``Run``: the handle a program holds while it records one run.

Mutators validate on the caller's thread (a mistake raises at once, precisely) and return the
run, so calls chain. Metric points, log lines and merges go to in-memory buffers that the
background writer flushes; state changes and heartbeats are synchronous, because their answer
(accepted or illegal) matters to the caller.
"""

from __future__ import annotations

import argparse
import logging
import threading
import time
import traceback as tb
from collections import deque
from collections.abc import Mapping
from types import SimpleNamespace, TracebackType
from typing import Any

from picidae.core.alerts import check_alert
from picidae.core.ids import batch_id
from picidae.core.lifecycle import heartbeat_every, parse_state
from picidae.core.run import LogLine
from picidae.core.states import SYNONYMS, TERMINAL, State
from picidae.core.validation import (
    MAX_STEP,
    MAX_TEXT_LINE,
    check_size,
    clean_fraction,
    clean_key,
    clean_label,
    clean_mapping,
    clean_step,
    clean_text,
    deep_merge,
    json_value,
    metric_value,
)
from picidae.errors import IllegalTransition, InvalidInput, RunFinished, StoreUnavailable
from picidae.sdk import managed, uploads
from picidae.sdk.background import Background
from picidae.sdk.outbox import Outbox
from picidae.sdk.writer import (
    MAX_ORDERS,
    NO_ORDER,
    Order,
    Point,
    floats_fit,
    pack_points,
    plain_types,
    writer,
)
from picidae.settings import settings
from picidae.store.base import Batch, Store
from picidae.store.capabilities import defers_new_runs, ends_at_once
from picidae.store.lifecycle import retry_if_lost

log = logging.getLogger("picidae")
_now = time.time  # a point's time (one global load in ``log``, not two)


def _as_mapping(args: Any) -> Any:
    """``log_config``'s ``args``: a mapping as it is, a namespace (argparse's) as its vars."""
    if args is None:
        return {}
    if isinstance(args, argparse.Namespace | SimpleNamespace):
        return vars(args)
    return args


def child_name(parent: str, name: Any) -> Any:
    """A child's name under its parent's path: ``collect-games`` under ``autogo-iteration-17``
    is ``autogo-iteration-17/collect-games``; a name already under it is kept."""
    if not isinstance(name, str) or name.startswith(parent + "/"):
        return name
    return f"{parent}/{name}"


class Run:
    """A run being recorded by this process. Made by ``picidae.init`` or ``Run.child``."""

    def __init__(self, store: Store, record: dict[str, Any], *, fresh: bool = False) -> None:
        self._store = store
        self._record = record
        self.id: str = record["id"]
        self.name: str = record["name"]
        self.parent_id: str | None = record.get("parent_id")
        self.root_id: str | None = record.get("root_id")
        self.kind: str | None = record.get("kind")
        self._config: dict[str, Any] = dict(record.get("config") or {})
        self._summary: dict[str, Any] = dict(record.get("summary") or {})
        self._status = State(record["status"])
        self._step = 0
        self._known_keys: set[str] = set()
        self._known_stages: set[str] = set()
        # (step, time, stage, values, keys in the values' order): appended by ``log`` (and
        # the system monitor), taken by the flush. A list: append and ``del [:n]`` are atomic.
        self._points: list[Point] = []
        # Key orders ``log`` has seen (names → ``Order``); ``_order`` is the last call's.
        self._orders: dict[tuple[str, ...], Order] = {}
        self._order: Order = NO_ORDER
        self._logs: deque[LogLine] = deque()
        self._pending = Batch()
        self._pending_lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._outbox = Outbox(self.id, store, self.name, fresh=fresh)  # fresh: none spooled
        self._ended = False
        self._ending = False  # finish() has begun: the writer sends no more heartbeats
        self._children = 0
        self._last_heartbeat = time.time()
        cfg = settings()
        self._heartbeat_interval = heartbeat_every(cfg.heartbeat_interval_s,
                                                   cfg.heartbeat_timeout_s)
        self._background = Background(self, record)  # uploads, input digests, slow capture
        self._console: Any = None  # a ConsoleCapture while capture_console is on
        # Run by a worker: the worker ends the run and heartbeats (see sdk/managed.py).
        self._managed: str | None = managed.end_file(self.id)
        self.rank = 0  # the launcher's rank of this process (sdk/ranks.py)
        self._rank_parent: str | None = None  # ranks="all": the job's run, settled by ranks
        writer().register(self)

    # -- identity -----------------------------------------------------------------------

    @property
    def status(self) -> str:
        """The run's state as this process last knew it (the state it ended in, once the
        store refused a write because another process ended it)."""
        ended = self._outbox.finished
        if ended is not None and ended.status and not self._ended:
            return ended.status
        return self._status.value

    @property
    def config(self) -> dict[str, Any]:
        """The run's config, including overrides from submit or replay."""
        return self._config

    @property
    def store(self) -> Store:
        """The store the run is recorded in."""
        return self._store

    def __repr__(self) -> str:
        return f"Run(id={self.id!r}, name={self.name!r}, status={self.status!r})"

    def _check_open(self) -> None:
        if self._ended:
            raise RunFinished(
                f"run {self.id} ({self.name}) has ended ({self.status}); start a new run with "
                "picidae.init() to record more")

    # -- buffered writes ----------------------------------------------------------------

    def log(self, data: Mapping[str, Any] | None = None, *, step: int | None = None,
            stage: str | None = None, **metrics: Any) -> Run:
        """Record metric values at a step (the next one when ``step`` is omitted)."""
        if self._ended:
            self._check_open()
        if data:
            if not isinstance(data, Mapping):
                raise InvalidInput(f"log() takes a dict of metrics, got {type(data).__name__}",
                                   field="data")
            metrics = {**data, **metrics}
        order = self._order
        if [*metrics] != order[0]:
            order = self._orders.get(tuple(metrics), NO_ORDER)
        if (order is not NO_ORDER
                and (stage is None or (type(stage) is str and stage in self._known_stages))
                and [*map(type, metrics.values())] == order[1]
                and (not order[2] or floats_fit(metrics.values()))):
            # The usual call: keys seen before in this order (the last call's, checked
            # first), a known stage, the value types of that order's last careful call
            # (plain floats, ints, bools: the flush converts them as ``float()`` would, and
            # ints were just checked to fit). Checked in C; ``metrics`` is a fresh dict
            # (kwargs, or the merge above, never the caller's own), so it is kept as it is,
            # and the shared key list tells the flush its column order.
            keys = order[0]
            self._order = order
        else:
            metrics, keys, stage = self._clean_point(stage, metrics, order)
        if step is None:
            step = self._step
        elif type(step) is not int or step < 0 or step > MAX_STEP:
            step = clean_step(step)
        self._step = step + 1
        if metrics:
            self._points.append((step, _now(), stage, metrics, keys))
        return self

    def _clean_point(self, stage: str | None, metrics: dict[str, Any], order: Order,
                     ) -> tuple[dict[str, float], list[str], str | None]:
        """``log``'s checks for a call off the usual path (new keys or order, a new stage,
        value types other than its order's last): the values as floats, their keys in
        order, the cleaned stage. ``order`` is the key order ``log`` found for ``metrics``
        (or ``NO_ORDER``); a new one is remembered, and these value types with it, for the
        next calls' fast path."""
        known = self._known_keys
        values: dict[str, float] = {}
        for key, value in metrics.items():
            if key not in known:
                clean_key(key, "metric key")
                known.add(key)
            values[key] = value if type(value) is float else metric_value(key, value)
        if stage is not None and (type(stage) is not str or stage not in self._known_stages):
            stage = clean_label(stage, "stage")  # once per stage: control chars, length
            if stage is not None:
                self._known_stages.add(stage)
        names = tuple(values)  # ``metrics``' order, so a known order holds
        if order is NO_ORDER:
            order = self._orders.get(names, NO_ORDER)
        types = [*map(type, metrics.values())]
        if types != order[1] and plain_types(types):
            keys = order[0] if order is not NO_ORDER else [*names]
            order = (keys, types, int in types)
            if names in self._orders or len(self._orders) < MAX_ORDERS:
                self._orders[names] = order
        elif order is NO_ORDER:  # other types (numpy scalars...): no fast path to offer
            order = ([*names], [float] * len(names), False)
            if len(self._orders) < MAX_ORDERS:
                self._orders[names] = order
        self._order = order  # one attribute: a thread never sees keys without their types
        return values, order[0], stage

    def _merge(self, section: str, data: Any) -> None:
        with self._pending_lock:
            current = getattr(self._pending, section)
            setattr(self._pending, section, deep_merge(current, data))

    def log_config(self, args: Any = None, extra: Mapping[str, Any] | None = None) -> Run:
        """Merge values into the run's config (nested dicts merge key by key): ``args`` is a
        dict or an ``argparse.Namespace``; ``extra`` (Runicorn's spelling) a dict merged
        over it."""
        self._check_open()
        data = clean_mapping(_as_mapping(args), "config")
        if extra is not None:
            data = deep_merge(data, clean_mapping(extra, "extra"))
        merged = deep_merge(self._config, data)
        check_size(merged, "config")  # so no batch of it can be over the limit either
        self._config = merged
        self._merge("config", data)
        return self

    def summary(self, values: Mapping[str, Any]) -> Run:
        """Merge values into the run's summary (run-level results)."""
        self._check_open()
        data = clean_mapping(values, "summary")
        merged = deep_merge(self._summary, data)
        check_size(merged, "summary")
        self._summary = merged
        self._merge("summary", data)
        return self

    def set_primary_metric(self, name: str, mode: str = "max") -> Run:
        """Name the metric that ranks this run; its best value and step are tracked."""
        self._check_open()
        clean_key(name, "primary metric")
        if mode not in ("max", "min"):
            raise InvalidInput(f"mode must be 'max' or 'min', got {mode!r}", field="mode")
        with self._pending_lock:
            self._pending.fields["primary_metric"] = {"name": name, "mode": mode, "best": None,
                                                      "step": None}
        return self

    def log_text(self, text: str, *, stream: str = "log") -> Run:
        """Append timestamped lines to the run's log."""
        self._check_open()
        if not isinstance(text, str):
            raise InvalidInput(f"log_text takes a string, got {type(text).__name__}",
                               field="text")
        clean_text(text, "text")
        now = time.time()
        for line in text.splitlines() or [""]:
            self._logs.append(LogLine(now, stream, line[:MAX_TEXT_LINE]))
        return self

    def output(self, name: str, value: Any) -> Run:
        """Record a small named output (a number, string or small JSON value)."""
        self._check_open()
        clean_key(name, "output name")
        with self._pending_lock:
            self._pending.outputs[name] = json_value(value, f"outputs.{name}")
        return self

    def alert(self, title: str, text: str | None = None, level: str = "info") -> Run:
        """Raise an alert about this run: rules with ``--on alert`` (``picidae alerts
        add``) post it to their webhook or Slack. ``level`` is info, warn or error."""
        self._check_open()
        entry = {**check_alert(title, text, level), "at": time.time()}
        with self._pending_lock:
            self._pending.alerts.append(entry)
        return self

    def progress(self, fraction: float, message: str | None = None) -> Run:
        """Report the fraction done (0–1), with an optional message."""
        self._check_open()
        frac = clean_fraction(fraction)
        if message is not None and not isinstance(message, str):
            raise InvalidInput("progress message must be a string", field="message")
        with self._pending_lock:
            self._pending.fields["progress"] = {"fraction": frac, "message": message,
                                                "at": time.time()}
        return self

    def log_image(self, key: str, image: Any, caption: str | None = None,
                  step: int | None = None) -> Run:
        """Store an image as a PNG tied to a step (the latest ``log`` step by default): a PIL
        image, a NumPy array (HxW, HxWx3, HxWx4; uint8, or float in [0, 1]) or a file path.
        The image is checked and copied now, encoded and stored in the background."""
        self._check_open()
        uploads.log_image(self, key, image, caption, step)
        return self

    def log_artifact(self, path: Any, name: str | None = None, type: str | None = None, *,
                     version: str | None = None, output: bool = False) -> Run:
        """Store a file or folder (``name`` defaults to its base name; ``type`` is free text:
        ``checkpoint``, ``predictions``, ``report``, ``dataset``...). Hashed and uploaded in
        the background; ``finish`` waits for it; a failed upload is retried, then reported
        in the run's log and ``warnings``. ``version=`` (or ``output=True``) also records it
        as a named output. A missing path raises at once."""
        self._check_open()
        uploads.log_artifact(self, path, name, type, version=version, output=output)
        return self

    def use_input(self, name: str, version: str | None = None,
                  path_or_uri: str | None = None, *, digest: str | None = None) -> Run:
        """Record a dataset or upstream version this run uses: ``{name, version, digest,
        uri}``. A local file or folder's SHA-256 is computed in the background; a URI is
        recorded as given (with ``digest`` when you know it)."""
        self._check_open()
        uploads.use_input(self, name, version, path_or_uri, digest)
        return self

    # -- flushing -----------------------------------------------------------------------

    def _take_batch(self) -> Batch:
        points = self._points
        n = len(points)
        entries = points[:n]
        del points[:n]  # only what was copied: a point appended meanwhile stays for later
        lines = []
        logs = self._logs
        for _ in range(len(logs)):
            lines.append(logs.popleft())
        with self._pending_lock:
            batch, self._pending = self._pending, Batch()
        batch.chunks = pack_points(entries) if entries else []
        batch.logs = lines
        batch.batch_id = None if batch.empty() else batch_id()  # an empty one: never sent
        return batch

    def _flush(self, *, scheduled: bool = False) -> None:
        """Write everything buffered (the writer thread, ``finish`` and reads call it). What
        the store does not take waits in the outbox (``sdk.outbox``); a ``scheduled`` flush
        (the writer's timer) only tries the store when the outbox's backoff allows."""
        with self._flush_lock:
            outbox = self._outbox
            outbox.put(self._take_batch())
            if not outbox.empty() and (not scheduled or outbox.due(time.time())):
                outbox.send()

    def flush(self) -> Run:
        """Write buffered points, lines and merges now (normally the writer does it), and the
        run itself if it is new and waits to be written with its end (``init``'s run on a
        SQL store, for up to ``PICIDAE_NEW_RUN_DELAY_S``)."""
        self._flush()
        store = self._store
        if defers_new_runs(store):
            store.settle()
        return self

    def _maybe_heartbeat(self, now: float) -> None:
        """The writer's heartbeat: on time, and never into a run that ended elsewhere (the
        outbox has warned about that once already)."""
        if self._ending or self._managed is not None or self._outbox.finished is not None:
            return
        if now - self._last_heartbeat >= self._heartbeat_interval:
            try:
                self._send_heartbeat(now)
            except RunFinished as exc:
                if not self._ending:  # not our own finish racing this beat
                    with self._flush_lock:
                        self._outbox.run_finished(exc)

    def _send_heartbeat(self, now: float) -> None:
        self._last_heartbeat = now
        try:
            status = self._store.heartbeat(self.id, now)
        except RunFinished as exc:
            if exc.status and not self._ended:
                self._status = State(exc.status)  # ended elsewhere: say so in run.status
            raise
        if not self._ended:
            self._status = State(status)
        if self._rank_parent is not None:  # any live rank keeps the job's run alive
            from picidae.sdk import ranks

            ranks.heartbeat_parent(self, now)

    # -- annotation (allowed after the run ended, too) ----------------------------------

    def set_tags(self, add: Any = None, remove: Any = None) -> Run:
        """Add and remove tags (a tag or a list of tags each), at once and in any state: an
        edit recorded in the run's ``edits`` (see ``picidae.edit``)."""
        self._store.edit_run(self.id, {"add_tags": add, "remove_tags": remove}, actor="sdk")
        return self

    def note(self, markdown: str) -> Run:
        """Set the run's notes (free text, Markdown; the last write wins, ``""`` clears
        them), at once and in any state: an edit recorded in the run's ``edits``."""
        self._store.edit_run(self.id, {"notes": markdown}, actor="sdk")
        return self

    # -- lifecycle ----------------------------------------------------------------------

    def heartbeat(self) -> Run:
        """Tell the store this run is alive (the background thread does it on its own)."""
        self._check_open()
        self._send_heartbeat(time.time())
        return self

    def transition(self, state: str, reason: str | None = None) -> Run:
        """Move to another state, e.g. ``"evaluating"``; terminal states end the run."""
        self._check_open()
        target = parse_state(state)
        if target in TERMINAL:
            return self._end(target, reason=reason)
        self._flush()
        self._move(target, reason)
        return self

    def _move(self, target: State, reason: str | None, failure: dict[str, Any] | None = None,
              ) -> None:
        # The watchdog may have seen us silent: a heartbeat brings the run back, then we move.
        rec = retry_if_lost(self._store, self.id, lambda: self._store.transition(
            self.id, target.value, reason=reason, actor="sdk", failure=failure))
        self._status = State(rec["status"])

    def _end(self, target: State, *, reason: str | None = None,
             failure: dict[str, Any] | None = None) -> Run:
        if self._ended:
            if target is self._status:
                return self
            self._check_open()
        self._ending = True
        self._background.wait()  # uploads and capture land before the run ends
        if self._console is not None:
            self._console.stop()
        done = self._end_at_once(target, reason, failure)
        reachable = done or self._outbox.drain(settings().finish_timeout_s, self._flush)
        try:
            if not reachable:
                # Writes still wait: ending the run now would make the store refuse them.
                raise StoreUnavailable(self._outbox.last_error or "the store is away")
            if done:
                pass
            elif self._managed is not None:  # the worker ends it, knowing the exit code
                managed.request_end(self._managed, target.value, reason, failure)
                self._status = target
            else:
                self._move(target, reason, failure)
            reachable = True
        except StoreUnavailable:
            # The store is away: the final transition waits in the spool with the batches.
            self._outbox.keep_end(target.value, reason, failure, time.time())
            self._status = target
        except IllegalTransition as exc:
            if exc.current not in {s.value for s in TERMINAL | {State.ARCHIVED}}:
                raise
            # Ended elsewhere meanwhile (the watchdog, a cancel): what happened stays on
            # record; the program is told, not interrupted.
            log.warning("picidae: run %s was already %s; %s() left it so", self.id,
                        exc.current, target.value if target is not State.COMPLETED
                        else "finish")
            self._status = State(exc.current)
        finally:
            self._ended = True
            self._flush(scheduled=not reachable)
            with self._flush_lock:
                self._outbox.report()  # what was not sent, and where it is kept
            writer().unregister(self)
        if self._rank_parent is not None:
            from picidae.sdk import ranks

            ranks.settle(self)
        return self

    def _end_at_once(self, target: State, reason: str | None,
                     failure: dict[str, Any] | None) -> bool:
        """The usual end, in one store transaction: the last batch and the final state
        (``write_and_move``, which SQL stores have). Nothing waiting in the outbox, nothing
        refused: otherwise (or when the store raises, having applied nothing) False, and
        ``_end`` takes the batch the usual way — sent, retried, spooled — then moves."""
        store = self._store
        if self._managed is not None or not ends_at_once(store):
            return False
        with self._flush_lock:
            outbox = self._outbox
            if outbox.finished is not None or not outbox.empty():
                return False
            batch = self._take_batch()
            try:
                status = store.write_and_move(self.id, batch, target.value, reason=reason,
                                              actor="sdk", failure=failure)
            except Exception:
                outbox.put(batch)
                return False
            except BaseException:
                outbox.put(batch)
                raise
        self._status = State(status)
        return True

    def finish(self, status: str = "completed") -> Run:
        """End the run (``completed`` unless told otherwise), after writing everything
        buffered. Later writes raise ``RunFinished``; finishing again is a no-op. A new run
        that ends within ``PICIDAE_NEW_RUN_DELAY_S`` of ``init`` is written, whole, a moment
        later (every use of the store in this process, and ``flush()``, write it first)."""
        target = parse_state(status)
        if target not in TERMINAL:
            raise InvalidInput(f"finish() takes a final state (completed, failed, canceled), "
                               f"got {status!r}", field="status")
        if self._ended and target is self._status:
            return self
        return self._end(target, reason=None if target is State.COMPLETED else status)

    def fail(self, reason: str = "crash", message: str | None = None, *,
             traceback: str | None = None, exit_code: int | None = None) -> Run:
        """End the run as ``failed`` with a reason (``crash``, ``error``, ``timeout``...).
        ``abandoned`` and ``interrupted`` are the contract's synonyms of ``canceled``: the run
        ends ``canceled`` with that reason (and ``message`` in its log), so abandoned work
        stays out of crash metrics and failure rates."""
        reason = clean_label(reason, "reason") or "crash"
        if SYNONYMS.get(reason.lower()) is State.CANCELED:
            if message is not None and not self._ended:
                self.log_text(f"{reason}: {message}", stream="picidae")
            return self._end(State.CANCELED, reason=reason)
        failure: dict[str, Any] = {"reason": reason, "message": message}
        if traceback is not None:
            failure["traceback"] = traceback
        if exit_code is not None:
            failure["exit_code"] = exit_code
        return self._end(State.FAILED, reason=reason, failure=failure)

    def cancel(self, reason: str | None = None) -> Run:
        """End the run as ``canceled``."""
        return self._end(State.CANCELED, reason=reason or "canceled")

    def child(self, name: str | None = None, *, kind: str | None = None,
              config: Mapping[str, Any] | None = None, **init_kwargs: Any) -> Run:
        """Start a child run (a seed, phase, sweep point...) under this one, named under this
        run's path: ``run.child("collect-games")`` is ``NAME/collect-games`` (without a name:
        ``NAME/seed-N`` or ``NAME/KIND-N``)."""
        self._check_open()
        from picidae.sdk.api import create_run

        self._children += 1
        if name is None:
            seed = init_kwargs.get("seed")
            name = f"seed-{seed}" if seed is not None else f"{kind or 'child'}-{self._children}"
        name = child_name(self.name, name)
        init_kwargs.setdefault("trigger", "child")
        return create_run(self._store, name, parent=self, kind=kind, config=config,
                          **init_kwargs)

    # -- context manager ----------------------------------------------------------------

    def __enter__(self) -> Run:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self._ended:
            return
        if exc is None or (isinstance(exc, SystemExit) and exc.code in (None, 0)):
            self.finish()  # sys.exit(0) is a normal end, not a crash
        elif isinstance(exc, KeyboardInterrupt):
            self.cancel(reason="interrupted")
        else:
            self.fail("crash", message=f"{type(exc).__name__}: {exc}",
                      traceback="".join(tb.format_exception(exc_type, exc, trace)))
