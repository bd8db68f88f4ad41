"""ID token contents and signature, the claims released per scope, and the UserInfo endpoint."""

import json

from authlib.oidc.core.grants.util import create_half_hash
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.conftest import ISSUER

RP = "https://rp.example/cb"


def verify(hub, id_token):
    jwks = KeySet.import_key_set(hub.web.get("/jwks").get_json())
    return jwt.decode(id_token, jwks, algorithms=["RS256", "ES256"])


def test_id_token_has_every_required_claim_and_verifies_against_jwks(hub, clock):
    a, secret = hub.add_client()
    sub = hub.add_user()
    body = hub.tokens(a, secret, nonce="abc", scope="openid")
    token = verify(hub, body["id_token"])
    assert token.header["alg"] == "RS256" and token.header["kid"]
    claims = token.claims
    assert claims["iss"] == ISSUER and claims["aud"] == a and claims["sub"] == sub
    assert claims["nonce"] == "abc"
    assert claims["exp"] - claims["iat"] == 3600
    assert abs(claims["auth_time"] - clock()) < 5
    assert claims["acr"] == "LoA1" and claims["amr"] == ["pwd"]
    assert claims["sid"]
    assert claims["at_hash"] == create_half_hash(body["access_token"], "RS256").decode()


def test_es256_client_gets_es256_id_token(hub):
    a, secret = hub.add_client(id_token_alg="ES256")
    hub.add_user()
    token = verify(hub, hub.tokens(a, secret)["id_token"])
    assert token.header["alg"] == "ES256"


def test_sid_is_shared_across_clients_of_one_session(hub):
    a, sa = hub.add_client(first_party=True)
    b, sb = hub.add_client(name="B", first_party=True)
    hub.add_user()
    one = verify(hub, hub.tokens(a, sa)["id_token"]).claims
    two = verify(hub, hub.tokens(b, sb)["id_token"]).claims
    assert one["sid"] == two["sid"] and one["auth_time"] == two["auth_time"]


def test_scopes_release_only_their_claims(hub):
    a, secret = hub.add_client(scope="openid profile email phone address national_id")
    hub.add_user(
        full_name="Trần Thị B", email="b@example.vn", phone="0912345678", national_id="001190000001"
    )
    body = hub.tokens(a, secret, scope="openid email")
    info = hub.web.get("/userinfo", headers={"Authorization": "Bearer " + body["access_token"]})
    claims = info.get_json()
    assert set(claims) == {"sub", "email", "email_verified"}
    body = hub.tokens(a, secret, scope="openid profile phone national_id")
    claims = hub.web.get(
        "/userinfo", headers={"Authorization": "Bearer " + body["access_token"]}
    ).get_json()
    assert claims["name"] == "Trần Thị B" and claims["preferred_username"] == "citizen01"
    assert claims["phone_number"] == "+84912345678"
    assert claims["national_id"] == "001190000001"


def test_national_id_only_for_clients_allowed_it(hub):
    a, secret = hub.add_client()  # default scope: no national_id
    hub.add_user(national_id="001190000001")
    body = hub.tokens(
        a,
        secret,
        scope="openid profile national_id",
        claims=json.dumps({"userinfo": {"national_id": None}}),
    )
    assert "national_id" not in body["scope"].split()
    claims = hub.web.get(
        "/userinfo", headers={"Authorization": "Bearer " + body["access_token"]}
    ).get_json()
    assert "national_id" not in claims
    assert "national_id" not in verify(hub, body["id_token"]).claims


def test_claims_parameter_requests_individual_claims(hub):
    a, secret = hub.add_client()
    hub.add_user(email="c@example.vn", full_name="Lê Văn C")
    request = {"id_token": {"email": {"essential": True}}, "userinfo": {"name": None}}
    body = hub.tokens(a, secret, scope="openid", claims=json.dumps(request))
    assert verify(hub, body["id_token"]).claims["email"] == "c@example.vn"
    claims = hub.web.get(
        "/userinfo", headers={"Authorization": "Bearer " + body["access_token"]}
    ).get_json()
    assert claims["name"] == "Lê Văn C" and "email" not in claims


def test_userinfo_post_with_token_in_body(hub):
    a, secret = hub.add_client()
    hub.add_user()
    body = hub.tokens(a, secret)
    response = hub.web.post("/userinfo", data={"access_token": body["access_token"]})
    assert response.status_code == 200 and response.get_json()["sub"]
    both = hub.web.post(
        "/userinfo",
        data={"access_token": body["access_token"]},
        headers={"Authorization": "Bearer " + body["access_token"]},
    )
    assert both.status_code == 400 and both.get_json()["error"] == "invalid_request"


def test_userinfo_rejects_missing_bad_expired_and_revoked_tokens(hub, clock, app):
    a, secret = hub.add_client()
    hub.add_user()
    assert hub.web.get("/userinfo").status_code == 401
    bad = hub.web.get("/userinfo", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401 and bad.get_json()["error"] == "invalid_token"
    assert "Bearer" in bad.headers.get("WWW-Authenticate", "")
    body = hub.tokens(a, secret)
    hub.web.post("/revoke", data={"token": body["access_token"]}, headers=_basic(a, secret))
    assert (
        hub.web.get(
            "/userinfo", headers={"Authorization": "Bearer " + body["access_token"]}
        ).status_code
        == 401
    )
    body = hub.tokens(a, secret)
    clock.advance(app.config["IDP"].tokens.access_token_ttl + 1)
    assert (
        hub.web.get(
            "/userinfo", headers={"Authorization": "Bearer " + body["access_token"]}
        ).status_code
        == 401
    )


def test_userinfo_needs_openid_scope(hub):
    a, secret = hub.add_client()
    hub.add_user()
    body = hub.tokens(a, secret, scope="profile")
    assert "id_token" not in body
    response = hub.web.get("/userinfo", headers={"Authorization": "Bearer " + body["access_token"]})
    assert response.status_code == 403 and response.get_json()["error"] == "insufficient_scope"


def test_userinfo_refuses_tokens_of_inactive_users(hub, app):
    from idp.store import db, users

    a, secret = hub.add_client()
    hub.add_user()
    body = hub.tokens(a, secret)
    with app.app_context():
        users.by_username("citizen01").active = False
        db.session.commit()
    assert (
        hub.web.get(
            "/userinfo", headers={"Authorization": "Bearer " + body["access_token"]}
        ).status_code
        == 401
    )


def _basic(client_id, secret):
    import base64

    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def test_tax_code_scope_for_organisations(hub):
    a, secret = hub.add_client(scope="openid profile tax_code")
    hub.add_user(account_type="organization", tax_code="0100109106", full_name="Công ty A")
    body = hub.tokens(a, secret, scope="openid profile tax_code")
    claims = hub.web.get(
        "/userinfo", headers={"Authorization": "Bearer " + body["access_token"]}
    ).get_json()
    assert claims["tax_code"] == "0100109106" and claims["account_type"] == "organization"
    body = hub.tokens(a, secret, scope="openid profile")
    claims = hub.web.get(
        "/userinfo", headers={"Authorization": "Bearer " + body["access_token"]}
    ).get_json()
    assert "tax_code" not in claims
