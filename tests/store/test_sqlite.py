"""The embedded SQLite store: its file, its schema version, batches, metrics and logs."""

from __future__ import annotations

import math
import sqlite3
import time
from array import array
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from picidae.core.run import LogLine
from picidae.errors import InvalidInput, StoreUnavailable
from picidae.store import registry
from picidae.store.base import Batch, RunQuery, SeriesChunk, Store
from picidae.store.sql import migrate
from picidae.store.sql.sqlite import SqliteStore
from picidae.store.sql.tables import metadata

MakeRun = Callable[..., dict[str, Any]]


def _chunk(key: str, steps: list[int], values: list[float], stage: str | None = None,
           ) -> SeriesChunk:
    now = time.time()
    return SeriesChunk(key, stage, array("q", steps), array("d", values),
                       array("d", [now] * len(steps)))


def test_migrate_head_is_the_alembic_head_revision() -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrate.MIGRATIONS))
    script = ScriptDirectory.from_config(cfg)
    assert script.get_heads() == [migrate.HEAD]
    versions = Path(migrate.MIGRATIONS, "versions")
    assert versions.is_dir() and any(versions.glob("*.py"))


@pytest.mark.filterwarnings(
    "ignore:Skipped unsupported reflection of expression-based index ix_runs_workspace_duration")
@pytest.mark.filterwarnings(
    "ignore:autogenerate skipping metadata-specified expression-based index "
    "'ix_runs_workspace_duration'")
def test_migrations_build_exactly_the_schema_the_tables_module_defines(
        store: SqliteStore) -> None:
    with store.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
        # Reflection skips expression indexes (above): this one is checked by its SQL.
        sql = conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE name = "
                                   "'ix_runs_workspace_duration'").scalar()
        assert sql is not None and "(ended_at - started_at)" in sql


def test_new_store_is_a_wal_sqlite_file_at_the_head_revision(store: SqliteStore,
                                                            store_dir: Path) -> None:
    assert store.db_path == store_dir / "picidae.db"
    with sqlite3.connect(store.db_path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [
            (migrate.HEAD,)]
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_store_satisfies_the_store_protocol(store: SqliteStore) -> None:
    assert isinstance(store, Store)


def test_reopening_a_store_keeps_its_runs(store_dir: Path, new_run: MakeRun) -> None:
    run_id = new_run()["id"]
    registry.close_all()
    again = registry.open_store(store_dir)
    assert again.get_run(run_id)["id"] == run_id


def test_store_location_from_env_folder_db_file_and_sqlite_url(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PICIDAE_STORE", str(tmp_path / "from-env"))
    assert registry.open_store().db_path == tmp_path / "from-env" / "picidae.db"
    monkeypatch.delenv("PICIDAE_STORE")
    assert registry.open_store().db_path == tmp_path / "home" / "picidae.db"
    assert registry.open_store(tmp_path / "x.db").db_path == tmp_path / "x.db"
    assert registry.open_store(f"sqlite:///{tmp_path}/y.sqlite").db_path == tmp_path / "y.sqlite"
    assert registry.open_store(str(tmp_path / "from-env")) is registry.open_store(
        tmp_path / "from-env")


def test_a_store_path_names_where_it_leads_now(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    # registry remembers what a path string resolved to; a changed working folder or a
    # retargeted symbolic link must still lead to the store they name now.
    for name in ("a", "b"):
        (tmp_path / name / "s").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "a")
    assert registry.resolve("s") == str(tmp_path / "a" / "s")
    monkeypatch.chdir(tmp_path / "b")
    assert registry.resolve("s") == str(tmp_path / "b" / "s")
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "a" / "s")
    assert registry.open_store(str(link)).db_path == tmp_path / "a" / "s" / "picidae.db"
    link.unlink()
    link.symlink_to(tmp_path / "b" / "s")
    assert registry.open_store(str(link)).db_path == tmp_path / "b" / "s" / "picidae.db"
    (tmp_path / "b" / "s").rename(tmp_path / "b" / "old")
    (tmp_path / "b" / "s").mkdir()  # a new folder where the old one was: resolved anew
    assert registry.resolve(str(link)) == str(tmp_path / "b" / "s")


def test_store_under_a_file_is_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    with pytest.raises(StoreUnavailable) as info:
        registry.open_store(blocker / "store")
    assert str(blocker) in str(info.value)


def test_unknown_store_scheme_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="ftp"):
        registry.open_store("ftp://example.com/runs")


