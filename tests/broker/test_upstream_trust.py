"""What the national portal sends is used only once verified (threat model §6): a userinfo
answer without the ID token's `sub` (or with another one) signs nobody in and creates nothing;
a logout token older than `broker.logout_token_max_age`, or past its `exp`, ends nothing; a
fresh one works once. On SQLite and on PostgreSQL + Redis, the mock portal its own process."""

from __future__ import annotations

import pytest
import requests
from sqlalchemy import func, select

from idp.store import db
from idp.store.models import AuditEvent, FederatedIdentity, User
from tests.broker.test_national_login import mock_base, national, signed_in_as_new_citizen
from tests.conftest import query_of


@pytest.mark.parametrize("fault", ["userinfo_no_sub", "userinfo_other_sub"])
def test_userinfo_without_the_id_tokens_sub_is_not_used(hub, app, fault):
    client_id, _ = hub.add_client(first_party=True)
    response = national(hub, client_id, "an", fault=fault)
    location = response.headers["Location"]
    assert "/login" in location and query_of(location)["reason"] == "national_bad_token"
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(FederatedIdentity)) == 0
        assert db.session.scalar(select(func.count()).select_from(User)) == 0
        failed = db.session.scalars(
            select(AuditEvent).where(AuditEvent.event == "national_login_failed")
        ).all()
    assert [e.detail["reason"] for e in failed] == ["bad_token"]


def logout_token(app, **form) -> str:
    answer = requests.post(
        mock_base(app) + "/mock/logout-token", data={"person": "an", **form}, timeout=5
    )
    return answer.json()["logout_token"]


def test_an_old_or_expired_logout_token_ends_nothing(hub, app):
    client_id, secret = hub.add_client(first_party=True)
    signed_in_as_new_citizen(hub, client_id, secret)
    max_age = app.config["IDP"].broker.logout_token_max_age
    for old in (
        logout_token(app, age=3 * 24 * 3600),  # three days old, no exp
        logout_token(app, age=max_age + 600),  # just past the window
        logout_token(app, age=max_age - 10, lifetime=30),  # exp long passed, iat in the window
    ):
        refused = hub.web.post("/broker/dvcqg/backchannel-logout", data={"logout_token": old})
        assert refused.status_code == 400, refused.get_data(as_text=True)
        assert hub.web.get("/account").status_code == 200  # still signed in

    fresh = logout_token(app, age=max_age - 60)
    ended = hub.web.post("/broker/dvcqg/backchannel-logout", data={"logout_token": fresh})
    assert ended.status_code == 200
    assert hub.web.get("/account").status_code == 302
    replay = hub.web.post("/broker/dvcqg/backchannel-logout", data={"logout_token": fresh})
    assert replay.status_code == 400


def test_a_logout_tokens_jti_is_remembered_for_longer_than_the_window(hub, app, clock, backend):
    """The replay memory outlives the age check, so no token is ever accepted twice."""
    if backend == "pg":
        pytest.skip("Redis expires keys on its own clock; the SQL store follows the app clock")
    from joserfc import jwt as jose_jwt
    from joserfc.jwk import KeySet

    from idp.security import sha256_hex
    from idp.store import kv

    client_id, secret = hub.add_client(first_party=True)
    signed_in_as_new_citizen(hub, client_id, secret)
    token = logout_token(app)
    ended = hub.web.post("/broker/dvcqg/backchannel-logout", data={"logout_token": token})
    assert ended.status_code == 200
    keys = requests.get(mock_base(app) + "/oauth2/jwks", timeout=5).json()
    jti = jose_jwt.decode(token, KeySet.import_key_set(keys)).claims["jti"]
    clock.advance(app.config["IDP"].broker.logout_token_max_age + 60)
    with app.app_context():
        assert kv().get(f"upstream-jti:dvcqg:{sha256_hex(jti)}") is not None
