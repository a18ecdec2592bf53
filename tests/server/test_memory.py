"""``tune_malloc``: the server fixes glibc's allocator unless told otherwise by its variables."""

from __future__ import annotations

import subprocess
import sys

CHECK = "from picidae.server.memory import tune_malloc; print(tune_malloc())"


def test_tunes_glibc_unless_the_environment_says_otherwise(subprocess_env: dict[str, str],
                                                           ) -> None:
    env = {k: v for k, v in subprocess_env.items() if not k.startswith("MALLOC_")}
    out = subprocess.run([sys.executable, "-c", CHECK], env=env, capture_output=True,
                         text=True, check=True).stdout.strip()
    assert out == ("True" if sys.platform.startswith("linux") else "False")
    env["MALLOC_ARENA_MAX"] = "4"
    out = subprocess.run([sys.executable, "-c", CHECK], env=env, capture_output=True,
                         text=True, check=True).stdout.strip()
    assert out == "False"
