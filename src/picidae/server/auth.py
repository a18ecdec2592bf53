"""Tokens: a token file holds one ``TOKEN WORKSPACE ROLE`` a line (role ``read`` or ``write``,
``#`` starts a comment); the database may hold more (``picidae token create``, see
``TokenStore.tokens()``). Tokens are kept as SHA-256 hashes, in memory and in the database.
With tokens configured (a token file, or any token ever created in the database), every route but
``/healthz`` needs ``Authorization: Bearer TOKEN``: 401 without or with an unknown (or
revoked) token, 403 for a read token on a write route; 403 too for a run of another workspace
(see ``errors``)."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import HTTPException, Request

from picidae.errors import InvalidInput

if TYPE_CHECKING:
    from picidae.store.capabilities import TokenBook


@dataclass(frozen=True)
class Grant:
    """What a token allows."""

    workspace: str
    role: str
    actor: str


OPEN = Grant("default", "write", "api")


def digest(token: str) -> str:
    """A token's stored form."""
    return hashlib.sha256(token.encode()).hexdigest()


def load_token_file(path: str | Path) -> dict[str, Grant]:
    """Parse a token file into ``{sha256(token): Grant}``; a malformed line is an error
    naming its number."""
    grants: dict[str, Grant] = {}
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise InvalidInput(f"cannot read the token file {path}: {exc.strerror}",
                           field="token_file") from None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 3 or parts[2] not in ("read", "write"):
            raise InvalidInput(f"{path}:{number}: expected 'TOKEN WORKSPACE read|write'",
                               field="token_file")
        token, workspace, role = parts
        grants[digest(token)] = Grant(workspace, role, f"token:{digest(token)[:8]}")
    if not grants:
        raise InvalidInput(f"the token file {path} holds no tokens", field="token_file")
    return grants


class Keyring:
    """Every token a server accepts: its token file's (fixed at start) and its database's
    (looked up by digest, each answer cached for ``CACHE_S`` so a busy server does not
    query per request; a revoked token stops working within that time)."""

    CACHE_S = 2.0

    def __init__(self, file_grants: dict[str, Grant] | None,
                 table: TokenBook | None = None) -> None:
        self.file_grants = file_grants or {}
        self.table = table
        self._cache: dict[str, tuple[float, Grant | None]] = {}
        self._required: tuple[float, bool] | None = None
        self._lock = threading.Lock()

    def required(self) -> bool:
        """Whether requests need a token."""
        if self.file_grants:
            return True
        if self.table is None:
            return False
        now = time.monotonic()
        cached = self._required
        if cached is None or (not cached[1] and now - cached[0] > self.CACHE_S):
            cached = (now, self.table.exists())  # once true, true for good
            self._required = cached
        return cached[1]

    def find(self, key: str) -> Grant | None:
        """The grant of the token whose SHA-256 is ``key``, or ``None``."""
        grant = None
        for known, value in self.file_grants.items():
            if hmac.compare_digest(known, key):
                grant = value
        if grant is not None or self.table is None:
            return grant
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and now - hit[0] <= self.CACHE_S:
            return hit[1]
        row = self.table.lookup(key)
        found = (Grant(row["workspace"], row["role"], f"token:{row['name'] or row['id']}")
                 if row else None)
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key] = (now, found)
        return found


def check(request: Request, tokens: Keyring | dict[str, Grant] | None, need: str) -> Grant:
    """The grant for this request, or a 401/403 ``HTTPException``."""
    if isinstance(tokens, dict):
        tokens = Keyring(tokens)
    if tokens is None or not tokens.required():
        return OPEN
    return grant_for(request.headers.get("authorization", ""), tokens, need)


def grant_for(header: str, tokens: Keyring | None, need: str) -> Grant:
    """The grant for an ``Authorization`` header's value (``""`` when there is none), or a
    401/403 ``HTTPException``."""
    if tokens is None or not tokens.required():
        return OPEN
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(401, "missing token: send 'Authorization: Bearer TOKEN'",
                            headers={"WWW-Authenticate": "Bearer"})
    grant = tokens.find(digest(token.strip()))
    if grant is None:
        raise HTTPException(401, "unknown token", headers={"WWW-Authenticate": "Bearer"})
    if need == "write" and grant.role != "write":
        raise HTTPException(403, f"this token may only read workspace {grant.workspace!r}")
    return grant
