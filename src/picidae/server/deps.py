"""Request dependencies: which store (workspace) a request acts on, and whether it may write;
and the one check that a run id a request names belongs to that workspace.

Without tokens every request acts on the ``default`` workspace. With tokens (a token file or
the database's), the ``Authorization: Bearer`` token picks the workspace and role (see
``auth``). A request's store is bound to its workspace, so a route that loads a run by id
(``get_run``, ``write``, ``transition``…) cannot reach another workspace's run. Ids a route
only *stores* or passes to a by-id read that is not scoped (``parent_id``, ``retry_of``,
``replay_of``, ``root_id`` of a new or imported run; the ids of a bulk read) go through
``refuse_foreign`` or ``own_ids`` here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from fastapi import HTTPException, Request

from picidae.errors import PicidaeError
from picidae.server import auth
from picidae.store.base import Store
from picidae.store.capabilities import WorkspacedStore


class Forbidden(PicidaeError):
    """A request names a run of another workspace than its token's (403)."""

    code = "forbidden"
    http_status = 403


@dataclass
class Access:
    """What a request may touch: a store bound to its workspace, and who it is. ``base`` is
    the server's store whatever the workspace (only to tell a foreign id from an unknown
    one)."""

    store: Store
    workspace: str
    role: str
    actor: str
    base: Store | None = None
    #: Whether tokens are on (workspaces may differ); without them one workspace is everyone's.
    tokens: bool = False

    def refuse_foreign(self, ids: dict[str, Any]) -> None:
        """``Forbidden`` naming the field when a value of ``{field: run id}`` is the id of a
        run in another workspace. Unknown ids pass: lineage may point at a run that is gone
        (an imported bundle's parent that was not exported)."""
        target = self.base if self.base is not None else self.store
        if not isinstance(target, WorkspacedStore):
            return
        for field, run_id in ids.items():
            if not isinstance(run_id, str) or not run_id:
                continue
            owner = target.run_workspace(run_id)
            if owner is not None and owner != self.workspace:
                raise Forbidden(f"{field} {run_id} is a run of another workspace than this "
                                "token's", field=field)

    def own_ids(self, ids: list[str]) -> list[str]:
        """The ids among ``ids`` that are runs of this request's workspace, in order."""
        if isinstance(self.store, WorkspacedStore):
            mine = set(self.store.owned_run_ids(ids))
        else:
            mine = set()
            for run_id in dict.fromkeys(ids):
                try:
                    self.store.get_run(run_id)
                except PicidaeError:
                    continue
                mine.add(run_id)
        return [run_id for run_id in ids if run_id in mine]


#: Whether a store class is a ``WorkspacedStore``, by class: a runtime-checkable protocol's
#: ``isinstance`` reads every member (~20 us), and ``bind`` runs on every request.
_WORKSPACED: dict[type, bool] = {}


def bind(store: Store, workspace: str) -> Store:
    """The server's ``store`` bound to ``workspace`` (a 403 ``HTTPException`` for a store
    without workspaces and any workspace but ``default``)."""
    kind = type(store)
    workspaced = _WORKSPACED.get(kind)
    if workspaced is None:
        workspaced = _WORKSPACED[kind] = isinstance(store, WorkspacedStore)
    if workspaced:
        bound = cast("WorkspacedStore", store)
        if workspace != bound.workspace:
            return bound.for_workspace(workspace)
    elif workspace != "default":
        raise HTTPException(403, "this server's store has no workspaces but 'default'")
    return store


def _access(request: Request, need: str) -> Access:
    state = request.app.state
    grant = auth.check(request, state.tokens, need)
    request.state.workspace = grant.workspace  # for the 403 on another workspace's run
    store = bind(state.store, grant.workspace)
    return Access(store=store, workspace=grant.workspace, role=grant.role, actor=grant.actor,
                  base=state.store, tokens=grant is not auth.OPEN)


# Plain ``async def``: FastAPI would run a sync dependency in its thread pool, a hop that costs
# more than the check (token answers are cached; see ``auth.Keyring``).
async def reader(request: Request) -> Access:
    """Access for a route that only reads."""
    return _access(request, "read")


async def writer(request: Request) -> Access:
    """Access for a route that changes runs."""
    return _access(request, "write")
