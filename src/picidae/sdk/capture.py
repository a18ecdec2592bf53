"""Cheap reproducibility capture at ``init``: the command line and the basic environment.

(Git state, packages, code snapshots and console capture arrive with the artifacts issue.)
"""

from __future__ import annotations

import os
import platform
import socket
import sys
from typing import Any


def command() -> list[str]:
    """The argv that started this process (the interpreter first)."""
    return [sys.executable, *sys.argv] if sys.argv and sys.argv[0] else [sys.executable]


def environment() -> dict[str, Any]:
    """Python version, platform, hostname, process id and working folder."""
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "hostname": socket.gethostname(),
        "pid": os.getpid(),
        "cwd": os.getcwd(),
        "executable": sys.executable,
    }
