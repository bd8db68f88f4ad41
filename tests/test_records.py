"""The hot paths' narrow data path (`store.records`, `db.first_row`, `db.write_connection`):
the same answers as the ORM on both stores, never a stale read, and writes all or nothing."""

from __future__ import annotations

import secrets

import pytest
from sqlalchemy import select, update

from idp.store import clients, records, tokens, users
from idp.store.db import db, first_row, write, write_connection
from idp.store.models import Token, User


def _token(client_id: str, user_id: int | None, **changes) -> tuple[str, str]:
    access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    fields = dict(
        access_token=access,
        refresh_token=refresh if user_id else None,
        client_id=client_id,
        user_id=user_id,
        scope="openid profile",
        grant_id=secrets.token_urlsafe(16),
        access_ttl=600,
        refresh_ttl=3600,
        sid="sid-1",
        auth_time=1_700_000_000,
        acr="LoA2",
        amr=["pwd", "otp"],
        claims_request={"userinfo": {"email": None}},
    )
    fields.update(changes)
    tokens.save(**fields)
    return access, refresh


@pytest.fixture
def people(app):
    with app.app_context():
        client, _ = clients.create(
            name="RP", redirect_uris=["https://rp.example/cb"], auth_method="client_secret_basic"
        )
        user = users.create(
            username="recorded1", password=None, full_name="Trần Thị Bích", email="b@example.vn"
        )
        user.roles = ["staff"]
        user.verified_fields = {"full_name": {"source": "dvcqg", "at": 1}}
        db.session.commit()
        yield client.client_id, user.id


def test_a_token_record_answers_as_the_orm_token_does(app, people):
    client_id, user_id = people
    with app.test_request_context():
        access, refresh = _token(client_id, user_id)
        record = tokens.by_access_token(access)
        by_refresh = tokens.by_refresh_token(refresh)
        orm = db.session.scalar(select(Token).where(Token.id == record.id))
        for name in records._TOKEN_FIELDS:
            assert getattr(record, name) == getattr(orm, name), name
            assert getattr(by_refresh, name) == getattr(orm, name), name
        for name in records._USER_FIELDS:
            assert getattr(record.user, name) == getattr(orm.user, name), name
        assert record.amr == ["pwd", "otp"] and record.claims_request["userinfo"] == {"email": None}
        assert record.user.roles == ["staff"] and record.access_revoked is False
        # The checks Authlib and the endpoints call are the model's own (`TokenChecks`).
        assert record.get_scope() == orm.get_scope()
        assert record.is_expired() == orm.is_expired() is False
        assert record.holder_active is orm.holder_active is True
        assert record.get_client().client_id == client_id
        assert record.presented_as is None and by_refresh.presented_as is None
        assert records.user_by_id(user_id).username == "recorded1"


def test_a_client_token_has_no_user_and_unknown_values_find_nothing(app, people):
    client_id, _ = people
    with app.test_request_context():
        access, _ = _token(client_id, None)
        record = tokens.by_access_token(access)
        assert record.user is None and record.get_user() is None and record.holder_active
        for hostile in ("", "x" * 513, None, 42, "not-a-token"):
            assert tokens.by_access_token(hostile) is None
            assert tokens.by_refresh_token(hostile) is None
        assert records.user_by_id(10**9) is None


def test_every_lookup_reads_the_row_as_it_is_now(app, people):
    """No cache: a token revoked, or a user closed, is seen so by the very next lookup."""
    client_id, user_id = people
    with app.test_request_context():
        access, _ = _token(client_id, user_id)
        before = tokens.by_access_token(access)
        tokens.revoke_access(before)
        db.session.execute(update(User).where(User.id == user_id).values(active=False))
        db.session.commit()
        after = tokens.by_access_token(access)
        assert before.access_revoked is False and before.user.active is True
        assert after.access_revoked is True and after.user.active is False
        assert after.holder_active is False and after.is_revoked()


def test_a_lookup_inside_the_sessions_transaction_sees_its_uncommitted_writes(app, people):
    client_id, user_id = people
    with app.test_request_context():
        access, _ = _token(client_id, user_id)
        db.session.execute(update(User).where(User.id == user_id).values(full_name="Đổi"))
        assert tokens.by_access_token(access).user.full_name == "Đổi"
        db.session.rollback()
        assert tokens.by_access_token(access).user.full_name == "Trần Thị Bích"


@pytest.mark.parametrize("in_session", [False, True], ids=["own", "session's"])
def test_a_write_block_that_fails_writes_nothing(app, people, in_session):
    client_id, user_id = people
    with app.test_request_context():
        access, _ = _token(client_id, user_id)
        token_id = tokens.by_access_token(access).id
        if in_session:
            db.session.scalar(select(User.id))  # the session holds a transaction now
        revoke = update(Token).where(Token.id == token_id).values(access_revoked=True)
        with pytest.raises(RuntimeError), write_connection() as connection:
            connection.execute(revoke)
            raise RuntimeError("the second statement failed")
        assert tokens.by_access_token(access).access_revoked is False
        assert write(revoke, {}) == 1
        db.session.remove()
        assert first_row(select(Token.access_revoked).where(Token.id == token_id), {})[0]


def test_rotation_uses_a_refresh_token_up_once(app, people):
    client_id, user_id = people
    with app.test_request_context():
        _, refresh = _token(client_id, user_id)
        parent = tokens.by_refresh_token(refresh)
        rows = []
        for _ in range(2):
            rows.append(
                tokens.row(
                    access_token=secrets.token_urlsafe(32),
                    refresh_token=secrets.token_urlsafe(32),
                    client_id=client_id,
                    user_id=user_id,
                    scope=parent.scope,
                    grant_id=parent.grant_id,
                    access_ttl=600,
                    refresh_ttl=3600,
                    sid=parent.sid,
                    auth_time=parent.auth_time,
                    acr=parent.acr,
                    amr=parent.amr,
                    claims_request=None,
                )
            )
        assert tokens.rotate(parent, rows[0], "sealed-1") is True
        assert tokens.rotate(parent, rows[1], "sealed-2") is False
        used = tokens.by_refresh_token(refresh)
        assert used.refresh_revoked and used.refresh_revoked_reason == "rotated"
        assert used.successor == "sealed-1"
        family = db.session.scalars(select(Token).where(Token.grant_id == parent.grant_id)).all()
        assert len(family) == 2  # the first replacement only


def test_the_token_insert_names_every_value_a_token_row_has():
    """The insert runs on the driver with its SQL fixed once (`store.driver`): a value `row`
    gained but the statement did not name would be dropped without a word."""
    example = tokens.row(
        access_token="a", refresh_token="r", client_id="c", user_id=1, scope="openid",
        grant_id="g", access_ttl=1, refresh_ttl=1, sid=None, auth_time=None, acr=None,
        amr=None, claims_request=None,
    )  # fmt: skip
    assert set(example) == set(tokens._ROW_COLUMNS)
    written = {getattr(column, "key", column) for column in tokens._INSERT._values}
    assert written == set(example)
