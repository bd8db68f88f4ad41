"""The whole code flow against `idp serve` (gunicorn, 2 workers), driven by Authlib's OAuth
client, on the embedded default and on PostgreSQL + Redis."""

from __future__ import annotations

import secrets
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.flows.live import Browser, LiveHub

USER, PASSWORD = "nguyenvana", "Mật-khẩu-an-toàn-1"


@pytest.fixture(scope="module", params=["sqlite", "pg"])
def live(request, tmp_path_factory):
    workdir = tmp_path_factory.mktemp(f"live-{request.param}")
    extra = ""
    if request.param == "pg":
        from tests.conftest import REDIS_URL

        extra = (
            f'database_url = "{request.getfixturevalue("pg_database_url")}"\n'
            f'redis_url = "{REDIS_URL}"\nredis_key_prefix = "idplive:{secrets.token_hex(4)}:"'
        )
    hub = LiveHub(workdir, extra)
    hub.start()
    hub.redirect_uri = f"http://127.0.0.1:{hub.port + 1}/callback"
    client = hub.cli_json(
        "clients",
        "add",
        "--name",
        "Hệ thống Một cửa điện tử",
        "--redirect-uri",
        hub.redirect_uri,
        "--scope",
        "openid profile email phone national_id",
    )
    hub.client_id, hub.client_secret = client["client_id"], client["client_secret"]
    hub.cli(
        "users",
        "add",
        "--username",
        USER,
        "--password",
        PASSWORD,
        "--full-name",
        "Nguyễn Văn A",
        "--email",
        "a@example.vn",
        "--phone",
        "0912345678",
        "--national-id",
        "001190000001",
    )
    yield hub
    hub.stop()
    if request.param == "pg":
        from idp.config import Config
        from tests.conftest import reset_pg

        reset_pg(
            Config(
                database_url=request.getfixturevalue("pg_database_url"),
                redis_url=REDIS_URL,
                redis_key_prefix=extra.split('"')[-2],
            )
        )


def oauth(live, **kwargs) -> OAuth2Session:
    return OAuth2Session(
        live.client_id,
        live.client_secret,
        redirect_uri=live.redirect_uri,
        scope="openid profile email",
        code_challenge_method="S256",
        **kwargs,
    )


def start(live, session: OAuth2Session, **params):
    verifier = secrets.token_urlsafe(48)
    nonce = secrets.token_urlsafe(12)
    url, state = session.create_authorization_url(
        live.metadata()["authorization_endpoint"], code_verifier=verifier, nonce=nonce, **params
    )
    return url, state, verifier, nonce


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def test_code_flow_with_pkce_id_token_userinfo_refresh_revoke(live):
    metadata = live.metadata()
    session = oauth(live)
    url, state, verifier, nonce = start(live, session)
    browser = Browser(live)
    callback = browser.sign_in(url, USER, PASSWORD)
    assert callback.startswith(live.redirect_uri)
    assert query(callback)["iss"] == live.url and query(callback)["state"] == state

    token = session.fetch_token(
        metadata["token_endpoint"],
        authorization_response=callback,
        code_verifier=verifier,
        state=state,
    )
    jwks = KeySet.import_key_set(requests.get(metadata["jwks_uri"], timeout=5).json())
    id_token = jwt.decode(token["id_token"], jwks, algorithms=["RS256"])
    registry = jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": live.url},
        aud={"essential": True, "value": live.client_id},
        nonce={"essential": True, "value": nonce},
        sub={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
        auth_time={"essential": True},
        sid={"essential": True},
        at_hash={"essential": True},
    )
    registry.validate(id_token.claims)
    assert id_token.claims["amr"] == ["pwd"] and id_token.claims["acr"] == "LoA1"

    info = session.get(metadata["userinfo_endpoint"], timeout=5).json()
    assert info["sub"] == id_token.claims["sub"]
    assert info["name"] == "Nguyễn Văn A" and info["email"] == "a@example.vn"
    assert "national_id" not in info  # not asked for

    refreshed = session.refresh_token(metadata["token_endpoint"])
    assert refreshed["refresh_token"] != token["refresh_token"]
    again = jwt.decode(refreshed["id_token"], jwks, algorithms=["RS256"]).claims
    assert again["sub"] == id_token.claims["sub"] and again["sid"] == id_token.claims["sid"]

    auth = (live.client_id, live.client_secret)
    active = requests.post(
        metadata["introspection_endpoint"],
        auth=auth,
        timeout=5,
        data={"token": refreshed["access_token"]},
    ).json()
    assert active["active"] is True and active["sub"] == info["sub"]
    revoke = requests.post(
        metadata["revocation_endpoint"],
        auth=auth,
        timeout=5,
        data={"token": refreshed["refresh_token"]},
    )
    assert revoke.status_code == 200
    assert requests.post(
        metadata["introspection_endpoint"],
        auth=auth,
        timeout=5,
        data={"token": refreshed["access_token"]},
    ).json() == {"active": False}
    reuse = requests.post(
        metadata["token_endpoint"],
        auth=auth,
        timeout=5,
        data={"grant_type": "refresh_token", "refresh_token": refreshed["refresh_token"]},
    )
    assert reuse.json()["error"] == "invalid_grant"


