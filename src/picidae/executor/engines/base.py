"""The ``Executor`` interface, the local one, and the registry of engines."""

from __future__ import annotations

from typing import Any, Protocol

from picidae.errors import InvalidInput
from picidae.store.base import Store

#: The engines ``picidae submit --executor`` knows.
ENGINES = ("local", "slurm", "ray")


class Executor(Protocol):
    """Hands runs to an engine and keeps them honest about what the engine says.

    Runs meant for an engine wait in the engine's queue (``queue``); ``dispatch`` claims
    them (they move to ``provisioning``) and submits each (``submit``: the engine's job id,
    kept in ``compute.job_id`` with ``compute.executor``); ``poll`` moves the runs it
    dispatched as the engine reports them (pending, a verdict such as a time limit);
    ``cancel`` stops a run's job on the engine."""

    name: str
    queue: str

    def options(self, **given: Any) -> dict[str, Any] | None:
        """The engine's options from ``submit``'s (``partition``, ``account``,
        ``slurm_args``, ``ray_address``), checked (``InvalidInput``); kept in each run's
        ``execution.engine``. ``None``: the local queue."""
        ...

    def submit(self, store: Store, record: dict[str, Any]) -> str:
        """Submit one claimed run; returns the engine's job id."""
        ...

    def dispatch(self, store: Store, actor: str) -> list[str]:
        """Claim the runs waiting in ``queue`` and submit each; returns their ids."""
        ...

    def poll(self, store: Store, actor: str) -> int:
        """Apply the engine's news to the open runs it holds; returns how many are open."""
        ...

    def cancel(self, store: Store, record: dict[str, Any]) -> None:
        """Stop the run's job on the engine (the run is canceled already)."""
        ...


class LocalExecutor:
    """The queue and ``picidae worker``: workers claim the runs and run them; a canceled
    run is stopped by its worker, which polls the run's status."""

    name = "local"
    queue = "default"

    def options(self, **given: Any) -> dict[str, Any] | None:
        """None; engine options are refused."""
        for key, flag in (("partition", "--partition"), ("account", "--account"),
                          ("slurm_args", "--slurm-arg"), ("ray_address", "--ray-address")):
            if given.get(key):
                raise InvalidInput(f"{flag} needs --executor "
                                   f"{'ray' if key == 'ray_address' else 'slurm'}",
                                   field="executor")
        return None

    def submit(self, store: Store, record: dict[str, Any]) -> str:
        """Nothing to do: the run waits in the queue for a worker."""
        return ""

    def dispatch(self, store: Store, actor: str) -> list[str]:
        """Nothing to do: workers claim for themselves."""
        return []

    def poll(self, store: Store, actor: str) -> int:
        """Nothing to do: workers heartbeat their runs."""
        return 0

    def cancel(self, store: Store, record: dict[str, Any]) -> None:
        """Nothing to do: the worker sees the run canceled and stops the command."""


def get_executor(name: str | None) -> Executor:
    """The executor called ``name`` (``None``: ``local``); ``InvalidInput`` otherwise."""
    if name in (None, "", "local"):
        return LocalExecutor()
    if name == "slurm":
        from picidae.executor.engines.slurm import SlurmExecutor

        return SlurmExecutor()
    if name == "ray":
        from picidae.executor.engines.ray import RayExecutor

        return RayExecutor()
    raise InvalidInput(f"executor must be one of {', '.join(ENGINES)}, got {name!r}",
                       field="executor")


def resolve(executor: str | None, *, partition: str | None = None,
            account: str | None = None, slurm_args: Any = None,
            ray_address: str | None = None) -> tuple[Executor, dict[str, Any] | None]:
    """The executor called ``executor`` and its checked options (``None``: the local
    queue), as ``submit``, ``sweep`` and ``schedule add`` take them; ``InvalidInput`` for
    an unknown executor or options it does not take."""
    engine = get_executor(executor)
    return engine, engine.options(partition=partition, account=account,
                                  slurm_args=slurm_args, ray_address=ray_address)


def for_options(options: dict[str, Any] | None) -> Executor:
    """The executor whose stored options (``execution.engine``) these are."""
    return get_executor((options or {}).get("name"))
