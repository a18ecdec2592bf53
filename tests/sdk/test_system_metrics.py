"""System metrics of in-process runs: sampled on the SDK's background thread at the configured
interval, under the worker's names, on their own step counter."""

from __future__ import annotations

import itertools
import time
from typing import Any

import pytest

import picidae

INTERVAL = 0.2


@pytest.fixture(autouse=True)
def _fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PICIDAE_SYSTEM_METRICS", "1")  # the suite turns them off elsewhere
    monkeypatch.setenv("PICIDAE_SYSTEM_INTERVAL_S", str(INTERVAL))
    monkeypatch.setenv("PICIDAE_FLUSH_INTERVAL_S", "0.02")


def _wait_for_samples(run: Any, n: int) -> Any:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        rv = picidae.get_run(run.id)
        if len(rv.metrics("system/cpu_percent")) >= n:
            return rv
        time.sleep(0.05)
    raise AssertionError(f"fewer than {n} system samples in 30 s: {rv.metric_keys()}")


def _system_keys(run: Any) -> list[str]:
    return [k for k in picidae.get_run(run.id).metric_keys() if k.startswith("system/")]


def test_a_run_gets_system_metrics_at_the_interval_without_touching_its_steps() -> None:
    run = picidae.init("sys/on")
    for value in (3.0, 2.0, 1.0):
        run.log(loss=value)
    rv = _wait_for_samples(run, 3)
    run.finish()

    keys = set(rv.metric_keys())
    assert {"system/cpu_percent", "system/memory_mb", "system/system_memory_percent"} <= keys
    cpu = rv.metrics("system/cpu_percent")
    assert [p.step for p in cpu] == list(range(len(cpu)))
    assert all(b.time - a.time >= INTERVAL * 0.9 for a, b in itertools.pairwise(cpu))
    assert all(p.value > 0 for p in rv.metrics("system/memory_mb"))
    assert [(p.step, p.value) for p in rv.metrics("loss")] == [(0, 3.0), (1, 2.0), (2, 1.0)]
    final = len(picidae.get_run(run.id).metrics("system/cpu_percent"))
    time.sleep(INTERVAL * 3)
    assert len(picidae.get_run(run.id).metrics("system/cpu_percent")) == final


@pytest.mark.parametrize("how", ["argument", "environment"])
def test_system_metrics_can_be_turned_off(how: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if how == "environment":
        monkeypatch.setenv("PICIDAE_SYSTEM_METRICS", "0")
        run = picidae.init("sys/off")
    else:
        run = picidae.init("sys/off", system_metrics=False)
    on = picidae.init("sys/witness", system_metrics=True)  # sampled meanwhile: the writer ran
    _wait_for_samples(on, 3)
    assert _system_keys(run) == []
    run.finish()
    on.finish()


def test_children_in_the_same_process_are_not_sampled_again() -> None:
    parent = picidae.init("sys/parent")
    child = parent.child("seed-1")
    _wait_for_samples(parent, 3)
    assert _system_keys(child) == []
    child.finish()
    parent.finish()


def test_system_metrics_are_on_unless_the_environment_says_otherwise(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from picidae.settings import settings

    monkeypatch.delenv("PICIDAE_SYSTEM_METRICS")
    assert settings().system_metrics is True
    assert settings().system_interval_s == INTERVAL
    monkeypatch.delenv("PICIDAE_SYSTEM_INTERVAL_S")
    assert settings().system_interval_s == 10.0
    for off in ("0", "false", "no", "off"):
        monkeypatch.setenv("PICIDAE_SYSTEM_METRICS", off)
        assert settings().system_metrics is False


def test_a_sample_due_while_the_run_ends_is_not_taken() -> None:
    """The writer thread samples while the main thread finishes: a sample appended after
    finish took its last batch went out to an ended run, was refused, and the SDK warned
    "has ended and takes no more writes; dropping ... (7 metric points)" (seen in the server
    soak, issue 17)."""
    from picidae.sdk import system

    run = picidae.init("sys/ending")
    monitor = system._monitors[run.id]
    monitor.sample(time.monotonic())  # primed: the next call has values
    before = len(run._points)
    run._ending = True  # what finish() sets before it takes the last batch
    monitor.record(run, time.monotonic())
    assert len(run._points) == before
    run._ending = False
    run.finish()
