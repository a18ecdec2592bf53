"""No orphans: a worker's commands die with it, however it dies (Linux).

A worker killed with SIGKILL cannot stop its commands. So each command is started with
``PR_SET_PDEATHSIG`` (the kernel sends it SIGKILL when the worker thread that started it
ends), and next to it runs a small guard process (``python -m picidae.executor.orphans PGID
WORKER_PID``)
with the same setting but SIGTERM: when the worker dies, the guard kills the command's whole
process group (what the command started too), then exits. The guard also exits by itself once
the group is gone. Elsewhere than Linux (no ``prctl``) these are no-ops.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable

PR_SET_PDEATHSIG = 1


def _prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl
    except (OSError, AttributeError):
        return None


def die_with_parent(sig: int = signal.SIGKILL, *,
                    block: bool = False) -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child get ``sig`` when its parent (thread) ends
    (``block``: held pending until the child unblocks it); ``None`` where that is not
    possible."""
    prctl = _prctl()
    if prctl is None:
        return None

    def arm() -> None:
        if block:
            signal.pthread_sigmask(signal.SIG_BLOCK, {sig})
        prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)

    return arm


class Guard:
    """The guard of one command's process group (see the module docstring): start it before
    the command (so no moment is unguarded), then ``watch`` the group, and ``release`` it
    when the command has ended."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        arm = die_with_parent(signal.SIGTERM, block=True)
        if arm is None:
            return
        with contextlib.suppress(OSError):
            # Run as a plain script (-I -S: no site, no picidae import): it starts fast.
            self.proc = subprocess.Popen(
                [sys.executable, "-I", "-S", __file__, str(os.getpid())],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                preexec_fn=arm, start_new_session=True)

    def watch(self, pgid: int) -> None:
        """Guard process group ``pgid`` from now on."""
        if self.proc is None or self.proc.stdin is None:
            return
        with contextlib.suppress(OSError):
            self.proc.stdin.write(f"{pgid}\n".encode())
            self.proc.stdin.flush()

    def release(self) -> None:
        """Stop the guard without it touching the group."""
        if self.proc is None:
            return
        with contextlib.suppress(OSError):
            self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()


def _main(worker: int) -> None:
    pgid: int | None = None

    def kill_group(*_: object) -> None:
        if pgid is not None:
            with contextlib.suppress(OSError):
                os.killpg(pgid, signal.SIGKILL)
        os._exit(0)

    # SIGTERM (the worker's death) is blocked from the start (``arm``): it waits until the
    # group is known and the handler is in place.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    line = sys.stdin.readline()
    if not line.strip():
        return  # the worker closed the pipe before starting the command: nothing to guard
    pgid = int(line)
    signal.signal(signal.SIGTERM, kill_group)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    if os.getppid() != worker:  # the worker died before this guard was armed
        kill_group()
    while True:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        except PermissionError:
            pass
        time.sleep(1.0)


if __name__ == "__main__":
    _main(int(sys.argv[1]))
