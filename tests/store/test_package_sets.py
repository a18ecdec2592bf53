"""Package sets stored once (migration 0013): a run written before the migration (its
packages inside its document) and one written after read back exactly as they were written,
on SQLite and PostgreSQL; runs share one stored set; a batch's new environment is stored the
same way; a downgrade puts every document back as it was."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import Engine, func, insert, select

from picidae.core.record import new_record
from picidae.core.run import COLUMN_FIELDS, DATA_FIELDS, data_default
from picidae.store import registry
from picidae.store.base import Batch, RunQuery
from picidae.store.sql.base import dumps
from picidae.store.sql.migrate import HEAD, upgrade_url
from picidae.store.sql.tables import package_sets, runs

PACKAGES = {f"pkg-{i:03d}": f"{i}.0.{i % 7}" for i in range(200)}


def _env(packages: Any = PACKAGES) -> dict[str, Any]:
    # ``packages`` between other keys: the record keeps the order it was written in.
    return {"python": "3.11.7", "packages": packages, "hostname": "box", "cpu_count": 2}


@pytest.fixture
def old(blank_store: Any) -> tuple[str, Engine]:
    """A store's URL and engine, the store at revision 0012 (before package sets)."""
    blank_store.alembic("upgrade", "0012")
    return blank_store.url, blank_store.engine


def _old_row(record: dict[str, Any]) -> dict[str, Any]:
    """The ``runs`` row of ``record`` as the store wrote it before 0013."""
    row = {name: record.get(name) for name in COLUMN_FIELDS}
    row.update(workspace="default", attempt=1,
               data=dumps(_doc(record)))
    return row


def _doc(record: dict[str, Any]) -> dict[str, Any]:
    return {name: record[name] if name in record else data_default(name)
            for name in DATA_FIELDS}


def _raw(engine: Engine) -> dict[str, tuple[str, str | None]]:
    with engine.connect() as conn:
        return {r.id: (r.data, r.packages_digest)
                for r in conn.execute(select(runs.c.id, runs.c.data, runs.c.packages_digest))}


def _same(got: dict[str, Any], record: dict[str, Any]) -> None:
    for name, value in _doc(record).items():
        assert got[name] == value, name
    assert json.dumps(got["env"]) == json.dumps(record["env"])  # order kept too


def test_old_and_new_runs_read_back_as_written(old: tuple[str, Engine],
                                               blank_store: Any) -> None:
    url, engine = old
    shared = new_record("old/shared", env=_env(), config={"lr": 0.1}, tags=["a"])
    other = new_record("old/other", env=_env({"only": "1.0"}))
    bare = new_record("old/bare")  # no environment captured
    odd = new_record("old/odd", env=_env("not a dict"))  # left in the document
    with engine.begin() as conn:
        for rec in (shared, other, bare, odd):
            conn.execute(insert(runs), _old_row(rec))
    with engine.connect() as conn:
        before = {r.id: r.data for r in conn.execute(select(runs.c.id, runs.c.data))}

    assert upgrade_url(url) == ("0012", HEAD)
    raw = _raw(engine)
    assert "pkg-001" not in raw[shared["id"]][0]  # moved out of the document
    assert raw[bare["id"]] == (before[bare["id"]], None)
    assert raw[odd["id"]] == (before[odd["id"]], None)
    store = registry.open_store(url)
    for rec in (shared, other, bare, odd):
        _same(store.get_run(rec["id"]), rec)
    listed = {r["id"]: r for r in store.list_runs(RunQuery(workspace="default"))}
    for rec in (shared, other, bare, odd):
        _same(listed[rec["id"]], rec)

    # A new run with the same packages shares the stored set; what create_run returns is
    # what a read gives.
    new = new_record("new/one", env=_env(), config={"lr": 0.2})
    created = store.create_run(new)
    _same(created, new)
    _same(store.get_run(new["id"]), new)
    assert _raw(engine)[new["id"]][1] == _raw(engine)[shared["id"]][1]
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(package_sets)).scalar() == 2

    # A batch replacing the environment (the SDK's late package capture), then a finish.
    late = new_record("new/late", env={"python": "3.11.7"})
    store.create_run(late)
    assert _raw(engine)[late["id"]][1] is None
    env = {"python": "3.11.7", "packages": dict(PACKAGES, extra="2")}
    store.write(late["id"], Batch(fields={"env": env}, summary={"acc": 0.5}))
    assert store.get_run(late["id"])["env"] == env
    assert "extra" not in _raw(engine)[late["id"]][0]
    store.write(late["id"], Batch(fields={"env": {"python": "3.12"}}))  # packages gone
    assert store.get_run(late["id"])["env"] == {"python": "3.12"}
    assert _raw(engine)[late["id"]][1] is None
    done = store.transition(new["id"], "completed")
    _same(done, new)
    _same(store.get_run(new["id"]), new)

    # Downgraded, every document holds its packages again; the old ones exactly as before.
    registry.close_all()
    blank_store.alembic("downgrade", "0012")
    with engine.connect() as conn:
        docs = {r.id: r.data for r in conn.execute(select(runs.c.id, runs.c.data))}
    for rec in (shared, other, bare, odd):
        assert docs[rec["id"]] == before[rec["id"]]
    assert json.loads(docs[new["id"]])["env"] == new["env"]


def test_sets_equal_but_for_order_or_value_type_are_stored_apart(
        old: tuple[str, Engine]) -> None:
    """The last set's digest is reused only for the same names and versions in the same
    order: a reordered set, or one whose versions are numbers, is its own set and reads back
    as written."""
    url, engine = old
    upgrade_url(url)
    store = registry.open_store(url)
    strings = {"a": "1", "b": "2"}
    records = [new_record(f"set/{i}", env=_env(packages))
               for i, packages in enumerate([strings, {"b": "2", "a": "1"}, dict(strings),
                                             {"a": 1, "b": 2}, {"a": 1.0, "b": 2}])]
    for rec in records:
        store.create_run(rec)
    for rec in records:
        _same(store.get_run(rec["id"]), rec)
    digests = [_raw(engine)[rec["id"]][1] for rec in records]
    assert digests[0] == digests[2]
    assert len({digests[0], digests[1], digests[3], digests[4]}) == 4


def test_the_same_packages_in_another_order_read_back_in_their_own_order(
        store_dir: Any) -> None:
    store = registry.open_store(str(store_dir))
    forward = dict(PACKAGES)
    backward = dict(reversed(PACKAGES.items()))
    for packages in (forward, backward, forward, dict(forward, extra="1")):
        rec = new_record("order", env=_env(dict(packages)))
        made = store.create_run(rec)
        assert list(made["env"]["packages"].items()) == list(packages.items())
        assert list(store.get_run(rec["id"])["env"]["packages"].items()) \
            == list(packages.items())
