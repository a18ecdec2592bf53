"""OpenLineage emission: with ``PICIDAE_OPENLINEAGE_URL`` (an HTTP endpoint) or
``PICIDAE_OPENLINEAGE_FILE`` (a file of JSON lines), every transition a process commits is
sent as an OpenLineage ``RunEvent`` through the ``openlineage-python`` client.

Where: the SQL store hands each committed ``run.created``/``run.transition`` event here
(``SqlBase._tx``), so the process that writes a transition emits it — the SDK's process for
an embedded or PostgreSQL store, the server for runs behind ``http://``, the server's
watchdog for ``lost``, a worker for the runs it moves. No transition is emitted twice and
none is missed, whichever store a run lives in.

How: a background thread builds and sends the events; a transition never waits for the
endpoint, and a failure is a logged warning. At exit the queue is drained (for at most
``DRAIN_S`` seconds); events raised while exiting are sent at once with the short timeout.

Mapping: creation → ``START``; to ``completed`` → ``COMPLETE``, ``failed`` → ``FAIL``,
``canceled`` → ``ABORT``, ``archived`` → ``OTHER``; every other move → ``RUNNING``.
``run.runId`` is the Picidae run id (a UUIDv7); an id that is not a UUID (an imported run's)
becomes a stable UUIDv5 of it. The ``picidae`` run facet always carries the Picidae id,
status and kind. ``job`` is ``{namespace: PICIDAE_OPENLINEAGE_NAMESPACE or "picidae", name:
the run's name}``; inputs and outputs (artifact versions) are datasets with a ``version``
facet; a parent is a ``parent`` facet (``ParentRunFacet``).
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from picidae.errors import PicidaeError
from picidae.settings import settings

if TYPE_CHECKING:
    from picidae.store.base import Store

log = logging.getLogger("picidae.openlineage")

DRAIN_S = 5.0
HTTP_TIMEOUT_S = 3.0
#: The namespace of the UUIDv5 given to a run id that is not a UUID.
_OL_UUID = uuid.uuid5(uuid.NAMESPACE_URL, "https://picidae.dev/runs")
EVENT_TYPES = {"completed": "COMPLETE", "failed": "FAIL", "canceled": "ABORT",
               "archived": "OTHER"}
FACET_SCHEMA = "https://github.com/picidae/picidae/blob/main/docs/operations.md#openlineage"


def enabled() -> bool:
    """Whether this process emits (an endpoint or a file is configured)."""
    cfg = settings()
    return bool(cfg.openlineage_url or cfg.openlineage_file)


def run_uuid(run_id: str) -> str:
    """The OpenLineage ``runId`` of a Picidae run: its id when that is a UUID, else a stable
    UUIDv5 of it."""
    try:
        return str(uuid.UUID(run_id))
    except ValueError:
        return str(uuid.uuid5(_OL_UUID, run_id))


def event_type(kind: str, payload: dict[str, Any]) -> str:
    """The ``eventType`` of a ``run.created`` or ``run.transition`` event."""
    if kind == "run.created":
        return "START"
    return EVENT_TYPES.get(str(payload.get("to")), "RUNNING")


def _dataset_namespace(uri: Any, default: str) -> str:
    """A dataset's namespace from its URI (``s3://bucket``, ``file``), else ``default``."""
    parts = urlsplit(uri) if isinstance(uri, str) and "://" in uri else None
    if parts is None or not parts.scheme:
        return default
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else parts.scheme


def build(kind: str, payload: dict[str, Any], at: float, run: dict[str, Any],
          parent: dict[str, Any] | None) -> Any:
    """The ``RunEvent`` for one committed event of ``run`` (the record as stored)."""
    import attr
    from openlineage.client.event_v2 import (
        InputDataset,
        Job,
        OutputDataset,
        Run,
        RunEvent,
        RunState,
    )
    from openlineage.client.facet_v2 import RunFacet, dataset_version_dataset, parent_run

    @attr.define
    class PicidaeRunFacet(RunFacet):
        """The Picidae run behind an OpenLineage run."""

        id: str
        status: str
        kind: str | None = None

        @staticmethod
        def _get_schema() -> str:
            return FACET_SCHEMA

    namespace = settings().openlineage_namespace

    def version(value: Any) -> dict[str, Any]:
        return {"version": dataset_version_dataset.DatasetVersionDatasetFacet(
            datasetVersion=str(value))} if value else {}

    inputs = [InputDataset(namespace=_dataset_namespace(i.get("uri"), namespace),
                           name=str(i["name"]),
                           facets=version(i.get("version") or i.get("digest")))
              for i in run.get("inputs") or [] if isinstance(i, dict) and i.get("name")]
    outputs = [OutputDataset(namespace=_dataset_namespace(v.get("uri"), namespace),
                             name=str(name), facets=version(v.get("version") or v.get("digest")))
               for name, v in (run.get("outputs") or {}).items() if isinstance(v, dict)]
    status = payload.get("to") or payload.get("status") or run["status"]
    facets: dict[str, Any] = {"picidae": PicidaeRunFacet(id=run["id"], status=str(status),
                                                         kind=run.get("kind"))}
    if parent is not None:
        facets["parent"] = parent_run.ParentRunFacet(
            run=parent_run.Run(runId=run_uuid(parent["id"])),
            job=parent_run.Job(namespace=namespace, name=parent["name"]))
    return RunEvent(eventType=RunState(event_type(kind, payload)),
                    eventTime=datetime.fromtimestamp(at, UTC).isoformat(),
                    run=Run(runId=run_uuid(run["id"]), facets=facets),
                    job=Job(namespace=namespace, name=run["name"]),
                    inputs=inputs, outputs=outputs,
                    producer="https://github.com/picidae/picidae")


