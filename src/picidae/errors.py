"""Picidae's errors: one tree, each class with a stable code and an HTTP status.

::

    PicidaeError                      code "error"                 500
    ├── InvalidInput (ValueError)     code "invalid_input"         422
    ├── RunNotFound (LookupError)     code "run_not_found"         404
    ├── IllegalTransition             code "illegal_transition"    409
    ├── RunFinished                   code "run_finished"          409
    ├── StoreUnavailable              code "store_unavailable"     503
    ├── MissingDependency (ImportError) code "missing_dependency"  500
    ├── ArtifactNotFound (LookupError) code "artifact_not_found"   404
    ├── ArtifactCorrupt               code "artifact_corrupt"     500
    └── FlowNotFound (LookupError)    code "flow_not_found"        404

The same class is raised whichever store raised it; the HTTP layer writes ``{code, message,
field}`` and the HTTP client store turns the code back into the class (see ``from_body``).
"""

from __future__ import annotations

from collections.abc import Iterable


class PicidaeError(Exception):
    """Base class of every error Picidae raises on purpose."""

    code: str = "error"
    http_status: int = 500

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def details(self) -> dict[str, object]:
        """Extra machine-readable facts about the error (sent in the API body)."""
        return {}

    def to_dict(self) -> dict[str, object]:
        """The error as the JSON body the API returns: ``code``, ``message``, ``field``."""
        return {"code": self.code, "message": self.message, "field": self.field,
                **self.details()}


class InvalidInput(PicidaeError, ValueError):
    """A value given by the user is wrong: a bad name, a metric that is not a number, a bad
    filter. Also a ``ValueError`` so ordinary ``except ValueError`` catches it."""

    code = "invalid_input"
    http_status = 422


class RunNotFound(PicidaeError, LookupError):
    """No run has this id (in this store or workspace)."""

    code = "run_not_found"
    http_status = 404

    def __init__(self, run_id: str) -> None:
        super().__init__(f"no run with id {run_id!r}", field="id")
        self.run_id = run_id

    def details(self) -> dict[str, object]:
        """The id asked for."""
        return {"run_id": self.run_id}


class IllegalTransition(PicidaeError):
    """A state change the lifecycle does not allow. Names the current state, the asked state
    and the legal targets; nothing was changed."""

    code = "illegal_transition"
    http_status = 409

    def __init__(self, run_id: str, current: str, asked: str, legal: Iterable[str]) -> None:
        self.run_id = run_id
        self.current = current
        self.asked = asked
        self.legal = sorted(legal)
        targets = ", ".join(self.legal) if self.legal else "none (the run is final)"
        super().__init__(
            f"run {run_id} cannot go from {current!r} to {asked!r}; legal targets from "
            f"{current!r}: {targets}",
            field="to",
        )

    def details(self) -> dict[str, object]:
        """The states involved."""
        return {"current": self.current, "asked": self.asked, "legal": self.legal}


class RunFinished(PicidaeError):
    """A write to a run that has ended: every store refuses metric points, log lines, merges,
    field updates and heartbeats for a run in a terminal or archived state, whichever process
    sends them (``run_id`` and ``status`` say which run and how it ended)."""

    code = "run_finished"
    http_status = 409

    def __init__(self, message: str, *, run_id: str | None = None,
                 status: str | None = None) -> None:
        super().__init__(message, field=None)
        self.run_id = run_id
        self.status = status

    def details(self) -> dict[str, object]:
        """The run and the state it ended in (when known)."""
        return {"run_id": self.run_id, "status": self.status}


class StoreUnavailable(PicidaeError):
    """The store cannot be reached or opened (a locked file, a server that is down)."""

    code = "store_unavailable"
    http_status = 503


class MissingDependency(PicidaeError, ImportError):
    """An optional dependency is needed; the message names the ``pip install`` to run."""

    code = "missing_dependency"
    http_status = 500

    def __init__(self, package: str, extra: str, *, broken: str | None = None) -> None:
        # ``broken``: the package is installed but its import failed (why, and what to do).
        message = (f"{package!r} is installed but cannot be imported: {broken}" if broken
                   else f"this feature needs {package!r}: pip install 'picidae[{extra}]'")
        super().__init__(message, field=None)



class ArtifactNotFound(PicidaeError, LookupError):
    """A run has no artifact by this name, or its stored content is missing."""

    code = "artifact_not_found"
    http_status = 404


class ArtifactCorrupt(PicidaeError):
    """An artifact's content does not match its recorded SHA-256 digest (nothing was written
    to the destination)."""

    code = "artifact_corrupt"
    http_status = 500

class FlowNotFound(PicidaeError, LookupError):
    """No flow has this name (or this version)."""

    code = "flow_not_found"
    http_status = 404


class ScheduleNotFound(PicidaeError, LookupError):
    """No schedule has this name (in this workspace)."""

    code = "not_found"
    http_status = 404


class AlertNotFound(PicidaeError, LookupError):
    """No alert rule has this name (in this workspace)."""

    code = "not_found"
    http_status = 404


_BY_CODE: dict[str, type[PicidaeError]] = {
    cls.code: cls
    for cls in (PicidaeError, InvalidInput, RunNotFound, IllegalTransition, RunFinished,
                StoreUnavailable, MissingDependency, ArtifactNotFound, ArtifactCorrupt,
                FlowNotFound)
}


def from_body(body: dict[str, object], status: int) -> PicidaeError:
    """Rebuild the error an API error body describes (used by the HTTP client store), so the
    caller gets the same class, message and details the store raised on the server."""
    code = str(body.get("code") or "")
    message = str(body.get("message") or f"HTTP {status}")
    field = body.get("field") if isinstance(body.get("field"), str) else None
    cls = _BY_CODE.get(code)
    if cls is None:
        cls = StoreUnavailable if status >= 500 else PicidaeError
    err = PicidaeError.__new__(cls)
    PicidaeError.__init__(err, message, field=field)  # type: ignore[arg-type]
    if isinstance(err, IllegalTransition):
        err.current = str(body.get("current"))
        err.asked = str(body.get("asked"))
        legal = body.get("legal")
        err.legal = [str(x) for x in legal] if isinstance(legal, list) else []
    if isinstance(err, RunNotFound):
        err.run_id = str(body.get("run_id") or "")
    if isinstance(err, RunFinished):
        err.run_id = _text_or_none(body.get("run_id"))
        err.status = _text_or_none(body.get("status"))
    return err


def _text_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None
