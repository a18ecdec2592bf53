"""A run's installed packages, stored once per distinct set.

The environment capture records ~200 packages (about 6 KB of JSON) with every run, and a
sweep's runs nearly always share one set. Kept in each run's ``data`` document they were most
of the pages a run's create wrote, and written again whenever the document was rewritten
(the finish too). So a set is stored once in ``package_sets`` under the SHA-256 of its JSON:
the run's ``runs.packages_digest`` names it, and its document keeps the digest in place of
``env.packages`` (same key, same position). Reads join the set back (``PACKAGES``) and
``restore`` puts it where it was, so a record is what it was before.

Only a dict of packages is moved out (what the capture produces); any other value, and a row
written before migration 0013 moved its set, stays in the document as it is, with no digest.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import Connection, select, text

from picidae.store.sql.documents import dumps
from picidae.store.sql.prepared import Prepared
from picidae.store.sql.tables import package_sets, runs

#: The run's package set, for selects of ``runs`` rows that become records (``restore``).
PACKAGES = (select(package_sets.c.packages)
            .where(package_sets.c.digest == runs.c.packages_digest)
            .scalar_subquery().label("packages_json"))

# Plain SQL that SQLite (3.24+) and PostgreSQL share; an existing set is left as it is.
_KEEP = Prepared(text("INSERT INTO package_sets (digest, packages) "
                      "VALUES (:digest, :packages) ON CONFLICT (digest) DO NOTHING"))

#: The last set encoded: a copy of it (names and versions, all ``str``), its names in order,
#: digest and JSON. A process's runs nearly always carry the same set: comparing it (in C,
#: value by value, most of them the very same objects) costs a tenth of encoding and hashing
#: it again, and a fifth of comparing its items as a list of pairs.
_last: tuple[dict[str, str], list[str], str, str] | None = None


def split(data: dict[str, Any]) -> tuple[dict[str, Any], str | None, str | None]:
    """``data`` with its packages moved out: ``(document, digest, packages JSON)``, or
    ``(data, None, None)`` when there is no dict of packages to move. ``data`` itself is
    never changed (the caller's record may share its ``env``)."""
    env = data.get("env")
    if not isinstance(env, dict):
        return data, None, None
    packages = env.get("packages")
    if not isinstance(packages, dict):
        return data, None, None
    digest, body = _encoded(packages)
    doc = dict(data)
    doc["env"] = {key: digest if key == "packages" else value for key, value in env.items()}
    return doc, digest, body


def _encoded(packages: dict[str, Any]) -> tuple[str, str]:
    """The digest and JSON of a package set; the last set's again when this one has the same
    names in the same order and equal versions. Only sets of strings are remembered: a value
    equal to a ``str`` is a ``str`` (or a subclass, which JSON writes alike), where
    ``1 == 1.0 == True`` would not be the same JSON; the order is compared apart, as dict
    equality ignores it."""
    global _last
    last = _last
    if last is not None and packages == last[0] and list(packages) == last[1]:
        return last[2], last[3]
    body = dumps(packages)
    digest = hashlib.sha256(body.encode()).hexdigest()
    if all(type(k) is str and type(v) is str for k, v in packages.items()):
        _last = (dict(packages), list(packages), digest, body)
    return digest, body


def keep(conn: Connection, digest: str, body: str) -> None:
    """Store a package set unless it is stored already (inside the run's transaction)."""
    _KEEP.run(conn, {"digest": digest, "packages": body})


def store_split(conn: Connection, data: dict[str, Any]) -> tuple[dict[str, Any], str | None,
                                                                  str | None]:
    """``split``, and the set stored: what a write of a run's whole document calls."""
    doc, digest, body = split(data)
    if digest is not None and body is not None:
        keep(conn, digest, body)
    return doc, digest, body


def restore(data: dict[str, Any], digest: str | None, body: str | None) -> None:
    """Put a run's package set back into its freshly parsed document (in place)."""
    if digest is None:
        return
    env = data.get("env")
    if isinstance(env, dict) and body is not None:
        env["packages"] = _parsed(digest, body)


#: The last set parsed (``restore``), when its names and versions are all ``str``: its
#: digest and dict. Reading a process's own runs, or a page of a sweep's, parses one set over
#: and over; a copy of the dict costs a twentieth of parsing its JSON again.
_last_parsed: tuple[str, dict[str, Any]] | None = None


def _parsed(digest: str, body: str) -> Any:
    """``json.loads(body)``, a fresh object each call (the caller may change it)."""
    global _last_parsed
    last = _last_parsed
    if last is not None and last[0] == digest:
        return dict(last[1])
    value = json.loads(body)
    if isinstance(value, dict) and all(type(v) is str for v in value.values()):
        _last_parsed = (digest, value)
        return dict(value)
    return value
