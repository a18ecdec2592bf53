"""Alerts: rules that post to a webhook or Slack when a run fails, goes lost, completes,
calls ``run.alert(...)`` or makes a ``--when`` expression true.

``add`` stores a rule (``picidae alerts add``). ``Deliverer`` runs inside ``picidae server``,
``picidae ui`` and ``picidae worker``: each tick it matches the events log (transitions and
``run.alert`` events) and the ``--when`` expressions against the rules, enqueues one delivery
per alert (a conditional insert keyed by rule and trigger, so several processes make one),
and posts the due ones (each held by one process at a time), retrying with backoff. Every
attempt is an ``alert.delivery`` event. Rules live in a SQL store's database (``AlertStore``);
a server delivers for every workspace. Over ``--store http://`` they are managed through the
server's API, and the server delivers them (and posts ``test``).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

from picidae.core import alerts as rules
from picidae.errors import InvalidInput, PicidaeError
from picidae.settings import settings
from picidae.store.base import RunQuery, Store
from picidae.store.capabilities import (
    AlertBook,
    AlertStore,
    EventReading,
    EventSource,
    WorkspacedStore,
)
from picidae.store.registry import StoreLocation, open_store
from picidae.ticker import Ticker

log = logging.getLogger("picidae.alerts")

#: Seconds between two ticks of a deliverer.
TICK_S = 0.5
#: Seconds one process holds a delivery it is posting (longer than a post can take).
LEASE_S = 60.0
POST_TIMEOUT_S = 10.0

_delivered = 0
_count_lock = threading.Lock()


def delivered_total() -> int:
    """Alerts this process has delivered (``picidae_alerts_delivered_total``)."""
    return _delivered


def book(store: Store) -> AlertBook:
    """The store's alert rules, or ``InvalidInput`` for a store that keeps none."""
    if not isinstance(store, AlertStore):
        raise InvalidInput(f"this store keeps no alert rules: {store.url}", field="store")
    return store.alerts()


def add(name: str, on: str | list[str] | None, *, where: str | None = None,
        when: str | None = None, webhook: str | None = None, slack: str | None = None,
        store: StoreLocation = None) -> dict[str, Any]:
    """Store alert rule ``name`` (see ``core.alerts.check_rule``); checked before storing."""
    rule = rules.check_rule(name, on, where=where, when=when, webhook=webhook, slack=slack)
    if rule["when"] and "when" not in rule["on"]:
        rule["on"].append("when")
    return book(open_store(store)).add(rule)


def run_url(run_id: str | None) -> str | None:
    """The run's page, when ``PICIDAE_PUBLIC_URL`` (the server's address as users reach it)
    is set."""
    base = settings().public_url
    return f"{base}/runs/{run_id}" if base and run_id else None


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat().replace("+00:00", "Z")


