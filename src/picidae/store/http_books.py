"""A server's schedules and alert rules, managed through its API (``HttpStore.schedules()``
and ``HttpStore.alerts()``): ``/api/v1/schedules`` and ``/api/v1/alerts``, scoped to the
token's workspace. The server fires the schedules and delivers the alerts itself, so the
methods only a firing or delivering process calls refuse here with ``InvalidInput``.
Errors come back as the classes the server's store raised (``ScheduleNotFound``,
``AlertNotFound``, ``InvalidInput``...).
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import Any, NoReturn
from urllib.parse import quote

from picidae.errors import AlertNotFound, InvalidInput, PicidaeError, ScheduleNotFound

#: ``HttpStore._call``: (method, path, body=..., params=...) → the decoded answer.
Call = Callable[..., Any]


def _seg(name: str) -> str:
    if not isinstance(name, str) or not name:
        raise InvalidInput(f"expected a non-empty name, got {name!r}", field="name")
    return quote(name, safe="")


def _refuse(what: str) -> NoReturn:
    raise InvalidInput(f"{what} is done by the server itself, not through its API",
                       field="store")


class _Book:
    """Calls under one prefix, turning a ``not_found`` answer into ``missing``."""

    prefix = ""
    missing: type[PicidaeError] = PicidaeError

    def __init__(self, call: Call) -> None:
        self._call = call

    def _ask(self, method: str, path: str = "", **kwargs: Any) -> Any:
        try:
            return self._call(method, self.prefix + path, **kwargs)
        except PicidaeError as exc:
            if exc.code == "not_found" and not isinstance(exc, self.missing):
                raise self.missing(exc.message, field=exc.field) from None
            raise


class HttpScheduleBook(_Book):
    """``ScheduleBook`` over a server's API (see the module docstring)."""

    prefix = "/api/v1/schedules"
    missing = ScheduleNotFound

    def add(self, name: str, cron: str, tz: str, *, spec: dict[str, Any] | None = None,
            flow: str | None = None, now: float | None = None) -> dict[str, Any]:
        """See ``ScheduleBook.add`` (the server checks everything again; ``now`` is its)."""
        body = {"name": name, "cron": cron, "tz": tz, "spec": spec, "flow": flow}
        return self._ask("POST", body={k: v for k, v in body.items()  # type: ignore
                                       if v is not None})

    def list(self) -> builtins.list[dict[str, Any]]:
        """See ``ScheduleBook.list``."""
        return self._ask("GET")["schedules"]  # type: ignore[no-any-return]

    def workspaces(self) -> builtins.list[str]:
        """Refused: a token sees its own workspace only, and the server fires them all."""
        _refuse("firing every workspace's schedules")

    def get(self, name: str) -> dict[str, Any]:
        """See ``ScheduleBook.get``."""
        return self._ask("GET", f"/{_seg(name)}")  # type: ignore[no-any-return]

    def remove(self, name: str) -> dict[str, Any]:
        """See ``ScheduleBook.remove``."""
        return self._ask("DELETE", f"/{_seg(name)}")  # type: ignore[no-any-return]

    def set_paused(self, name: str, paused: bool, *, now: float | None = None,
                   ) -> dict[str, Any]:
        """See ``ScheduleBook.set_paused`` (``POST .../pause`` or ``.../resume``)."""
        verb = "pause" if paused else "resume"
        return self._ask("POST", f"/{_seg(name)}/{verb}", body={})  # type: ignore

    def claim(self, name: str, slot: float, *, now: float | None = None) -> bool:
        """Refused: the server fires its schedules."""
        _refuse("firing a schedule")

    def fired(self, name: str, slot: float, run_id: str) -> None:
        """Refused: the server fires its schedules."""
        _refuse("firing a schedule")

    def fires(self, name: str) -> builtins.list[dict[str, Any]]:
        """See ``ScheduleBook.fires``."""
        return self._ask("GET", f"/{_seg(name)}/fires")["fires"]  # type: ignore


class HttpAlertBook(_Book):
    """``AlertBook`` over a server's API (see the module docstring), plus ``test``."""

    prefix = "/api/v1/alerts"
    missing = AlertNotFound

    def add(self, rule: dict[str, Any], *, now: float | None = None) -> dict[str, Any]:
        """See ``AlertBook.add`` (the server checks the rule again)."""
        body = {k: rule.get(k) for k in ("name", "on", "where", "when", "kind", "url")}
        return self._ask("POST", body=body)  # type: ignore[no-any-return]

    def list(self) -> builtins.list[dict[str, Any]]:
        """See ``AlertBook.list``."""
        return self._ask("GET")["alerts"]  # type: ignore[no-any-return]

    def workspaces(self) -> builtins.list[str]:
        """Refused: a token sees its own workspace only, and the server delivers them all."""
        _refuse("delivering every workspace's alerts")

    def get(self, name: str) -> dict[str, Any]:
        """See ``AlertBook.get``."""
        return self._ask("GET", f"/{_seg(name)}")  # type: ignore[no-any-return]

    def remove(self, name: str) -> dict[str, Any]:
        """See ``AlertBook.remove``."""
        return self._ask("DELETE", f"/{_seg(name)}")  # type: ignore[no-any-return]

    def test(self, name: str) -> dict[str, Any]:
        """The server posts a test alert for rule ``name`` now: ``{ok, detail, url}``."""
        return self._ask("POST", f"/{_seg(name)}/test", body={})  # type: ignore

    def deliveries(self, name: str | None = None) -> builtins.list[dict[str, Any]]:
        """See ``AlertBook.deliveries`` (``GET .../{name}/deliveries``, each rule's for
        ``None``)."""
        names = [name] if name is not None else [r["name"] for r in self.list()]
        found = [d for n in names
                 for d in self._ask("GET", f"/{_seg(n)}/deliveries")["deliveries"]]
        return sorted(found, key=lambda d: d["id"])

    def advance(self, name: str, cursor: int) -> None:
        """Refused: the server delivers its alerts."""
        _refuse("matching alerts")

    def enqueue(self, name: str, key: str, run_id: str | None, payload: dict[str, Any], *,
                now: float | None = None) -> bool:
        """Refused: the server delivers its alerts."""
        _refuse("queueing alerts")

    def known(self, name: str, keys: builtins.list[str]) -> set[str]:
        """Refused: the server delivers its alerts."""
        _refuse("matching alerts")

    def due(self, *, now: float | None = None, limit: int = 50) -> builtins.list[
            dict[str, Any]]:
        """Refused: the server delivers its alerts."""
        _refuse("delivering alerts")

    def claim(self, delivery_id: int, *, lease_s: float, now: float | None = None) -> bool:
        """Refused: the server delivers its alerts."""
        _refuse("delivering alerts")

    def attempted(self, delivery: dict[str, Any], *, ok: bool, detail: str | None,
                  next_at: float | None, now: float | None = None) -> None:
        """Refused: the server delivers its alerts."""
        _refuse("delivering alerts")
