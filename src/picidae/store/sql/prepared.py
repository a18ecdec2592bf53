"""Statements every run repeats, run on SQLite's own cursor.

Through SQLAlchemy's execution machinery a statement costs some 25 µs on top of SQLite's own
work, even built once (parameter processing, result set-up, event dispatch), which for a
short run — created and finished in two transactions of a dozen statements — is most of
its cost. A ``Prepared`` statement is compiled once per set of parameter names and, on
SQLite, executed with the driver's cursor inside the same transaction, with the same
parameter conversions the compiled statement would apply and driver errors wrapped as
SQLAlchemy would wrap them (so callers catch ``IntegrityError``, and ``_tx`` turns
``OperationalError`` into ``StoreUnavailable``, exactly as before). Elsewhere (PostgreSQL)
it is ``Connection.execute``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.base import Executable

_Entry = tuple[str, tuple[str, ...], tuple[Callable[[Any], Any] | None, ...]]


class Prepared:
    """One statement (see the module docstring)."""

    __slots__ = ("_compiled", "stmt")

    def __init__(self, stmt: Executable) -> None:
        self.stmt = stmt
        self._compiled: dict[tuple[str, ...], _Entry] = {}

    def _entry(self, conn: Connection, keys: tuple[str, ...]) -> _Entry:
        found = self._compiled.get(keys)
        if found is None:
            compiled: Any = cast(Any, self.stmt).compile(dialect=conn.dialect,
                                                         column_keys=list(keys))
            names = tuple(compiled.positiontup or ())
            procs = getattr(compiled, "_bind_processors", {}) or {}
            found = (str(compiled), names, tuple(procs.get(n) for n in names))
            self._compiled[keys] = found
        return found

    def _cursor(self, conn: Connection, params: Mapping[str, Any] | Sequence[Mapping[str, Any]],
                ) -> Any:
        many = not isinstance(params, Mapping)
        rows: Sequence[Mapping[str, Any]] = [params] if isinstance(params, Mapping) else params
        sql, names, procs = self._entry(conn, tuple(rows[0]))
        pairs = tuple(zip(names, procs, strict=True))
        values = [tuple(p[n] if f is None else f(p[n]) for n, f in pairs) for p in rows]
        raw = conn.connection.driver_connection
        assert raw is not None
        try:
            if many:
                return raw.executemany(sql, values)
            return raw.execute(sql, values[0])
        except sqlite3.Error as exc:
            raise DBAPIError.instance(sql, values, exc, sqlite3.Error,
                                      dialect=conn.dialect) from exc

    def run(self, conn: Connection,
            params: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> None:
        """Execute with one set of parameters, or many (``executemany``)."""
        if conn.dialect.name != "sqlite":
            conn.execute(self.stmt, params)
            return
        self._cursor(conn, params)

    def rowcount(self, conn: Connection, params: Mapping[str, Any]) -> int:
        """Execute; the number of rows it changed."""
        if conn.dialect.name != "sqlite":
            return int(conn.execute(self.stmt, params).rowcount)
        return int(self._cursor(conn, params).rowcount)

    def first(self, conn: Connection, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """Execute; the first row it returns (``RETURNING``), or ``None``."""
        if conn.dialect.name != "sqlite":
            row = conn.execute(self.stmt, params).first()
            return None if row is None else tuple(row)
        found = self._cursor(conn, params).fetchone()
        return None if found is None else tuple(found)