def body_for(alert: str, trigger: str, run: dict[str, Any], at: float,
             extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The webhook body of an alert of rule ``alert`` fired by ``trigger`` about ``run``."""
    return rules.webhook_body(alert, run, rules.message(trigger, run, extra), _iso(at),
                              run_url(run.get("id")))


def post(kind: str, url: str, body: dict[str, Any]) -> str | None:
    """Post one alert: ``None`` when the receiver took it (2xx), else what went wrong."""
    import httpx

    payload = rules.slack_body(body) if kind == "slack" else body
    try:
        response = httpx.post(url, content=json.dumps(payload, allow_nan=False, default=str),
                              headers={"content-type": "application/json",
                                       "user-agent": "picidae-alerts"},
                              timeout=POST_TIMEOUT_S)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"[:500]
    except ValueError as exc:  # a NaN in the body: never, but never crash a deliverer
        return str(exc)[:500]
    if 200 <= response.status_code < 300:
        return None
    return f"HTTP {response.status_code}: {response.text[:200]}"


@runtime_checkable
class RemoteAlerts(Protocol):
    """A server's alert rules (``HttpStore.alerts()``): the server posts the test."""

    def test(self, name: str) -> dict[str, Any]:
        """What ``test`` returns, done by the server."""
        ...


def test(name: str, *, store: StoreLocation = None) -> dict[str, Any]:
    """Post a test alert for rule ``name`` now: ``{ok, detail, url}`` (a server's store:
    the server posts it, from where it delivers)."""
    table = book(open_store(store))
    if isinstance(table, RemoteAlerts):
        return table.test(name)
    return post_test(table.get(name))


def post_test(rule: dict[str, Any]) -> dict[str, Any]:
    """Post a test alert for ``rule`` from this process: ``{ok, detail, url}``."""
    name = rule["name"]
    run = {"id": None, "name": "picidae-test", "status": "test"}
    body = rules.webhook_body(name, run, {"title": f"test of alert {name}", "level": "info",
                                          "text": "picidae alerts test"}, _iso(time.time()),
                              None)
    detail = post(rule["kind"], rule["url"], body)
    return {"ok": detail is None, "detail": detail, "url": rule["url"]}


def delivers_here(store: Store) -> bool:
    """Whether this process delivers ``store``'s alerts: a store whose events log it reads
    (a server's store, HTTP, is its server's to deliver)."""
    return isinstance(store, AlertStore) and isinstance(store, EventSource)


class Matcher:
    """One process's matching of one workspace's rules against its events log and
    ``--when`` expressions."""

    def __init__(self, store: AlertStore) -> None:
        assert isinstance(store, EventSource)
        self.source: EventSource = store
        self.store = store
        self.book = store.alerts()
        self.reader: EventReading | None = None

    def _runs_where(self, expr: str | None, run_id: str) -> bool:
        if not expr:
            return True
        where = f"({expr}) and id = {json.dumps(run_id)}"
        return self.store.count_runs(RunQuery(where=where, limit=1)) > 0

    def _fire(self, rule: dict[str, Any], key: str, trigger: str, run_id: str, at: float,
              extra: dict[str, Any] | None = None) -> None:
        try:
            run = self.store.get_run(run_id)
        except PicidaeError:
            return  # removed since
        self.book.enqueue(rule["name"], key, run_id, body_for(rule["name"], trigger, run, at,
                                                               extra))

    def events(self, found: list[dict[str, Any]]) -> None:
        """Enqueue what new events fire (transitions and ``run.alert``)."""
        active = [r for r in found if set(r["on"]) & set(rules.EVENTS)]
        if not active:
            return
        low = min(r["cursor"] for r in active)
        if self.reader is None or low < self.reader.cursor:  # a new rule: read from its start
            self.reader = self.source.event_reader(low)
        while True:
            batch = self.reader.poll()
            for event in batch:
                trigger = (event["payload"].get("to") if event["type"] == "run.transition"
                           else "alert" if event["type"] == "run.alert" else None)
                if trigger not in rules.EVENTS or not event["run_id"]:
                    continue
                for rule in active:
                    if (trigger in rule["on"] and event["id"] > rule["cursor"]
                            and self._runs_where(rule["where"], event["run_id"])):
                        self._fire(rule, f"event:{event['id']}", trigger, event["run_id"],
                                   event["at"], event["payload"])
            if not batch:
                break
        for rule in active:
            if self.reader.cursor > rule["cursor"]:  # a write only when it moves
                self.book.advance(rule["name"], self.reader.cursor)

    def crossings(self, found: list[dict[str, Any]], now: float) -> None:
        """Enqueue a ``when`` alert for each run its expression became true for."""
        for rule in found:
            if not rule["when"]:
                continue
            where = rule["when"] if not rule["where"] else \
                f"({rule['when']}) and ({rule['where']})"
            found_runs = [r for r in self.store.list_runs(RunQuery(
                where=where, limit=500, order_by=[("created_at", True)]))
                if r.get("ended_at") is None or r["ended_at"] >= rule["created_at"]]
            # Only runs not alerted yet: enqueueing is a write, and the expression stays
            # true tick after tick.
            known = self.book.known(rule["name"], [f"when:{r['id']}" for r in found_runs])
            for run in found_runs:
                if f"when:{run['id']}" in known:
                    continue
                self.book.enqueue(rule["name"], f"when:{run['id']}", run["id"], body_for(
                    rule["name"], "when", run, now, {"when": rule["when"]}))


def deliver_due(book: AlertBook, now: float | None = None) -> int:
    """Post every due delivery this process can hold; returns how many were delivered."""
    global _delivered
    count = 0
    found = {r["name"]: r for r in book.list()}
    for item in book.due(now=now):
        rule = found.get(item["alert"])
        if rule is None or not book.claim(item["id"], lease_s=LEASE_S):
            continue
        detail = post(rule["kind"], rule["url"], item["payload"])
        attempts = item["attempts"] + 1
        done = time.time()
        next_at = None if detail is None or attempts >= rules.MAX_ATTEMPTS else \
            done + rules.backoff(attempts)
        book.attempted(item, ok=detail is None, detail=detail, next_at=next_at, now=done)
        if detail is None:
            count += 1
            with _count_lock:
                _delivered += 1
        else:
            log.warning("alert %s: delivery %s failed (attempt %s): %s", item["alert"],
                        item["id"], attempts, detail)
    return count


class Deliverer(Ticker):
    """A daemon thread matching and delivering alerts every ``tick_s`` seconds (a server's,
    a worker's). ``clock`` gives the time (tests inject one)."""

    name = "picidae-alerts"
    join_timeout_s = 15.0

    def __init__(self, store: Store, *, tick_s: float = TICK_S,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.store = store
        self.tick_s = self.retry_s = tick_s
        self.clock = clock
        self._matchers: dict[str, Matcher] = {}

    def matchers(self) -> list[Matcher]:
        """One matcher per workspace that has alert rules (kept between ticks: each keeps
        its place in its workspace's events log)."""
        assert isinstance(self.store, AlertStore)
        if not isinstance(self.store, WorkspacedStore):
            return [self._matchers.setdefault("", Matcher(self.store))]
        out = []
        for ws in self.store.alerts().workspaces():
            if ws not in self._matchers:
                bound = self.store if ws == self.store.workspace else \
                    self.store.for_workspace(ws)
                assert isinstance(bound, AlertStore)
                self._matchers[ws] = Matcher(bound)
            out.append(self._matchers[ws])
        return out

    def _enabled(self) -> bool:
        return delivers_here(self.store)

    def stop(self, *, flush: bool = False) -> None:
        """Stop delivering (waits for the current tick). ``flush`` runs one last tick here,
        so what the caller's own last moves fired goes out (``picidae worker --once``)."""
        super().stop()
        if flush and delivers_here(self.store):
            try:
                self._matchers.clear()
                for matcher in self.matchers():
                    self.tick(matcher)
            except Exception as exc:
                log.warning("alerts: last tick failed: %s", exc)

    def tick(self, matcher: Matcher) -> None:
        """Match new triggers, then post what is due."""
        found = matcher.book.list()
        if not found:
            return
        matcher.events(found)
        matcher.crossings(found, self.clock())
        deliver_due(matcher.book, self.clock())

    def _tick(self) -> float:
        for matcher in self.matchers():
            self.tick(matcher)
        return self.tick_s
