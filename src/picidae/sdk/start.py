"""What ``init`` does around creating the record: capture, inputs, console, code snapshot.

``prepare`` runs before the run exists and raises on every mistake it can see (a bad
``tqdm_mode``, a missing input file, a workspace over the snapshot limits), so a refused
``init`` leaves nothing behind. ``fill_record`` adds the cheap facts to the new record.
``begin`` starts console capture and hands the slow work (packages, GPUs, git, the snapshot,
input digests) to the run's background jobs; ``finish`` waits for them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from picidae.errors import InvalidInput
from picidae.sdk import capture
from picidae.settings import settings

if TYPE_CHECKING:
    from picidae.sdk.run import Run


@dataclass
class Extras:
    """The checked options of one ``init`` (see the module docstring)."""

    capture_env: bool = True
    capture_git: bool = True
    capture_packages: bool = True
    console: bool = False
    tqdm_mode: str = "smart"
    inputs: list[dict[str, Any]] = field(default_factory=list)
    workspace: capture.Workspace | None = None
    system_metrics: bool = False
    #: Set by ``fill_record`` when the process's cached packages and git state went into the
    #: new record already, so ``begin`` has nothing left to capture for them.
    packages_done: bool = False
    git_done: bool = False


def _input_spec(item: Any) -> dict[str, Any]:
    if isinstance(item, str | os.PathLike):
        path = os.fspath(item)
        name = Path(path.rstrip("/")).name or path
        return {"name": name, "version": None, "path_or_uri": path, "digest": None}
    if isinstance(item, Mapping):
        unknown = set(item) - {"name", "version", "path_or_uri", "path", "uri", "digest"}
        if unknown or "name" not in item:
            raise InvalidInput("each of inputs= is a path, or a dict with 'name' and any of "
                               "'version', 'path_or_uri' (or 'path'/'uri'), 'digest'; got "
                               f"{dict(item)!r}", field="inputs")
        where = item.get("path_or_uri", item.get("path", item.get("uri")))
        return {"name": item["name"], "version": item.get("version"), "path_or_uri": where,
                "digest": item.get("digest")}
    raise InvalidInput(f"each of inputs= is a path or a dict, got {type(item).__name__}",
                       field="inputs")


def prepare(*, capture_env: bool = True, capture_git: bool | None = None,
            capture_packages: bool | None = None, snapshot_code: bool = False,
            capture_console: bool = False, tqdm_mode: str | None = None,
            inputs: Iterable[Any] | None = None, snapshot_max_mb: float | None = None,
            snapshot_max_files: int | None = None,
            system_metrics: bool | None = False,
            workspace_root: str | os.PathLike[str] | None = None) -> Extras:
    """Check the options and everything they name, before the run is created.
    ``system_metrics=None`` means the setting (``PICIDAE_SYSTEM_METRICS``, on by default);
    children started in the same process leave it off (the process is sampled once).
    ``workspace_root`` is the folder the code snapshot starts from (default: the current one)."""
    from picidae.sdk.console import active, clean_tqdm_mode
    from picidae.sdk.uploads import input_entry

    cfg = settings()
    extras = Extras(
        capture_env=bool(capture_env),
        capture_git=cfg.capture_git if capture_git is None else bool(capture_git),
        capture_packages=bool(capture_env) and (
            cfg.capture_packages if capture_packages is None else bool(capture_packages)),
        console=bool(capture_console),
        tqdm_mode=clean_tqdm_mode(cfg.tqdm_mode if tqdm_mode is None else tqdm_mode),
        system_metrics=cfg.system_metrics if system_metrics is None else bool(system_metrics),
    )
    if extras.console and active() is not None:
        raise InvalidInput("the console is already being captured for another run of this "
                           "process; capture_console=True works for one run at a time",
                           field="capture_console")
    if inputs is not None:
        if isinstance(inputs, str | os.PathLike | Mapping):
            inputs = [inputs]
        for item in inputs:
            spec = _input_spec(item)
            input_entry(spec["name"], spec["version"], spec["path_or_uri"], spec["digest"])
            extras.inputs.append(spec)
    if snapshot_code:
        max_mb = cfg.snapshot_max_mb if snapshot_max_mb is None else snapshot_max_mb
        max_files = cfg.snapshot_max_files if snapshot_max_files is None \
            else snapshot_max_files
        ws = capture.list_workspace(Path(workspace_root) if workspace_root else None)
        capture.check_snapshot_limits(ws, float(max_mb), int(max_files))
        extras.workspace = ws
    return extras


def fill_record(record: dict[str, Any], extras: Extras) -> None:
    """Add the container image to a new record (``core.record.new_record`` took the command
    and environment from ``capture``), and the packages and git state when this process
    captured them already: the record is written with them, instead of a rewrite of the
    run's document at the next flush."""
    extras.packages_done = extras.git_done = False
    if extras.capture_env:
        record["image"] = capture.container_image(settings().image)
    if extras.capture_packages and capture.packages_ready():
        record["env"] = {**(record.get("env") or {}), **_package_fields()}
        extras.packages_done = True
    if extras.capture_git:
        # The working folder as the environment just recorded it (``os.getcwd()``).
        env = record.get("env") if extras.capture_env else None
        cwd = env.get("cwd") if isinstance(env, dict) else None
        found = capture.git_cached(cwd if isinstance(cwd, str) else None)
        if found is not None and not found[1]:  # captured, and no diff left to upload
            state = found[0]
            if state is not None:
                record["code"] = {**(record.get("code") or {}), **state, "diff": None}
            extras.git_done = True


