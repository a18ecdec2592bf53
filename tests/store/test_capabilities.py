"""Optional store abilities are typed protocols (``store/capabilities.py``): each store has
exactly the ones docs/architecture.md lists, and code outside ``store/`` asks ``isinstance``,
never probes attributes nor imports ``store.sql``."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from picidae.store import capabilities
from picidae.store.base import Store
from picidae.store.http import HttpStore
from picidae.store.registry import open_store

SRC = Path(__file__).resolve().parents[2] / "src" / "picidae"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"

PROTOCOLS = ("WorkspacedStore", "EventSource", "EventNotifier", "EventStream", "TokenStore",
             "ScheduleStore", "AlertStore", "FolderStore", "HistoryStore", "RemovalStore",
             "ImportStore", "BeatStore", "EndingStore")


def _abilities(store: object) -> set[str]:
    return {name for name in PROTOCOLS if isinstance(store, getattr(capabilities, name))}


def test_the_embedded_store_has_workspaces_events_tokens_and_a_folder(store_dir: Path) -> None:
    store = open_store(store_dir)
    assert isinstance(store, Store)
    assert _abilities(store) == {"WorkspacedStore", "EventSource", "TokenStore", "FolderStore",
                                 "ScheduleStore", "AlertStore", "BeatStore",
                                 "EndingStore"}
    assert isinstance(store, capabilities.WorkspacedStore)
    assert _abilities(store.for_workspace("other")) == _abilities(store)


def test_postgresql_adds_pushed_events_and_keeps_no_folder(pg_url: str) -> None:
    store = open_store(pg_url)
    assert isinstance(store, Store)
    assert _abilities(store) == {"WorkspacedStore", "EventSource", "EventNotifier",
                                 "TokenStore", "ScheduleStore", "AlertStore", "BeatStore",
                                 "EndingStore"}


def test_the_http_store_leaves_history_removal_imports_and_events_to_its_server() -> None:
    store = HttpStore("http://127.0.0.1:9")  # never contacted: the checks read no data
    try:
        assert isinstance(store, Store)
        assert _abilities(store) == {"EventStream", "HistoryStore", "RemovalStore",
                                     "ImportStore", "ScheduleStore", "AlertStore"}
    finally:
        store.close()


def test_the_architecture_page_lists_every_protocol_with_its_stores(
        store_dir: Path, pg_url: str) -> None:
    stores = {"SQLite": open_store(store_dir), "PostgreSQL": open_store(pg_url),
              "HTTP": HttpStore("http://127.0.0.1:9")}
    rows = {}
    for line in DOCS.read_text().splitlines():
        found = re.match(r"\|\s*`(\w+)`\s*\|.*\|\s*([^|]+?)\s*\|\s*$", line)
        if found and found.group(1) in PROTOCOLS:
            rows[found.group(1)] = {s.strip() for s in found.group(2).split(",")}
    assert set(rows) == set(PROTOCOLS)
    for name in PROTOCOLS:
        having = {label for label, store in stores.items()
                  if isinstance(store, getattr(capabilities, name))}
        assert rows[name] == having, name
    stores["HTTP"].close()


def _modules_outside_store() -> list[Path]:
    return [p for p in SRC.rglob("*.py") if (SRC / "store") not in p.parents]


def test_no_module_outside_store_imports_the_sql_stores() -> None:
    offenders = []
    for path in _modules_outside_store():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            if any(n == "picidae.store.sql" or n.startswith("picidae.store.sql.")
                   for n in names):
                offenders.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert offenders == []


#: What the old probes looked for; ``isinstance(store, SomeProtocol)`` replaces each.
_ABILITIES = {"engine", "for_workspace", "run_workspace", "event_listener", "stream_events",
              "history", "import_run", "remove_runs", "list_artifacts", "add_artifact",
              "referrers", "liveness_on_read", "folder", "workspace", "last_event_id",
              "create_run", "tokens", "owned_run_ids", "references_blob"}


def test_no_code_outside_store_probes_a_store_for_an_ability() -> None:
    offenders = []
    for path in _modules_outside_store():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id in ("hasattr", "getattr") and len(node.args) >= 2
                    and isinstance(node.args[1], ast.Constant)
                    and node.args[1].value in _ABILITIES
                    and re.search(r"store|target", ast.unparse(node.args[0]))):
                offenders.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert offenders == []
