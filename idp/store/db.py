"""The SQLAlchemy handle shared by every model, and engine settings per database kind."""

from __future__ import annotations

import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import psycopg
from flask import g, has_request_context
from flask_sqlalchemy import SQLAlchemy
from flask_sqlalchemy.session import Session
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, DisconnectionError

from ..config import Config

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

_autocommit_engines: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
PING_TIMEOUT = 1.0  # seconds to wait for the answer to the idle ping


class HubSession(Session):
    """Flask-SQLAlchemy's session, whose every transaction in a request marked by
    `autocommit_statements` runs on an autocommit connection (SQLAlchemy's recipe of one engine
    with several isolation levels), not only the first: a refresh commits twice."""

    def get_bind(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
        engine = super().get_bind(*args, **kwargs)
        return for_this_request(engine) if isinstance(engine, Engine) else engine


def for_this_request(engine: Engine) -> Engine:
    """The engine, or its autocommit twin when this request asked for `autocommit_statements`."""
    if has_request_context() and g.get("idp_autocommit"):
        autocommit = _autocommit_engines.get(engine)
        if autocommit is None:
            autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
            _autocommit_engines[engine] = autocommit
        return autocommit
    return engine


# Request-scoped sessions: objects stay usable after commit instead of reloading per attribute.
db = SQLAlchemy(
    metadata=MetaData(naming_convention=NAMING),
    session_options={"expire_on_commit": False, "class_": HubSession},
)


def engine_options(config: Config) -> dict:
    """Pool settings for PostgreSQL; SQLite gets a busy timeout so workers wait, not fail.

    Every wait on PostgreSQL is bounded: for a connection (`connect_timeout`), for a pooled one
    (`pool_timeout`), for a statement on the server (`statement_timeout`, which also ends lock
    waits) and for any answer at all (`bound_waits`, for a server or network that stalls).
    """
    url = config.resolved_database_url
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 15}}
    pool = config.database
    return {
        "pool_size": pool.pool_size,
        "max_overflow": pool.max_overflow,
        "pool_timeout": pool.pool_timeout,
        "pool_recycle": pool.pool_recycle,
        # Not on every checkout: see ping_idle_connections.
        "pool_pre_ping": False,
        "connect_args": {
            "connect_timeout": pool.connect_timeout,
            "options": f"-c statement_timeout={int(pool.statement_timeout * 1000)}",
        },
    }


class _BoundedConnection(psycopg.Connection):
    """A psycopg connection that stops waiting for the server after `answer_timeout` seconds.

    The server's statement_timeout cannot end a wait on a server that does not run at all (a
    stalled host, a network that drops packets silently): then this does. The connection is
    closed, since the protocol is mid-exchange, so the pool replaces it and the request answers
    503 through the usual handler (SQLAlchemy sees a closed connection: a disconnect).
    """

    answer_timeout: float = 0.0

    def wait(self, gen, interval: float = 0.1, timeout: float | None = None):  # noqa: ANN001, ANN201
        try:
            return super().wait(gen, interval, timeout or self.answer_timeout or None)
        except _WAIT_TIMEOUT as exc:
            self.pgconn.finish()
            raise psycopg.OperationalError(
                f"no answer from the database within {self.answer_timeout} s"
            ) from exc


_WAIT_TIMEOUT = getattr(psycopg.errors, "_WaitTimeout", psycopg.errors.OperationalError)


def bound_waits(engine: Engine, seconds: float) -> None:
    """Open PostgreSQL connections whose every wait for an answer ends after `seconds`."""
    if engine.dialect.name != "postgresql" or seconds <= 0:
        return
    connection_class = type("BoundedConnection", (_BoundedConnection,), {"answer_timeout": seconds})

    @event.listens_for(engine, "do_connect")
    def _connect(dialect, record, cargs, cparams):  # noqa: ANN001, ANN202
        return connection_class.connect(*cargs, **cparams)


def ping_idle_connections(engine: Engine, idle_seconds: float) -> None:
    """Ping a pooled PostgreSQL connection before use only if it sat idle that long.

    SQLAlchemy's pre-ping costs a round trip on every checkout, i.e. every request. A connection
    that has just been used is almost surely alive; one that died while busy fails its request
    with a 503 and SQLAlchemy then replaces the whole pool. Raising DisconnectionError here makes
    the pool drop the dead connection and open a new one (SQLAlchemy's documented recipe).
    """
    if engine.dialect.name == "sqlite":
        return

    @event.listens_for(engine, "checkin")
    def _remember_idle_start(dbapi_connection, record) -> None:  # noqa: ANN001
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection, record, proxy) -> None:  # noqa: ANN001
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < idle_seconds:
            return  # a new connection, or one in steady use
        # A ping is one short round trip: wait for it briefly (bound_waits), so that a stalled
        # server costs the ping's wait and a new connection's, not more than one statement's.
        bounded = isinstance(dbapi_connection, _BoundedConnection)
        if bounded:
            dbapi_connection.answer_timeout = min(
                PING_TIMEOUT, type(dbapi_connection).answer_timeout
            )
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError("idle connection is gone") from exc
        finally:
            if bounded:
                del dbapi_connection.answer_timeout


def autocommit_statements() -> None:
    """On PostgreSQL, let each statement of this request commit by itself.

    For the token endpoints, whose every write is one statement (insert a token, claim a refresh
    token, revoke a grant): no BEGIN and COMMIT or ROLLBACK round trips around them. It holds
    for every transaction the request starts after the call. SQLite keeps its transactions:
    they cost no round trip, and switching its isolation level costs a PRAGMA each way.
    """
    if db.engine.dialect.name == "postgresql":
        g.idp_autocommit = True


