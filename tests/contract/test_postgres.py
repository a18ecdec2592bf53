"""What only the PostgreSQL store has: URLs, the driver extra, the migrations policy, and many
processes writing one database."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import create_engine, text

import picidae
from picidae.errors import InvalidInput, MissingDependency, StoreUnavailable
from picidae.store import registry
from picidae.store.sql.migrate import HEAD
from picidae.store.sql.postgres import mask_url, parse_url


def _sql(url: str, *statements: str) -> list[Any]:
    engine = create_engine(parse_url(url))
    try:
        with engine.begin() as conn:
            results = [conn.execute(text(s)) for s in statements]
            return [r.all() if r.returns_rows else None for r in results]
    finally:
        engine.dispose()


def _run_all(scripts: list[str], env: dict[str, str], timeout: float = 120) -> list[str]:
    """Run Python scripts as concurrent processes; their stdout, after all succeeded."""
    procs = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(s)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for s in scripts]
    outs = []
    for proc in procs:
        out, err = proc.communicate(timeout=timeout)
        assert proc.returncode == 0, err
        outs.append(out)
    return outs


# -- URLs and the driver ----------------------------------------------------------------

def test_passwords_are_masked_in_store_urls() -> None:
    assert mask_url("postgresql://bob:s3cr@t@db:5432/runs") == "postgresql://bob:***@db:5432/runs"
    assert mask_url("postgres://bob@db/runs?password=x&sslmode=require") == (
        "postgres://bob@db/runs?password=***&sslmode=require")
    assert mask_url("postgresql:///runs") == "postgresql:///runs"


def test_user_schemes_open_with_psycopg() -> None:
    for scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        parsed = parse_url(f"{scheme}://u:p@h:1/d")
        assert (parsed.drivername, parsed.host, parsed.database) == ("postgresql+psycopg",
                                                                     "h", "d")
    with pytest.raises(InvalidInput):
        parse_url("postgresql+asyncpg://h/d")


def test_missing_psycopg_names_the_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "psycopg" else real(name, *a))
    with pytest.raises(MissingDependency, match=r"pip install 'picidae\[postgres\]'"):
        picidae.init("x", store="postgresql://u@127.0.0.1/none")


def test_import_picidae_loads_no_postgresql_driver(subprocess_env: dict[str, str]) -> None:
    script = """
        import sys, picidae
        print(sorted(m for m in sys.modules if m.startswith(("psycopg", "sqlalchemy"))))
        run = picidae.init("x", capture_env=False).log(a=1.0).finish()
        picidae.get_run(run.id)
        print(sorted(m for m in sys.modules if m.startswith("psycopg")))
    """
    assert _run_all([script], subprocess_env)[0].split() == ["[]", "[]"]


def test_unreachable_server_is_store_unavailable_without_the_password() -> None:
    with pytest.raises(StoreUnavailable) as err:
        picidae.init("x", store="postgresql://u:hunter2@127.0.0.1:1/db")
    assert "hunter2" not in str(err.value) and "u:***@127.0.0.1:1" in str(err.value)


def test_store_url_is_the_users_url_with_the_password_masked(pg_url: str) -> None:
    url = parse_url(pg_url).set(password="pw")
    user_url = "postgres://" + url.render_as_string(hide_password=False).split("://", 1)[1]
    run = picidae.init("masked", store=user_url, capture_env=False)
    assert run.store.url == mask_url(user_url) and ":***@" in run.store.url
    run.finish()


# -- migrations policy -------------------------------------------------------------------

def test_empty_database_is_initialised_on_first_use(fresh_pg_url: Callable[[], str]) -> None:
    url = fresh_pg_url()
    run = picidae.init("first", store=url, capture_env=False).finish()
    assert picidae.get_run(run.id, store=url).status == "completed"
    assert _sql(url, "SELECT version_num FROM alembic_version")[0] == [(HEAD,)]


def test_client_refuses_an_outdated_schema_with_a_one_line_error(
        fresh_pg_url: Callable[[], str]) -> None:
    url = fresh_pg_url()
    picidae.init("old", store=url, capture_env=False).finish()
    registry.close_all()
    _sql(url, "UPDATE alembic_version SET version_num = '0000'")
    with pytest.raises(StoreUnavailable) as err:
        picidae.init("new", store=url)
    message = str(err.value)
    assert "\n" not in message and "picidae db upgrade" in message
    assert "0000" in message and HEAD in message
    # nothing was migrated behind the operator's back
    assert _sql(url, "SELECT version_num FROM alembic_version")[0] == [("0000",)]


def _migrate_to(url: str, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    from picidae.store.sql.migrate import MIGRATIONS

    engine = create_engine(parse_url(url))
    try:
        with engine.begin() as conn:
            cfg = Config()
            cfg.set_main_option("script_location", str(MIGRATIONS))
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    finally:
        engine.dispose()


def test_picidae_db_upgrade_brings_an_old_schema_to_head(
        fresh_pg_url: Callable[[], str]) -> None:
    from picidae.store.sql.migrate import upgrade_url

    url = fresh_pg_url()
    _migrate_to(url, "0001")
    with pytest.raises(StoreUnavailable, match="picidae db upgrade"):
        picidae.init("x", store=url)
    assert upgrade_url(url) == ("0001", HEAD)
    run = picidae.init("x", store=url, capture_env=False).log(a=1.0).finish()
    assert picidae.get_run(run.id, store=url).metric_keys() == ["a"]


def test_client_refuses_a_schema_newer_than_it_knows(fresh_pg_url: Callable[[], str]) -> None:
    url = fresh_pg_url()
    picidae.init("x", store=url, capture_env=False).finish()
    registry.close_all()
    _sql(url, "UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(StoreUnavailable, match="upgrade Picidae"):
        picidae.get_run("x", store=url)


def test_database_with_other_tables_is_refused_until_upgraded(
        fresh_pg_url: Callable[[], str]) -> None:
    from picidae.store.sql.migrate import upgrade_url

    url = fresh_pg_url()
    _sql(url, "CREATE TABLE someone_elses (x integer)")
    with pytest.raises(StoreUnavailable, match="picidae db upgrade"):
        picidae.init("x", store=url)
    assert upgrade_url(url) == (None, HEAD)
    run = picidae.init("x", store=url, capture_env=False).finish()
    assert picidae.get_run(run.id, store=url).status == "completed"


def test_processes_opening_a_new_database_at_once_migrate_it_once(
        fresh_pg_url: Callable[[], str], subprocess_env: dict[str, str]) -> None:
    url = fresh_pg_url()
    start_at = time.time() + 3  # every process imported and waiting: a real race
    script = f"""
        import time
        import picidae, picidae.store.sql.postgres, psycopg
        time.sleep(max(0.0, {start_at!r} - time.time()))
        picidae.init("opener", store={url!r}, capture_env=False).finish()
    """
    _run_all([script] * 8, subprocess_env)
    assert _sql(url, "SELECT version_num FROM alembic_version")[0] == [(HEAD,)]
    assert len(picidae.runs(store=url)) == 8


# -- many writers ------------------------------------------------------------------------

WRITER = """
    import json, time
    from array import array
    import picidae
    from picidae.errors import IllegalTransition
    from picidae.store.base import Batch, SeriesChunk
    from picidae.store.registry import open_store

    url, shared, i = {url!r}, {shared!r}, {i}
    with picidae.init(f"fleet/w{{i}}", config={{"worker": i}}, tags=["fleet"], store=url,
                      capture_env=False) as run:
        for step in range(3000):
            run.log(loss=1 / (step + 1), acc=step / 3000, step=step)
            if step % 500 == 0:
                run.log_text(f"worker {{i}} at step {{step}}")
                run.flush()
        run.child(kind="phase", capture_env=False).log(x=float(i)).finish()
        run.summary({{"worker": i}})
    store = open_store(url)
    for k in range(20):
        steps = array("q", range(k * 50, k * 50 + 50))
        store.write(shared, Batch(
            chunks=[SeriesChunk("shared", None, steps, array("d", [float(i)] * 50),
                                array("d", [time.time()] * 50))],
            summary={{f"w{{i}}": k}}, logs=[]))
        store.heartbeat(shared)
    try:
        store.transition(shared, "evaluating", expect={{"running"}}, actor=f"w{{i}}")
        won = True
    except IllegalTransition:
        won = False
    print(json.dumps({{"run": run.id, "won": won}}))
"""


@pytest.mark.slow
def test_eight_writer_processes_share_one_database(pg_url: str,
                                                   subprocess_env: dict[str, str]) -> None:
    shared = picidae.init("fleet/shared", store=pg_url, capture_env=False)
    outs = [json.loads(o) for o in _run_all(
        [WRITER.format(url=pg_url, shared=shared.id, i=i) for i in range(8)], subprocess_env)]
    assert sum(o["won"] for o in outs) == 1
    for out in outs:
        rv = picidae.get_run(out["run"], store=pg_url)
        assert rv.status == "completed" and rv.tags == ["fleet"]
        assert len(rv.metrics("loss")) == 3000 and len(rv.metrics("acc")) == 3000
        assert len(rv.logs()) == 6 and len(rv.children()) == 1
    view = picidae.get_run(shared.id, store=pg_url)
    assert view.summary == {f"w{i}": 19 for i in range(8)}  # no merge was lost
    assert len(view.metrics("shared")) == 8 * 20 * 50
    assert [t["to"] for t in view.transitions] == ["running", "evaluating"]
    assert len(picidae.runs(store=pg_url, tags=["fleet"])) == 8
    assert len(picidae.runs(store=pg_url, kind="phase")) == 8
    shared.finish()
