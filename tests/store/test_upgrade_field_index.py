"""Migration 0012 on a store with runs in it: ``run_fields.created_at`` is filled from the
runs, the field index is replaced, and a page sorted by a config or summary key (read from
that index) is what it was — on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, insert, inspect, select

from picidae.core.ids import new_id
from picidae.core.order import parse_order_by
from picidae.store import registry
from picidae.store.base import RunQuery
from picidae.store.sql import query
from picidae.store.sql.base import dumps
from picidae.store.sql.migrate import HEAD, upgrade_url
from picidae.store.sql.tables import run_fields, runs

T0 = 1_790_000_000.0


@pytest.fixture
def old_store(blank_store: Any) -> str:
    """A store at revision 0011 (before ``run_fields.created_at``) holding 30 runs."""
    with blank_store.engine.begin() as conn:
        blank_store.alembic("upgrade", "0011", conn)
        for i in range(30):
            run_id = new_id(at=T0 + i)
            conn.execute(insert(runs), {
                "id": run_id, "workspace": "default", "name": f"old/{i}",
                "root_id": run_id, "status": "completed", "attempt": 1,
                "created_at": T0 + (i % 7), "data": dumps({"config": {}, "summary": {}})})
            conn.execute(insert(run_fields), [  # the old columns only
                {"run_id": run_id, "section": "config", "key": "lr",
                 "num": (0.1, 0.01, 0.001)[i % 3], "text": None},
                {"run_id": run_id, "section": "summary", "key": "acc",
                 "num": i / 30, "text": None}])
    return str(blank_store.url)


def _query(order: str, offset: int) -> RunQuery:
    return RunQuery(order_by=parse_order_by(order), limit=5, offset=offset,
                    workspace="default")


def test_upgrading_a_store_with_runs_fills_created_at_and_keeps_field_sorts(
        old_store: str, monkeypatch: pytest.MonkeyPatch) -> None:
    before, after = upgrade_url(old_store)
    assert (before, after) == ("0011", HEAD)
    store = registry.open_store(old_store)
    with store._tx() as conn:
        mismatched = conn.execute(select(func.count()).select_from(run_fields).join(
            runs, runs.c.id == run_fields.c.run_id).where(
                run_fields.c.created_at.is_distinct_from(runs.c.created_at))).scalar_one()
        assert mismatched == 0
        names = {ix["name"] for ix in inspect(conn).get_indexes("run_fields")}
        assert "ix_run_fields_section_key_num_created_at_run_id" in names
        assert "ix_run_fields_section_key_num" not in names
    monkeypatch.setattr(query, "WALK_SAMPLE", 5)
    for order in ("config.lr desc", "config.lr asc", "summary.acc desc"):
        for offset in (0, 8, 12):
            q = _query(order, offset)
            with store._tx() as conn:  # the one-statement form, and the index walk
                expected = [r.id for r in conn.execute(query.list_statement(q))]
                assert query._field_key(q) is not None
                assert query._FieldWalk(q, query._field_key(q), T0).page(conn) == expected
            assert [r["id"] for r in store.list_runs(q)] == expected, (order, offset)
