"""``picidae submit``, ``worker``, ``cancel``, ``retry`` and ``replay``: running work."""

from __future__ import annotations

import signal
from typing import Annotated, Any

import typer

import picidae
from picidae.cli.common import JsonOpt, StoreOpt, console, print_json
from picidae.core.submission import parse_assignments
from picidae.sdk.view import RunView

SetOpt = Annotated[list[str] | None, typer.Option(
    "--set", help="Config KEY=VALUE (repeatable; values parsed as JSON when they parse, "
                  "dots nest: opt.lr=0.1).")]

# The executor options of submit, sweep and schedule add (one definition each).
ExecutorOpt = Annotated[str, typer.Option(
    "--executor", help="local (picidae worker), slurm (sbatch) or ray (a Ray job).")]
PartitionOpt = Annotated[str | None, typer.Option("--partition", help="Slurm partition.")]
AccountOpt = Annotated[str | None, typer.Option("--account", help="Slurm account.")]
SlurmArgOpt = Annotated[list[str] | None, typer.Option(
    "--slurm-arg", help="An sbatch option passed through, e.g. --qos=high (repeatable).")]
RayAddressOpt = Annotated[str | None, typer.Option(
    "--ray-address", help="The Ray cluster [default: RAY_ADDRESS].")]


def _summary(rv: RunView) -> dict[str, Any]:
    data = rv.to_dict(transitions=False)
    kids = rv.children() if (rv.execution or {}).get("group") else []
    data["children"] = [{"id": k.id, "name": k.name, "kind": k.kind, "seed": k.seed,
                         "status": k.status} for k in kids]
    return data


