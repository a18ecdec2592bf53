"""Deleting runs for good on a SQL store, and finding the artifact blobs that frees.

Blobs are content-addressed and shared: a blob is only reported for deletion when, after the
runs are gone, no artifact row of any run (in any workspace: workspaces share an artifact
store) and no recorded input of any run names its digest any more.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from picidae.store.sql.tables import artifacts, run_io, runs

if TYPE_CHECKING:
    from picidae.store.sql.store import SqlStore

_CHUNK = 500


def purge(store: SqlStore, run_ids: list[str]) -> dict[str, Any]:
    """Delete ``run_ids`` (of the store's workspace; unknown ids are ignored) with everything
    they own, in one transaction. Returns ``{"deleted": ids, "blobs": [{digest, location}]}``:
    the blobs no remaining run references, for the caller to remove from artifact storage."""
    ids = sorted(set(run_ids))
    if not ids:
        return {"deleted": [], "blobs": []}
    with store._tx(write=True) as conn:
        found = [r.id for r in conn.execute(
            select(runs.c.id).where(runs.c.id.in_(ids), runs.c.workspace == store.workspace)
            .order_by(runs.c.id).with_for_update())]
        held: dict[str, str | None] = {}
        for lo in range(0, len(found), _CHUNK):
            for r in conn.execute(select(artifacts.c.digest, artifacts.c.location)
                                  .where(artifacts.c.run_id.in_(found[lo:lo + _CHUNK]))):
                if held.get(r.digest) is None:
                    held[r.digest] = r.location
        store._delete_rows(conn, found)
        digests = sorted(held)
        used: set[str] = set()
        for lo in range(0, len(digests), _CHUNK):
            part = digests[lo:lo + _CHUNK]
            used.update(conn.execute(select(artifacts.c.digest).where(
                artifacts.c.digest.in_(part)).distinct()).scalars())
            used.update(conn.execute(select(run_io.c.digest).where(
                run_io.c.digest.in_(part)).distinct()).scalars())
    return {"deleted": found,
            "blobs": [{"digest": d, "location": held[d]} for d in digests if d not in used]}

