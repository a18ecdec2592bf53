"""Console capture at the file-descriptor level, in real processes."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import picidae
from picidae.sdk.console import LineSplitter


def _lines(store: Path, run_id: str, stream: str | None = None) -> list[str]:
    return [ln.text for ln in picidae.get_run(run_id, store=store).logs()
            if stream is None or ln.stream == stream]


def test_print_c_level_writes_and_child_processes_are_captured(run_script: Any,
                                                               store_dir: Path) -> None:
    proc = run_script("""
        import os, subprocess, sys, picidae
        run = picidae.init("console", store=sys.argv[1], capture_console=True,
                           capture_env=False, capture_git=False)
        print("hello from print")
        print("to stderr", file=sys.stderr)
        os.write(1, b"raw write to fd 1\\n")
        os.write(2, b"raw write to fd 2\\n")
        subprocess.run([sys.executable, "-c", "print('from a child process')"], check=True)
        subprocess.run(["sh", "-c", "echo child stderr >&2"], check=True)
        sys.stdout.write("no newline at the end")
        run.finish()
        print("after finish: not captured")
        print(run.id)
    """, str(store_dir))
    assert proc.returncode == 0, proc.stderr
    # Still shown on the terminal...
    assert "hello from print" in proc.stdout and "raw write to fd 1" in proc.stdout
    assert "from a child process" in proc.stdout and "child stderr" in proc.stderr
    run_id = proc.stdout.strip().splitlines()[-1]
    # ...and in the run's log, by stream.
    assert _lines(store_dir, run_id, "stdout") == [
        "hello from print", "raw write to fd 1", "from a child process", "no newline at the end"]
    assert _lines(store_dir, run_id, "stderr") == [
        "to stderr", "raw write to fd 2", "child stderr"]
    assert "after finish: not captured" not in _lines(store_dir, run_id)


def test_a_tqdm_bar_is_stored_as_its_final_state(run_script: Any, store_dir: Path) -> None:
    code = """
        import sys, time, picidae
        from tqdm import tqdm
        run = picidae.init("bars", store=sys.argv[1], capture_console=True,
                           tqdm_mode=sys.argv[2], capture_env=False, capture_git=False)
        print("before")
        for i in tqdm(range(300), desc="train", mininterval=0, miniters=1):
            run.log(loss=1.0 / (i + 1))
        for i in tqdm(range(50), desc="eval", mininterval=0, miniters=1):
            pass
        print("after")
        run.finish()
        print(run.id)
    """
    stored = {}
    for mode in ("smart", "all", "none"):
        proc = run_script(code, str(store_dir), mode)
        assert proc.returncode == 0, proc.stderr
        assert proc.stderr.count("train:") > 300  # the terminal saw every redraw
        run_id = proc.stdout.strip().splitlines()[-1]
        # stdout and stderr are two pipes read by two threads: order holds within each.
        stored[mode] = (_lines(store_dir, run_id, "stdout"), _lines(store_dir, run_id, "stderr"))
    printed, bars = stored["smart"]
    assert printed == ["before", "after"]
    assert len(bars) == 2
    assert bars[0].startswith("train: 100%") and "300/300" in bars[0]
    assert bars[1].startswith("eval: 100%") and "50/50" in bars[1]
    assert len(stored["all"][1]) > 300
    assert stored["none"] == (["before", "after"], [])


def test_tqdm_mode_comes_from_the_environment_and_is_checked(
        store_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PICIDAE_TQDM_MODE", "sometimes")
    with pytest.raises(picidae.InvalidInput, match="PICIDAE_TQDM_MODE"):
        picidae.init("x", store=store_dir, capture_console=True)
    monkeypatch.delenv("PICIDAE_TQDM_MODE")
    with pytest.raises(picidae.InvalidInput, match="tqdm_mode"):
        picidae.init("x", store=store_dir, capture_console=True, tqdm_mode="fancy")
    assert picidae.runs(store=store_dir) == []


def test_line_splitter_modes_and_escape_codes() -> None:
    def split(data: list[bytes], mode: str) -> list[str]:
        out: list[str] = []
        splitter = LineSplitter(out.append, mode)
        for chunk in data:
            splitter.feed(chunk)
        splitter.close()
        return out

    data = [b"plain\n\x1b[32mgreen\x1b[0m\n", b"\r 10%|#", b"  |\r 50%|##", b" |\r100%|###|\n",
            "caf\xe9 ".encode()[:4], "caf\xe9 ".encode()[4:] + b"\n", b"tail"]
    assert split(data, "smart") == ["plain", "green", "100%|###|", "caf\xe9 ", "tail"]
    assert split(data, "all") == ["plain", "green", " 10%|#  |", " 50%|## |", "100%|###|",
                                  "caf\xe9 ", "tail"]
    assert split(data, "none") == ["plain", "green", "caf\xe9 ", "tail"]
    assert split([b"windows line\r\n"], "smart") == ["windows line"]


def test_logs_follow_shows_captured_lines_of_a_live_run(
        write_script: Any, child_env: dict[str, str], tmp_path: Path, store_dir: Path) -> None:
    go = tmp_path / "go"
    id_file = tmp_path / "run-id"
    script = write_script("""
        import os, sys, time, picidae
        store, id_file, go = sys.argv[1:4]
        run = picidae.init("live", store=store, capture_console=True, capture_env=False,
                           capture_git=False)
        open(id_file, "w").write(run.id)
        print("epoch 1 done", flush=True)
        os.write(1, b"from C: epoch 1\\n")
        deadline = time.time() + 60
        while not os.path.exists(go) and time.time() < deadline:
            time.sleep(0.05)
        print("epoch 2 done")
        run.finish()
    """)
    env = {**child_env, "PICIDAE_FLUSH_INTERVAL_S": "0.1"}
    trainer = subprocess.Popen([sys.executable, str(script), str(store_dir), str(id_file),
                                str(go)], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    follower = None
    try:
        deadline = time.monotonic() + 30
        while not id_file.exists() or not id_file.read_text():
            assert time.monotonic() < deadline and trainer.poll() is None, "trainer did not start"
            time.sleep(0.05)
        run_id = id_file.read_text()
        follower = subprocess.Popen([sys.executable, "-m", "picidae", "logs", run_id,
                                     "--follow", "--json", "--interval", "0.1", "--store",
                                     str(store_dir)], env=child_env, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
        assert follower.stdout is not None
        first = [json.loads(follower.stdout.readline()) for _ in range(2)]
        # Seen while the run is still live:
        assert trainer.poll() is None
        assert picidae.get_run(run_id, store=store_dir).status == "running"
        assert [(x["stream"], x["text"]) for x in first] == [("stdout", "epoch 1 done"),
                                                             ("stdout", "from C: epoch 1")]
        go.write_text("go")
        rest, err = follower.communicate(timeout=60)
        assert follower.returncode == 0, err
        assert [json.loads(x)["text"] for x in rest.splitlines()] == ["epoch 2 done"]
        assert trainer.wait(timeout=60) == 0
    finally:
        for proc in (trainer, follower):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
        if trainer.stderr is not None:
            trainer.stderr.close()
        if follower is not None:
            for stream in (follower.stdout, follower.stderr):
                if stream is not None:
                    stream.close()


def test_capture_in_process_restores_the_file_descriptors(store_dir: Path,
                                                          capfd: pytest.CaptureFixture[str],
                                                          ) -> None:
    import os

    run = picidae.init("in-process", store=store_dir, capture_console=True, capture_env=False,
                       capture_git=False)
    with pytest.raises(picidae.InvalidInput, match="already being captured"):
        picidae.init("second", store=store_dir, capture_console=True)
    # (pytest's capture replaces sys.stdout, so write to the file descriptors themselves.)
    os.write(1, b"captured line\n")
    os.write(2, b"captured error\n")
    run.finish()
    os.write(1, b"not captured\n")
    out, err = capfd.readouterr()
    assert "captured line" in out and "not captured" in out and "captured error" in err
    assert _lines(store_dir, run.id, "stdout") == ["captured line"]
    assert _lines(store_dir, run.id, "stderr") == ["captured error"]


def test_exit_without_finish_uploads_and_records_the_console(run_script: Any,
                                                            store_dir: Path,
                                                            tmp_path: Path) -> None:
    proc = run_script("""
        import sys, picidae
        store, path = sys.argv[1:3]
        open(path, "wb").write(b"last checkpoint")
        run = picidae.init("crashes", store=store, capture_console=True, capture_env=False,
                           capture_git=False)
        print(run.id, flush=True)
        run.log_artifact(path, type="checkpoint")
        print("about to crash")
        raise RuntimeError("boom")
    """, str(store_dir), str(tmp_path / "ckpt.bin"))
    assert proc.returncode == 1 and "boom" in proc.stderr
    run_id = proc.stdout.splitlines()[0]
    rv = picidae.get_run(run_id, store=store_dir)
    assert rv.status == "failed" and rv.failure["reason"] == "crash"
    assert [a["name"] for a in rv.artifacts()] == ["ckpt.bin"]
    assert "about to crash" in _lines(store_dir, run_id, "stdout")
