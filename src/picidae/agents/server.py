"""``picidae mcp``: the Model Context Protocol server, on the official ``mcp`` SDK.

Each tool is a thin binding of ``agents.tools.Tools``: its arguments carry a JSON schema with
descriptions, its docstring tells an agent when to use it, its answer is compact JSON (as
text, and as structured content), and a Picidae error comes back as a tool error carrying
our message. Write tools (submit, cancel, replay, edit) exist only with ``allow_write``.
Imported only by ``picidae mcp``: ``import picidae`` never loads the SDK.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from pydantic import Field

from picidae.agents.tools import MAX_LIMIT, MAX_POINTS, MAX_TAIL, Tools
from picidae.errors import MissingDependency, PicidaeError
from picidae.store.registry import StoreLocation

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer
    from mcp.types import CallToolResult

INSTRUCTIONS = """\
Picidae records ML runs (training jobs, seeds, sweep points, evaluations): each run has a
status (queued, running, completed, failed, canceled, lost, archived), config, metrics,
summary, tags, notes, logs and lineage. Start with list_runs (filter with the where-language,
e.g. status = "failed" and config.lr > 0.01 and metrics.acc > 0.9 and tags contains "x"),
then get_run, get_metrics and get_logs on a run id; compare_runs explains what differs.
Results are compact JSON; long values are cut and say so."""

WRITE_TOOLS = ("submit_run", "cancel_run", "replay_run", "edit_run")

F = TypeVar("F", bound=Callable[..., Any])

RunId = Annotated[str, Field(description="A run's id, as list_runs gives it.")]


def _json(data: Any) -> CallToolResult:
    from mcp.types import CallToolResult, TextContent

    text = json.dumps(data, separators=(",", ":"), default=str, allow_nan=False)
    structured = data if isinstance(data, dict) else {"result": data}
    return CallToolResult(content=[TextContent(type="text", text=text)],
                          structured_content=structured)


def _tool(fn: F) -> F:
    """A tool body: its answer as compact JSON; a Picidae error as a tool error with its
    message (the SDK logs it, answers ``is_error`` and carries on)."""
    from mcp.server.mcpserver.exceptions import ToolError

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> CallToolResult:
        try:
            return _json(fn(*args, **kwargs))
        except PicidaeError as exc:
            raise ToolError(exc.message) from None
    return run  # type: ignore[return-value]


def build_server(store: StoreLocation = None, *, allow_write: bool = False) -> MCPServer[Any]:
    """The MCP server for ``store``: the read tools, and the write tools when
    ``allow_write``. ``MissingDependency`` without the ``mcp`` package."""
    try:
        from mcp.server.mcpserver import MCPServer
        from mcp.types import ToolAnnotations
    except ImportError:
        raise MissingDependency("mcp", "mcp") from None
    from picidae import __version__

    tools = Tools(store)
    server: MCPServer[Any] = MCPServer("picidae", version=__version__,
                                       instructions=INSTRUCTIONS, log_level="WARNING")
    read = ToolAnnotations(read_only_hint=True, open_world_hint=False)

    @server.tool(annotations=read)
    @_tool
    def list_runs(
        where: Annotated[str | None, Field(description=(
            'A filter, e.g. status = "completed" and metrics.acc > 0.9 and config.lr < 0.1 '
            'and tags contains "ablation" and name like "cv/%" and notes contains "bug". '
            "Fields: status, name, alias, kind, agent, benchmark, trigger, id, parent_id, "
            "seed, created_at, duration_s, stale, notes, tags, config.K, summary.K, "
            'metrics.K (latest value). Archived runs appear only when it names "archived".'
        ))] = None,
        order_by: Annotated[str | None, Field(description=(
            'e.g. "metrics.acc desc" or "summary.loss, created_at"; newest first by default.'
        ))] = None,
        limit: Annotated[int | None, Field(description=f"At most this many runs (1-{MAX_LIMIT}"
                                                       ", default 20).")] = None,
    ) -> dict[str, Any]:
        """Find runs. Each has id, name, status, tags, times, summary, notes and its latest
        metric values; `more` says whether more matched than `limit`. Use the ids with the
        other tools."""
        return tools.list_runs(where, order_by, limit)

    @server.tool(annotations=read)
    @_tool
    def get_run(run_id: RunId) -> dict[str, Any]:
        """Everything about one run: config, summary, tags, notes and edits, failure (reason,
        message, traceback), command, code, inputs, outputs, transitions (each state change
        with its time, reason and actor), latest metric values and children."""
        return tools.get_run(run_id)

    @server.tool(annotations=read)
    @_tool
    def get_metrics(
        run_id: RunId,
        key: Annotated[str | None, Field(description=(
            "The metric, e.g. loss or val/acc. Leave it out to list the run's metric keys "
            "with their latest values."))] = None,
        max_points: Annotated[int | None, Field(description=(
            f"Downsample to at most this many points (1-{MAX_POINTS}, default 200), keeping "
            "each stretch's lowest and highest value."))] = None,
    ) -> dict[str, Any]:
        """A metric's curve: parallel `steps` and `values` (downsampled), with `points`
        (how many were logged), `min`, `max` and `last`."""
        return tools.get_metrics(run_id, key, max_points)

    @server.tool(annotations=read)
    @_tool
    def get_logs(
        run_id: RunId,
        tail: Annotated[int | None, Field(description=(
            f"How many of the last lines (1-{MAX_TAIL}, default 100)."))] = None,
    ) -> dict[str, Any]:
        """The end of a run's log (its stdout and stderr as captured; stderr lines start
        with [stderr]), e.g. to see why it failed. `lines` is the log's full length."""
        return tools.get_logs(run_id, tail)

    @server.tool(annotations=read)
    @_tool
    def compare_runs(
        run_ids: Annotated[list[str], Field(description="2 to 20 run ids.")],
    ) -> dict[str, Any]:
        """What differs between runs: config, summary, final and best metrics (with the
        better run where the mode is known), inputs, code, environment and command. Rows
        where all runs agree are left out (counted in `hidden`)."""
        return tools.compare_runs(run_ids)

    @server.tool(annotations=read)
    @_tool
    def run_history() -> dict[str, Any]:
        """How runs have gone: counts per status, failure rate, failure reasons, mean and
        p50/p95 durations and cost, overall and per day for the last 30 days."""
        return tools.run_history()

    @server.tool(annotations=read)
    @_tool
    def get_lineage(run_id: RunId) -> dict[str, Any]:
        """The run's ancestors and descendants (parents, retries, replays, and runs that
        produced or consumed its data): `nodes` with depth (< 0 upstream) and `stale`,
        `edges` with their relation."""
        return tools.get_lineage(run_id)

    if allow_write:
        _write_tools(server, tools)
    return server


