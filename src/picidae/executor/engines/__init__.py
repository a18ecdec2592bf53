"""Executors: where a submitted run's command is run (``picidae submit --executor``).

``local`` is the queue and ``picidae worker``; ``slurm`` an ``sbatch`` job per run. Each
is an ``Executor`` (``base.py``); the lifecycle, lineage, seeds and grids, retries, the eval
phase, timeouts and cost are the same for all of them, because inside the engine's job the
run is run by the same ``Launcher`` a local worker uses (``python -m
picidae.executor.attach``).
"""

from picidae.executor.engines.base import ENGINES, Executor, for_options, get_executor, resolve

__all__ = ["ENGINES", "Executor", "for_options", "get_executor", "resolve"]