def test_batch_write_stores_points_logs_merges_and_fields(store: SqliteStore,
                                                         new_run: MakeRun) -> None:
    run_id = new_run(config={"opt": {"lr": 0.1}}, summary={"a": 1})["id"]
    store.write(run_id, Batch(
        chunks=[_chunk("loss", [0, 1, 2], [3.0, 2.0, 1.0], "train")],
        logs=[LogLine(time.time(), "log", "hello")],
        config={"opt": {"momentum": 0.9}}, summary={"b": {"c": 2}},
        outputs={"answer": 42}, fields={"progress": {"fraction": 0.5, "message": None}}))
    rec = store.get_run(run_id)
    assert rec["config"] == {"opt": {"lr": 0.1, "momentum": 0.9}}
    assert rec["summary"] == {"a": 1, "b": {"c": 2}}
    assert rec["outputs"] == {"answer": 42}
    assert rec["progress"]["fraction"] == 0.5
    assert [(p.step, p.value, p.stage) for p in store.metrics(run_id, "loss")] == [
        (0, 3.0, "train"), (1, 2.0, "train"), (2, 1.0, "train")]
    assert [ln.text for ln in store.logs(run_id)] == ["hello"]


def test_points_written_out_of_order_read_back_in_step_order(store: SqliteStore,
                                                             new_run: MakeRun) -> None:
    run_id = new_run()["id"]
    store.write(run_id, Batch(chunks=[_chunk("acc", [10, 11], [0.10, 0.11])]))
    store.write(run_id, Batch(chunks=[_chunk("acc", [5, 3], [0.05, 0.03])]))
    series = store.metrics(run_id, "acc")
    assert series.steps == [3, 5, 10, 11]
    assert series.values == [0.03, 0.05, 0.10, 0.11]
    # The latest value is the highest step's, not the last written.
    assert store.latest_metrics([run_id]) == {run_id: {"acc": 0.11}}


def test_nan_and_infinities_survive_storage(store: SqliteStore, new_run: MakeRun) -> None:
    run_id = new_run()["id"]
    store.write(run_id, Batch(chunks=[_chunk("x", [0, 1, 2], [math.inf, -math.inf, math.nan])],
                              summary={"score": math.nan}))
    values = store.metrics(run_id, "x").values
    assert values[0] == math.inf and values[1] == -math.inf and math.isnan(values[2])
    assert math.isnan(store.latest_metrics([run_id])[run_id]["x"])
    assert math.isnan(store.get_run(run_id)["summary"]["score"])


def test_logs_page_by_offset_and_limit(store: SqliteStore, new_run: MakeRun) -> None:
    run_id = new_run()["id"]
    store.write(run_id, Batch(logs=[LogLine(time.time(), "log", f"line {i}")
                                    for i in range(10)]))
    assert [ln.text for ln in store.logs(run_id, 7)] == ["line 7", "line 8", "line 9"]
    assert [ln.text for ln in store.logs(run_id, 2, 2)] == ["line 2", "line 3"]


def test_deleting_runs_removes_them_and_their_points(store: SqliteStore,
                                                     new_run: MakeRun) -> None:
    keep, gone = new_run()["id"], new_run()["id"]
    for run_id in (keep, gone):
        store.write(run_id, Batch(chunks=[_chunk("x", [0], [1.0])],
                                  logs=[LogLine(time.time(), "log", "l")]))
    assert store.delete_runs([gone, "unknown"]) == [gone]
    assert [r["id"] for r in store.list_runs(RunQuery())] == [keep]
    assert len(store.metrics(gone, "x")) == 0 and store.logs(gone) == []
    assert len(store.metrics(keep, "x")) == 1


def test_creating_a_run_with_an_existing_id_is_refused(store: SqliteStore,
                                                       new_run: MakeRun) -> None:
    rec = new_run()
    with pytest.raises(InvalidInput, match="exists"):
        new_run(id=rec["id"])
