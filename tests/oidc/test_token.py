"""Token endpoint: code exchange, client authentication, PKCE, refresh rotation and reuse."""

import base64
import secrets
import time

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from idp.store.db import db
from tests.conftest import ISSUER, pkce_pair
from tests.faults import DriverSpy

RP = "https://rp.example/cb"


def exchange(hub, code, client_id, secret, **extra):
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": RP, **extra}
    return hub.token(data, auth=(client_id, secret) if secret else None)


def test_code_exchange_returns_tokens(hub):
    a, secret = hub.add_client()
    hub.add_user()
    response = exchange(hub, hub.code_for(a), a, secret)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert set(body) >= {"access_token", "refresh_token", "id_token", "scope"}


def test_code_is_single_use_and_replay_revokes_tokens(hub):
    a, secret = hub.add_client()
    hub.add_user()
    code = hub.code_for(a)
    first = exchange(hub, code, a, secret).get_json()
    second = exchange(hub, code, a, secret)
    assert second.status_code == 400 and second.get_json()["error"] == "invalid_grant"
    info = hub.web.get("/userinfo", headers={"Authorization": f"Bearer {first['access_token']}"})
    assert info.status_code == 401
    refresh = hub.token(
        {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}, auth=(a, secret)
    )
    assert refresh.get_json()["error"] == "invalid_grant"


def test_expired_code_is_refused(hub, clock, app):
    a, secret = hub.add_client()
    hub.add_user()
    code = hub.code_for(a)
    clock.advance(app.config["IDP"].tokens.code_ttl + 1)
    assert exchange(hub, code, a, secret).get_json()["error"] == "invalid_grant"


def test_code_bound_to_client_and_redirect_uri(hub):
    a, secret_a = hub.add_client()
    b, secret_b = hub.add_client(name="B")
    hub.add_user()
    code = hub.code_for(a)
    assert exchange(hub, code, b, secret_b).get_json()["error"] == "invalid_grant"
    code = hub.code_for(a)
    response = hub.token(
        {"grant_type": "authorization_code", "code": code, "redirect_uri": RP + "/other"},
        auth=(a, secret_a),
    )
    assert response.get_json()["error"] == "invalid_grant"


def test_wrong_client_secret_is_invalid_client_401(hub):
    a, _ = hub.add_client()
    hub.add_user()
    response = exchange(hub, hub.code_for(a), a, "wrong-secret")
    assert response.status_code == 401 and response.get_json()["error"] == "invalid_client"


def test_client_secret_post(hub):
    a, secret = hub.add_client(auth_method="client_secret_post")
    hub.add_user()
    response = hub.web.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": hub.code_for(a),
            "redirect_uri": RP,
            "client_id": a,
            "client_secret": secret,
        },
    )
    assert response.status_code == 200, response.get_json()
    # The same client may not switch to basic.
    response = exchange(hub, hub.code_for(a), a, secret)
    assert response.get_json()["error"] == "invalid_client"


def test_confidential_client_cannot_skip_authentication(hub):
    a, _ = hub.add_client()
    hub.add_user()
    response = hub.web.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": hub.code_for(a),
            "redirect_uri": RP,
            "client_id": a,
        },
    )
    assert response.get_json()["error"] == "invalid_client"


def test_public_client_with_pkce(hub):
    a, _ = hub.add_client(auth_method="none", first_party=True)
    hub.add_user()
    verifier, challenge = pkce_pair()
    code = hub.code_for(a, code_challenge=challenge, code_challenge_method="S256")
    base = {"grant_type": "authorization_code", "code": code, "redirect_uri": RP, "client_id": a}
    wrong = hub.web.post("/token", data={**base, "code_verifier": pkce_pair()[0]})
    assert wrong.get_json()["error"] == "invalid_grant"
    code = hub.code_for(a, code_challenge=challenge, code_challenge_method="S256")
    base["code"] = code
    missing = hub.web.post("/token", data=base)
    assert missing.get_json()["error"] == "invalid_request"
    code = hub.code_for(a, code_challenge=challenge, code_challenge_method="S256")
    base["code"] = code
    ok = hub.web.post("/token", data={**base, "code_verifier": verifier})
    assert ok.status_code == 200, ok.get_json()


