"""Request dependencies: which store (workspace) a request acts on, and whether it may write.

Without tokens every request acts on the ``default`` workspace. With tokens (a token file or
the database's), the ``Authorization: Bearer`` token picks the workspace and role (see
``auth``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request

from picidae.server import auth


@dataclass
class Access:
    """What a request may touch: a store bound to its workspace, and who it is."""

    store: Any
    workspace: str
    role: str
    actor: str


def _access(request: Request, need: str) -> Access:
    state = request.app.state
    grant = auth.check(request, state.tokens, need)
    request.state.workspace = grant.workspace  # for the 403 on another workspace's run
    store = state.store
    if grant.workspace != getattr(store, "workspace", "default"):
        store = store.for_workspace(grant.workspace)
    return Access(store=store, workspace=grant.workspace, role=grant.role, actor=grant.actor)


# Plain ``async def``: FastAPI would run a sync dependency in its thread pool, a hop that costs
# more than the check (token answers are cached; see ``auth.Keyring``).
async def reader(request: Request) -> Access:
    """Access for a route that only reads."""
    return _access(request, "read")


async def writer(request: Request) -> Access:
    """Access for a route that changes runs."""
    return _access(request, "write")
