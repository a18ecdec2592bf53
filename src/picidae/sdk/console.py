"""Console capture: stdout and stderr at the file-descriptor level, into the run's log.

``start`` points fds 1 and 2 at pipes (``os.dup2``), so whatever writes to them is caught:
``print``, C extensions writing with ``write(2)``, child processes that inherit the fds. A
thread per stream reads its pipe, writes every byte through to the original terminal at once
(so the console looks as before, progress bars animate) and cuts the bytes into lines for the
run's log buffer (streams ``stdout`` and ``stderr``), which the background writer flushes
every second — so ``picidae logs ID --follow`` tails a live run. ``stop`` puts the original
fds back and drains what is left.

Progress bars (tqdm and the like) redraw a line with carriage returns. ``tqdm_mode``:

- ``smart`` (default): a line redrawn with ``\\r`` is stored once, as its final state — a
  10,000-step bar is one line, not 10,000;
- ``all``: every redraw is stored as its own line;
- ``none``: redrawn lines are not stored at all.

ANSI escape sequences (colours, cursor moves) are stripped from the stored text only.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
import time
from collections.abc import Callable

from picidae.core.run import LogLine
from picidae.core.validation import MAX_TEXT_LINE
from picidae.errors import InvalidInput

log = logging.getLogger("picidae")

TQDM_MODES = ("smart", "all", "none")

_ANSI = re.compile(rb"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")
_active_lock = threading.Lock()
_active: ConsoleCapture | None = None


def clean_tqdm_mode(mode: object) -> str:
    """``mode`` if it is one of ``TQDM_MODES``."""
    if mode not in TQDM_MODES:
        raise InvalidInput(f"tqdm_mode must be one of {', '.join(TQDM_MODES)}, got {mode!r}",
                           field="tqdm_mode")
    return str(mode)


class LineSplitter:
    """Turns a byte stream into log lines, applying a ``tqdm_mode`` (module docstring)."""

    def __init__(self, emit: Callable[[str], None], mode: str = "smart") -> None:
        self._emit = emit
        self._mode = mode
        self._buf = bytearray()

    def feed(self, data: bytes) -> None:
        """Add bytes; complete lines are emitted."""
        self._buf += data
        if b"\n" not in data:
            self._bound()
            return
        *lines, rest = bytes(self._buf).split(b"\n")
        self._buf = bytearray(rest)
        for line in lines:
            self._line(line)
        self._bound()

    def close(self) -> None:
        """Emit what is left (a last line without a newline)."""
        if self._buf:
            self._line(bytes(self._buf))
            self._buf.clear()

    def _bound(self) -> None:
        # A bar redrawn for hours never sees a newline: keep only its latest state.
        if len(self._buf) <= MAX_TEXT_LINE:
            return
        if b"\r" in self._buf and self._mode != "all":
            self._buf = bytearray(self._buf[self._buf.rindex(b"\r"):])
        if len(self._buf) > MAX_TEXT_LINE:
            self._line(bytes(self._buf))
            self._buf.clear()

    def _line(self, raw: bytes) -> None:
        raw = raw.removesuffix(b"\r")
        if b"\r" not in raw:
            self._emit(self._text(raw))
            return
        if self._mode == "none":
            return
        parts = [p for p in raw.split(b"\r") if _ANSI.sub(b"", p).strip()]
        if self._mode == "all":
            for part in parts:
                self._emit(self._text(part))
        elif parts:
            self._emit(self._text(parts[-1]))

    @staticmethod
    def _text(raw: bytes) -> str:
        return _ANSI.sub(b"", raw).decode("utf-8", errors="replace")[:MAX_TEXT_LINE]


class _Stream:
    """One captured fd: the pipe, the saved original and the reader thread."""

    def __init__(self, fd: int, name: str, sink: Callable[[str, str], None], mode: str) -> None:
        self.fd = fd
        self.name = name
        self.saved = os.dup(fd)
        self.passthru = os.dup(self.saved)  # owned by the reader, closed when it ends
        read_end, write_end = os.pipe()
        self.read_end = read_end
        self.splitter = LineSplitter(lambda text: sink(name, text), mode)
        os.dup2(write_end, fd)
        os.close(write_end)
        self.thread = threading.Thread(target=self._pump, name=f"picidae-{name}", daemon=True)
        self.thread.start()

    def _pump(self) -> None:
        try:
            while True:
                try:
                    data = os.read(self.read_end, 65536)
                except InterruptedError:
                    continue
                except OSError:
                    break
                if not data:
                    break
                try:
                    _write_all(self.passthru, data)
                except OSError:
                    pass  # the terminal went away; keep recording
                self.splitter.feed(data)
        finally:
            self.splitter.close()
            os.close(self.read_end)
            os.close(self.passthru)

    def restore(self) -> None:
        os.dup2(self.saved, self.fd)
        os.close(self.saved)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class ConsoleCapture:
    """Captures fds 1 and 2 into ``run``'s log (see the module docstring)."""

    def __init__(self, sink: Callable[[str, str], None], mode: str = "smart") -> None:
        self._sink = sink
        self._mode = clean_tqdm_mode(mode)
        self._streams: list[_Stream] = []
        self._line_buffering: list[tuple[object, bool]] = []

    def start(self) -> ConsoleCapture:
        """Redirect stdout and stderr (one capture per process at a time)."""
        global _active
        with _active_lock:
            if _active is not None:
                raise InvalidInput("the console is already being captured for another run; "
                                   "capture_console=True works for one run at a time",
                                   field="capture_console")
            _flush_python_streams()
            for stream in (sys.stdout, sys.stderr):
                # Python block-buffers stdout when it is not a terminal; lines should reach
                # the run's log as they are printed.
                reconfigure = getattr(stream, "reconfigure", None)
                if reconfigure is not None and not getattr(stream, "line_buffering", True):
                    self._line_buffering.append((stream, False))
                    reconfigure(line_buffering=True)
            streams: list[_Stream] = []
            try:
                for fd, name in ((1, "stdout"), (2, "stderr")):
                    streams.append(_Stream(fd, name, self._sink, self._mode))
            except OSError:
                for stream in streams:
                    stream.restore()
                self._restore_buffering()
                raise
            self._streams = streams
            _active = self
        return self

    def _restore_buffering(self) -> None:
        for pystream, value in self._line_buffering:
            try:
                pystream.reconfigure(line_buffering=value)  # type: ignore[attr-defined]
            except (ValueError, OSError):
                pass
        self._line_buffering = []

    def stop(self, timeout: float = 5.0) -> None:
        """Put the original fds back and record what is left; idempotent."""
        global _active
        with _active_lock:
            if not self._streams:
                return
            _flush_python_streams()
            streams, self._streams = self._streams, []
            for stream in streams:
                stream.restore()
            self._restore_buffering()
            if _active is self:
                _active = None
        deadline = time.monotonic() + timeout
        for stream in streams:
            # A child process that still holds the pipe keeps its reader alive; don't hang.
            stream.thread.join(max(0.0, deadline - time.monotonic()))
            if stream.thread.is_alive():
                log.warning("picidae: %s is still held open (a child process?); its later "
                            "output is not recorded", stream.name)


def _flush_python_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (ValueError, OSError, AttributeError):
            pass


def active() -> ConsoleCapture | None:
    """The capture in progress in this process, if any."""
    return _active


def start_capture(run: object, mode: str) -> ConsoleCapture:
    """Capture the console into ``run``'s log buffer."""
    logs = run._logs  # type: ignore[attr-defined]

    def sink(stream: str, text: str) -> None:
        logs.append(LogLine(time.time(), stream, text))

    return ConsoleCapture(sink, mode).start()
