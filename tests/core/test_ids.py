"""Run ids and batch ids: UUIDv7 run ids sort by creation time, batch ids are UUID4 hex, and a
forked child never makes the ids its parent makes (random bytes come from a pool per
process, ``core/ids.py``)."""

from __future__ import annotations

import os
import uuid

import pytest

from picidae.core import ids


def test_run_ids_are_uuid7_in_creation_order_and_batch_ids_uuid4_hex() -> None:
    made = [ids.new_id() for _ in range(5000)]
    assert made == sorted(made) and len(set(made)) == len(made)
    for run_id in made[:50]:
        assert str(uuid.UUID(run_id)) == run_id and uuid.UUID(run_id).version == 7
    batches = {ids.batch_id() for _ in range(5000)}
    assert len(batches) == 5000
    for one in list(batches)[:50]:
        assert uuid.UUID(hex=one).hex == one and uuid.UUID(hex=one).version == 4
    assert abs(ids.id_time(ids.new_id(at=1_700_000_000.25)) - 1_700_000_000.25) < 0.001


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_makes_ids_of_its_own() -> None:
    ids.new_id()  # the parent's pool holds bytes it has not used yet
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next random bytes and ids, to the parent
        try:
            os.write(write, f"{ids.random_bytes(16).hex()} {ids.batch_id()}".encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child_bytes, child_batch = pipe.read().split()
    os.waitpid(pid, 0)
    assert ids.random_bytes(16).hex() != child_bytes
    assert ids.batch_id() != child_batch
