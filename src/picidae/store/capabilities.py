"""Optional store abilities, as typed protocols checked with ``isinstance``.

``Store`` (``base.py``) is what every store does. Some abilities belong to some stores only —
the SQL stores keep an events log and a token table, PostgreSQL can push notifications, a
server computes history and removals itself. Each is a ``runtime_checkable`` sub-protocol of
``Store`` (as litestar's ``NamespacedStore`` is of its ``Store``), so code asks
``isinstance(store, EventSource)`` and the type checker then knows the methods it may call —
never ``hasattr(store, "engine")``.

===================  ==========================================  ===========================
protocol             methods                                     implemented by
===================  ==========================================  ===========================
``WorkspacedStore``  ``workspace``, ``for_workspace``,           SQLite, PostgreSQL
                     ``run_workspace``, ``owned_run_ids``,
                     ``references_blob``
``EventSource``      ``last_event_id``, ``event_reader``         SQLite, PostgreSQL
``EventNotifier``    ``event_listener``                          PostgreSQL
``EventStream``      ``stream_events``                           HTTP
``TokenStore``       ``tokens``                                  SQLite, PostgreSQL
``ScheduleStore``    ``schedules``                               SQLite, PostgreSQL, HTTP
``AlertStore``       ``alerts``                                  SQLite, PostgreSQL, HTTP
``FolderStore``      ``folder``                                  SQLite (the embedded store)
``AggregateStore``   ``status_counts``, ``status_timeline``,     SQLite, PostgreSQL
                     ``run_figures``
``HistoryStore``     ``history``                                 HTTP
``RemovalStore``     ``remove_runs``                             HTTP
``ImportStore``      ``import_run``                              HTTP
``BeatStore``        ``heartbeat_many``                          SQLite, PostgreSQL
``EndingStore``      ``write_and_move``                          SQLite, PostgreSQL
``DeferringStore``   ``create_run_later``, ``settle``            SQLite, PostgreSQL
===================  ==========================================  ===========================

``docs/architecture.md`` keeps the same table.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeGuard, runtime_checkable

from picidae.store.base import Batch, RunQuery, Store


@runtime_checkable
class WorkspacedStore(Store, Protocol):
    """A store that keeps workspaces apart: one database, each run in one workspace, every
    read and write of a bound store limited to its workspace."""

    #: The workspace this store reads and writes.
    workspace: str

    def for_workspace(self, workspace: str) -> WorkspacedStore:
        """The same store bound to ``workspace`` (sharing connections)."""
        ...

    def run_workspace(self, run_id: str) -> str | None:
        """The workspace ``run_id`` belongs to, whichever this store is bound to (``None``
        for an unknown id), so a server answers 403, not 404, for another workspace's run."""
        ...

    def owned_run_ids(self, run_ids: list[str]) -> list[str]:
        """The ids among ``run_ids`` that are runs of this store's workspace."""
        ...

    def references_blob(self, digest: str) -> bool:
        """Whether an artifact of a run of this workspace (a file, an image or a folder's
        member) has this content digest: a server serves a blob only to workspaces that
        reference it (or proved they uploaded it)."""
        ...


class EventReading(Protocol):
    """One reader's position in an events log: ``poll`` returns what is safe to deliver."""

    #: The id of the last event consumed (a safe resume point).
    cursor: int
    #: Whether events are held back behind a gap that may still fill (poll again soon).
    holding: bool

    def poll(self, limit: int = 500) -> list[dict[str, Any]]:
        """The next events of the store's workspace (and run, if the reader has one), oldest
        first, each ``{id, type, run_id, at, payload}``; advances ``cursor`` past them."""
        ...


@runtime_checkable
class EventSource(Store, Protocol):
    """A store with an events log it reads itself (the SQL stores)."""

    def last_event_id(self) -> int:
        """The id of the newest event (0 when there is none)."""
        ...

    def event_reader(self, after: int, *, run_id: str | None = None) -> EventReading:
        """A reader of this workspace's events with an id above ``after`` (only ``run_id``'s,
        if given) that never skips an event whose transaction commits late."""
        ...


class EventListener(Protocol):
    """A wait for the next committed event (one per waiting thread)."""

    def wait(self, timeout: float) -> bool:
        """Block until an event is committed (True) or ``timeout`` seconds pass (False)."""
        ...

    def close(self) -> None:
        """Release the listener's connection."""
        ...


