"""Statements on the pool's driver connection (`store.driver`): SQLAlchemy's values, errors and
pool recovery without its `Connection`, on SQLite and PostgreSQL; and the SQL short-lived
store, which runs on it, on PostgreSQL too (without Redis)."""

from __future__ import annotations

import psycopg
import pytest
import sqlalchemy.exc
from sqlalchemy import bindparam, insert, select, text

from idp.store.db import db
from idp.store.driver import Prepared, prepared
from idp.store.kv import SqlStore
from idp.store.models import KvEntry, Token
from tests.conftest import PG_ADMIN_URL


@pytest.fixture
def engine(app):
    with app.app_context():
        yield db.engine


def _entry(key: str, value: str = "{}", expires_at: float = 4e9) -> dict:
    return {"key": key, "value": value, "counter": 0, "expires_at": expires_at}


PUT = insert(KvEntry).values(
    key=bindparam("key"),
    value=bindparam("value"),
    counter=bindparam("counter"),
    expires_at=bindparam("expires_at"),
)
GET = select(KvEntry.value, KvEntry.counter).where(KvEntry.key == bindparam("key"))


def test_a_write_commits_and_a_read_sees_it_from_another_connection(engine):
    assert prepared(PUT, engine.dialect).write(engine, _entry("a", '{"x": 1}')) == 1
    with engine.connect() as other:
        assert other.execute(select(KvEntry.value).where(KvEntry.key == "a")).scalar() == (
            '{"x": 1}'
        )
    assert prepared(GET, engine.dialect).first(engine, {"key": "a"}) == ('{"x": 1}', 0)
    assert prepared(GET, engine.dialect).first(engine, {"key": "nothing"}) is None


def test_several_parameter_sets_are_one_transaction(engine):
    put = prepared(PUT, engine.dialect)
    put.write(engine, _entry("taken"))
    with pytest.raises(sqlalchemy.exc.IntegrityError):
        put.write(engine, [_entry("first"), _entry("taken")])  # the second breaks the key
    assert prepared(GET, engine.dialect).first(engine, {"key": "first"}) is None


def test_values_come_back_as_sqlalchemys(engine, app):
    """JSON and booleans (stored as text and integers on SQLite) as the ORM gives them."""
    row = {
        "access_token_hash": "h" * 64, "refresh_token_hash": None, "client_id": "c",
        "user_id": None, "scope": "openid", "grant_id": "g", "sid": None, "auth_time": None,
        "acr": None, "amr": ["pwd", "otp"], "claims_request": {"userinfo": {"email": None}},
        "issued_at": 1, "access_expires_at": 2, "refresh_expires_at": None,
        "access_revoked": True, "refresh_revoked": False,
    }  # fmt: skip
    with engine.begin() as connection:
        connection.execute(insert(Token), row)
    query = select(Token.amr, Token.claims_request, Token.access_revoked, Token.refresh_revoked)
    read = prepared(query.where(Token.grant_id == bindparam("g")), engine.dialect)
    assert read.first(engine, {"g": "g"}) == (
        ["pwd", "otp"], {"userinfo": {"email": None}}, True, False,
    )  # fmt: skip
    # A value written into the statement itself (not a parameter) is sent too.
    assert prepared(query.where(Token.grant_id == "g"), engine.dialect).first(engine, {})


def test_statements_whose_sql_depends_on_the_parameters_are_refused(engine):
    with pytest.raises(ValueError, match="expanding"):
        Prepared(select(KvEntry.value).where(KvEntry.key.in_(["a", "b"])), engine.dialect)
    # KvEntry.counter has a default the ORM fills in at execution: the INSERT must name it.
    with pytest.raises(ValueError, match="defaults"):
        Prepared(insert(KvEntry).values(key=bindparam("key")), engine.dialect)


def test_a_driver_error_is_sqlalchemys_and_the_connection_goes_back(engine):
    broken = prepared(select(text("no_such_column")).select_from(KvEntry.__table__), engine.dialect)
    for _ in range(engine.pool.size() + 2):  # more than the pool holds: each one came back
        with pytest.raises(sqlalchemy.exc.DBAPIError) as raised:
            broken.first(engine, {})
        assert "[SQL:" in str(raised.value)
    assert prepared(GET, engine.dialect).first(engine, {"key": "x"}) is None


@pytest.mark.parametrize("backend", ["pg"], indirect=True)
def test_on_postgresql_one_statement_runs_without_a_transaction_and_leaves_none(engine):
    read = prepared(select(text("now() = statement_timestamp()")), engine.dialect)
    # In a transaction, now() is the transaction's start, earlier than the statement's.
    assert read.first(engine, {}) == (True,)
    pooled = engine.raw_connection()
    try:
        assert pooled.dbapi_connection.autocommit is False  # as the pool handed it out
        assert pooled.dbapi_connection.info.transaction_status == 0  # idle
    finally:
        pooled.close()


@pytest.mark.parametrize("backend", ["pg"], indirect=True)
def test_on_postgresql_a_restarted_server_costs_one_failed_call_not_one_per_connection(engine):
    """As through SQLAlchemy's Connection: the first call that meets a dead connection fails
    (503), and every connection the pool opened before it is replaced, not each in turn."""
    held = [engine.raw_connection() for _ in range(engine.pool.size())]
    pids = []
    for pooled in held:
        cursor = pooled.dbapi_connection.cursor()
        cursor.execute("SELECT pg_backend_pid()")
        pids.append(cursor.fetchone()[0])
        cursor.close()
    for pooled in held:
        pooled.close()
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as other:  # not one of the pool's
        for pid in pids:
            other.execute("SELECT pg_terminate_backend(%s)", (pid,))
    read = prepared(select(text("pg_backend_pid()")), engine.dialect)
    errors = 0
    for _ in range(len(pids) + 2):
        try:
            assert read.first(engine, {})[0] not in pids
        except sqlalchemy.exc.OperationalError as exc:
            assert exc.connection_invalidated
            errors += 1
    assert errors <= 1


def test_the_sql_short_lived_store_on_postgresql(app, backend):
    """A database without Redis: the contract on PostgreSQL too (take is single-use, add is
    only-if-absent, counters, several keys at once)."""
    with app.app_context():
        store = SqlStore(db.engine)
        store.put_many([("one", {"v": 1}, 60), ("two", {"v": 2}, 60)])
        assert store.get_many(["two", "none", "one"]) == [{"v": 2}, None, {"v": 1}]
        assert store.get_many([f"k{i}" for i in range(12)]) == [None] * 12
        assert store.take("one") == {"v": 1}
        assert store.take("one") is None
        assert store.add("jti", {}, 60) is True
        assert store.add("jti", {}, 60) is False
        assert [store.incr("n", 60) for _ in range(2)] == [1, 2]
        assert store.count("n") == 2
        store.put("gone", {"v": 0}, -1)
        assert store.get("gone") is None
        assert store.add("gone", {"v": 3}, 60) is True  # an expired entry may be replaced
        assert store.get("gone") == {"v": 3}
