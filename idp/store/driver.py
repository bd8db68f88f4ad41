"""Fixed Core statements run on the pool's driver connection, without SQLAlchemy's `Connection`.

A userinfo call, an introspection or the short-lived store's lookups on SQLite run one small
statement each. Through a `Connection` the statement's execution context, the result object and
the connection's own bookkeeping cost several times what the driver spends running it; the
profiles put it at a fifth of a userinfo request. A `Prepared` statement is compiled once per
dialect and run with the driver's cursor, keeping what SQLAlchemy would have given:

- the pool's events (the idle ping, recycling) and its reset of the connection on return;
- values as SQLAlchemy returns them (its per-type result processors: JSON and booleans on
  SQLite) and parameters as it sends them (bind processors, literal values in the statement);
- a driver error raised as SQLAlchemy's own exception class (the 503 handler catches those);
  a dead connection is dropped from the pool with every older one (a restarted server ended
  them all), instead of being handed to the next requests.

On PostgreSQL a read runs in autocommit: no BEGIN and ROLLBACK round trips. A write runs in a
transaction committed when it returns, so that a write the server receives from a connection
the hub has already given up on (a stalled network; the request answered 503) is rolled back,
not committed behind the client's back: a code taken that way would be lost to the client's
retry. A list of parameter sets is one transaction.

Only statements whose SQL does not depend on the parameters are accepted: no expanding IN, no
column defaults filled in at execution (an INSERT must name every value it writes).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.exc import DBAPIError


class Prepared:
    """One statement compiled for one dialect."""

    def __init__(self, statement, dialect: Dialect) -> None:  # noqa: ANN001
        compiled = statement.compile(dialect=dialect)
        self.sql = compiled.string
        if "POSTCOMPILE" in self.sql:
            raise ValueError("a statement with expanding parameters cannot be prepared once")
        if getattr(compiled, "insert_prefetch", None) or getattr(compiled, "update_prefetch", None):
            raise ValueError("a statement whose column defaults are filled in at execution")
        binds = compiled.binds
        self.positions = tuple(compiled.positiontup) if compiled.positional else None
        self.names = tuple(binds)
        self.defaults = {name: b.effective_value for name, b in binds.items() if not b.required}
        self.converters = {
            name: convert
            for name, b in binds.items()
            if (convert := b.type.dialect_impl(dialect).bind_processor(dialect)) is not None
        }
        columns = getattr(statement, "selected_columns", None)
        if columns is None and getattr(statement, "_returning", None):
            columns = statement._returning  # DELETE/UPDATE/INSERT … RETURNING
        processors = (
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in (columns or ())
        )
        self.processors = tuple((i, p) for i, p in enumerate(processors) if p is not None)
        self.postgres = dialect.name == "postgresql"

    # What callers use --------------------------------------------------------------------

    def first(self, engine: Engine, params: dict) -> tuple | None:
        """The first row of a SELECT, or None."""
        row = self._run(engine, params, _first)
        return None if row is None else self._row(row)

    def all(self, engine: Engine, params: dict) -> list[tuple]:
        """Every row of a SELECT."""
        return [self._row(row) for row in self._run(engine, params, _all)]

    def write_returning(self, engine: Engine, params: dict) -> tuple | None:
        """Run a write with RETURNING and commit it; the first row it returned, or None."""
        rows = self._run(engine, params, _all, commit=True)
        return self._row(rows[0]) if rows else None

    def write(self, engine: Engine, params: dict | list[dict]) -> int:
        """Run a write (one parameter set, or several in one transaction) and commit it; the
        number of rows it touched (the driver's count: for several sets, what it reports)."""
        return self._run(engine, params, _rowcount, commit=True)

    # ------------------------------------------------------------------------------------

    def _arguments(self, params: dict) -> Any:  # noqa: ANN401 - a list or a dict, per paramstyle
        if self.defaults:
            params = {**self.defaults, **params}
        if self.converters:
            params = {
                name: self.converters[name](value) if name in self.converters else value
                for name, value in params.items()
            }
        if self.positions is not None:
            return [params[name] for name in self.positions]
        return {name: params[name] for name in self.names}

    def _row(self, row) -> tuple:  # noqa: ANN001
        if not self.processors:
            return tuple(row)
        values = list(row)
        for index, process in self.processors:
            values[index] = process(values[index])
        return tuple(values)

    def _run(self, engine: Engine, params: dict | list[dict], fetch: Callable, commit=False):  # noqa: ANN001, ANN202
        many = isinstance(params, list)
        autocommit = self.postgres and not commit  # a read (see the module's docstring)
        with _checked_out(engine, autocommit, self.sql, params) as (driver, cursor):
            if many:
                cursor.executemany(self.sql, [self._arguments(p) for p in params])
            else:
                cursor.execute(self.sql, self._arguments(params))
            result = fetch(cursor)
            if commit:
                driver.commit()
            return result


@contextmanager
def _checked_out(engine: Engine, autocommit: bool, sql: str | None = None, params=None):  # noqa: ANN001, ANN202
    """A driver connection from the pool and a cursor on it, for the block; a driver error
    comes out as SQLAlchemy's exception (its message names `sql`, never the parameters), a
    dead connection is dropped, and the pool rolls back whatever the block left open."""
    dialect = engine.dialect
    try:
        pooled = engine.raw_connection()
    except dialect.loaded_dbapi.Error as exc:  # no connection could be made
        raise DBAPIError.instance(
            None, None, exc, dialect.loaded_dbapi.Error, connection_invalidated=True,
            dialect=dialect,
        ) from exc  # fmt: skip
    driver = pooled.dbapi_connection
    cursor = None
    try:
        if autocommit:
            driver.autocommit = True
        cursor = driver.cursor()
        yield driver, cursor
    except dialect.loaded_dbapi.Error as exc:
        gone = dialect.is_disconnect(exc, driver, cursor)
        if gone:
            # As SQLAlchemy's Connection does: this connection, and every other the pool opened
            # before it, is replaced (a restarted server ended them all), not one per request.
            engine.pool._invalidate(pooled, exc)
        raise DBAPIError.instance(
            sql, params, exc, dialect.loaded_dbapi.Error,
            hide_parameters=True, connection_invalidated=gone, dialect=dialect,
        ) from exc  # fmt: skip
    finally:
        if cursor is not None:
            with suppress(Exception):  # a cursor of a connection already gone
                cursor.close()
        if autocommit and pooled.dbapi_connection is not None:
            with suppress(Exception):
                driver.autocommit = False
        pooled.close()  # back to the pool, which rolls back whatever was left open


class Result:
    """What a statement in a `transaction` gave: the rows it returned and the rows it touched."""

    def __init__(self, rows: list[tuple], rowcount: int) -> None:
        self.rows, self.rowcount = rows, rowcount

    def first(self) -> tuple | None:
        return self.rows[0] if self.rows else None


class Transaction:
    """Prepared statements on one driver connection (see `transaction`)."""

    def __init__(self, engine: Engine, cursor) -> None:  # noqa: ANN001
        self.engine, self.dialect, self.cursor = engine, engine.dialect, cursor

    def execute(self, statement, params: dict | None = None) -> Result:  # noqa: ANN001
        statement = prepared(statement, self.dialect)
        self.cursor.execute(statement.sql, statement._arguments(params or {}))
        rows = self.cursor.fetchall() if self.cursor.description is not None else []
        return Result([statement._row(row) for row in rows], self.cursor.rowcount)


@contextmanager
def transaction(engine: Engine, autocommit: bool = False) -> Iterator[Transaction]:
    """Statements committed together when the block ends, or none of them if it raises. With
    `autocommit` (PostgreSQL only), each statement commits by itself instead: for blocks of one
    statement, without the BEGIN and COMMIT round trips."""
    autocommit = autocommit and engine.dialect.name == "postgresql"
    with _checked_out(engine, autocommit) as (driver, cursor):
        yield Transaction(engine, cursor)
        if not autocommit:
            driver.commit()


def _first(cursor):  # noqa: ANN001, ANN202
    return cursor.fetchone()


def _all(cursor) -> list:  # noqa: ANN001
    return cursor.fetchall()


def _rowcount(cursor) -> int:  # noqa: ANN001
    return cursor.rowcount


_prepared: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def prepared(statement, dialect: Dialect) -> Prepared:  # noqa: ANN001
    """The statement prepared for this dialect (an engine's own: its JSON settings count).
    Meant for statements built once, at import; one built per call is compiled per call."""
    for_dialect = _prepared.get(dialect)
    if for_dialect is None:
        for_dialect = _prepared[dialect] = {}
    found = for_dialect.get(id(statement))
    if found is None or found[0] is not statement:
        if len(for_dialect) >= 256:  # statements built per call: keep the cache bounded
            for_dialect.clear()
        found = for_dialect[id(statement)] = (statement, Prepared(statement, dialect))
    return found[1]
