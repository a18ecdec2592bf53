"""``/api/v1/alerts``: the alert rules of the token's workspace (what ``picidae alerts``
manages over ``--store http://``); the server delivers them, and posts ``test`` alerts. A
read token lists; adding, removing and testing need a write token. Another workspace's names
are unknown here (404)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from pydantic import Field

from picidae.core import alerts as rules
from picidae.errors import InvalidInput
from picidae.executor.alerts import book, post_test
from picidae.server.deps import Access, reader, writer
from picidae.server.jsonresp import JSONResponse
from picidae.server.routes.runs import Strict
from picidae.server.schemas import ERRORS

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"], responses=ERRORS)


class AlertIn(Strict):
    """A new rule: which events (``failed``, ``lost``, ``completed``, ``alert``) or which
    ``when`` expression fires it, for which runs (``where``), posted where."""

    name: str = Field(..., min_length=1, max_length=256)
    on: list[str] | str | None = Field(None, description="failed, lost, completed, alert.")
    where: str | None = Field(None, max_length=4096)
    when: str | None = Field(None, max_length=4096, description="e.g. metrics.loss > 10.")
    kind: Literal["webhook", "slack"] = "webhook"
    url: str = Field(..., min_length=1, max_length=2048)


@router.get("")
def list_alerts(access: Annotated[Access, Depends(reader)]) -> JSONResponse:
    """Every rule of the workspace, by name."""
    return JSONResponse({"alerts": book(access.store).list()})


@router.post("", status_code=201)
def add_alert(body: AlertIn, access: Annotated[Access, Depends(writer)]) -> JSONResponse:
    """Store a rule (checked first: events, expressions, URL) → 201; it matches events from
    now on. 422 naming the field, e.g. a name that is taken."""
    url = {body.kind: body.url}
    try:
        rule = rules.check_rule(body.name, body.on, where=body.where, when=body.when,
                                webhook=url.get("webhook"), slack=url.get("slack"))
    except InvalidInput as exc:  # the CLI's --webhook/--slack is this body's url
        if exc.field in ("webhook", "slack"):
            raise InvalidInput(exc.message, field="url") from None
        raise
    if rule["when"] and "when" not in rule["on"]:
        rule["on"].append("when")
    return JSONResponse(book(access.store).add(rule), status_code=201)


@router.get("/{name}")
def get_alert(name: str, access: Annotated[Access, Depends(reader)]) -> JSONResponse:
    """One rule; 404 when the workspace has none of this name."""
    return JSONResponse(book(access.store).get(name))


@router.get("/{name}/deliveries")
def alert_deliveries(name: str, access: Annotated[Access, Depends(reader)]) -> JSONResponse:
    """The rule's deliveries, oldest first (status ``pending``, ``delivered`` or
    ``failed``)."""
    table = book(access.store)
    table.get(name)
    return JSONResponse({"deliveries": table.deliveries(name)})


@router.delete("/{name}")
def remove_alert(name: str, access: Annotated[Access, Depends(writer)]) -> JSONResponse:
    """Remove a rule and its undelivered alerts; returns what it was."""
    return JSONResponse(book(access.store).remove(name))


@router.post("/{name}/test")
def test_alert(name: str, access: Annotated[Access, Depends(writer)]) -> JSONResponse:
    """Post a test alert to the rule's URL from the server now: ``{ok, detail, url}``."""
    return JSONResponse(post_test(book(access.store).get(name)))
