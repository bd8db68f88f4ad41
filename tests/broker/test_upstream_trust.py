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
        logout_token(app, age=max_age + 45),  # just past the window (no two-minute grace)
        logout_token(app, age=max_age - 10, lifetime=max_age - 60),  # expired 50 s ago
    ):
        refused = hub.web.post("/broker/dvcqg/backchannel-logout", data={"logout_token": old})
        assert refused.status_code == 400, refused.get_data(as_text=True)
        assert hub.web.get("/account").status_code == 200  # still signed in

    fresh = logout_token(app, age=max_age - 60, sid="none")  # every session of the person
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
    from idp.broker.upstream import LOGOUT_TOKEN_LEEWAY

    # Past the last moment the token could still pass its checks, the jti is still there.
    clock.advance(app.config["IDP"].broker.logout_token_max_age + LOGOUT_TOKEN_LEEWAY + 1)
    with app.app_context():
        assert kv().get(f"upstream-jti:dvcqg:{sha256_hex(jti)}") is not None


def test_an_upstream_error_cannot_forge_a_log_line(hub, app, caplog):
    """The portal's error_description is logged without its line breaks."""
    import logging
    import re

    client_id, _ = hub.add_client(first_party=True)
    login = hub.login_url(client_id)
    button = re.search(
        r'href="(/interaction/[^"]+/broker/dvcqg)"', hub.web.get(login).get_data(as_text=True)
    ).group(1)
    upstream = hub.web.get(button).headers["Location"]
    state = query_of(upstream)["state"]
    forged = "x\nidp.audit login_success\u2028idp.audit admin_role_granted\x85user=quantri01"
    with caplog.at_level(logging.WARNING):
        hub.web.get(
            "/broker/dvcqg/callback",
            query_string={"state": state, "error": "server_error", "error_description": forged},
        )
    lines = [r.getMessage() for r in caplog.records if "national sign-in" in r.getMessage()]
    assert lines and all(line.isprintable() for line in lines)  # no \n, U+2028, U+0085


def test_a_national_account_without_a_number_cannot_be_linked_by_password(hub, app):
    """An organisation known to the portal only by its TechID, and a local business account
    whose password the person knows: nothing ties the two, so no link is made."""
    from tests.broker.test_national_login import choose

    client_id, _ = hub.add_client(first_party=True)
    hub.add_user(username="motcua_dn", account_type="organization", tax_code="0100109106")
    first = national(hub, client_id, "chuvanan")  # kind 3: no tax code from the portal
    refused = choose(hub, first, action="link", national_id="0100109106", password="Mật-khẩu-123")
    assert refused.status_code == 400
    assert "không cung cấp số định danh" in refused.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(FederatedIdentity)) == 0


def test_linking_another_number_than_the_portals_checks_no_password(hub, app):
    from tests.broker.test_national_login import choose

    client_id, _ = hub.add_client(first_party=True)
    hub.add_user(username="other01", national_id="079195000123")
    first = national(hub, client_id, "an")  # the portal vouches for 001090000001
    refused = choose(hub, first, action="link", national_id="079195000123", password="Mật-khẩu-123")
    assert refused.status_code == 400
    with app.app_context():
        failures = db.session.scalars(
            select(AuditEvent).where(AuditEvent.event == "login_failure")
        ).all()
        assert failures == []  # not a password guess: nothing checked, nothing counted
        assert db.session.scalar(select(func.count()).select_from(FederatedIdentity)) == 0