def test_confidential_client_with_pkce_must_send_verifier(hub):
    a, secret = hub.add_client()
    hub.add_user()
    verifier, challenge = pkce_pair()
    code = hub.code_for(a, code_challenge=challenge, code_challenge_method="S256")
    assert exchange(hub, code, a, secret).get_json()["error"] == "invalid_request"
    code = hub.code_for(a, code_challenge=challenge, code_challenge_method="S256")
    assert exchange(hub, code, a, secret, code_verifier=verifier).status_code == 200


def test_verifier_without_challenge_is_refused(hub):
    a, secret = hub.add_client()
    hub.add_user()
    response = exchange(hub, hub.code_for(a), a, secret, code_verifier=pkce_pair()[0])
    assert response.get_json()["error"] == "invalid_request"


def _private_key_client(hub):
    key = RSAKey.generate_key(2048, parameters={"kid": "client-key-1", "alg": "RS256"})
    jwks = {"keys": [key.as_dict(private=False)]}
    a, _ = hub.add_client(auth_method="private_key_jwt", jwks=jwks)
    return a, key


def _assertion(client_id, key, aud=ISSUER + "/token", jti=None, exp_in=120):
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": aud,
        "iat": now,
        "exp": now + exp_in,
        "jti": jti or secrets.token_hex(8),
    }
    return jwt.encode({"alg": "RS256", "kid": "client-key-1"}, claims, key)


def test_private_key_jwt_authentication_and_jti_replay(hub):
    a, key = _private_key_client(hub)
    hub.add_user()
    assertion = _assertion(a, key)
    base = {
        "grant_type": "authorization_code",
        "redirect_uri": RP,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
    }
    response = hub.web.post(
        "/token", data={**base, "code": hub.code_for(a), "client_assertion": assertion}
    )
    assert response.status_code == 200, response.get_json()
    replay = hub.web.post(
        "/token", data={**base, "code": hub.code_for(a), "client_assertion": assertion}
    )
    assert replay.get_json()["error"] == "invalid_client"


@pytest.mark.parametrize("kind", ["other_key", "wrong_aud", "expired", "garbage", "not_jwt"])
def test_private_key_jwt_bad_assertions(hub, kind):
    a, key = _private_key_client(hub)
    hub.add_user()
    if kind == "other_key":
        assertion = _assertion(a, RSAKey.generate_key(2048, parameters={"kid": "client-key-1"}))
    elif kind == "wrong_aud":
        assertion = _assertion(a, key, aud="https://other.example/token")
    elif kind == "expired":
        assertion = _assertion(a, key, exp_in=-3600)
    elif kind == "garbage":
        assertion = "a.b.c"
    else:
        assertion = "not a jwt at all"
    response = hub.web.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "redirect_uri": RP,
            "code": hub.code_for(a),
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
        },
    )
    assert response.status_code in (400, 401)
    assert response.get_json()["error"] == "invalid_client"


def test_refresh_rotates_and_reuse_revokes_the_family(hub, clock, app):
    a, secret = hub.add_client()
    hub.add_user()
    first = exchange(hub, hub.code_for(a), a, secret).get_json()
    second = hub.token(
        {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}, auth=(a, secret)
    )
    assert second.status_code == 200, second.get_json()
    second = second.get_json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["id_token"]
    # The old refresh token comes back after the retry window: theft. Everything of this
    # grant stops working (a retry within the window: tests/oidc/test_refresh_retry.py).
    clock.advance(app.config["IDP"].tokens.refresh_retry_window + 1)
    reuse = hub.token(
        {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}, auth=(a, secret)
    )
    assert reuse.get_json()["error"] == "invalid_grant"
    after = hub.token(
        {"grant_type": "refresh_token", "refresh_token": second["refresh_token"]}, auth=(a, secret)
    )
    assert after.get_json()["error"] == "invalid_grant"
    info = hub.web.get("/userinfo", headers={"Authorization": f"Bearer {second['access_token']}"})
    assert info.status_code == 401


def test_refresh_token_of_another_client_is_refused(hub):
    a, secret_a = hub.add_client()
    b, secret_b = hub.add_client(name="B")
    hub.add_user()
    first = exchange(hub, hub.code_for(a), a, secret_a).get_json()
    response = hub.token(
        {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}, auth=(b, secret_b)
    )
    assert response.get_json()["error"] == "invalid_grant"


