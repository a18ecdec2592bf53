"""``picidae sweep [...] -- CMD...`` and ``picidae sweep resume ID``: a search controlled in
the foreground (Ctrl-C stops the controller, not the trials)."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from picidae.cli.common import JsonOpt, StoreOpt, error_text, print_json
from picidae.cli.exec import (
    AccountOpt,
    ExecutorOpt,
    PartitionOpt,
    RayAddressOpt,
    SetOpt,
    SlurmArgOpt,
)
from picidae.core.submission import parse_assignments
from picidae.errors import InvalidInput


def _bad(exc: InvalidInput) -> typer.Exit:
    print(f"picidae: {error_text(exc)}", file=sys.stderr)
    return typer.Exit(2)


def sweep(
    command: Annotated[list[str] | None, typer.Argument(
        metavar="-- CMD... | resume ID", help="The command, after '--'; or 'resume ID'.")]
    = None,
    params: Annotated[list[str] | None, typer.Option(
        "--param", help="NAME=FORM: uniform:LO:HI, loguniform:LO:HI, int:LO:HI or "
                        "choice:a,b,c (repeatable).")] = None,
    metric: Annotated[str | None, typer.Option("--metric", help="The primary metric each "
                                                                "trial reports.")] = None,
    mode: Annotated[str, typer.Option("--mode", help="max or min.")] = "max",
    strategy: Annotated[str, typer.Option("--strategy", help="random, tpe or grid.")] = "tpe",
    trials: Annotated[int, typer.Option("--trials", help="How many trials in all.")] = 20,
    parallel: Annotated[int, typer.Option("--parallel", help="Trials unfinished at once.")]
    = 4,
    prune: Annotated[str, typer.Option("--prune", help="median or none.")] = "none",
    seed: Annotated[int | None, typer.Option("--seed", help="The sampler's seed.")] = None,
    name: Annotated[str | None, typer.Option("--name", "-n", help="The sweep's name.")]
    = None,
    sets: SetOpt = None,
    cpus: Annotated[float | None, typer.Option("--cpus", min=0, help="CPUs per trial.")]
    = None,
    gpus: Annotated[int | None, typer.Option("--gpus", min=0, help="GPUs per trial.")] = None,
    memory: Annotated[str | None, typer.Option("--memory", help="Memory per trial, e.g. 4G.")]
    = None,
    timeout: Annotated[str | None, typer.Option("--timeout", help="Fail a trial after e.g. "
                                                                  "2h.")] = None,
    queue: Annotated[str, typer.Option("--queue", "-q", help="Queue for workers.")]
    = "default",
    retries: Annotated[int, typer.Option("--retries", min=0, max=100,
                                         help="Retry a crashed trial up to N times.")] = 0,
    tags: Annotated[list[str] | None, typer.Option("--tag", "-t", help="Tag (repeatable).")]
    = None,
    executor: ExecutorOpt = "local",
    partition: PartitionOpt = None,
    account: AccountOpt = None,
    slurm_args: SlurmArgOpt = None,
    ray_address: RayAddressOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="Print only the result.")] = False,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Search parameters for the best value of a metric: trials are queued runs (run them
    with 'picidae worker', or --executor slurm|ray), chosen by Optuna from the results so
    far."""
    from picidae.executor import sweep as sweeps
    from picidae.store.registry import open_store

    words = list(command or [])
    echo = None if (json or quiet) else typer.echo
    try:
        target = open_store(store)
        if not params and len(words) == 2 and words[0] == "resume":
            run_id = words[1]
            parent = target.get_run(run_id)
            if parent.get("kind") != "sweep":
                raise InvalidInput(f"run {run_id} is not a sweep", field="run_id")
            if parent["status"] not in ("running", "lost"):
                raise InvalidInput(f"sweep {run_id} has ended ({parent['status']}); nothing "
                                   "to resume", field="run_id")
            resume = True
        elif not words:
            raise InvalidInput("a sweep needs a command after '--' (or: sweep resume ID)",
                               field="command")
        else:
            submit = {"config": parse_assignments(sets), "cpus": cpus, "gpus": gpus,
                      "memory": memory, "timeout": timeout, "queue": queue,
                      "retries": retries, "tags": tags, "cwd": os.getcwd()}
            parent = sweeps.create(target, words, params or [], metric=metric or "",
                                   name=name, strategy=strategy, trials=trials,
                                   parallel=parallel, mode=mode, prune=prune, seed=seed,
                                   submit=submit, executor=executor, partition=partition,
                                   account=account, slurm_args=slurm_args,
                                   ray_address=ray_address)
            resume = False
    except InvalidInput as exc:
        raise _bad(exc) from None
    run_id = parent["id"]
    if echo:
        verb = "resuming" if resume else "started"
        engine = ((parent.get("execution") or {}).get("engine") or {}).get("name")
        echo(f"sweep {run_id} ({parent['name']}) {verb}; trials wait for 'picidae worker"
             f"{' --executor ' + engine if engine else ''}"
             f"{' --store ' + store if store else ''}'")
    try:
        record = sweeps.Controller(target, run_id, echo=echo).run()
    except InvalidInput as exc:
        raise _bad(exc) from None
    except KeyboardInterrupt:
        print(f"picidae: controller stopped; running trials go on. Continue with: "
              f"picidae sweep resume {run_id}", file=sys.stderr)
        raise typer.Exit(130) from None
    summary = record.get("summary") or {}
    if json:
        print_json({"id": run_id, "name": record["name"], "status": record["status"],
                    "summary": summary})
        return
    best = summary.get("best_value")
    typer.echo(f"sweep {run_id}: {record['status']}; "
               f"{summary.get('trials_completed', 0)} completed, "
               f"{summary.get('trials_pruned', 0)} pruned, "
               f"{summary.get('trials_failed', 0)} failed"
               + (f"; best {best:g} ({summary.get('best_run')}) with "
                  f"{summary.get('best_params')}" if best is not None else ""))
