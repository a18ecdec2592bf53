"""The gap-safe events reader: an event whose transaction commits late is never skipped."""

from __future__ import annotations

from collections import namedtuple
from typing import Any

from picidae.store.sql.event_log import EventReader

Row = namedtuple("Row", "id workspace run_id type at payload")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class FakeStore:
    workspace = "default"


def rows(*ids: int, workspace: str = "default", run_id: str = "r") -> list[Any]:
    return [Row(i, workspace, run_id, "run.transition", 0.0, "{}") for i in ids]


def reader(after: int = 0, **kwargs: Any) -> tuple[EventReader, Clock]:
    clock = Clock()
    return EventReader(FakeStore(), after, clock=clock, **kwargs), clock


def test_events_after_a_gap_wait_until_the_gap_fills() -> None:
    r, clock = reader()
    assert [e["id"] for e in r.take(rows(1, 3, 4))] == [1]
    assert r.holding and r.cursor == 1
    clock.now += 0.5
    assert r.take(rows(3, 4)) == [] and r.holding  # 2 has still not committed
    assert [e["id"] for e in r.take(rows(2, 3, 4))] == [2, 3, 4]  # it did: all, in order
    assert not r.holding and r.cursor == 4


def test_a_gap_that_never_fills_is_passed_after_the_hold() -> None:
    r, clock = reader(after=10, hold_s=2.0)
    assert r.take(rows(12)) == []
    clock.now += 1.9
    assert r.take(rows(12)) == []
    clock.now += 0.2  # 11 rolled back (or committed far too late): move on
    assert [e["id"] for e in r.take(rows(12, 14))] == [12]
    assert r.holding  # 13 is a new gap, with its own wait
    clock.now += 2.1
    assert [e["id"] for e in r.take(rows(14))] == [14]


def test_a_partly_filled_gap_keeps_its_first_deadline() -> None:
    r, clock = reader()
    assert r.take(rows(4)) == []          # 1, 2, 3 missing
    clock.now += 1.5
    assert [e["id"] for e in r.take(rows(1, 4))] == [1]
    clock.now += 0.6                       # 2.1 s since 2 and 3 were first missed
    assert [e["id"] for e in r.take(rows(4))] == [4]


def test_other_workspaces_fill_gaps_but_are_not_delivered() -> None:
    r, _ = reader()
    mixed = rows(1) + rows(2, workspace="lab-b") + rows(3)
    assert [e["id"] for e in r.take(mixed)] == [1, 3]
    assert r.cursor == 3 and not r.holding


def test_a_run_filter_keeps_one_runs_events() -> None:
    r, _ = reader(run_id="a")
    got = r.take(rows(1, run_id="a") + rows(2, run_id="b") + rows(3, run_id="a"))
    assert [e["id"] for e in got] == [1, 3] and r.cursor == 3
