"""Revocations reach every token of what they revoke: grants whose access token alone was revoked
(RFC 7009) and whose session ended on its own, and tokens written while the revocation ran
(on PostgreSQL an UPDATE does not see a row another transaction is inserting; red team,
issue 20). The race is played in its losing order: the revocation's UPDATE first, then the
racing writer's row, then the writer's check after its commit."""

from __future__ import annotations

import secrets

import pytest

from idp.login.logout import end_all_for_user
from idp.store import clients, tokens, users
from idp.store.db import db


def _grant(client_id: str, user_id: int, sid: str, grant_id: str | None = None) -> dict:
    access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    grant_id = grant_id or secrets.token_urlsafe(16)
    tokens.save(
        access_token=access,
        refresh_token=refresh,
        client_id=client_id,
        user_id=user_id,
        scope="openid",
        grant_id=grant_id,
        access_ttl=600,
        refresh_ttl=3600,
        sid=sid,
        auth_time=1,
        acr="LoA1",
        amr=["pwd"],
        claims_request=None,
    )
    return {"access": access, "refresh": refresh, "grant_id": grant_id, "sid": sid}


def _live(grant: dict) -> bool:
    token = tokens.by_refresh_token(grant["refresh"])
    return not (token.refresh_revoked or token.access_revoked)


@pytest.fixture
def people(app):
    with app.test_request_context():
        client, _ = clients.create(
            name="RP", redirect_uris=["https://rp.example/cb"], auth_method="client_secret_basic"
        )
        user = users.create(username="racer001", password=None, full_name="Racer")
        db.session.commit()
        yield client.client_id, user.id


def test_ending_every_session_revokes_a_grant_whose_access_token_was_revoked_alone(people):
    """Its session had ended on its own (idle), and the client revoked its access token at
    logout: the refresh token must still go with "sign out everywhere" or a password reset."""
    client_id, user_id = people
    grant = _grant(client_id, user_id, sid="ended-on-its-own")
    tokens.revoke_access(tokens.by_access_token(grant["access"]))
    assert end_all_for_user(user_id, "password_reset") == 0  # no live session left
    assert not _live(grant)


@pytest.mark.parametrize("revocation", ["logout", "revoke", "everywhere", "lock"])
def test_tokens_written_while_a_revocation_ran_are_revoked_after_their_commit(people, revocation):
    client_id, user_id = people
    grant = _grant(client_id, user_id, sid="racing-session")
    if revocation == "logout":
        tokens.revoke_for_sessions([grant["sid"]])
    elif revocation == "revoke":
        tokens.revoke_grant(grant["grant_id"], "revoked")
    elif revocation == "everywhere":
        end_all_for_user(user_id, "logout")
    else:
        tokens.revoke_for_user(user_id)
    # The rotation (or code exchange) that raced it: its row landed after the UPDATE ran.
    racing = _grant(client_id, user_id, sid=grant["sid"], grant_id=grant["grant_id"])
    assert _live(racing)
    tokens.honour_revocations(racing["grant_id"], racing["sid"])
    assert not _live(racing)


def test_a_new_sign_in_after_a_revocation_keeps_its_tokens(people):
    """Markers name grants and sessions, never the person: after a password reset, the next
    sign-in (a new session, a new grant) is not revoked by them."""
    client_id, user_id = people
    _grant(client_id, user_id, sid="before-reset")
    end_all_for_user(user_id, "password_reset")
    fresh = _grant(client_id, user_id, sid="after-reset")
    tokens.honour_revocations(fresh["grant_id"], fresh["sid"])
    assert _live(fresh)


def test_tokens_revoked_because_their_answer_was_lost_can_be_written_again(people):
    """A code whose tokens could not be written goes back to the store: its retry writes the
    same grant again, and must keep it."""
    client_id, user_id = people
    grant = _grant(client_id, user_id, sid="s")
    tokens.revoke_grant(grant["grant_id"], "not_delivered", remember=False)
    retry = _grant(client_id, user_id, sid="s", grant_id=grant["grant_id"])
    tokens.honour_revocations(retry["grant_id"], retry["sid"])
    assert _live(retry)
