"""Discovery metadata validates and points at endpoints that answer; JWKS publishes keys."""

from urllib.parse import urlsplit

from authlib.oidc.discovery import OpenIDProviderMetadata

from tests.conftest import ISSUER


def test_metadata_is_valid_and_complete(hub):
    response = hub.web.get("/.well-known/openid-configuration")
    assert response.status_code == 200
    metadata = response.get_json()
    OpenIDProviderMetadata(metadata).validate()
    assert metadata["issuer"] == ISSUER
    assert metadata["response_types_supported"] == ["code"]
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["authorization_response_iss_parameter_supported"] is True
    assert set(metadata["id_token_signing_alg_values_supported"]) == {"RS256", "ES256"}
    assert "national_id" in metadata["scopes_supported"]
    assert metadata["end_session_endpoint"] == ISSUER + "/logout"
    assert metadata["backchannel_logout_supported"] is True
    assert metadata["backchannel_logout_session_supported"] is True
    assert metadata["frontchannel_logout_supported"] is True


def test_every_advertised_endpoint_answers(hub):
    metadata = hub.web.get("/.well-known/openid-configuration").get_json()
    for name, method, expected in [
        ("authorization_endpoint", "GET", 400),  # no client: a page, not a 404
        ("token_endpoint", "POST", 400),
        ("userinfo_endpoint", "GET", 401),
        ("jwks_uri", "GET", 200),
        ("revocation_endpoint", "POST", 401),
        ("introspection_endpoint", "POST", 401),
        ("end_session_endpoint", "GET", 200),  # no session: the signed-out page
    ]:
        path = urlsplit(metadata[name]).path
        response = hub.web.open(
            path, method=method, data={"token": "x"} if method == "POST" else None
        )
        assert response.status_code == expected, (name, response.status_code)


def test_rfc8414_metadata_alias(hub):
    assert hub.web.get("/.well-known/oauth-authorization-server").get_json()["issuer"] == ISSUER


def test_jwks_has_public_keys_only(hub):
    keys = hub.web.get("/jwks").get_json()["keys"]
    assert {k["alg"] for k in keys} == {"RS256", "ES256"}
    for key in keys:
        assert key["use"] == "sig" and key["kid"]
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)
