"""Single sign-on and single logout against `idp serve` (2 workers): sign in at A, tokens at B
without a password, log out from B, and A's back-channel endpoint (a real HTTP server) is told;
then an administrator ends every session of a user from the command line."""

from __future__ import annotations

import secrets

import requests
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.flows.live import Browser
from tests.flows.test_live_code_flow import PASSWORD, USER, live, query  # noqa: F401

EVENT = "http://schemas.openid.net/event/backchannel-logout"


def register(live, name: str, **extra) -> tuple[str, str, str]:  # noqa: F811
    redirect_uri = f"http://127.0.0.1:{live.port + 1}/{name}/callback"
    args = ["clients", "add", "--name", name, "--redirect-uri", redirect_uri, "--first-party"]
    for flag, value in extra.items():
        args += [f"--{flag.replace('_', '-')}", value]
    client = live.cli_json(*args)
    return client["client_id"], client["client_secret"], redirect_uri


def sign_in(live, browser, client, prompt=None):  # noqa: F811
    client_id, secret, redirect_uri = client
    session = OAuth2Session(
        client_id, secret, redirect_uri=redirect_uri, scope="openid", code_challenge_method="S256"
    )
    verifier = secrets.token_urlsafe(48)
    extra = {"prompt": prompt} if prompt else {}
    url, state = session.create_authorization_url(
        live.url + "/authorize", code_verifier=verifier, **extra
    )
    callback = (
        browser.sign_in(url, USER, PASSWORD) if not prompt else browser.open(url).final_location
    )
    return session.fetch_token(
        live.url + "/token", authorization_response=callback, code_verifier=verifier, state=state
    )


def test_logout_at_b_logs_out_a_through_the_back_channel(live, receiver):  # noqa: F811
    a = register(live, "a", backchannel_logout_uri=receiver.url)
    b = register(live, "b", post_logout_redirect_uri=f"http://127.0.0.1:{live.port + 1}/bye")
    browser = Browser(live)
    token_a = sign_in(live, browser, a)
    token_b = sign_in(live, browser, b, prompt="none")
    jwks = KeySet.import_key_set(requests.get(live.url + "/jwks", timeout=5).json())
    sid = jwt.decode(token_a["id_token"], jwks).claims["sid"]

    response = browser.session.get(
        live.url + "/logout",
        allow_redirects=False,
        timeout=10,
        params={
            "id_token_hint": token_b["id_token"],
            "state": "s",
            "post_logout_redirect_uri": f"http://127.0.0.1:{live.port + 1}/bye",
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/bye?state=s")

    assert receiver.received.wait(15), "A's back-channel endpoint got nothing"
    logout = jwt.decode(receiver.tokens[0], jwks)
    assert logout.header["typ"] == "logout+jwt"
    assert logout.claims["sid"] == sid and logout.claims["aud"] == a[0]
    assert EVENT in logout.claims["events"] and "nonce" not in logout.claims

    refresh = requests.post(
        live.url + "/token",
        auth=(a[0], a[1]),
        timeout=5,
        data={"grant_type": "refresh_token", "refresh_token": token_a["refresh_token"]},
    )
    assert refresh.json()["error"] == "invalid_grant"
    url = OAuth2Session(a[0], redirect_uri=a[2], scope="openid").create_authorization_url(
        live.url + "/authorize", prompt="none"
    )[0]
    assert query(browser.open(url).final_location)["error"] == "login_required"


def test_admin_ends_every_session_of_a_user(live, receiver):  # noqa: F811
    a = register(live, "a2", backchannel_logout_uri=receiver.url)
    phone, laptop = Browser(live), Browser(live)
    token = sign_in(live, phone, a)
    sign_in(live, laptop, a)
    out = live.cli("users", "logout", USER)
    assert "ended 2 session(s)" in out
    assert len(receiver.tokens) == 2  # the command delivered both before returning
    userinfo = requests.get(
        live.url + "/userinfo",
        timeout=5,
        headers={"Authorization": f"Bearer {token['access_token']}"},
    )
    assert userinfo.status_code == 401
    for browser in (phone, laptop):
        url = OAuth2Session(a[0], redirect_uri=a[2], scope="openid").create_authorization_url(
            live.url + "/authorize", prompt="none"
        )[0]
        assert query(browser.open(url).final_location)["error"] == "login_required"
