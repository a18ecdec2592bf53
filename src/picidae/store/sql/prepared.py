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

``run_rows`` takes rows as tuples, the way a commit of many short runs builds them (dicts
cost it a conversion per row): on SQLite they go to the driver as they are, so their values
must already be what the bind processors would make of them (``run_rows`` says which).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from operator import itemgetter
from typing import Any, cast

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.base import Executable

#: A compiled statement: its SQL, the tuple of its parameters from one mapping (in order, each
#: through the bind processor of its type where it has one), and its result columns' names
#: and result processors.
_Entry = tuple[str, Callable[[Mapping[str, Any]], tuple[Any, ...]], tuple[str, ...],
               tuple[Callable[[Any], Any] | None, ...]]


def _getter(names: tuple[str, ...],
            procs: tuple[Callable[[Any], Any] | None, ...],
            ) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """What turns one mapping of parameters into the driver's tuple, as
    ``tuple(p[n] if f is None else f(p[n]) for n, f in zip(names, procs))`` would, with the
    lookups done by ``itemgetter`` (in C) and only the processed positions touched in Python:
    a run's rows have up to 30 parameters, of which a handful have a processor."""
    if not names:
        return lambda p: ()
    get: Callable[[Mapping[str, Any]], Any] = itemgetter(*names)
    if len(names) == 1:
        one = get
        get = lambda p: (one(p),)  # noqa: E731 - itemgetter of one name gives the value
    todo = tuple((i, f) for i, f in enumerate(procs) if f is not None)
    if not todo:
        return cast(Callable[[Mapping[str, Any]], tuple[Any, ...]], get)

    def convert(p: Mapping[str, Any]) -> tuple[Any, ...]:
        values = list(get(p))
        for i, f in todo:
            values[i] = f(values[i])
        return tuple(values)

    return convert


class Row:
    """A row a ``Prepared`` select read on SQLite: its columns as attributes and as
    ``_mapping``, as the callers use SQLAlchemy's ``Row``."""

    __slots__ = ("_mapping",)

    def __init__(self, mapping: dict[str, Any]) -> None:
        self._mapping = mapping

    def __getattr__(self, name: str) -> Any:
        try:
            return self._mapping[name]
        except KeyError:
            raise AttributeError(name) from None

    def __repr__(self) -> str:
        return f"Row({self._mapping!r})"