@runtime_checkable
class EventNotifier(EventSource, Protocol):
    """An events log that pushes: waiting readers wake as soon as any process commits an
    event (PostgreSQL's ``LISTEN``/``NOTIFY``) instead of polling."""

    def event_listener(self) -> EventListener:
        """A new listener on this database's events."""
        ...


@runtime_checkable
class EventStream(Store, Protocol):
    """A store whose server streams events to it (server-sent events)."""

    def stream_events(self, *, since: int | None = None, run_id: str | None = None,
                      timeout: float | None = None) -> Iterator[dict[str, Any]]:
        """Events as ``picidae.events()`` yields them (see there)."""
        ...


class TokenBook(Protocol):
    """The API tokens kept in a store's database (any workspace), only as hashes."""

    def create(self, workspace: str, role: str,
               name: str | None = None) -> tuple[str, dict[str, Any]]:
        """A new token: ``(token, record)``; the token itself is not stored anywhere."""
        ...

    def list(self) -> list[dict[str, Any]]:
        """Every token (revoked ones too), oldest first, without digests."""
        ...

    def revoke(self, token_id: str) -> dict[str, Any]:
        """Revoke a token by id; ``TokenNotFound`` for an unknown id."""
        ...

    def lookup(self, token_digest: str) -> dict[str, Any] | None:
        """The live token with this SHA-256 digest, or ``None``."""
        ...

    def exists(self) -> bool:
        """Whether any token was ever created here (then a server requires tokens)."""
        ...


@runtime_checkable
class TokenStore(Store, Protocol):
    """A store whose database holds API tokens (what ``picidae token`` manages)."""

    def tokens(self) -> TokenBook:
        """The token table of this store's database."""
        ...


class ScheduleBook(Protocol):
    """The schedules of a store's workspace and the slots they fired."""

    def add(self, name: str, cron: str, tz: str, *, spec: dict[str, Any] | None = None,
            flow: str | None = None, now: float | None = None) -> dict[str, Any]:
        """Store a new schedule submitting ``spec`` (a submission spec's dict) or the latest
        version of ``flow`` at each slot of ``cron`` (checked by the caller) in ``tz``; its
        first slot is the first after ``now``. ``InvalidInput`` when the name is taken."""
        ...

    def list(self) -> list[dict[str, Any]]:
        """Every schedule, by name: ``{name, cron, tz, spec, flow, paused, created_at,
        last_slot, last_run}`` (``last_run``: ``{id, slot, fired_at}`` or None)."""
        ...

    def workspaces(self) -> builtins.list[str]:
        """Every workspace that has a schedule, whichever this book is bound to (a server
        fires them all; a server's own book knows only its token's workspace)."""
        ...

    def get(self, name: str) -> dict[str, Any]:
        """One schedule as ``list`` gives it; ``ScheduleNotFound`` for an unknown name."""
        ...

    def remove(self, name: str) -> dict[str, Any]:
        """Delete a schedule (and the record of its slots); returns what it was."""
        ...

    def set_paused(self, name: str, paused: bool, *, now: float | None = None,
                   ) -> dict[str, Any]:
        """Pause or resume a schedule; a resumed one fires no slot missed while paused."""
        ...

    def claim(self, name: str, slot: float, *, now: float | None = None) -> bool:
        """Take ``slot`` for the caller to fire (a conditional insert keyed by schedule and
        slot): True for exactly one caller however many processes try."""
        ...

    def fired(self, name: str, slot: float, run_id: str) -> None:
        """Record the run a claimed slot submitted."""
        ...

    def fires(self, name: str) -> builtins.list[dict[str, Any]]:
        """Every slot the schedule fired, oldest first: ``{slot, run_id, fired_at}``."""
        ...


@runtime_checkable
class ScheduleStore(Store, Protocol):
    """A store that keeps schedules (what ``picidae schedule`` manages). Servers and workers
    fire those of a store whose database they read (an ``EventSource``); a server's store
    (HTTP) manages its server's, which fires them: its book's ``claim`` and ``fired`` refuse."""

    def schedules(self) -> ScheduleBook:
        """The schedules of this store's workspace."""
        ...


