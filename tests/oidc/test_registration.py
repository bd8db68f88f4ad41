"""Dynamic client registration (RFC 7591) and management (RFC 7592): off by default, behind the
initial access token, the console's metadata checks, and no URI into the internal network."""

from __future__ import annotations

import pytest

from idp.config import RegistrationConfig
from idp.store import clients as store_clients

TOKEN = "initial-" + "x" * 40
GOOD = {
    "client_name": "Hệ thống Giáo dục",
    "redirect_uris": ["https://8.8.8.8/cb"],
    "post_logout_redirect_uris": ["https://8.8.8.8/"],
    "backchannel_logout_uri": "https://8.8.8.8/bcl",
    "scope": "openid profile",
}


@pytest.fixture
def config(tmp_path, backend, request, monkeypatch):
    from tests.conftest import make_config

    monkeypatch.setenv("IDP_REGISTRATION_TOKEN", TOKEN)
    return make_config(tmp_path, backend, request, registration=RegistrationConfig(enabled=True))


def register(web, body, token=TOKEN):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return web.post("/oauth/register", json=body, headers=headers)


def test_registration_is_off_by_default(tmp_path, request):
    from idp import create_app
    from tests.conftest import make_config

    app = create_app(make_config(tmp_path, "sqlite", request))
    web = app.test_client()
    assert web.post("/oauth/register", json=GOOD).status_code == 404
    assert "registration_endpoint" not in web.get("/.well-known/openid-configuration").get_json()


def test_register_read_update_delete(hub, web, app):
    meta = web.get("/.well-known/openid-configuration").get_json()
    assert meta["registration_endpoint"].endswith("/oauth/register")
    response = register(web, GOOD)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    client_id, secret = body["client_id"], body["client_secret"]
    reg_token, reg_uri = body["registration_access_token"], body["registration_client_uri"]
    assert reg_uri.endswith(f"/oauth/register/{client_id}") and len(secret) >= 43
    with app.app_context():
        client = store_clients.find(client_id)
        assert client.check_client_secret(secret) and client.source == "dcr"
        assert client.backchannel_logout_uri == "https://8.8.8.8/bcl"
        assert client.client_secret_hash != secret and client.registration_token_hash != reg_token
    path = f"/oauth/register/{client_id}"
    auth = {"Authorization": f"Bearer {reg_token}"}
    read = web.get(path, headers=auth)
    assert read.status_code == 200 and read.get_json()["client_name"] == "Hệ thống Giáo dục"
    assert web.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert web.get(path).status_code == 401
    updated = web.put(
        path, headers=auth, json={**GOOD, "client_id": client_id, "client_name": "Giáo dục"}
    )
    assert updated.status_code == 200 and updated.get_json()["client_name"] == "Giáo dục"
    assert web.delete(path, headers=auth).status_code == 204
    with app.app_context():
        assert store_clients.find(client_id) is None
    assert web.get(path, headers=auth).status_code == 401


def test_registration_needs_the_initial_access_token(web):
    for token in (None, "wrong", TOKEN + "x"):
        response = register(web, GOOD, token)
        assert response.status_code == 401 and response.get_json()["error"] == "invalid_token"


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"redirect_uris": ["https://127.0.0.1/cb"]}, "private or reserved"),
        ({"redirect_uris": ["http://127.0.0.1:9000/cb"]}, "private or reserved"),
        ({"redirect_uris": ["https://10.0.0.5/cb"]}, "private or reserved"),
        ({"redirect_uris": ["https://localhost/cb"]}, "local or internal"),
        ({"backchannel_logout_uri": "https://169.254.169.254/latest"}, "private or reserved"),
        ({"backchannel_logout_uri": "https://2130706433/x"}, "private or reserved"),
        ({"backchannel_logout_uri": "https://mot-cua.invalid/bcl"}, "does not resolve"),
        ({"jwks_uri": "https://[::ffff:192.168.1.1]/jwks"}, "private or reserved"),
        ({"redirect_uris": ["http://8.8.8.8/cb"]}, "https"),
        ({"redirect_uris": ["https://8.8.8.8/cb#x"]}, "redirect_uris"),
        ({"scope": "openid national_id"}, "scope"),
        ({"scope": "openid admin"}, "scope"),
        ({"grant_types": ["client_credentials"]}, "grant_types"),
        ({"client_name": ""}, "client_name"),
    ],
)
def test_bad_metadata_is_refused_with_the_reason(web, app, change, reason):
    response = register(web, {**GOOD, **change})
    assert response.status_code == 400, response.get_json()
    body = response.get_json()
    assert body["error"] == "invalid_client_metadata" and reason in body["error_description"]
    with app.app_context():
        assert store_clients.all_clients() == []


def test_private_uris_only_when_the_config_allows(tmp_path, request, monkeypatch):
    from idp import create_app
    from idp.store.migrate import upgrade
    from tests.conftest import make_config

    monkeypatch.setenv("IDP_REGISTRATION_TOKEN", TOKEN)
    config = make_config(
        tmp_path,
        "sqlite",
        request,
        registration=RegistrationConfig(enabled=True, allow_private_uris=True),
    )
    upgrade(config.resolved_database_url)
    web = create_app(config).test_client()
    response = register(web, {**GOOD, "redirect_uris": ["http://127.0.0.1:9000/cb"]})
    assert response.status_code == 201, response.get_json()


def test_a_public_client_gets_no_secret(web):
    body = register(web, {**GOOD, "token_endpoint_auth_method": "none"}).get_json()
    assert "client_secret" not in body and body["token_endpoint_auth_method"] == "none"
