"""``picidae mcp`` as an agent meets it: the ``mcp`` SDK's own clients (stdio and streamable
HTTP) talking to a real ``picidae mcp`` process over a store with known runs."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

import picidae
from processes import ServerProcess, free_port

pytest.importorskip("mcp")

import anyio
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

READ = {"list_runs", "get_run", "get_metrics", "get_logs", "compare_runs", "run_history",
        "get_lineage"}
WRITE = {"submit_run", "cancel_run", "replay_run", "edit_run"}


@pytest.fixture
def known(tmp_path: Path) -> dict[str, Any]:
    """A store with two ended runs (one with 500 loss points and 300 log lines) and a
    replay of the first."""
    store = str(tmp_path / "store")
    good = picidae.init("mnist/good", store=store, config={"lr": 0.1}, tags=["baseline"])
    for step in range(500):
        good.log(loss=1.0 / (step + 1), step=step)
    for i in range(300):
        good.log_text(f"epoch line {i}")
    good.summary({"acc": 0.97})
    good.finish()
    bad = picidae.init("mnist/bad", store=store, config={"lr": 10.0})
    bad.log(loss=float("nan"), step=0)
    bad.fail(reason="error", message="loss diverged")
    replayed = picidae.replay(good.id, {"lr": 0.05}, store=store)
    return {"store": store, "good": good.id, "bad": bad.id, "replay": replayed.id}


def _mcp_args(store: str, *extra: str) -> list[str]:
    return ["-m", "picidae", "mcp", "--store", store, *extra]


def _over_stdio(env: dict[str, str], args: list[str],
                body: Callable[[ClientSession], Awaitable[None]]) -> None:
    async def main() -> None:
        params = StdioServerParameters(command=sys.executable, args=args, env=env)
        with (Path(env["PICIDAE_HOME"]).parent / "mcp-stderr.txt").open("w") as errlog:
            async with stdio_client(params, errlog=errlog) as (read, write), \
                    ClientSession(read, write) as session:
                await session.initialize()
                await body(session)
    anyio.run(main)


async def _call(session: ClientSession, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await session.call_tool(tool, arguments)
    text = result.content[0].text  # type: ignore[union-attr]
    assert not result.is_error, text
    data: dict[str, Any] = json.loads(text)
    assert data == result.structured_content
    return data


async def _error(session: ClientSession, tool: str, **arguments: Any) -> str:
    result = await session.call_tool(tool, arguments)
    assert result.is_error
    return str(result.content[0].text)  # type: ignore[union-attr]


async def _tool_names(session: ClientSession) -> set[str]:
    listed = await session.list_tools()
    for tool in listed.tools:
        assert tool.description and len(tool.description) > 40, tool.name
        assert tool.input_schema["type"] == "object"
    return {t.name for t in listed.tools}


def test_read_tools_over_stdio(known: dict[str, Any], subprocess_env: dict[str, str]) -> None:
    good, bad = known["good"], known["bad"]

    async def body(s: ClientSession) -> None:
        assert await _tool_names(s) == READ  # read-only by default

        listed = await _call(s, "list_runs", where='status = "completed"')
        assert [r["id"] for r in listed["runs"]] == [good]
        run = listed["runs"][0]
        assert run["metrics"]["loss"] == pytest.approx(1 / 500)
        assert run["summary"] == {"acc": 0.97} and run["tags"] == ["baseline"]
        ordered = await _call(s, "list_runs", order_by="config.lr desc", limit=2)
        assert [r["id"] for r in ordered["runs"]] == [bad, good] and ordered["more"] is True

        rec = await _call(s, "get_run", run_id=bad)
        assert rec["status"] == "failed" and rec["failure"]["message"] == "loss diverged"
        assert [t["to"] for t in rec["transitions"]] == ["running", "failed"]

        keys = await _call(s, "get_metrics", run_id=good)
        assert keys["keys"] == ["loss"]
        curve = await _call(s, "get_metrics", run_id=good, key="loss", max_points=50)
        assert curve["points"] == 500 and curve["returned"] <= 50
        assert len(curve["steps"]) == len(curve["values"]) == curve["returned"]
        assert curve["max"] == 1.0 and curve["last"] == {"step": 499, "value": 1 / 500}

        logs = await _call(s, "get_logs", run_id=good, tail=5)
        assert logs["lines"] == 300 and logs["returned"] == 5
        assert logs["log"].splitlines() == [f"epoch line {i}" for i in range(295, 300)]

        diff = await _call(s, "compare_runs", run_ids=[good, bad])
        assert any(row["key"] == "lr" for row in diff["sections"]["config"])

        history = await _call(s, "run_history")
        assert history["total"]["statuses"] == {"completed": 1, "failed": 1, "queued": 1}

        lineage = await _call(s, "get_lineage", run_id=good)
        assert {n["id"] for n in lineage["nodes"]} >= {good, known["replay"]}

        # Bad arguments are tool errors carrying Picidae's message; the server carries on.
        assert "unknown field 'stauts'" in await _error(s, "list_runs", where="stauts = 1")
        assert "no run with id 'nope'" in await _error(s, "get_run", run_id="nope")
        assert "has no metric 'acc'" in await _error(s, "get_metrics", run_id=good, key="acc")
        assert "limit" in await _error(s, "list_runs", limit="many")
        assert "tail" in await _error(s, "get_logs", run_id=good, tail=0)
        assert "run_ids" in await _error(s, "compare_runs", run_ids=[good])
        assert "submit_run" in await _error(s, "submit_run", command="echo hi")
        assert (await _call(s, "get_run", run_id=good))["id"] == good

    _over_stdio(subprocess_env, _mcp_args(known["store"]), body)


def test_write_tools_need_allow_write(known: dict[str, Any],
                                      subprocess_env: dict[str, str]) -> None:
    good = known["good"]

    async def body(s: ClientSession) -> None:
        assert await _tool_names(s) == READ | WRITE

        one = await _call(s, "submit_run", command="python train.py --lr '0.1 2'",
                          name="agent/try")
        assert one["status"] == "queued"
        rec = await _call(s, "get_run", run_id=one["id"])
        assert rec["command"] == ["python", "train.py", "--lr", "0.1 2"]
        assert rec["trigger"] == "agent"
        queued = await _call(s, "list_runs", where='status = "queued" and name = "agent/try"')
        assert [r["id"] for r in queued["runs"]] == [one["id"]]

        sweep = await _call(s, "submit_run", command=["python", "t.py"], name="agent/sweep",
                            seeds=[1, 2], grid={"lr": [0.1, 0.01]})
        assert len(sweep["children"]) == 4

        edited = await _call(s, "edit_run", run_id=good, add_tags=["reviewed"],
                             notes="lr 0.1 is the sweet spot")
        assert "reviewed" in edited["tags"]
        rec = await _call(s, "get_run", run_id=good)
        assert rec["notes"] == "lr 0.1 is the sweet spot"
        assert rec["edits"][-1]["actor"] == "mcp"

        again = await _call(s, "replay_run", run_id=good, overrides={"lr": 0.3})
        assert again["status"] == "queued" and again["config"]["lr"] == 0.3
        gone = await _call(s, "cancel_run", run_id=again["id"])
        assert gone["status"] == "canceled"

        assert "nothing to change" in await _error(s, "edit_run", run_id=good)
        assert "cannot go from 'completed'" in await _error(s, "cancel_run", run_id=good)
        assert "command" in await _error(s, "submit_run", command="python 'unclosed")

    _over_stdio(subprocess_env, _mcp_args(known["store"], "--allow-write"), body)


@asynccontextmanager
async def _http_session(url: str) -> AsyncIterator[ClientSession]:
    async with streamable_http_client(url) as (read, write), \
            ClientSession(read, write) as session:
        await session.initialize()
        yield session


def _start_http(args: list[str], env: dict[str, str], port: int,
                log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, *args, "--http", str(port)], env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    deadline = time.time() + 30
    while time.time() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            httpx.get(f"http://127.0.0.1:{port}/mcp", timeout=1)
            return proc
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise AssertionError(f"picidae mcp --http did not start: {log.read_text()}")


def test_streamable_http_against_a_server_store_with_a_token(
        known: dict[str, Any], tmp_path: Path, subprocess_env: dict[str, str]) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text("agent-token default write\n")
    srv = ServerProcess(known["store"], subprocess_env, "--token-file", str(tokens)).start()
    port = free_port()
    env = {**subprocess_env, "PICIDAE_TOKEN": "agent-token"}
    proc = _start_http(_mcp_args(srv.url, "--allow-write"), env, port, tmp_path / "mcp.log")
    try:
        async def main() -> None:
            async with _http_session(f"http://127.0.0.1:{port}/mcp") as s:
                assert await _tool_names(s) == READ | WRITE
                listed = await _call(s, "list_runs", where='name like "mnist/%"')
                assert {r["id"] for r in listed["runs"]} == {known["good"], known["bad"],
                                                           known["replay"]}
                await _call(s, "edit_run", run_id=known["bad"], notes="diverged: lr 10")
                rec = await _call(s, "get_run", run_id=known["bad"])
                assert rec["notes"] == "diverged: lr 10"
                assert "no run with id" in await _error(s, "get_logs", run_id="nope")
        anyio.run(main)
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        srv.stop()
    assert picidae.get_run(known["bad"], store=known["store"]).notes == "diverged: lr 10"


def test_import_picidae_loads_no_mcp_and_a_missing_sdk_names_the_extra(
        subprocess_env: dict[str, str], tmp_path: Path) -> None:
    code = ("import sys, picidae; picidae.runs(store=sys.argv[1]); "
            "import picidae.agents.tools; print('mcp' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "s")], env=subprocess_env,
                          capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
    blocked = ("import sys; sys.modules['mcp'] = None; from picidae.cli.main import main; "
               "main(['mcp', '--store', sys.argv[1]])")
    done = subprocess.run([sys.executable, "-c", blocked, str(tmp_path / "s")],
                          env=subprocess_env, capture_output=True, text=True, check=False)
    assert done.returncode == 1
    assert "pip install 'picidae[mcp]'" in done.stderr and "Traceback" not in done.stderr
