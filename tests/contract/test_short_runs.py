"""Short runs made one after another (a sweep's, an agent's loop) are each recorded whole and
once, on every store, whether the program reads them back or simply exits; a program sees
its own new run at once, from any thread (``store/sql/deferred.py`` writes a new run with its
end on the SQL stores)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

import picidae

LOOP = """
    import sys
    import picidae

    for i in range(int(sys.argv[1])):
        run = picidae.init(f"short/{i}", config={"i": i, "lr": 0.1}, tags=["short"])
        run.log(loss=1.0 / (i + 1), acc=i / 100)
        run.log(loss=0.5 / (i + 1), acc=i / 50)
        run.finish()
    # no read, no flush: the exit itself must leave every run recorded
"""


def test_a_loop_of_short_runs_is_recorded_whole_after_the_program_exits(
        store_url: str, store_env: dict[str, str], tmp_path: Path) -> None:
    n = 60
    # New runs may wait 30 s to be written: the last ones still wait when the program ends.
    env = {**store_env, "PICIDAE_NEW_RUN_DELAY_S": "30"}
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(LOOP), str(n)],
                          env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert "could not be recorded" not in done.stderr
    got = picidae.runs(store=store_url, tags="short", limit=1000)
    assert sorted(r.name for r in got) == sorted(f"short/{i}" for i in range(n))
    for view in got:
        i = view.config["i"]
        assert view.status == "completed"
        assert [(t["from"], t["to"]) for t in view.transitions] == [
            ("queued", "running"), ("running", "completed")]
        assert view.metrics("loss").values == [1.0 / (i + 1), 0.5 / (i + 1)]
        assert view.metrics("acc").steps == [0, 1]


def test_a_program_reads_its_new_run_at_once_from_any_thread(
        store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PICIDAE_NEW_RUN_DELAY_S", "30")  # read long before it is due
    run = picidae.init("short/seen", config={"lr": 0.5}, store=store_url)
    seen: dict[str, str] = {}

    def look() -> None:  # another thread of the same program
        seen["status"] = picidae.get_run(run.id, store=store_url).status

    reader = threading.Thread(target=look)
    reader.start()
    reader.join(60)
    assert seen == {"status": "running"}
    listed = picidae.runs(store=store_url, where="config.lr = 0.5")
    assert [r.id for r in listed] == [run.id]
    run.log(acc=0.75)
    run.finish()
    view = picidae.get_run(run.id, store=store_url)
    assert view.status == "completed" and view.metrics("acc").values == [0.75]
    assert picidae.runs(store=store_url, status="completed")[0].id == run.id
