"""``WriteTurns``: the embedded store's writers of one process take the write lock in turn,
an urgent one (the server's heartbeat writer) first, and a thread may nest writes."""

from __future__ import annotations

import threading
import time

from picidae.store.sql.sqlite import SqliteStore, WriteTurns


def _queued(turns: WriteTurns, n: int) -> None:
    deadline = time.monotonic() + 5
    while len(turns._waiting) + len(turns._urgent) < n:
        assert time.monotonic() < deadline, "a writer never queued"
        time.sleep(0.001)


def test_writers_take_turns_in_order_urgent_first() -> None:
    turns = WriteTurns()
    order: list[str] = []

    def write(name: str, urgent: bool = False) -> None:
        with turns.turn(urgent):
            order.append(name)

    threads = []
    with turns.turn():
        with turns.turn():  # nested in the same thread: no wait
            order.append("first")
        for i, (name, urgent) in enumerate((("b", False), ("c", False), ("beats", True))):
            threads.append(threading.Thread(target=write, args=(name, urgent)))
            threads[-1].start()
            _queued(turns, i + 1)
    for t in threads:
        t.join(5)
    assert order == ["first", "beats", "b", "c"]
    with turns.turn():  # free again
        pass
    assert turns._owner is None


def test_a_failed_write_gives_its_turn_back(store: SqliteStore) -> None:
    try:
        with store._tx(write=True) as conn:
            conn.exec_driver_sql("SELECT no_such_column FROM runs")
    except Exception:
        pass
    done = threading.Event()

    def other() -> None:
        with store._tx(write=True):
            done.set()

    t = threading.Thread(target=other)
    t.start()
    t.join(5)
    assert done.is_set()


def test_a_forked_child_can_write_while_the_parent_held_the_turn(tmp_path) -> None:
    """A process that forks while one of its threads holds the write turn (a flush in
    progress: e.g. a DataLoader's workers) leaves a child whose own writes go ahead; without
    the reset the child would wait forever for a thread it does not have."""
    import os
    import signal

    store = SqliteStore(tmp_path / "store")
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with store._writer.turn():
            holding.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(10)
    pid = os.fork()
    if pid == 0:  # the child: one write turn, then exit 0
        try:
            with store._writer.turn():
                pass
            os._exit(0)
        except BaseException:
            os._exit(2)
    try:
        deadline = time.monotonic() + 30
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                raise AssertionError("the forked child never got its write turn")
            time.sleep(0.01)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        release.set()
        holder.join(10)
