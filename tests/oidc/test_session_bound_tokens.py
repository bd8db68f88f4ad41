"""Tokens never outlive what was meant to end them (found by the red team): a code issued in a
session that has ended since gives no tokens; "end every session" and a password reset revoke
the tokens of sessions that had already ended on their own; a public client's reused refresh
token is always reuse (no retry grace for whoever holds it)."""

from __future__ import annotations

from sqlalchemy import select

from idp.login.logout import end_all_for_user
from idp.store import users
from idp.store.db import db
from idp.store.models import AuditEvent
from tests.conftest import hidden_inputs, pkce_pair
from tests.oidc.test_refresh_retry import refresh
from tests.oidc.test_token import RP, exchange


def test_a_code_from_a_session_that_ended_gives_no_tokens(hub, app):
    client_id, secret = hub.add_client(first_party=True)
    hub.add_user()
    code = hub.code_for(client_id)  # kept, not redeemed
    form = hidden_inputs(hub.web.get("/account").get_data(as_text=True))
    assert hub.web.post("/account/logout", data=form).status_code == 200  # signed out
    late = exchange(hub, code, client_id, secret)
    assert late.status_code == 400 and late.get_json()["error"] == "invalid_grant"
    with app.app_context():
        events = db.session.scalars(select(AuditEvent.event)).all()
    assert "code_session_ended" in events


def test_a_code_from_a_replaced_session_gives_no_tokens(hub):
    client_id, secret = hub.add_client(first_party=True)
    hub.add_user()
    hub.add_user(username="citizen02")
    code = hub.code_for(client_id)
    newer = hub.code_for(client_id, prompt="login", username="citizen02")
    assert exchange(hub, code, client_id, secret).get_json()["error"] == "invalid_grant"
    assert exchange(hub, newer, client_id, secret).status_code == 200


def test_ending_every_session_revokes_tokens_of_sessions_that_expired(hub, app, clock):
    client_id, secret = hub.add_client(first_party=True)
    hub.add_user()
    tokens = exchange(hub, hub.code_for(client_id), client_id, secret).get_json()
    clock.advance(app.config["IDP"].session.idle_timeout + 1)  # the session ended on its own
    with app.app_context():
        assert end_all_for_user(users.by_username("citizen01").id, "password_reset") == 0
    answer = refresh(hub, tokens["refresh_token"], (client_id, secret))
    assert answer.status_code == 400 and answer.get_json()["error"] == "invalid_grant"


def test_a_public_clients_reused_refresh_token_is_always_reuse(hub, app):
    client_id, _ = hub.add_client(auth_method="none", first_party=True)
    hub.add_user()
    verifier, challenge = pkce_pair()
    code = hub.code_for(client_id, code_challenge=challenge, code_challenge_method="S256")
    first = hub.web.post(
        "/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": RP,
              "client_id": client_id, "code_verifier": verifier},
    ).get_json()  # fmt: skip

    def use(token: str):
        return hub.web.post(
            "/token",
            data={"grant_type": "refresh_token", "refresh_token": token, "client_id": client_id},
        )

    rotated = use(first["refresh_token"])
    assert rotated.status_code == 200
    replay = use(first["refresh_token"])  # within the window: a thief's copy, or not
    assert replay.status_code == 400 and replay.get_json()["error"] == "invalid_grant"
    assert use(rotated.get_json()["refresh_token"]).status_code == 400  # the grant is revoked
    with app.app_context():
        events = db.session.scalars(select(AuditEvent.event)).all()
    assert "refresh_reuse" in events and "refresh_retry" not in events
