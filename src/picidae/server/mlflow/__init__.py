"""MLflow's tracking REST API on the Picidae server, so an unchanged program using the
``mlflow`` client with ``MLFLOW_TRACKING_URI=http://HOST:PORT`` records into Picidae.

Mounted under ``/api/2.0/mlflow/``, ``/ajax-api/2.0/mlflow/`` (the same routes), the artifact
proxy ``/api/2.0/mlflow-artifacts/`` and ``/api/3.0/mlflow/server-info``. Every route goes
through the ``Store`` protocol with the request's workspace (``server.deps``), so tokens and
workspaces apply as on ``/api/v1``. Errors are MLflow's shape ``{error_code, message}``
(``errors``). How MLflow's model maps onto runs: ``convert`` and docs/mlflow.md.
"""

from __future__ import annotations

from fastapi import FastAPI

from picidae.server.mlflow import artifacts, experiments, models, runs
from picidae.server.mlflow.errors import fallback_router


def install(app: FastAPI) -> None:
    """Mount MLflow's API on ``app`` (before any catch-all route of the UI)."""
    for prefix in ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow"):
        for module in (experiments, runs, models):
            app.include_router(module.router, prefix=prefix, include_in_schema=False)
    app.include_router(artifacts.router, include_in_schema=False)
    for prefix in ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow", "/api/3.0/mlflow",
                   "/api/2.0/mlflow-artifacts"):
        app.include_router(fallback_router(), prefix=prefix, include_in_schema=False)
