"""Issue 16, finding 8: deeply nested JSON anywhere the hub reads JSON (`claims` at /authorize
by GET and POST, the admin API, dynamic client registration) is answered 400 invalid_request,
never a 500, and before any authentication."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from idp.config import RegistrationConfig
from idp.security import MAX_JSON_DEPTH, json_depth_ok
from tests.admin.test_api import admin_api  # noqa: F401
from tests.conftest import make_config, query_of

RP = "https://rp.example/cb"


def nested(depth: int) -> str:
    return '{"id_token":' * 1 + "[" * (depth - 1) + "]" * (depth - 1) + "}"


def test_the_depth_check_skips_strings_and_counts_both_brackets():
    assert json_depth_ok("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH)
    assert not json_depth_ok("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1))
    assert json_depth_ok('{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\"["}')


@pytest.mark.parametrize("method, depth", [("GET", 1100), ("POST", 1500)])
def test_deep_claims_at_authorize_are_invalid_request(hub, method, depth):
    client_id, _ = hub.add_client()
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": RP,
        "scope": "openid",
        "state": "s1",
        "claims": nested(depth),
    }
    if method == "GET":
        response = hub.web.get("/authorize?" + urlencode(params))
    else:
        response = hub.web.post("/authorize", data=params)
    assert response.status_code == 302, response.status_code
    assert query_of(response.headers["Location"])["error"] == "invalid_request"


def test_deep_json_to_the_admin_api_is_400_even_without_a_token(hub, admin_api):  # noqa: F811
    body = "[" * 1000 + "]" * 1000
    for headers in ({}, {"Authorization": "Bearer nothing"}):
        response = hub.web.post(
            "/admin/api/v1/clients",
            data=body,
            headers={**headers, "Content-Type": "application/json"},
        )
        assert response.status_code == 400
        assert response.get_json()["error"] == "invalid_request"
    deep = admin_api("POST", "/clients", json=None, data=body, content_type="application/json")
    assert deep.status_code == 400


def test_deep_json_to_client_registration_is_400(tmp_path, backend, request, monkeypatch):
    from idp import create_app
    from idp.keys import ensure_keys
    from idp.store.migrate import upgrade

    monkeypatch.setenv("IDP_REGISTRATION_TOKEN", "t" * 40)
    config = make_config(tmp_path, backend, request, registration=RegistrationConfig(enabled=True))
    if backend == "sqlite":
        upgrade(config.resolved_database_url)
    ensure_keys(config.resolved_keys_dir, config.keys_passphrase_env)
    web = create_app(config).test_client()
    response = web.post(
        "/oauth/register",
        data='{"redirect_uris":' + "[" * 1000 + "]" * 1000 + "}",
        headers={"Authorization": "Bearer " + "t" * 40, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"
