"""The spool: what a run could not send yet, kept on disk until the store takes it.

One folder per run, ``PICIDAE_HOME/spool/<run_id>/``::

    meta.json                          {"run_id", "name", "store"}
    00001732...-000003.batch.json      {"run_id", "batch": <the HTTP API's wire form>}
    00001732...-000004.end.json        {"run_id", "to", "reason", "failure", "at"}
    00001732...-000001.batch.rejected.json   refused by the store (kept, never dropped)

Entries sort by name in the order they were made: batches first, then the run's final
transition, exactly as the program made them. Every batch keeps its id, so uploading one
twice (a sync interrupted after the store took it) applies it once. ``picidae sync`` uploads
what is left (``upload``); the background writer drains a spool first while the run lives.
"""

from __future__ import annotations

import itertools
import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from picidae.errors import IllegalTransition, InvalidInput, PicidaeError, StoreUnavailable
from picidae.settings import settings
from picidae.store.base import Batch, Store
from picidae.store.lifecycle import retry_if_lost
from picidae.store.wire import batch_from_wire, batch_to_wire

_seq = itertools.count(1)
_seq_lock = threading.Lock()


_root: tuple[object, Path] | None = None


def spool_root() -> Path:
    """Where every run's spool folder lives: ``PICIDAE_HOME/spool`` (the path is made again
    only when the settings changed: every new run's outbox asks)."""
    global _root
    cfg = settings()
    root = _root
    if root is None or root[0] is not cfg:
        root = _root = (cfg, cfg.home / "spool")
    return root[1]


def _store_label(store: Store) -> str | None:
    """The store's URL as recorded in ``meta.json`` (passwords are already masked by the
    PostgreSQL store; ``picidae sync --store`` supplies a full URL then)."""
    return str(store.url) if store.url else None


@dataclass
class Entry:
    """One spooled item: a batch (``kind`` ``batch``) or the final transition (``end``)."""

    path: Path
    kind: str
    points: int = 0
    lines: int = 0
    rejected: bool = False

    @property
    def name(self) -> str:
        """The file name (sorts in the order entries were made)."""
        return self.path.name


@dataclass
class Spool:
    """One run's spool folder (see the module docstring). Not thread-safe: its run's flush
    lock guards it."""

    folder: Path
    run_id: str
    entries: list[Entry] = field(default_factory=list)

    @classmethod
    def open(cls, run_id: str, root: Path | None = None) -> Spool:
        """The run's spool, with the entries already on disk (none if it has no folder)."""
        spool = cls((root or spool_root()) / run_id, run_id)
        spool.entries = spool._scan()
        return spool

    def _scan(self) -> list[Entry]:
        try:
            names = sorted(os.listdir(self.folder))
        except FileNotFoundError:
            return []
        out = []
        for name in names:
            if not name.endswith(".json") or name == "meta.json" or name.startswith("."):
                continue
            path = self.folder / name
            kind = "end" if ".end." in name else "batch"
            entry = Entry(path, kind, rejected=".rejected." in name)
            if kind == "batch":
                try:
                    batch = load(path)[1]
                except (OSError, ValueError, PicidaeError):
                    batch = None
                if isinstance(batch, Batch):
                    entry.points, entry.lines = batch.n_points(), len(batch.logs)
            out.append(entry)
        return out

    def pending(self) -> list[Entry]:
        """Entries still to send (not refused), oldest first."""
        return [e for e in self.entries if not e.rejected]

    def _write(self, suffix: str, data: dict[str, Any], store: Store, name: str | None) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        meta = self.folder / "meta.json"
        if not meta.exists():
            _atomic_write(meta, {"run_id": self.run_id, "name": name,
                                 "store": _store_label(store)})
        with _seq_lock:
            stem = f"{time.time_ns():020d}-{next(_seq):06d}"
        path = self.folder / f"{stem}.{suffix}.json"
        _atomic_write(path, data)
        return path

    def add_batch(self, batch: Batch, store: Store, name: str | None = None) -> Entry:
        """Append a batch (raises ``OSError`` when the disk refuses it)."""
        path = self._write("batch", {"run_id": self.run_id, "batch": batch_to_wire(batch)},
                           store, name)
        entry = Entry(path, "batch", batch.n_points(), len(batch.logs))
        self.entries.append(entry)
        return entry

    def add_end(self, to: str, reason: str | None, failure: dict[str, Any] | None,
                at: float, store: Store, name: str | None = None) -> Entry:
        """Append the run's final transition, to be made after the batches before it."""
        path = self._write("end", {"run_id": self.run_id, "to": to, "reason": reason,
                                   "failure": failure, "at": at}, store, name)
        entry = Entry(path, "end")
        self.entries.append(entry)
        return entry

    def remove(self, entry: Entry) -> None:
        """Forget an entry the store has taken; the folder goes with the last one."""
        try:
            entry.path.unlink()
        except FileNotFoundError:
            pass
        if entry in self.entries:
            self.entries.remove(entry)
        if not self.entries:
            try:
                (self.folder / "meta.json").unlink()
                self.folder.rmdir()
            except OSError:
                pass  # another process added to it meanwhile

    def reject(self, entry: Entry) -> None:
        """Set an entry aside: the store refused it for a reason retrying will not fix (a
        revoked token, a deleted run). It stays on disk for ``picidae sync``."""
        if entry.rejected:
            return
        target = entry.path.with_name(entry.path.name.replace(".json", ".rejected.json"))
        try:
            entry.path.rename(target)
        except FileNotFoundError:
            return
        entry.path, entry.rejected = target, True

    def totals(self) -> tuple[int, int, int, bool]:
        """``(batches, points, lines, has_end)`` over every entry still on disk."""
        batches = [e for e in self.entries if e.kind == "batch"]
        return (len(batches), sum(e.points for e in batches), sum(e.lines for e in batches),
                any(e.kind == "end" for e in self.entries))


