"""The SQLAlchemy handle shared by every model, and engine settings per database kind."""

from __future__ import annotations

import time

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError

from ..config import Config

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Request-scoped sessions: objects stay usable after commit instead of reloading per attribute.
db = SQLAlchemy(
    metadata=MetaData(naming_convention=NAMING), session_options={"expire_on_commit": False}
)


def engine_options(config: Config) -> dict:
    """Pool settings for PostgreSQL; SQLite gets a busy timeout so workers wait, not fail."""
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
    }


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
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError("idle connection is gone") from exc


def autocommit_statements() -> None:
    """On PostgreSQL, let each statement of this request commit by itself.

    For the token endpoints, whose every write is one statement (insert a token, claim a refresh
    token, revoke a grant): no BEGIN and COMMIT or ROLLBACK round trips around them. Call it
    before the request's first query; SQLite keeps its transactions, which cost no round trip.
    """
    if db.engine.dialect.name == "postgresql":
        db.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record) -> None:  # noqa: ANN001
    """WAL lets readers and one writer share the file across worker processes."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