def _client() -> Any:
    from openlineage.client import OpenLineageClient
    from openlineage.client.transport.file import FileConfig, FileTransport
    from openlineage.client.transport.http import HttpConfig, HttpTransport

    cfg = settings()
    if cfg.openlineage_file:
        return OpenLineageClient(transport=FileTransport(FileConfig(
            log_file_path=cfg.openlineage_file, append=True)))
    return OpenLineageClient(transport=HttpTransport(HttpConfig(
        url=str(cfg.openlineage_url), timeout=HTTP_TIMEOUT_S,
        retry={"total": 1, "backoff_factor": 0.2})))


class Emitter:
    """The background thread sending this process's events (see the module docstring)."""

    def __init__(self) -> None:
        self._queue: queue.Queue[tuple[Store, list[tuple[str, str, float, dict[str, Any]]]]] \
            = queue.Queue()
        self._client: Any = None
        self._exiting = False
        self._thread = threading.Thread(target=self._loop, name="picidae-openlineage",
                                        daemon=True)
        self._thread.start()
        atexit.register(self.drain)

    def submit(self, store: Store, events: list[tuple[str, str, float, dict[str, Any]]],
               ) -> None:
        """Send ``(kind, run_id, at, payload)`` events of ``store`` (committed already)."""
        if self._exiting:
            self._send(store, events)
        else:
            self._queue.put((store, events))

    def drain(self, timeout: float = DRAIN_S) -> None:
        """Wait (at most ``timeout`` seconds) until everything queued is sent; afterwards
        events are sent as they come (the process is exiting)."""
        done = threading.Event()

        def wait() -> None:
            self._queue.join()
            done.set()

        threading.Thread(target=wait, daemon=True).start()
        done.wait(timeout)
        self._exiting = True

    def _loop(self) -> None:
        while True:
            store, events = self._queue.get()
            try:
                self._send(store, events)
            finally:
                self._queue.task_done()

    def _send(self, store: Store, events: list[tuple[str, str, float, dict[str, Any]]],
              ) -> None:
        for kind, run_id, at, payload in events:
            try:
                run = store.get_run(run_id)
                parent = None
                if run.get("parent_id"):
                    try:
                        parent = store.get_run(run["parent_id"])
                    except PicidaeError:
                        parent = None
                if self._client is None:
                    self._client = _client()
                self._client.emit(build(kind, payload, at, run, parent))
            except Exception as exc:  # never fails a run: the endpoint may be down
                log.warning("OpenLineage: could not emit %s of run %s: %s", kind, run_id, exc)


_emitter: Emitter | None = None
_lock = threading.Lock()


def emitter() -> Emitter:
    """This process's emitter (started on first use)."""
    global _emitter
    with _lock:
        if _emitter is None:
            _emitter = Emitter()
        return _emitter


def drain_started(timeout: float = DRAIN_S) -> None:
    """Send what this process has queued (at most ``timeout`` seconds), if it emits at all.
    A server calls it when it shuts down: uvicorn ends the process by raising the SIGTERM it
    caught again, which exits without running ``atexit`` handlers, so the last transitions
    (a run finished just before the stop) would never leave."""
    with _lock:
        started = _emitter
    if started is not None:
        started.drain(timeout)


def hand_off(store: Store, events: list[tuple[str, str, float, dict[str, Any]]]) -> None:
    """Queue committed events for emission (called by the SQL store after a commit)."""
    try:
        emitter().submit(store, events)
    except Exception as exc:  # never into the caller's write
        log.warning("OpenLineage: %s", exc)