def submit(
    command: Annotated[list[str], typer.Argument(metavar="-- CMD...",
                                                 help="The command, after '--'.")],
    name: Annotated[str | None, typer.Option("--name", "-n", help="Run name.")] = None,
    parent: Annotated[str | None, typer.Option("--parent", help="Put it under this run.")]
    = None,
    sets: SetOpt = None,
    seeds: Annotated[str | None, typer.Option("--seeds", help="One child per seed: 42-46 or "
                                                              "1,2,3.")] = None,
    grid: Annotated[list[str] | None, typer.Option(
        "--grid", help="One child per point: KEY=A,B,C (repeatable: the cartesian product).")]
    = None,
    cpus: Annotated[float | None, typer.Option("--cpus", min=0, help="CPUs requested.")]
    = None,
    gpus: Annotated[int | None, typer.Option("--gpus", min=0, help="GPUs requested.")] = None,
    memory: Annotated[str | None, typer.Option("--memory", help="Memory requested, e.g. 4G.")]
    = None,
    timeout: Annotated[str | None, typer.Option("--timeout", help="Fail the run (reason "
                                                                  "timeout) after e.g. 2h.")]
    = None,
    eval_: Annotated[str | None, typer.Option("--eval", help="Command run after it, in "
                                                             "'evaluating'.")] = None,
    inputs: Annotated[list[str] | None, typer.Option(
        "--input", help="NAME=PATH_OR_URI synced and verified before it runs (repeatable).")]
    = None,
    queue: Annotated[str, typer.Option("--queue", "-q", help="Queue for workers.")]
    = "default",
    retries: Annotated[int, typer.Option("--retries", min=0, max=100,
                                         help="Retry a crash (non-zero exit) up to N times.")]
    = 0,
    allow_failures: Annotated[bool, typer.Option(
        "--allow-failures", help="The parent completes even when children fail.")] = False,
    tags: Annotated[list[str] | None, typer.Option("--tag", "-t", help="Tag (repeatable).")]
    = None,
    snapshot: Annotated[bool, typer.Option("--snapshot", help="Archive this workspace; "
                                                              "workers run exactly it.")]
    = False,
    executor: ExecutorOpt = "local",
    partition: PartitionOpt = None,
    account: AccountOpt = None,
    slurm_args: SlurmArgOpt = None,
    ray_address: RayAddressOpt = None,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Queue a command as a run (or, with --seeds/--grid, a parent with one child each)."""
    _check_executor(executor)
    rv = picidae.submit(command, name=name, parent=parent, set=sets, seeds=seeds, grid=grid,
                        cpus=cpus, gpus=gpus, memory=memory, timeout=timeout, eval=eval_,
                        inputs=inputs, queue=queue, retries=retries,
                        allow_failures=allow_failures, tags=tags, snapshot_code=snapshot,
                        store=store, executor=executor, partition=partition,
                        account=account, slurm_args=slurm_args, ray_address=ray_address)
    data = _summary(rv)
    if json:
        print_json(data)
        return
    if data["children"]:
        console.print(f"queued {len(data['children'])} runs under {rv.id} ({rv.name})")
        for kid in data["children"]:
            console.print(f"  {kid['id']}  {kid['name']}")
    else:
        console.print(f"queued {rv.id} ({rv.name})")
    console.print(f"[dim]run it with: picidae worker --once{_store_hint(store)}[/]")


def _check_executor(name: str) -> None:
    from picidae.executor.engines import ENGINES

    if name not in ENGINES:
        raise typer.BadParameter(f"must be one of {', '.join(ENGINES)}, got {name!r}",
                                 param_hint="--executor")


def _store_hint(store: str | None) -> str:
    return f" --store {store}" if store else ""


def worker(
    once: Annotated[bool, typer.Option("--once", help="Exit when the queue is empty.")]
    = False,
    concurrency: Annotated[int, typer.Option("--concurrency", "-c", min=1, max=1024,
                                             help="Runs at a time.")] = 1,
    queue: Annotated[str, typer.Option("--queue", "-q", help="Queue to claim from.")]
    = "default",
    target: Annotated[str | None, typer.Option(
        "--target", help="Compute target for prices [default: PICIDAE_COMPUTE_TARGET or "
                         "local].")] = None,
    workdir: Annotated[str | None, typer.Option(
        "--workdir", help="Where work folders go [default: $PICIDAE_HOME/work].")] = None,
    keep_workdirs: Annotated[bool, typer.Option("--keep-workdirs",
                                                help="Keep each run's work folder.")] = False,
    executor: Annotated[str, typer.Option(
        "--executor", help="local: run the runs; slurm, ray: follow the runs there.")]
    = "local",
    cpus: Annotated[float | None, typer.Option(
        "--cpus", min=0, help="CPUs this worker offers [default: the machine's].")] = None,
    gpus: Annotated[int | None, typer.Option(
        "--gpus", min=0, help="GPUs this worker offers [default: the machine's].")] = None,
    memory: Annotated[str | None, typer.Option(
        "--memory", help="Memory this worker offers, like 16G [default: the machine's].")]
    = None,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Claim queued runs that fit this worker and run them (Ctrl-C stops, canceling the runs
    in progress)."""
    from picidae.executor.worker import Worker

    _check_executor(executor)

    w = Worker(store, queue=queue, concurrency=concurrency, once=once, target=target,
               workdir=workdir, keep_workdirs=keep_workdirs, cpus=cpus, gpus=gpus,
               memory=memory, executor=executor,
               echo=None if json else lambda line: typer.echo(line))
    previous = {sig: signal.signal(sig, lambda *_: w.stop())
                for sig in (signal.SIGINT, signal.SIGTERM)}
    if not json:
        typer.echo(f"worker {w.name}: claiming from queue {w.queue!r} of {w.store.url} "
                   f"(concurrency {concurrency}{', until the queue is empty' if once else ''})")
    try:
        taken = w.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if json:
        print_json({"worker": w.name, "runs": [{"id": i, "status": s} for i, s in w.done]})
    else:
        typer.echo(f"worker {w.name}: done, {taken} run{'s' if taken != 1 else ''}")


def cancel(
    run_id: Annotated[str, typer.Argument(metavar="ID", help="The run to cancel.")],
    reason: Annotated[str | None, typer.Option("--reason", help="Why (recorded).")] = None,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Cancel a run (its worker stops the command) and a parent's unfinished children."""
    rv = picidae.cancel(run_id, store=store, reason=reason)
    if json:
        print_json(_summary(rv))
        return
    console.print(f"canceled {rv.id} ({rv.name}): now {rv.status}")


def retry(
    run_id: Annotated[str, typer.Argument(metavar="ID", help="An ended run.")],
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Queue an ended run again: attempt + 1, retry_of ID, trigger retry."""
    rv = picidae.retry(run_id, store=store)
    if json:
        print_json(_summary(rv))
        return
    console.print(f"queued {rv.id} ({rv.name}): retry of {run_id}, attempt {rv.attempt}")


def replay(
    run_id: Annotated[str, typer.Argument(metavar="ID", help="The run to replay.")],
    sets: SetOpt = None,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Queue a new run with ID's command, code, inputs and config (plus --set overrides)."""
    rv = picidae.replay(run_id, parse_assignments(sets), store=store)
    if json:
        print_json(_summary(rv))
        return
    console.print(f"queued {rv.id} ({rv.name}): replay of {run_id}")
