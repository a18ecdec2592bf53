"""The HTTP client store never imports SQLAlchemy: a program that records and reads runs
through a server loads none of the SQL stores' code (checked in a fresh interpreter)."""

from __future__ import annotations

import json
from typing import Any

SQL_MODULES = ("sqlalchemy", "alembic", "psycopg", "picidae.store.sql")


def test_listing_runs_through_a_server_loads_no_sqlalchemy(server: Any, run_script: Any) -> None:
    proc = run_script(f"""
        import json, sys
        import picidae
        found = picidae.runs(store=sys.argv[1], order_by="created_at desc", limit=5)
        loaded = sorted(m for m in sys.modules if m.startswith({SQL_MODULES!r}))
        print(json.dumps({{"runs": len(found), "loaded": loaded}}))
    """, server.url)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"runs": 0, "loaded": []}


def test_recording_and_reading_through_a_server_loads_no_sqlalchemy(
        server: Any, run_script: Any) -> None:
    proc = run_script(f"""
        import json, sys
        import picidae
        url = sys.argv[1]
        with picidae.init("light/http", store=url, config={{"lr": 0.1}}) as run:
            run.log(loss=0.5)
            run.summary({{"best": 1.0}})
            print("hello")
        view = picidae.get_run(run.id, store=url)
        listed = picidae.runs(store=url, where="config.lr = 0.1", order_by="metrics.loss")
        history = picidae.history(store=url)
        events = list(picidae.events(store=url, since=0, run_id=run.id, timeout=0.5))
        loaded = sorted(m for m in sys.modules if m.startswith({SQL_MODULES!r}))
        print(json.dumps({{"status": view.status, "listed": [r.id for r in listed],
                          "runs": history["total"]["runs"], "events": len(events) > 0,
                          "id": run.id, "loaded": loaded}}))
    """, server.url)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout.splitlines()[-1])
    assert got["loaded"] == []
    assert got["status"] == "completed" and got["listed"] == [got["id"]]
    assert got["runs"] == 1 and got["events"]
