"""The SQLAlchemy handle shared by every model, and engine settings per database kind."""

from __future__ import annotations

import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from flask import g, has_request_context
from flask_sqlalchemy import SQLAlchemy
from flask_sqlalchemy.session import Session
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DisconnectionError

from ..config import Config
from .driver import Transaction, prepared, transaction

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


def autocommit_asked() -> bool:
    """Whether this request asked for `autocommit_statements`."""
    return has_request_context() and bool(g.get("idp_autocommit"))


def for_this_request(engine: Engine) -> Engine:
    """The engine, or its autocommit twin when this request asked for `autocommit_statements`."""
    if autocommit_asked():
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
    driver (`driver`).
    """
    if db.session.registry.has():  # a session exists already (made, not just looked up)
        session = db.session()
        if session.in_transaction():
            row = session.connection().execute(statement, params).first()
            return None if row is None else tuple(row)
    engine = db.engine
    return prepared(statement, engine.dialect).first(engine, params)


@contextmanager
def write_connection() -> Iterator[Connection | Transaction]:
    """Something to `execute` writes on, committed together when the block ends (rolled back if
    it raises); each `execute` gives the rows' count (`rowcount`) and what RETURNING gave
    (`first()`).

    Joins a transaction this request's session already holds, and commits it, as the ORM
    writes it replaces did. Otherwise a short transaction of its own on the pool's driver
    connection (`driver.transaction`), without a session or SQLAlchemy's `Connection`; on
    PostgreSQL under `autocommit_statements`, each statement commits by itself.
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
    with transaction(db.engine, autocommit=autocommit_asked()) as connection:
        yield connection


def write(statement, params: dict) -> int:  # noqa: ANN001
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
