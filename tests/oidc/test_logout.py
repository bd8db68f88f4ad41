"""Single sign-on and single logout: RP-initiated logout, back-channel and front-channel logout,
revocation that follows logout, and what happens when a client's endpoint is slow or broken."""

from __future__ import annotations

import re

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import select

from idp.store import db
from idp.store.models import AuditEvent, LogoutDelivery
from tests.conftest import ISSUER, hidden_inputs, query_of
from tests.receiver import Receiver, wait_until

A_CB, B_CB = "https://a.example/cb", "https://b.example/cb"
EVENT = "http://schemas.openid.net/event/backchannel-logout"


def two_clients(hub, receiver_url):
    a = hub.add_client(
        name="A", redirect_uris=[A_CB], first_party=True, backchannel_logout_uri=receiver_url
    )
    b = hub.add_client(
        name="B",
        redirect_uris=[B_CB],
        first_party=True,
        post_logout_redirect_uris=["https://b.example/bye"],
    )
    return a, b


def decode(hub, token):
    return jwt.decode(
        token, KeySet.import_key_set(hub.web.get("/jwks").get_json()), algorithms=["RS256", "ES256"]
    )


def test_sign_in_once_log_out_everywhere(hub, app, receiver):
    (a, sa), (b, sb) = two_clients(hub, receiver.url)
    hub.add_user()
    at_a = hub.tokens(a, sa, A_CB)
    # B gets tokens with no password: prompt=none works.
    at_b = hub.tokens(b, sb, B_CB, prompt="none")
    sid = decode(hub, at_a["id_token"]).claims["sid"]
    assert decode(hub, at_b["id_token"]).claims["sid"] == sid

    response = hub.web.get(
        "/logout",
        query_string={
            "id_token_hint": at_b["id_token"],
            "post_logout_redirect_uri": "https://b.example/bye",
            "state": "bye-1",
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "https://b.example/bye?state=bye-1"
    assert "idp_sso=;" in response.headers["Set-Cookie"]

    assert receiver.received.wait(15), "A's back-channel endpoint got nothing"
    token = decode(hub, receiver.tokens[0])
    assert token.header["typ"] == "logout+jwt"
    claims = token.claims
    assert claims["iss"] == ISSUER and claims["aud"] == a and claims["sid"] == sid
    assert claims["sub"] == decode(hub, at_a["id_token"]).claims["sub"]
    assert claims["events"] == {EVENT: {}} and "nonce" not in claims
    assert claims["jti"] and claims["exp"] > claims["iat"]

    refresh = hub.token(
        {"grant_type": "refresh_token", "refresh_token": at_a["refresh_token"]}, auth=(a, sa)
    )
    assert refresh.get_json()["error"] == "invalid_grant"
    for access in (at_a["access_token"], at_b["access_token"]):
        assert (
            hub.web.get("/userinfo", headers={"Authorization": f"Bearer {access}"}).status_code
            == 401
        )
    prompt_none = hub.authorize(
        response_type="code", client_id=a, redirect_uri=A_CB, scope="openid", prompt="none"
    )
    assert query_of(prompt_none.headers["Location"])["error"] == "login_required"
    with app.app_context():
        assert wait_until(
            lambda: (
                db.session.scalar(select(LogoutDelivery.status)) == "delivered"
                or db.session.rollback()
            )
        )
        events = db.session.scalars(select(AuditEvent.event)).all()
    assert "logout" in events and "backchannel_logout" in events


def test_a_returning_client_costs_no_session_write_and_stays_in_the_logout_set(
    hub, app, monkeypatch
):
    a, sa = hub.add_client(name="A", redirect_uris=[A_CB], first_party=True)
    b, sb = hub.add_client(name="B", redirect_uris=[B_CB], first_party=True)
    hub.add_user()
    sid = decode(hub, hub.tokens(a, sa, A_CB)["id_token"]).claims["sid"]
    store = app.extensions["idp_kv"]
    set_adds = []
    original = store.set_add

    def counting_set_add(key, member, ttl):
        set_adds.append(member)
        return original(key, member, ttl)

    monkeypatch.setattr(store, "set_add", counting_set_add)
    hub.tokens(a, sa, A_CB, prompt="none")  # A again, silently
    assert set_adds == []
    hub.tokens(b, sb, B_CB, prompt="none")  # B joins the session
    hub.tokens(b, sb, B_CB, prompt="none")
    assert set_adds == [b]
    with app.app_context():
        from idp.login import sessions

        assert sorted(sessions.by_sid(sid).clients) == sorted([a, b])


def test_logout_without_hint_asks_first(hub):
    (a, sa), _ = two_clients(hub, "https://a.example/bc")
    hub.add_user()
    hub.tokens(a, sa, A_CB)
    page = hub.web.get("/logout")
    assert page.status_code == 200 and "decision" in page.get_data(as_text=True)
    # Still signed in: a third-party page cannot log the citizen out silently.
    still = hub.authorize(
        response_type="code", client_id=a, redirect_uri=A_CB, scope="openid", prompt="none"
    )
    assert "code" in query_of(still.headers["Location"])
    forged = hub.web.post("/logout", data={"decision": "logout"})
    assert forged.status_code == 400
    form = hidden_inputs(page.get_data(as_text=True))
    form["decision"] = "stay"
    assert "still signed in" in hub.web.post(
        "/logout", data=form, query_string={"lang": "en"}
    ).get_data(as_text=True)
    form["decision"] = "logout"
    done = hub.web.post("/logout", data=form)
    assert done.status_code == 200 and "idp_sso=;" in done.headers["Set-Cookie"]
    after = hub.authorize(
        response_type="code", client_id=a, redirect_uri=A_CB, scope="openid", prompt="none"
    )
    assert query_of(after.headers["Location"])["error"] == "login_required"


def test_confirmed_logout_with_client_id_returns_to_registered_uri(hub):
    _, (b, sb) = two_clients(hub, "https://a.example/bc")
    hub.add_user()
    hub.tokens(b, sb, B_CB)
    page = hub.web.get(
        "/logout",
        query_string={
            "client_id": b,
            "post_logout_redirect_uri": "https://b.example/bye",
            "state": "s",
        },
    )
    assert "form-action 'self' https://b.example" in page.headers["Content-Security-Policy"]
    form = hidden_inputs(page.get_data(as_text=True))
    form["decision"] = "logout"
    response = hub.web.post("/logout", data=form)
    assert response.headers["Location"] == "https://b.example/bye?state=s"


def test_hint_of_another_session_asks_first(hub):
    _, (b, sb) = two_clients(hub, "https://a.example/bc")
    hub.add_user(username="citizen01")
    hub.add_user(username="citizen02")
    other = hub.tokens(b, sb, B_CB, username="citizen02")
    hub.web.delete_cookie("idp_sso")
    hub.tokens(b, sb, B_CB, username="citizen01")
    page = hub.web.get("/logout", query_string={"id_token_hint": other["id_token"]})
    assert page.status_code == 200 and 'value="logout"' in page.get_data(as_text=True)


@pytest.mark.parametrize(
    "params",
    [
        {"id_token_hint": "not.a.token"},
        {"id_token_hint": "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."},
    ],
)
def test_invalid_hint_is_an_error_page(hub, params):
    response = hub.web.get("/logout", query_string=params)
    assert response.status_code == 400 and "Location" not in response.headers


def test_hint_for_another_client_id_is_an_error(hub):
    (a, sa), (b, sb) = two_clients(hub, "https://a.example/bc")
    hub.add_user()
    at_b = hub.tokens(b, sb, B_CB)
    response = hub.web.get(
        "/logout", query_string={"id_token_hint": at_b["id_token"], "client_id": a}
    )
    assert response.status_code == 400


def test_unregistered_post_logout_uri_is_not_followed(hub):
    _, (b, sb) = two_clients(hub, "https://a.example/bc")
    hub.add_user()
    at_b = hub.tokens(b, sb, B_CB)
    response = hub.web.get(
        "/logout",
        query_string={
            "id_token_hint": at_b["id_token"],
            "post_logout_redirect_uri": "https://evil.example/",
        },
    )
    assert response.status_code == 200 and "Location" not in response.headers
    assert "evil.example" not in response.get_data(as_text=True)


def test_logout_with_no_session_still_returns_to_the_client(hub):
    _, (b, sb) = two_clients(hub, "https://a.example/bc")
    hub.add_user()
    at_b = hub.tokens(b, sb, B_CB)
    hub.web.delete_cookie("idp_sso")
    response = hub.web.get(
        "/logout",
        query_string={
            "id_token_hint": at_b["id_token"],
            "post_logout_redirect_uri": "https://b.example/bye",
        },
    )
    assert response.headers["Location"] == "https://b.example/bye"


def test_expired_id_token_hint_is_accepted(hub, clock, app):
    _, (b, sb) = two_clients(hub, "https://a.example/bc")
    hub.add_user()
    at_b = hub.tokens(b, sb, B_CB)
    clock.advance(app.config["IDP"].tokens.id_token_ttl + 60)
    hub.authorize(
        response_type="code", client_id=b, redirect_uri=B_CB, scope="openid", prompt="none"
    )  # keep the session alive is not needed: idle < timeout
    response = hub.web.get(
        "/logout",
        query_string={
            "id_token_hint": at_b["id_token"],
            "post_logout_redirect_uri": "https://b.example/bye",
        },
    )
    assert response.status_code == 302


def test_front_channel_logout_page_renders_frames(hub):
    f, sf = hub.add_client(
        name="F",
        redirect_uris=["https://f.example/cb"],
        first_party=True,
        frontchannel_logout_uri="https://f.example/fc?x=1",
        post_logout_redirect_uris=["https://f.example/bye"],
    )
    hub.add_user()
    at = hub.tokens(f, sf, "https://f.example/cb")
    sid = decode(hub, at["id_token"]).claims["sid"]
    response = hub.web.get(
        "/logout",
        query_string={
            "id_token_hint": at["id_token"],
            "post_logout_redirect_uri": "https://f.example/bye",
        },
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    src = re.search(r'<iframe class="frontchannel" src="([^"]+)"', html).group(1)
    assert src.startswith("https://f.example/fc?x=1&amp;iss=") and f"sid={sid}" in src
    assert "frame-src 'self' https://f.example" in response.headers["Content-Security-Policy"]
    assert 'http-equiv="refresh"' in html and "https://f.example/bye" in html


@pytest.mark.parametrize("mode", ["hang", "error"])
def test_broken_backchannel_endpoint_never_blocks_logout(hub, app, mode):
    receiver = Receiver(mode)
    try:
        (a, sa), (b, sb) = two_clients(hub, receiver.url)
        hub.add_user()
        hub.tokens(a, sa, A_CB)
        at_b = hub.tokens(b, sb, B_CB)
        response = hub.web.get("/logout", query_string={"id_token_hint": at_b["id_token"]})
        # The logout answered while A's endpoint is still hanging (or failing).
        assert response.status_code == 200 and "idp_sso=;" in response.headers["Set-Cookie"]
        if mode == "hang":
            assert not receiver.release.is_set()
        with app.app_context():

            def failed():
                db.session.rollback()
                row = db.session.scalar(select(LogoutDelivery))
                return row is not None and row.status == "failed"

            assert wait_until(failed, timeout=30)
            row = db.session.scalar(select(LogoutDelivery))
            assert row.attempts == app.config["IDP"].logout.backchannel_max_attempts
            assert row.last_error and row.client_id == a
            outcomes = [
                e.detail["outcome"]
                for e in db.session.scalars(
                    select(AuditEvent).where(AuditEvent.event == "backchannel_logout")
                )
            ]
            assert outcomes == ["retry", "failed"]
    finally:
        receiver.close()