class AlertBook(Protocol):
    """The alert rules of a store's workspace and the deliveries they made."""

    def add(self, rule: dict[str, Any], *, now: float | None = None) -> dict[str, Any]:
        """Store a rule checked by ``core.alerts.check_rule`` (``{name, on, where, when,
        kind, url}``); it matches events from now on. ``InvalidInput`` when the name is
        taken."""
        ...

    def list(self) -> list[dict[str, Any]]:
        """Every rule, by name: what ``add`` took plus ``created_at`` and ``cursor`` (the
        newest event id matched against it)."""
        ...

    def workspaces(self) -> builtins.list[str]:
        """Every workspace that has an alert rule, whichever this book is bound to (a server
        delivers for them all; a server's own book knows only its token's workspace)."""
        ...

    def get(self, name: str) -> dict[str, Any]:
        """One rule as ``list`` gives it; ``AlertNotFound`` for an unknown name."""
        ...

    def remove(self, name: str) -> dict[str, Any]:
        """Delete a rule (and its undelivered alerts); returns what it was."""
        ...

    def advance(self, name: str, cursor: int) -> None:
        """Record that rule ``name`` has been matched against every event up to ``cursor``
        (never moves it back)."""
        ...

    def enqueue(self, name: str, key: str, run_id: str | None, payload: dict[str, Any], *,
                now: float | None = None) -> bool:
        """Queue one delivery of ``payload`` (the webhook body) for rule ``name``, keyed by
        ``key`` (what fired it): True for exactly one caller however many processes try."""
        ...

    def known(self, name: str, keys: builtins.list[str]) -> set[str]:
        """Which of ``keys`` rule ``name`` has queued already (so a caller need not try)."""
        ...

    def due(self, *, now: float | None = None, limit: int = 50) -> builtins.list[
            dict[str, Any]]:
        """Pending deliveries due now that no process holds: ``{id, alert, key, run_id,
        payload, status, attempts, next_at, created_at, delivered_at, last_error}``."""
        ...

    def claim(self, delivery_id: int, *, lease_s: float, now: float | None = None) -> bool:
        """Hold a due delivery for ``lease_s`` seconds (a conditional update): True for one
        caller at a time."""
        ...

    def attempted(self, delivery: dict[str, Any], *, ok: bool, detail: str | None,
                  next_at: float | None, now: float | None = None) -> None:
        """Record an attempt of a held delivery, and an ``alert.delivery`` event: delivered
        when ``ok``; else due again at ``next_at``, or given up when it is ``None``."""
        ...

    def deliveries(self, name: str | None = None) -> builtins.list[dict[str, Any]]:
        """Every delivery (of rule ``name``, if given), oldest first, as ``due`` gives
        them."""
        ...


@runtime_checkable
class AlertStore(Store, Protocol):
    """A store that keeps alert rules and deliveries (what ``picidae alerts`` manages).
    Servers and workers deliver for a store whose events log they read (one that is also an
    ``EventSource``); a server's store (HTTP) manages its server's rules, which delivers
    them: its book's ``advance``, ``enqueue``, ``known``, ``due``, ``claim`` and
    ``attempted`` refuse."""

    def alerts(self) -> AlertBook:
        """The alert rules of this store's workspace."""
        ...


@runtime_checkable
class FolderStore(Store, Protocol):
    """A store kept in a folder on this machine (the embedded store): its artifacts go in
    ``folder/artifacts`` unless configured otherwise."""

    folder: Path


@runtime_checkable
class AggregateStore(Store, Protocol):
    """A store that counts and totals runs itself, without loading their records
    (``store/sql/aggregates.py``): the runs page's facets, the history chart and
    ``picidae.history`` at a million runs."""

    def status_counts(self, query: RunQuery) -> dict[str, int]:
        """Runs per status among those ``query`` matches (states without runs left out)."""
        ...

    def status_timeline(self, query: RunQuery, start: float, size: float,
                        n: int) -> dict[int, dict[str, int]]:
        """Runs per status in each of the ``n`` buckets ``[start + i·size, start + (i+1)·size)``
        among those ``query`` matches: ``{i: {status: n}}``, buckets without runs left out."""
        ...

    def run_figures(self, query: RunQuery, *, by: str | None = None,
                    percentiles: tuple[int, ...] = (50, 95)) -> dict[Any, dict[str, Any]]:
        """Per group of ``by`` (name, agent, day; ``None``: one group keyed ``None``): runs
        per status, failures by reason, durations (n, mean, max, percentiles) and cost."""
        ...