def test_refresh_can_narrow_but_not_widen_scope(hub):
    a, secret = hub.add_client()
    hub.add_user()
    first = exchange(hub, hub.code_for(a, scope="openid profile"), a, secret).get_json()
    wide = hub.token(
        {
            "grant_type": "refresh_token",
            "refresh_token": first["refresh_token"],
            "scope": "openid profile email",
        },
        auth=(a, secret),
    )
    assert wide.get_json()["error"] == "invalid_scope"
    narrow = hub.token(
        {"grant_type": "refresh_token", "refresh_token": first["refresh_token"], "scope": "openid"},
        auth=(a, secret),
    )
    assert narrow.status_code == 200 and narrow.get_json()["scope"] == "openid"


def test_expired_refresh_token_is_refused(hub, clock, app):
    a, secret = hub.add_client()
    hub.add_user()
    first = exchange(hub, hub.code_for(a), a, secret).get_json()
    clock.advance(app.config["IDP"].tokens.refresh_token_ttl + 1)
    response = hub.token(
        {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}, auth=(a, secret)
    )
    assert response.get_json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    "data, error",
    [
        ({"grant_type": "password", "username": "u", "password": "p"}, "unsupported_grant_type"),
        # supported for automation clients only (the admin API); a departmental system is refused
        ({"grant_type": "client_credentials"}, "unauthorized_client"),
        ({}, "unsupported_grant_type"),
        ({"grant_type": "authorization_code"}, "invalid_request"),
        ({"grant_type": "authorization_code", "code": "x" * 5000}, "invalid_grant"),
        ({"grant_type": "refresh_token"}, "invalid_request"),
        ({"grant_type": "refresh_token", "refresh_token": "nope"}, "invalid_grant"),
    ],
)
def test_token_request_errors(hub, data, error):
    a, secret = hub.add_client()
    response = hub.token({**data, "redirect_uri": RP}, auth=(a, secret))
    assert response.status_code == 400
    assert response.get_json()["error"] == error


@pytest.mark.parametrize(
    "header",
    [
        "Basic !!!not-base64",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Bearer x",
        "Basic " + base64.b64encode("ü:ö".encode("latin-1")).decode(),
        "Basic",
    ],
)
def test_malformed_authorization_header_is_invalid_client(hub, header):
    hub.add_client()
    response = hub.web.post(
        "/token",
        data={"grant_type": "authorization_code", "code": "x", "redirect_uri": RP},
        headers={"Authorization": header},
    )
    assert response.status_code in (400, 401)
    assert response.get_json()["error"] == "invalid_client"


def test_token_endpoint_requires_form_post(hub):
    a, secret = hub.add_client()
    assert hub.web.get("/token").status_code == 405
    response = hub.web.post("/token", json={"grant_type": "authorization_code"})
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_request"


def test_unknown_client_is_invalid_client(hub):
    response = hub.token(
        {"grant_type": "authorization_code", "code": "x", "redirect_uri": RP},
        auth=("nobody", "secret"),
    )
    assert response.status_code == 401 and response.get_json()["error"] == "invalid_client"


def test_token_endpoints_run_every_statement_in_autocommit_on_postgresql(hub, app, backend):
    """No BEGIN/COMMIT round trips on PostgreSQL, also after a refresh's first commit and for
    the statements that skip SQLAlchemy's `Connection` (`store.driver`); SQLite keeps its
    transactions. Seen in the driver, which every statement reaches."""
    a, secret = hub.add_client()
    hub.add_user()
    first = exchange(hub, hub.code_for(a), a, secret).get_json()
    autocommit = []

    def note_mode(cursor, sql: str) -> None:  # noqa: ANN001
        driver = cursor.connection
        autocommit.append(driver.autocommit if backend == "pg" else driver.isolation_level is None)

    with app.app_context():
        engine = db.engine
    with DriverSpy(engine, note_mode):
        refreshed = hub.token(
            {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
            auth=(a, secret),
        )
        assert refreshed.status_code == 200
        assert (
            hub.web.get(
                "/userinfo",
                headers={"Authorization": f"Bearer {refreshed.get_json()['access_token']}"},
            ).status_code
            == 200
        )
    # The refresh reads the token, claims it and inserts the new pair (one statement on
    # PostgreSQL, both or neither) and looks for a revocation; userinfo reads the new token.
    assert len(autocommit) >= 3
    assert all(autocommit) if backend == "pg" else not any(autocommit)
