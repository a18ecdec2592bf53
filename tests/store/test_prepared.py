"""``Prepared`` statements on SQLite: the parameters the driver gets, rows read back."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import (
    Column,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    bindparam,
    create_engine,
    insert,
    select,
)
from sqlalchemy.exc import IntegrityError

from picidae.store.sql.prepared import Prepared

_meta = MetaData()
_things = Table("things", _meta, Column("id", String, primary_key=True),
                Column("n", Integer), Column("x", Float), Column("blob", LargeBinary))


def test_parameters_go_through_their_types_and_rows_come_back(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 't.db'}")
    _meta.create_all(engine)
    put = Prepared(insert(_things))
    one = Prepared(select(_things.c.id).where(_things.c.id == bindparam("b_id")))
    row = Prepared(select(_things).where(_things.c.id == bindparam("b_id")))
    with engine.begin() as conn:
        put.run(conn, {"id": "a", "n": 1, "x": 2, "blob": memoryview(b"\x00z")})
        put.run(conn, [{"id": "b", "n": None, "x": None, "blob": None},
                       {"id": "c", "n": 3, "x": 0.5, "blob": b"c"}])
        assert put.rowcount(conn, {"id": "d"}) == 1  # one parameter alone
        assert one.first(conn, {"b_id": "c"}) == ("c",)
        got = row.row(conn, {"b_id": "a"})
        assert row.row(conn, {"b_id": "zz"}) is None
        with pytest.raises(IntegrityError):
            put.run(conn, {"id": "a"})
    assert (got.id, got.n, got.blob) == ("a", 1, b"\x00z")
    assert got.x == 2.0 and isinstance(got.x, float)
    assert got._mapping == {"id": "a", "n": 1, "x": 2.0, "blob": b"\x00z"}
    with pytest.raises(AttributeError):
        _ = got.missing
    with engine.connect() as conn:
        rows = conn.execute(select(_things).order_by(_things.c.id)).all()
    assert [tuple(r) for r in rows] == [("a", 1, 2.0, b"\x00z"), ("b", None, None, None),
                                        ("c", 3, 0.5, b"c"), ("d", None, None, None)]
    engine.dispose()