class Prepared:
    """One statement (see the module docstring)."""

    __slots__ = ("_compiled", "_positional", "stmt")

    def __init__(self, stmt: Executable) -> None:
        self.stmt = stmt
        self._compiled: dict[tuple[str, ...], _Entry] = {}
        #: ``run_rows``' SQL by its columns, and how to order a tuple for it (``None``: as is).
        self._positional: dict[tuple[str, ...],
                               tuple[str, Callable[[Sequence[Any]], Any] | None]] = {}

    def _entry(self, conn: Connection, keys: tuple[str, ...]) -> _Entry:
        found = self._compiled.get(keys)
        if found is None:
            compiled: Any = cast(Any, self.stmt).compile(dialect=conn.dialect,
                                                         column_keys=list(keys))
            names = tuple(compiled.positiontup or ())
            procs = getattr(compiled, "_bind_processors", {}) or {}
            columns = getattr(compiled, "_result_columns", None) or ()
            found = (str(compiled), _getter(names, tuple(procs.get(n) for n in names)),
                     tuple(c[0] for c in columns),
                     tuple(c[3]._cached_result_processor(conn.dialect, None)
                           for c in columns))
            self._compiled[keys] = found
        return found

    def _cursor(self, conn: Connection, params: Mapping[str, Any] | Sequence[Mapping[str, Any]],
                ) -> Any:
        return self._execute(conn, params)[0]

    def _execute(self, conn: Connection,
                 params: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> tuple[Any, _Entry]:
        """The driver's cursor after executing, and the compiled entry it ran."""
        many = not isinstance(params, Mapping)
        rows: Sequence[Mapping[str, Any]] = [params] if isinstance(params, Mapping) else params
        entry = self._entry(conn, tuple(rows[0]))
        sql, convert = entry[0], entry[1]
        values = [convert(p) for p in rows]
        raw = conn.connection.driver_connection
        assert raw is not None
        try:
            if many:
                return raw.executemany(sql, values), entry
            return raw.execute(sql, values[0]), entry
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

    def run_rows(self, conn: Connection, names: tuple[str, ...],
                 rows: Sequence[tuple[Any, ...]]) -> None:
        """Execute once per row (``executemany``), each row a tuple of the values of the
        columns ``names``, in that order. On SQLite the tuples go to the driver as they are,
        no bind processor applied, so each value must be what its processor would give
        (SQLite's are ``Float``'s ``float()`` and ``LargeBinary``'s wrapper, which the driver
        binds as it binds ``bytes``): a ``Float`` column's value a ``float`` or ``None``, a
        binary one ``bytes``. Elsewhere each row goes as a mapping through ``run``."""
        if not rows:
            return
        if conn.dialect.name != "sqlite":
            conn.execute(self.stmt, [dict(zip(names, row, strict=True)) for row in rows])
            return
        found = self._positional.get(names)
        if found is None:
            order = self._entry(conn, names)[0], _reorder(self.stmt, conn, names)
            found = self._positional[names] = order
        sql, reorder = found
        values: Sequence[Any] = rows if reorder is None else list(map(reorder, rows))
        raw = conn.connection.driver_connection
        assert raw is not None
        try:
            raw.executemany(sql, values)
        except sqlite3.Error as exc:
            raise DBAPIError.instance(sql, values, exc, sqlite3.Error,
                                      dialect=conn.dialect) from exc

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

    def row(self, conn: Connection, params: Mapping[str, Any]) -> Any:
        """Execute a select; its first row (columns as attributes and as ``_mapping``, each
        through its type's result processor), or ``None``."""
        if conn.dialect.name != "sqlite":
            return conn.execute(self.stmt, params).first()
        cursor, (_, _, names, procs) = self._execute(conn, params)
        found = cursor.fetchone()
        cursor.close()
        if found is None:
            return None
        if any(procs):
            found = tuple(v if f is None else f(v) for f, v in zip(procs, found, strict=True))
        return Row(dict(zip(names, found, strict=True)))

    def rows(self, conn: Connection, params: Mapping[str, Any]) -> list[Any]:
        """Execute a select; every row it returns, each as ``row`` gives one."""
        if conn.dialect.name != "sqlite":
            return list(conn.execute(self.stmt, params).all())
        cursor, (_, _, names, procs) = self._execute(conn, params)
        found = cursor.fetchall()
        cursor.close()
        if any(procs):
            found = [tuple(v if f is None else f(v) for f, v in zip(procs, r, strict=True))
                     for r in found]
        return [Row(dict(zip(names, r, strict=True))) for r in found]

    def all(self, conn: Connection, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Execute; every row it returns, as tuples (a read: no result processing, so for
        columns whose driver values need none)."""
        if conn.dialect.name != "sqlite":
            return [tuple(row) for row in conn.execute(self.stmt, params)]
        return list(self._cursor(conn, params).fetchall())


def _reorder(stmt: Executable, conn: Connection, names: tuple[str, ...],
             ) -> Callable[[Sequence[Any]], Any] | None:
    """What puts a tuple of ``names``' values in the order of the statement's parameters
    (``None``: they are in it already)."""
    compiled: Any = cast(Any, stmt).compile(dialect=conn.dialect, column_keys=list(names))
    order = tuple(compiled.positiontup or ())
    if order == names:
        return None
    if sorted(order) != sorted(names):
        raise ValueError(f"the statement's parameters {order} are not the columns {names}")
    return itemgetter(*(names.index(n) for n in order))