def begin(run: Run, extras: Extras) -> None:
    """Start console capture, record inputs and queue the slow capture for ``run``."""
    from picidae.sdk import uploads

    if extras.console:
        from picidae.sdk.console import start_capture

        try:
            run._console = start_capture(run, extras.tqdm_mode)
        except OSError as exc:  # no usable fds 1 and 2 (a daemon): record without it
            run._background.report("console capture", exc)
    for spec in extras.inputs:
        uploads.use_input(run, spec["name"], spec["version"], spec["path_or_uri"],
                          spec["digest"])
    if extras.system_metrics and run._managed is None:  # a worker samples its commands
        from picidae.sdk import system

        system.watch(run, settings().system_interval_s)
    bg = run._background
    # The first run of a process captures in the background; later runs reuse the cache
    # at once (a thread round trip per run would cost more than the copy).
    if extras.capture_packages and not extras.packages_done:
        if capture.packages_ready():
            _packages(run)
        else:
            bg.submit("capturing the installed packages", lambda: _packages(run),
                      quiet=True)
    if extras.capture_git and not extras.git_done:
        if capture.git_ready():
            _git(run)
        else:
            bg.submit("capturing the git state", lambda: _git(run), quiet=True)
    ws = extras.workspace
    if ws is not None:
        bg.submit("code snapshot", lambda: _snapshot(run, ws))


def _artifacts_usable(run: Run) -> bool:
    from picidae.artifacts.registry import location_for

    try:
        location_for(run.store)
    except Exception:
        return False
    return True


def _package_fields() -> dict[str, Any]:
    update: dict[str, Any] = {"packages": capture.package_versions()}
    found = capture.gpus()
    if found is not None:
        update["gpus"] = found
    return update


def _packages(run: Run) -> None:
    run._background.merge_field("env", _package_fields())


def _git(run: Run) -> None:
    from picidae.sdk.uploads import store_bytes

    state, diff = capture.git_state()
    if state is None:
        return
    update = dict(state)
    update["diff"] = None
    if diff and len(diff) > capture.MAX_DIFF_BYTES:
        update["diff"] = {"skipped": f"the diff is {len(diff)} bytes, over "
                                     f"{capture.MAX_DIFF_BYTES}"}
    elif diff and _artifacts_usable(run):
        blob = store_bytes(run, capture.DIFF_ARTIFACT, diff, type="code")
        update["diff"] = {"artifact": capture.DIFF_ARTIFACT, "digest": blob.digest,
                          "size": blob.size}
    run._background.merge_field("code", update)


def _snapshot(run: Run, ws: capture.Workspace) -> None:
    from picidae.sdk.background import retry
    from picidae.sdk.uploads import add_record

    path = capture.snapshot_file(ws)
    try:
        astore = run._background.artifact_store()
        blob = retry("storing the code snapshot", lambda: astore.put(path))
        add_record(run, {"name": capture.SNAPSHOT_ARTIFACT, "type": "code", "kind": "file",
                         "digest": blob.digest, "size": blob.size, "step": None,
                         "caption": None, "location": astore.location,
                         "metadata": {"files": len(ws.files), "root": str(ws.root),
                                      "listed_by": ws.listed_by}})
    finally:
        path.unlink(missing_ok=True)
    run._background.merge_field("code", {"snapshot": {
        "artifact": capture.SNAPSHOT_ARTIFACT, "digest": blob.digest, "size": blob.size,
        "files": len(ws.files), "source_bytes": ws.total_bytes, "listed_by": ws.listed_by}})


def attach(run: Run, extras: Extras) -> None:
    """Like ``begin`` for a run this process attached to (queued for it, or resumed): the
    environment is the one the run is really running in, so it is recorded now."""
    if extras.capture_env:
        env = capture.environment()
        run._background.fields["env"] = dict(env)
        with run._pending_lock:
            if run._managed is None:  # a worker's command keeps the argv it was given
                run._pending.fields["command"] = capture.command()
            run._pending.fields["env"] = env
            run._pending.fields["image"] = capture.container_image(settings().image)
    begin(run, extras)
