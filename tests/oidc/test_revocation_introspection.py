"""Revocation (RFC 7009) and introspection (RFC 7662)."""

import base64

RP = "https://rp.example/cb"


def basic(client_id, secret):
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def issue(hub, client_id, secret):
    code = hub.code_for(client_id)
    return hub.token(
        {"grant_type": "authorization_code", "code": code, "redirect_uri": RP},
        auth=(client_id, secret),
    ).get_json()


def introspect(hub, client_id, secret, token, hint=None):
    data = {"token": token}
    if hint:
        data["token_type_hint"] = hint
    return hub.web.post("/introspect", data=data, headers=basic(client_id, secret))


def test_introspection_of_an_active_access_token(hub):
    a, secret = hub.add_client()
    sub = hub.add_user()
    body = issue(hub, a, secret)
    result = introspect(hub, a, secret, body["access_token"]).get_json()
    assert result["active"] is True
    assert result["sub"] == sub and result["client_id"] == a
    assert result["scope"] == body["scope"] and result["token_type"] == "Bearer"
    assert result["exp"] > result["iat"] and result["sid"]


def test_introspection_of_a_refresh_token(hub):
    a, secret = hub.add_client()
    hub.add_user()
    body = issue(hub, a, secret)
    result = introspect(hub, a, secret, body["refresh_token"], "refresh_token").get_json()
    assert result["active"] is True and result["token_type"] == "refresh_token"


def test_introspection_reveals_nothing_to_other_clients_and_for_unknown_tokens(hub):
    a, secret = hub.add_client()
    b, secret_b = hub.add_client(name="B")
    hub.add_user()
    body = issue(hub, a, secret)
    assert introspect(hub, b, secret_b, body["access_token"]).get_json() == {"active": False}
    assert introspect(hub, a, secret, "unknown").get_json() == {"active": False}


def test_introspection_requires_client_authentication(hub):
    a, secret = hub.add_client()
    public, _ = hub.add_client(name="P", auth_method="none")
    assert hub.web.post("/introspect", data={"token": "x"}).status_code == 401
    assert introspect(hub, a, "wrong", "x").status_code == 401
    response = hub.web.post("/introspect", data={"token": "x", "client_id": public})
    assert response.status_code == 401


def test_introspection_errors(hub):
    a, secret = hub.add_client()
    assert (
        hub.web.post("/introspect", data={}, headers=basic(a, secret)).get_json()["error"]
        == "invalid_request"
    )
    response = introspect(hub, a, secret, "x", hint="id_token")
    assert response.get_json()["error"] == "unsupported_token_type"


def test_revoking_access_token_keeps_refresh_token(hub):
    a, secret = hub.add_client()
    hub.add_user()
    body = issue(hub, a, secret)
    response = hub.web.post(
        "/revoke",
        data={"token": body["access_token"], "token_type_hint": "access_token"},
        headers=basic(a, secret),
    )
    assert response.status_code == 200
    assert introspect(hub, a, secret, body["access_token"]).get_json()["active"] is False
    assert introspect(hub, a, secret, body["refresh_token"]).get_json()["active"] is True


def test_revoking_refresh_token_ends_the_grant(hub):
    a, secret = hub.add_client()
    hub.add_user()
    body = issue(hub, a, secret)
    response = hub.web.post(
        "/revoke", data={"token": body["refresh_token"]}, headers=basic(a, secret)
    )
    assert response.status_code == 200
    assert introspect(hub, a, secret, body["access_token"]).get_json()["active"] is False
    refresh = hub.token(
        {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]}, auth=(a, secret)
    )
    assert refresh.get_json()["error"] == "invalid_grant"


def test_revoking_unknown_token_is_ok_and_others_tokens_are_refused(hub):
    a, secret = hub.add_client()
    b, secret_b = hub.add_client(name="B")
    hub.add_user()
    assert (
        hub.web.post("/revoke", data={"token": "unknown"}, headers=basic(a, secret)).status_code
        == 200
    )
    body = issue(hub, a, secret)
    response = hub.web.post(
        "/revoke", data={"token": body["access_token"]}, headers=basic(b, secret_b)
    )
    assert response.status_code == 400
    assert introspect(hub, a, secret, body["access_token"]).get_json()["active"] is True


def test_public_client_may_revoke_its_tokens(hub):
    from tests.conftest import pkce_pair

    a, _ = hub.add_client(auth_method="none", first_party=True)
    hub.add_user()
    verifier, challenge = pkce_pair()
    code = hub.code_for(a, code_challenge=challenge, code_challenge_method="S256")
    body = hub.web.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": RP,
            "client_id": a,
            "code_verifier": verifier,
        },
    ).get_json()
    response = hub.web.post("/revoke", data={"token": body["refresh_token"], "client_id": a})
    assert response.status_code == 200
    refresh = hub.web.post(
        "/token",
        data={
            "grant_type": "refresh_token",
            "client_id": a,
            "refresh_token": body["refresh_token"],
        },
    )
    assert refresh.get_json()["error"] == "invalid_grant"