def first_row(statement, params: dict) -> tuple | None:  # noqa: ANN001
    """Run a Core SELECT and return its first row as a tuple (or None), outside the ORM.

    Inside a transaction this request's session already holds, on its connection, so the
    caller's own writes are seen. Otherwise on a pooled connection of its own, without creating
    a session: for a lookup that is a request's only read, the session's set-up and teardown
    cost more than the query (`records`), and so does SQLAlchemy's `Connection` around the
    driver (`_PreparedRead`).
    """
    if db.session.registry.has():  # a session exists already (made, not just looked up)
        session = db.session()
        if session.in_transaction():
            row = session.connection().execute(statement, params).first()
            return None if row is None else tuple(row)
    engine = db.engine
    return _prepared_read(statement, engine.dialect).first(engine, params)


class _PreparedRead:
    """A Core SELECT compiled once for a dialect, run on the pool's driver connection.

    The pool's events still run (the idle ping, recycling), values come back as SQLAlchemy's
    would (its per-type result processors: JSON and booleans on SQLite), and a driver error is
    raised as SQLAlchemy's own exception class, with a dead connection dropped from the pool, so
    the 503 handler and the pool's recovery see what they would through a `Connection`. On
    PostgreSQL the statement runs without a transaction around it: one statement, no BEGIN or
    ROLLBACK round trip.
    """

    def __init__(self, statement, dialect) -> None:  # noqa: ANN001
        compiled = statement.compile(dialect=dialect)
        self.sql = compiled.string
        if "POSTCOMPILE" in self.sql:
            raise ValueError("a statement with expanding parameters cannot be prepared once")
        self.positions = tuple(compiled.positiontup) if compiled.positional else None
        binds = compiled.binds
        self.defaults = {name: b.effective_value for name, b in binds.items() if not b.required}
        self.converters = {
            name: convert
            for name, b in binds.items()
            if (convert := b.type.dialect_impl(dialect).bind_processor(dialect)) is not None
        }
        self.processors = tuple(
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in statement.selected_columns
        )
        self.processed = any(self.processors)
        self.postgres = dialect.name == "postgresql"

    def first(self, engine: Engine, params: dict) -> tuple | None:
        dialect = engine.dialect
        if self.defaults:
            params = {**self.defaults, **params}
        if self.converters:
            params = {
                name: self.converters[name](value) if name in self.converters else value
                for name, value in params.items()
            }
        arguments = params if self.positions is None else [params[n] for n in self.positions]
        try:
            pooled = engine.raw_connection()
        except dialect.loaded_dbapi.Error as exc:  # no connection could be made
            raise DBAPIError.instance(
                None, None, exc, dialect.loaded_dbapi.Error, connection_invalidated=True,
                dialect=dialect,
            ) from exc  # fmt: skip
        cursor = None
        try:
            if self.postgres:
                pooled.dbapi_connection.autocommit = True
            cursor = pooled.cursor()
            cursor.execute(self.sql, arguments)
            row = cursor.fetchone()
        except dialect.loaded_dbapi.Error as exc:
            gone = dialect.is_disconnect(exc, pooled.dbapi_connection, cursor)
            if gone:
                pooled.invalidate(exc)
            raise DBAPIError.instance(
                self.sql, params, exc, dialect.loaded_dbapi.Error,
                hide_parameters=True, connection_invalidated=gone, dialect=dialect,
            ) from exc  # fmt: skip
        finally:
            if cursor is not None:
                with suppress(Exception):  # a cursor of a connection already gone
                    cursor.close()
            if self.postgres and pooled.dbapi_connection is not None:
                with suppress(Exception):
                    pooled.dbapi_connection.autocommit = False
            pooled.close()
        if row is None or not self.processed:
            return row if row is None else tuple(row)
        return tuple(
            value if process is None else process(value)
            for process, value in zip(self.processors, row, strict=True)
        )


_prepared_reads: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _prepared_read(statement, dialect) -> _PreparedRead:  # noqa: ANN001
    """The statement prepared for this dialect (an engine's own: its JSON settings count)."""
    for_dialect = _prepared_reads.get(dialect)
    if for_dialect is None:
        for_dialect = _prepared_reads[dialect] = {}
    found = for_dialect.get(id(statement))
    if found is None or found[0] is not statement:
        if len(for_dialect) >= 256:  # statements built per call, not the module's constants
            for_dialect.clear()
        found = for_dialect[id(statement)] = (statement, _PreparedRead(statement, dialect))
    return found[1]


@contextmanager
def write_connection() -> Iterator[Connection]:
    """A connection whose writes commit together when the block ends (roll back if it raises).

    Joins a transaction this request's session already holds, and commits it, as the ORM
    writes it replaces did; otherwise a short transaction of its own, without a session.
    """
    if db.session.registry.has():
        session = db.session()
        if session.in_transaction():
            try:
                yield session.connection()
            except BaseException:
                session.rollback()
                raise
            session.commit()
            return
    with for_this_request(db.engine).begin() as connection:
        yield connection


def write(statement, params: dict | list) -> int:  # noqa: ANN001
    """Run one Core write and commit it (`write_connection`); the number of rows it touched."""
    with write_connection() as connection:
        return connection.execute(statement, params).rowcount


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record) -> None:  # noqa: ANN001
    """WAL lets readers and one writer share the file across worker processes."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
