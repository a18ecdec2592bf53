"""What a worker records about the run it holds, through the SDK's outbox.

The command's output and the worker's own notes (log lines), resource samples (``system/*``
metrics) and the ``inputs``, ``compute``, ``resources`` and ``cost`` fields are buffered here
and written as batches through an ``sdk.outbox.Outbox``, exactly as a program's own run is:
a store outage delays them (retried with backoff, spilled to the spool past the memory
bound), it never drops them. Before every move the launcher drains the outbox, so a run's
data is in the store before the run ends (a run that has ended refuses writes).

Once the run has ended elsewhere (canceled by a user, failed by the watchdog), only the
worker's epilogue goes on — its notes on how it stopped the command and the usage it
measured (``store.lifecycle.is_epilogue``); the command's late output and samples are
dropped.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import deque
from typing import Any

from picidae.core.lifecycle import EPILOGUE_FIELDS, EPILOGUE_STREAM
from picidae.core.run import LogLine
from picidae.core.validation import MAX_TEXT_LINE
from picidae.sdk.outbox import Outbox
from picidae.sdk.writer import Point, pack_points
from picidae.store.base import Batch
from picidae.store.lifecycle import is_epilogue


class Recorder:
    """One run's buffered lines, samples and fields, and its outbox (see the module
    docstring). ``line`` may be called from any thread; the rest from the launcher's."""

    def __init__(self, store: Any, run_id: str, name: str | None = None) -> None:
        self.run_id = run_id
        self.outbox = Outbox(run_id, store, name, after_end=is_epilogue)
        #: Set when the run has ended elsewhere: only the epilogue is recorded from then on.
        self.ended = False
        self._lines: deque[LogLine] = deque()
        self._samples: list[Point] = []
        self._fields: dict[str, Any] = {}
        self._step = 0
        self._lock = threading.Lock()

    def line(self, stream: str, text: str) -> None:
        """A line of the run's log (``stdout``, ``stderr``, or ``worker`` for notes)."""
        self._lines.append(LogLine(time.time(), stream, text[:MAX_TEXT_LINE]))

    def note(self, text: str) -> None:
        """A note of the worker's own, on the ``worker`` stream."""
        self.line(EPILOGUE_STREAM, text)

    def sample(self, values: dict[str, float]) -> None:
        """One resource sample (``system/*`` values), at the next step."""
        if values:
            values = dict(values)
            self._samples.append((self._step, time.time(), None, values, [*values]))
            self._step += 1

    def set_fields(self, **fields: Any) -> None:
        """Replace run fields (``inputs``, ``compute``, ``resources``, ``cost``) with the
        next flush."""
        self._fields.update(fields)

    def _take(self) -> Batch:
        lines = [self._lines.popleft() for _ in range(len(self._lines))]
        samples, self._samples = self._samples, []
        fields, self._fields = self._fields, {}
        if self.ended or self.outbox.finished is not None:
            lines = [ln for ln in lines if ln.stream == EPILOGUE_STREAM]
            samples = []
            fields = {k: v for k, v in fields.items() if k in EPILOGUE_FIELDS}
        return Batch(chunks=pack_points(samples) if samples else [], logs=lines,
                     fields=fields, batch_id=uuid.uuid4().hex)

    def flush(self, *, scheduled: bool = False) -> None:
        """Hand what is buffered to the outbox and send what waits (a ``scheduled`` flush
        only when the outbox's backoff allows a try)."""
        with self._lock:
            outbox = self.outbox
            outbox.put(self._take())
            if not outbox.empty() and (not scheduled or outbox.due(time.time())):
                outbox.send()

    def drain(self, timeout: float) -> bool:
        """Flush until nothing waits or ``timeout`` seconds pass; True when all was sent."""
        return self.outbox.drain(timeout, self.flush)

    def close(self, timeout: float) -> None:
        """The last drain; what is still not sent is spooled and reported (``picidae
        sync`` uploads it)."""
        self.drain(timeout)
        with self._lock:
            self.outbox.report()