def _atomic_write(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as out:
        out.write(json.dumps(data, separators=(",", ":"), allow_nan=True).encode())
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


def load(path: Path) -> tuple[str, Batch | dict[str, Any]]:
    """An entry's run id and content: a ``Batch``, or the final transition as a dict."""
    try:
        data = json.loads(path.read_bytes())
    except ValueError:
        raise InvalidInput(f"{path} is not a spool entry (bad JSON)", field="spool") from None
    if not isinstance(data, dict) or not isinstance(data.get("run_id"), str):
        raise InvalidInput(f"{path} is not a spool entry", field="spool")
    if "batch" in data:
        if not isinstance(data["batch"], dict):
            raise InvalidInput(f"{path} holds no batch", field="spool")
        return data["run_id"], batch_from_wire(data["batch"])
    return data["run_id"], data


def send_entry(store: Store, run_id: str, entry: Entry) -> str:
    """Give one entry to ``store``; returns what happened (``sent``, or a note for a final
    transition that the run had made already). Raises what the store raised."""
    _, content = load(entry.path)
    if isinstance(content, Batch):
        store.write(run_id, content)
        return "sent"
    return finish_run(store, run_id, content)


def finish_run(store: Store, run_id: str, end: dict[str, Any]) -> str:
    """Make a spooled final transition, as ``Run.finish`` would have."""
    kwargs: dict[str, Any] = {"reason": end.get("reason"), "actor": "sdk",
                              "at": end.get("at"), "failure": end.get("failure")}
    try:
        # Silent while the store was away, the run may be lost: back, then end.
        retry_if_lost(store, run_id, lambda: store.transition(run_id, end["to"], **kwargs))
    except IllegalTransition as exc:
        if exc.current == end["to"]:
            return "sent"
        return f"already {exc.current}; left it so"
    return "sent"


@dataclass
class SyncResult:
    """What ``upload`` did for one run's spool."""

    run_id: str
    store: str | None
    batches: int = 0
    points: int = 0
    lines: int = 0
    ended: str | None = None
    left: int = 0
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """As ``picidae sync --json`` prints it."""
        return {"run_id": self.run_id, "store": self.store, "batches": self.batches,
                "points": self.points, "lines": self.lines, "ended": self.ended,
                "left": self.left, "errors": self.errors}


def spooled_runs(root: Path | None = None) -> list[str]:
    """Run ids with a spool folder, sorted."""
    root = root or spool_root()
    try:
        return sorted(p.name for p in root.iterdir() if p.is_dir())
    except FileNotFoundError:
        return []


def recorded_store(run_id: str, root: Path | None = None) -> str | None:
    """The store URL a run's spool was written for (``None`` when unknown)."""
    try:
        meta = json.loads(((root or spool_root()) / run_id / "meta.json").read_bytes())
    except (OSError, ValueError):
        return None
    return meta.get("store") if isinstance(meta, dict) else None


def upload(run_id: str, store: Store, root: Path | None = None) -> SyncResult:
    """Send one run's spool to ``store``, oldest entry first, deleting each once taken. A
    refused entry is kept (and reported); an unreachable store stops the run's upload."""
    spool = Spool.open(run_id, root)
    result = SyncResult(run_id, _store_label(store))
    for entry in list(spool.entries):
        try:
            note = send_entry(store, run_id, entry)
        except StoreUnavailable as exc:
            result.errors.append(str(exc))
            break
        except (PicidaeError, OSError) as exc:
            result.errors.append(f"{entry.name}: {exc}")
            spool.reject(entry)
            continue
        if entry.kind == "batch":
            result.batches += 1
            result.points += entry.points
            result.lines += entry.lines
        else:
            result.ended = note if note != "sent" else "made"
        spool.remove(entry)
    result.left = len(spool.entries)
    return result
