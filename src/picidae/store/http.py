"""``HttpStore``: the Store protocol over a Picidae server's API (``store="http://host:port"``).

The SDK, the CLI and the reading API work unchanged on it. Metric points travel in the SDK's
batches as packed arrays, each batch with an ``Idempotency-Key`` so a retried batch is never
applied twice. A request that fails in transport is retried twice at once when that is safe;
longer outages are ridden out by the SDK's outbox (``sdk.outbox``). Errors come back as the
same classes the server's store raised. No SQLAlchemy here.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterator, Mapping
from typing import Any

import httpx

from picidae.core.edits import clean_edit
from picidae.core.fields import names
from picidae.core.run import LogLine
from picidae.core.times import record_from_json
from picidae.errors import InvalidInput, RunNotFound, StoreUnavailable, from_body
from picidae.store.base import Batch, MetricSeries, RunQuery
from picidae.store.http_books import HttpAlertBook, HttpScheduleBook
from picidae.store.wire import batch_to_wire, parse_nonfinite, unpack

PAGE = 1000
#: Pauses before the quick retries of a request that failed in transport (a restarting
#: server, a stale keep-alive connection); longer outages are the SDK outbox's to ride out.
RETRY_PAUSES_S = (0.05, 0.25)
#: What a create request carries (the server assigns the id and derives the root).
_CREATE_FIELDS = tuple(n for n in names(create=True) if n != "transitions")


def _dumps(data: Any) -> bytes:
    # The server reads NaN and infinities (Python's json), so summaries keep them.
    return json.dumps(data, separators=(",", ":"), allow_nan=True).encode()


class HttpStore:
    """A store on a Picidae server (see the module docstring)."""

    liveness_on_read = False

    def __init__(self, url: str, *, token: str | None = None, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        token = token if token is not None else os.environ.get("PICIDAE_TOKEN")
        # NaN and infinities spelled out in answers (json reads them), so they read back as
        # stored, not as null.
        headers = {"User-Agent": "picidae-sdk", "Content-Type": "application/json",
                   "X-Picidae-Nonfinite": "literal"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._client = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    # -- plumbing -----------------------------------------------------------------------

    def _call(self, method: str, path: str, *, body: Any = None,
              params: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> Any:
        content = None if body is None else _dumps(body)
        # A request that never reached the server may always be tried again; one that may
        # have (the answer was lost) only when repeating it changes nothing: reads, and
        # writes that carry an Idempotency-Key or record a heartbeat.
        repeatable = (method in ("GET", "HEAD", "DELETE") or path.endswith("/heartbeat")
                      or bool(headers and "Idempotency-Key" in headers))
        for pause in (*RETRY_PAUSES_S, None):
            try:
                response = self._client.request(method, path, params=params, headers=headers,
                                                content=content)
                break
            except httpx.TransportError as exc:
                unsent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
                if pause is None or not (unsent or repeatable):
                    raise StoreUnavailable(f"cannot reach the Picidae server at {self.url}: "
                                           f"{exc}") from exc
                time.sleep(pause)
        if response.status_code >= 400:
            try:
                data = response.json()
            except ValueError:
                data = {}
            if not isinstance(data, dict):
                data = {}
            data.setdefault("message", f"HTTP {response.status_code} from {self.url}{path}")
            raise from_body(data, response.status_code)
        return response.json()

    # -- runs ---------------------------------------------------------------------------

    def create_run(self, record: dict[str, Any]) -> dict[str, Any]:
        """See ``Store.create_run`` (the server assigns the id)."""
        body = {name: record.get(name) for name in _CREATE_FIELDS if record.get(name) is not None}
        if record.get("transitions"):
            body["transitions"] = record["transitions"]
        return record_from_json(self._call("POST", "/api/v1/runs", body=body))

    def get_run(self, run_id: str) -> dict[str, Any]:
        """See ``Store.get_run``."""
        return record_from_json(self._call("GET", f"/api/v1/runs/{_seg(run_id)}"))

    def get_transitions(self, run_id: str) -> list[dict[str, Any]]:
        """The run's transitions, oldest first."""
        return self.get_run(run_id)["transitions"]  # type: ignore[no-any-return]

    def _params(self, query: RunQuery) -> dict[str, Any]:
        params: dict[str, Any] = {"include_archived": query.include_archived,
                                  "with_metrics": False}
        if query.status:
            params["status"] = ",".join(query.status)
        for name in ("name", "parent", "kind", "where", "root"):
            if getattr(query, name):
                params[name] = getattr(query, name)
        for name in ("created_after", "created_before"):
            if getattr(query, name) is not None:
                params[name] = repr(float(getattr(query, name)))
        if query.tags:
            params["tag"] = query.tags
        if query.order_by:
            params["order_by"] = ", ".join(f"{f} {'desc' if d else 'asc'}"
                                           for f, d in query.order_by)
        return params

    def list_runs(self, query: RunQuery) -> list[dict[str, Any]]:
        """See ``Store.list_runs`` (pages through the API as needed)."""
        params = self._params(query)
        out: list[dict[str, Any]] = []
        offset = query.offset
        while query.limit is None or len(out) < query.limit:
            want = PAGE if query.limit is None else min(PAGE, query.limit - len(out))
            page = self._call("GET", "/api/v1/runs",
                              params={**params, "limit": want, "offset": offset})
            out.extend(record_from_json(rec) for rec in page["runs"])
            offset += len(page["runs"])
            if not page.get("next_cursor") or not page["runs"]:
                break
        return out

    def count_runs(self, query: RunQuery) -> int:
        """See ``Store.count_runs``."""
        page = self._call("GET", "/api/v1/runs",
                          params={**self._params(query), "limit": 1, "with_total": True})
        return int(page["total"])

    def transition(self, run_id: str, to: str, *, reason: str | None = None,
                   actor: str | None = None, at: float | None = None,
                   failure: dict[str, Any] | None = None,
                   expect: set[str] | None = None) -> dict[str, Any]:
        """See ``Store.transition``."""
        body: dict[str, Any] = {"to": to, "reason": reason, "actor": actor, "at": at,
                                "failure": failure}
        if expect is not None:
            body["expect"] = sorted(expect)
        return record_from_json(self._call("POST", f"/api/v1/runs/{_seg(run_id)}/transitions",
                                           body={k: v for k, v in body.items()
                                                 if v is not None}))

    def edit_run(self, run_id: str, changes: dict[str, Any], *,
                 actor: str | None = None) -> dict[str, Any]:
        """See ``Store.edit_run`` (``PATCH /api/v1/runs/{id}``; the server records the
        actor it is given, else the token's)."""
        body: dict[str, Any] = clean_edit(changes)  # a bad edit fails here, as elsewhere
        if actor is not None:
            body["actor"] = actor
        return record_from_json(self._call("PATCH", f"/api/v1/runs/{_seg(run_id)}", body=body))

    def restore_run(self, run_id: str, *, actor: str | None = None) -> dict[str, Any]:
        """See ``Store.restore_run`` (``POST /api/v1/runs/{id}/restore``)."""
        return record_from_json(self._call("POST", f"/api/v1/runs/{_seg(run_id)}/restore",
                                           body={"actor": actor} if actor is not None else {}))

    def heartbeat(self, run_id: str, at: float | None = None) -> str:
        """See ``Store.heartbeat``."""
        data = self._call("POST", f"/api/v1/runs/{_seg(run_id)}/heartbeat",
                          body={"at": at} if at is not None else {})
        return str(data["status"])

    def write(self, run_id: str, batch: Batch) -> None:
        """See ``Store.write``; the batch id is sent as the ``Idempotency-Key``."""
        if batch.empty():
            return
        headers = {"Idempotency-Key": batch.batch_id} if batch.batch_id else None
        self._call("POST", f"/api/v1/runs/{_seg(run_id)}/batch", body=batch_to_wire(batch),
                   headers=headers)

    # -- work for workers ---------------------------------------------------------------

    def claim(self, worker: str, *, queue: str = "default", limit: int = 1,
              fits: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """See ``Store.claim`` (the server's store claims atomically)."""
        body: dict[str, Any] = {"worker": worker, "queue": queue, "limit": limit}
        if fits is not None:
            body["fits"] = dict(fits)
        data = self._call("POST", "/api/v1/queue/claim", body=body)
        return [record_from_json(rec) for rec in data["runs"]]

    def add_flow(self, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        """See ``Store.add_flow``."""
        return self._call("POST", "/api/v1/flows",  # type: ignore[no-any-return]
                          body={"name": name, "spec": spec})

    def get_flow(self, name: str, version: int | None = None) -> dict[str, Any]:
        """See ``Store.get_flow``."""
        params = {"version": version} if version is not None else None
        return self._call("GET", f"/api/v1/flows/{_seg(name)}",  # type: ignore
                          params=params)

    def list_flows(self) -> list[dict[str, Any]]:
        """See ``Store.list_flows``."""
        return self._call("GET", "/api/v1/flows")["flows"]  # type: ignore[no-any-return]

    def delete_runs(self, run_ids: list[str]) -> list[str]:
        """See ``Store.delete_runs``."""
        done: list[str] = []
        for run_id in run_ids:
            try:
                done.extend(self._call("DELETE", f"/api/v1/runs/{_seg(run_id)}")["deleted"])
            except LookupError:
                continue
        return done

    def apply_liveness(self, now: float | None = None) -> list[tuple[str, str, str]]:
        """The server's watchdog does this on a timer; nothing to do client-side."""
        return []

    # -- metrics, logs, events ----------------------------------------------------------

    def metrics(self, run_id: str, key: str, max_points: int | None = None) -> MetricSeries:
        """See ``Store.metrics`` (read packed, so NaN and infinities survive; the server
        downsamples)."""
        params: dict[str, Any] = {"format": "packed"}
        if max_points is not None:
            params["max_points"] = max_points
        try:
            data = self._call("GET",
                              f"/api/v1/runs/{_seg(run_id)}/metrics/{_seg(key, True)}",
                              params=params)
        except RunNotFound:  # as the other stores: an unknown run has no points
            return MetricSeries(key, [], [], [], [])
        return MetricSeries(key, unpack("q", data["steps"], "steps"),
                            unpack("d", data["values"], "values"),
                            unpack("d", data["times"], "times"), data["stages"],
                            total=data.get("total"))

    def metric_keys(self, run_id: str) -> list[str]:
        """See ``Store.metric_keys``."""
        try:
            return self._call("GET", f"/api/v1/runs/{_seg(run_id)}/metrics")["keys"]  # type: ignore
        except RunNotFound:  # as the other stores: an unknown run has no keys
            return []

    def latest_metrics(self, run_ids: list[str]) -> dict[str, dict[str, float]]:
        """See ``Store.latest_metrics``."""
        out: dict[str, dict[str, float]] = {}
        for lo in range(0, len(run_ids), 5000):
            data = self._call("POST", "/api/v1/metrics/latest",
                              body={"run_ids": run_ids[lo:lo + 5000]})
            for run_id, values in data.items():
                out[run_id] = {k: math.nan if v is None else parse_nonfinite(v)
                               for k, v in values.items()}
        return out

    def logs(self, run_id: str, offset: int = 0, limit: int | None = None) -> list[LogLine]:
        """See ``Store.logs``."""
        params: dict[str, Any] = {"offset": offset}
        if limit is not None:
            params["limit"] = limit
        try:
            data = self._call("GET", f"/api/v1/runs/{_seg(run_id)}/logs", params=params)
        except RunNotFound:  # as the other stores: an unknown run has no lines
            return []
        return [LogLine(ln["time"], ln["stream"], ln["text"]) for ln in data["lines"]]

    def stream_events(self, *, since: int | None = None, run_id: str | None = None,
                      timeout: float | None = None) -> Iterator[dict[str, Any]]:
        """The server's events stream (SSE), reconnecting after the last event seen."""
        cursor = since
        while True:
            params: dict[str, Any] = {}
            if cursor is not None:
                params["since"] = cursor
            if run_id is not None:
                params["run_id"] = run_id
            if timeout is not None:
                params["timeout"] = timeout
            try:
                with self._client.stream("GET", "/api/v1/events", params=params,
                                         timeout=httpx.Timeout(10.0, read=None)) as response:
                    if response.status_code >= 400:
                        response.read()
                        raise from_body(response.json(), response.status_code)
                    data: list[str] = []
                    for line in response.iter_lines():
                        if line.startswith("data:"):
                            data.append(line[5:].strip())
                        elif line == "" and data:
                            event = json.loads("\n".join(data))
                            data = []
                            cursor = event["id"]
                            yield event
            except httpx.TransportError as exc:
                raise StoreUnavailable(f"lost the events stream of {self.url}: {exc}") from exc
            if timeout is not None:
                return  # the server closed an idle stream, as asked

    # -- analysis: run by the server on its store (server/routes/analysis.py) -------------

    def lineage(self, run_id: str, *, max_nodes: int = 500) -> dict[str, Any]:
        """See ``Store.lineage``."""
        return self._call("GET", f"/api/v1/runs/{_seg(run_id)}/lineage",  # type: ignore
                          params={"max_nodes": max_nodes})

    def referrers(self, run_ids: list[str]) -> list[dict[str, Any]]:
        """See ``Store.referrers``."""
        edges: list[dict[str, Any]] = []
        for lo in range(0, len(run_ids), 1000):
            edges.extend(self._call("POST", "/api/v1/runs/referrers",
                                    body={"run_ids": run_ids[lo:lo + 1000]})["edges"])
        inside = set(run_ids)
        return [e for e in edges if e["to"] not in inside]

    def purge_runs(self, run_ids: list[str]) -> dict[str, Any]:
        """See ``Store.purge_runs``."""
        return self._call("POST", "/api/v1/runs/purge",  # type: ignore[no-any-return]
                          body={"run_ids": list(run_ids)})

    def remove_runs(self, run_ids: list[str], *, dry_run: bool = False) -> dict[str, Any]:
        """``picidae.analysis.retention.remove``, done by the server (which deletes the
        artifact blobs from its artifact store)."""
        return self._call("POST", "/api/v1/runs/remove",  # type: ignore[no-any-return]
                          body={"run_ids": list(run_ids), "dry_run": dry_run})

    def history(self, *, where: str | None = None, by: str | None = None,
                created_after: float | None = None,
                created_before: float | None = None) -> dict[str, Any]:
        """``picidae.analysis.history.history``, computed by the server."""
        params = {name: value for name, value in (
            ("where", where), ("by", by), ("created_after", created_after),
            ("created_before", created_before)) if value is not None}
        return self._call("GET", "/api/v1/history", params=params)  # type: ignore

    def import_run(self, payload: dict[str, Any]) -> dict[str, Any]:
        """``picidae.analysis.bundle.load_run`` on the server: one run stored with its id."""
        return self._call("POST", "/api/v1/runs/import",  # type: ignore[no-any-return]
                          body=payload)

    def add_artifact(self, run_id: str, record: dict[str, Any], *,
                     backfill: bool = False) -> dict[str, Any]:
        """See ``Store.add_artifact`` (its blobs must be on the server already). The server
        refuses an ended run's new artifact (409) whatever ``backfill`` says: an import
        over HTTP sends the whole run (``import_run``)."""
        return self._call("POST", f"/api/v1/runs/{_seg(run_id)}/artifacts",  # type: ignore
                          body=record)

    def list_artifacts(self, run_id: str) -> list[dict[str, Any]]:
        """See ``Store.list_artifacts``."""
        return self._call("GET",  # type: ignore[no-any-return]
                          f"/api/v1/runs/{_seg(run_id)}/artifacts")["artifacts"]

    # -- schedules and alert rules: managed here, fired and delivered by the server ------

    def schedules(self) -> HttpScheduleBook:
        """See ``ScheduleStore.schedules`` (``/api/v1/schedules``, the token's workspace)."""
        return HttpScheduleBook(self._call)

    def alerts(self) -> HttpAlertBook:
        """See ``AlertStore.alerts`` (``/api/v1/alerts``, the token's workspace)."""
        return HttpAlertBook(self._call)

    def close(self) -> None:
        """See ``Store.close``."""
        self._client.close()


def _seg(value: str, path: bool = False) -> str:
    """A URL path segment (``path=True`` keeps slashes, for metric keys like ``train/loss``)."""
    from urllib.parse import quote

    if not isinstance(value, str) or not value:
        raise InvalidInput(f"expected a non-empty string, got {value!r}", field="id")
    return quote(value, safe="/" if path else "")