def test_sso_prompt_none_and_code_replay_on_the_live_server(live):
    metadata = live.metadata()
    browser = Browser(live)
    first = oauth(live)
    url, state, verifier, _ = start(live, first)
    callback = browser.sign_in(url, USER, PASSWORD)
    first.fetch_token(
        metadata["token_endpoint"],
        authorization_response=callback,
        code_verifier=verifier,
        state=state,
    )

    # The same browser, prompt=none: no password, a code straight away.
    second = oauth(live)
    url, state, verifier, _ = start(live, second, prompt="none")
    callback = browser.open(url).final_location
    code = query(callback)["code"]
    token = second.fetch_token(
        metadata["token_endpoint"],
        authorization_response=callback,
        code_verifier=verifier,
        state=state,
    )
    # Replaying the code fails and revokes what it gave.
    replay = requests.post(
        metadata["token_endpoint"],
        timeout=5,
        auth=(live.client_id, live.client_secret),
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": live.redirect_uri,
            "code_verifier": verifier,
        },
    )
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    userinfo = requests.get(
        metadata["userinfo_endpoint"],
        timeout=5,
        headers={"Authorization": f"Bearer {token['access_token']}"},
    )
    assert userinfo.status_code == 401

    # A new browser with prompt=none: login_required back at the client.
    url, state, _, _ = start(live, oauth(live), prompt="none")
    callback = Browser(live).open(url).final_location
    assert query(callback)["error"] == "login_required" and query(callback)["state"] == state


def test_error_paths_on_the_live_server(live):
    metadata = live.metadata()
    session = oauth(live)
    url, state, verifier, _ = start(live, session)
    # Wrong redirect URI: a page on the hub, never a redirect.
    bad = url.replace("callback", "evil")
    response = requests.get(bad, allow_redirects=False, timeout=5)
    assert response.status_code == 400 and "Location" not in response.headers
    # Wrong PKCE verifier: invalid_grant.
    callback = Browser(live).sign_in(url, USER, PASSWORD)
    response = requests.post(
        metadata["token_endpoint"],
        timeout=5,
        auth=(live.client_id, live.client_secret),
        data={
            "grant_type": "authorization_code",
            "code": query(callback)["code"],
            "redirect_uri": live.redirect_uri,
            "code_verifier": secrets.token_urlsafe(48),
        },
    )
    assert response.json()["error"] == "invalid_grant"
    # Bad client secret: 401 invalid_client.
    response = requests.post(
        metadata["token_endpoint"],
        timeout=5,
        auth=(live.client_id, "wrong"),
        data={"grant_type": "authorization_code", "code": "x", "redirect_uri": live.redirect_uri},
    )
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"
    # Unsupported response type goes back to the client with iss.
    response = requests.get(
        metadata["authorization_endpoint"],
        allow_redirects=False,
        timeout=5,
        params={
            "client_id": live.client_id,
            "response_type": "token",
            "redirect_uri": live.redirect_uri,
            "state": "s",
        },
    )
    location = query(response.headers["Location"])
    assert location["error"] == "unsupported_response_type" and location["iss"] == live.url


def test_sso_cookie_flags(live):
    session = oauth(live)
    url, *_ = start(live, session)
    browser = Browser(live)
    page = browser.open(url)
    data = dict(
        __import__("re").findall(r'name="([^"]+)" type="hidden" value="([^"]*)"', page.text)
    )
    data.update(username=USER, password=PASSWORD)
    response = browser.session.post(page.url, data=data, allow_redirects=False, timeout=5)
    cookie = response.headers["Set-Cookie"]
    assert "idp_sso=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # the issuer is http here; https issuers set Secure