def _write_tools(server: MCPServer[Any], tools: Tools) -> None:
    from mcp.types import ToolAnnotations

    write = ToolAnnotations(read_only_hint=False, destructive_hint=False,
                            open_world_hint=False)

    @server.tool(annotations=write)
    @_tool
    def submit_run(
        command: Annotated[list[str] | str, Field(description=(
            'The command: a list of arguments (["python", "train.py", "--lr", "0.1"]) or '
            'one shell-style string ("python train.py --lr 0.1").'))],
        name: Annotated[str | None, Field(description="The run's name, e.g. cv/resnet.")]
        = None,
        config: Annotated[dict[str, Any] | None, Field(description=(
            "Parameters the command reads as run.config."))] = None,
        seeds: Annotated[list[int] | str | None, Field(description=(
            'One child run per seed: [1, 2, 3] or "42-46".'))] = None,
        grid: Annotated[dict[str, list[Any]] | None, Field(description=(
            'One child run per combination, e.g. {"lr": [0.1, 0.01], "depth": [2, 4]}.'))]
        = None,
    ) -> dict[str, Any]:
        """Queue a command for a Picidae worker (`picidae worker` runs it). Returns the new
        run (status queued) or, with seeds or grid, the parent and its children."""
        return tools.submit_run(command, name, config, seeds, grid)

    @server.tool(annotations=ToolAnnotations(read_only_hint=False, destructive_hint=True,
                                             open_world_hint=False))
    @_tool
    def cancel_run(run_id: RunId) -> dict[str, Any]:
        """Cancel a queued or running run and its unfinished children (a worker stops the
        process). An ended run cannot be canceled."""
        return tools.cancel_run(run_id)

    @server.tool(annotations=write)
    @_tool
    def replay_run(
        run_id: RunId,
        overrides: Annotated[dict[str, Any] | None, Field(description=(
            'Config values to change, e.g. {"lr": 0.01}.'))] = None,
    ) -> dict[str, Any]:
        """Queue a new run with the same command, code and inputs as `run_id` (in any
        state), its config changed by `overrides`."""
        return tools.replay_run(run_id, overrides)

    @server.tool(annotations=write)
    @_tool
    def edit_run(
        run_id: RunId,
        add_tags: Annotated[list[str] | None, Field(description="Tags to add.")] = None,
        remove_tags: Annotated[list[str] | None, Field(description="Tags to remove.")]
        = None,
        notes: Annotated[str | None, Field(description=(
            "Replaces the run's notes (Markdown); \"\" clears them."))] = None,
    ) -> dict[str, Any]:
        """Annotate a run in any state (ended ones too): tags and notes, e.g. what was
        learned from it. Recorded in the run's edits with actor mcp."""
        return tools.edit_run(run_id, add_tags, remove_tags, notes)


def serve(store: StoreLocation = None, *, allow_write: bool = False,
          http_port: int | None = None) -> None:
    """Serve until the client disconnects (stdio) or the process is stopped (HTTP on
    127.0.0.1:``http_port``, path ``/mcp``)."""
    server = build_server(store, allow_write=allow_write)
    if http_port is None:
        server.run()
    else:
        server.run("streamable-http", host="127.0.0.1", port=http_port,
                   streamable_http_path="/mcp")
