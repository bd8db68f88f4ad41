"""With an https issuer every cookie is Secure, HSTS is sent, and a real browser's same-origin
form post (which carries a Referer under our Referrer-Policy) passes the strict CSRF check."""

import re

import pytest

from idp import create_app
from idp.keys import ensure_keys
from idp.store import clients, users
from idp.store.migrate import upgrade
from tests.conftest import hidden_inputs, make_config

BASE = "https://hub.example"


@pytest.fixture
def app(tmp_path, request):
    config = make_config(tmp_path, "sqlite", request, issuer=BASE)
    upgrade(config.resolved_database_url)
    ensure_keys(config.resolved_keys_dir, config.keys_passphrase_env)
    app = create_app(config)
    with app.app_context():
        client, _ = clients.create(
            name="RP",
            redirect_uris=["https://rp.example/cb"],
            auth_method="client_secret_basic",
            first_party=True,
        )
        users.create(username="citizen01", password="Mật-khẩu-123")
        app.test_client_id = client.client_id
    return app


def test_https_cookies_hsts_and_csrf_with_referer(app):
    web = app.test_client()
    response = web.get(
        "/authorize",
        base_url=BASE,
        query_string={
            "response_type": "code",
            "client_id": app.test_client_id,
            "redirect_uri": "https://rp.example/cb",
            "scope": "openid",
        },
    )
    login_url = BASE + response.headers["Location"]
    page = web.get(login_url, base_url=BASE)
    assert "max-age=31536000" in page.headers["Strict-Transport-Security"]
    assert page.headers["Referrer-Policy"] == "same-origin"
    assert re.search(r"__Host-idp_form=[^;]+;.*Secure", page.headers["Set-Cookie"])
    form = hidden_inputs(page.get_data(as_text=True))
    form.update(username="citizen01", password="Mật-khẩu-123")
    refused = web.post(login_url, base_url=BASE, data=form)  # no Referer: refused
    assert refused.status_code == 400
    response = web.post(login_url, base_url=BASE, data=form, headers={"Referer": login_url})
    assert response.status_code == 302
    sso = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("__Host-idp_sso=")]
    assert sso and "Secure" in sso[0] and "HttpOnly" in sso[0] and "SameSite=Lax" in sso[0]


def test_the_sign_in_is_bound_by_a_host_only_secure_cookie(app):
    """Over https the browser binding is `__Host-` (no subdomain or http page can plant it)."""
    web = app.test_client()
    response = web.get(
        "/authorize",
        base_url=BASE,
        query_string={
            "response_type": "code",
            "client_id": app.test_client_id,
            "redirect_uri": "https://rp.example/cb",
            "scope": "openid",
        },
    )
    (cookie,) = [
        c for c in response.headers.getlist("Set-Cookie") if c.startswith("__Host-idp_browser=")
    ]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Path=/" in cookie and "Domain" not in cookie
    login_url = BASE + response.headers["Location"]
    assert web.get(login_url, base_url=BASE).status_code == 200
    assert app.test_client().get(login_url, base_url=BASE).status_code == 400