@runtime_checkable
class HistoryStore(Store, Protocol):
    """A store that computes ``picidae.history()`` itself (a server, over its own store)."""

    def history(self, *, where: str | None = None, by: str | None = None,
                created_after: float | None = None,
                created_before: float | None = None) -> dict[str, Any]:
        """What ``analysis.history.history`` returns for the same arguments."""
        ...


@runtime_checkable
class RemovalStore(Store, Protocol):
    """A store that removes runs with their descendants and blobs itself (a server: the
    blobs live beside it)."""

    def remove_runs(self, run_ids: list[str], *, dry_run: bool = False) -> dict[str, Any]:
        """What ``analysis.retention.remove`` returns for the same arguments."""
        ...


@runtime_checkable
class ImportStore(Store, Protocol):
    """A store that loads an exported run payload itself (a server, in one request)."""

    def import_run(self, payload: dict[str, Any]) -> dict[str, Any]:
        """What ``analysis.bundle.load_run`` returns for the same payload."""
        ...


@runtime_checkable
class BeatStore(Store, Protocol):
    """A store that records many runs' heartbeats in one transaction (a server coalesces
    its requests' heartbeats; see ``server/beats.py``)."""

    def heartbeat_many(self, beats: list[tuple[str, str, float]]) -> list[str | Exception]:
        """``(workspace, run id, at)`` each: what ``heartbeat`` would return (the status)
        or raise (the exception, returned in its place), in order; every returned status is
        committed."""
        ...


@runtime_checkable
class EndingStore(Store, Protocol):
    """A store that ends a run in one transaction with its last batch (the SDK's
    ``finish``: one transaction instead of a write and a transition)."""

    def write_and_move(self, run_id: str, batch: Batch, to: str, *,
                       reason: str | None = None, actor: str | None = None,
                       failure: dict[str, Any] | None = None) -> str:
        """``write(run_id, batch)`` then ``transition(run_id, to, ...)``, both or neither
        (an error applied nothing); returns the new status."""
        ...


@runtime_checkable
class DeferringStore(Store, Protocol):
    """A store that can write a new run a moment after it is made, with its end if it ends
    by then and with other new runs, in one transaction (``store/sql/deferred.py``): the
    SDK's short runs pay for one commit per batch of runs, not two per run."""

    def create_run_later(self, record: dict[str, Any]) -> dict[str, Any]:
        """``create_run`` (the same record back), written within moments; every other use
        of the store in this process writes it first."""
        ...

    def settle(self) -> None:
        """Write the runs that wait (``create_run_later``) now."""
        ...


#: ``isinstance`` answers by (store class, protocol): a protocol check looks up every method
#: of ``Store``, which costs more than the transaction an ability saves on the SDK's paths.
_ABLE: dict[tuple[type, type], bool] = {}


def _able(store: Store, protocol: type) -> bool:
    key = (type(store), protocol)
    found = _ABLE.get(key)
    if found is None:
        found = _ABLE[key] = isinstance(store, protocol)
    return found


def ends_at_once(store: Store) -> TypeGuard[EndingStore]:
    """``isinstance(store, EndingStore)``, answered once per store class."""
    return _able(store, EndingStore)


def defers_new_runs(store: Store) -> TypeGuard[DeferringStore]:
    """``isinstance(store, DeferringStore)``, answered once per store class."""
    return _able(store, DeferringStore)


if TYPE_CHECKING:  # mypy proves the table above, signatures included (isinstance checks names)
    from picidae.store.http import HttpStore
    from picidae.store.sql.postgres import PostgresStore
    from picidae.store.sql.sqlite import SqliteStore

    def _conforms(sqlite: SqliteStore, pg: PostgresStore, http: HttpStore) -> None:
        workspaced: WorkspacedStore = sqlite
        source: EventSource = sqlite
        tokens: TokenStore = sqlite
        folder: FolderStore = sqlite
        timed: ScheduleStore = sqlite
        alerting: AlertStore = sqlite
        aggregates: AggregateStore = sqlite
        workspaced = source = tokens = timed = alerting = aggregates = pg
        notifier: EventNotifier = pg
        beats: BeatStore = sqlite
        beats = pg
        ending: EndingStore = sqlite
        ending = pg
        deferring: DeferringStore = sqlite
        deferring = pg
        stream: EventStream = http
        history: HistoryStore = http
        timed = http
        alerting = http
        removal: RemovalStore = http
        importer: ImportStore = http
        del workspaced, source, tokens, timed, alerting, folder, notifier, stream, history
        del removal, importer, beats, aggregates, ending, deferring
