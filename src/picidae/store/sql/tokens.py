"""API tokens kept in the database (``picidae token create/list/revoke``).

A token is shown once, when it is created; the database keeps only its SHA-256 (``digest``),
its workspace and role (``read`` or ``write``), an optional name, and when it was created and
revoked. ``id`` is a short public handle for listing and revoking. A server reads this table
in addition to its ``--token-file``.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, insert, select, update

from picidae.errors import InvalidInput, PicidaeError
from picidae.store.sql.tables import api_tokens

if TYPE_CHECKING:
    from picidae.store.sql.store import SqlStore

ROLES = ("read", "write")
_WORKSPACE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class TokenNotFound(PicidaeError, LookupError):
    """No token has this id."""

    code = "not_found"
    http_status = 404


def digest(token: str) -> str:
    """A token's stored form (the same as a token file's in memory)."""
    return hashlib.sha256(token.encode()).hexdigest()


def check_grant(workspace: Any, role: Any) -> None:
    """``InvalidInput`` for a workspace or role a token cannot have."""
    if not isinstance(workspace, str) or not _WORKSPACE.match(workspace):
        raise InvalidInput(f"workspace must be 1-64 letters, digits, '.', '_' or '-', got "
                           f"{workspace!r}", field="workspace")
    if role not in ROLES:
        raise InvalidInput(f"role must be 'read' or 'write', got {role!r}", field="role")


def _row(r: Any) -> dict[str, Any]:
    return {"id": r.id, "name": r.name, "workspace": r.workspace, "role": r.role,
            "created_at": r.created_at, "revoked_at": r.revoked_at}


class TokenTable:
    """The tokens of a SQL store's database (any workspace): ``TokenStore.tokens()``."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store

    def create(self, workspace: str, role: str, name: str | None = None) -> tuple[str,
                                                                                 dict[str, Any]]:
        """A new token: ``(token, record)``. The token itself is not stored anywhere."""
        check_grant(workspace, role)
        if name is not None and (not isinstance(name, str) or len(name) > 128):
            raise InvalidInput("name must be a string of at most 128 characters",
                               field="name")
        token = "pcd_" + secrets.token_urlsafe(32)
        record = {"id": secrets.token_hex(6), "digest": digest(token), "workspace": workspace,
                  "role": role, "name": name, "created_at": time.time(), "revoked_at": None}
        with self.store._tx(write=True) as conn:
            conn.execute(insert(api_tokens).values(**record))
        record.pop("digest")
        return token, record

    def list(self) -> list[dict[str, Any]]:
        """Every token (revoked ones too), oldest first, without digests."""
        with self.store._tx() as conn:
            rows = conn.execute(select(api_tokens).order_by(api_tokens.c.created_at,
                                                            api_tokens.c.id))
            return [_row(r) for r in rows]

    def revoke(self, token_id: str) -> dict[str, Any]:
        """Revoke a token by id (revoking twice keeps the first time); ``TokenNotFound``."""
        with self.store._tx(write=True) as conn:
            conn.execute(update(api_tokens).where(api_tokens.c.id == token_id,
                                                  api_tokens.c.revoked_at.is_(None))
                         .values(revoked_at=time.time()))
            row = conn.execute(select(api_tokens).where(api_tokens.c.id == token_id)).first()
        if row is None:
            raise TokenNotFound(f"no token with id {token_id!r} (see 'picidae token list')",
                                field="id")
        return _row(row)

    def lookup(self, token_digest: str) -> dict[str, Any] | None:
        """The live (not revoked) token with this digest, or ``None``."""
        with self.store._tx() as conn:
            row = conn.execute(select(api_tokens).where(
                api_tokens.c.digest == token_digest,
                api_tokens.c.revoked_at.is_(None))).first()
        return _row(row) if row is not None else None

    def exists(self) -> bool:
        """Whether any token was ever created here (then the server requires tokens, even
        once every one is revoked)."""
        with self.store._tx() as conn:
            return bool(conn.execute(select(func.count()).select_from(api_tokens)).scalar())
