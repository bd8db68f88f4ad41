"""Authorization endpoint: the named checks, the error paths, prompts, consent and SSO."""

from urllib.parse import urlencode

import pytest

from tests.conftest import ISSUER, pkce_pair, query_of

RP = "https://rp.example/cb"


def test_unknown_client_is_a_page_not_a_redirect(hub):
    response = hub.authorize(response_type="code", client_id="nope", redirect_uri=RP)
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "chưa được đăng ký" in response.get_data(as_text=True)


def test_unregistered_redirect_uri_is_a_page_not_a_redirect(hub):
    client_id, _ = hub.add_client()
    for uri in ["https://evil.example/cb", RP + "/", RP + "?x=1", "https://rp.example/CB", ""]:
        response = hub.authorize(
            response_type="code", client_id=client_id, redirect_uri=uri, scope="openid"
        )
        assert response.status_code == 400, uri
        assert "Location" not in response.headers


def test_missing_redirect_uri_is_a_page(hub):
    client_id, _ = hub.add_client()
    response = hub.authorize(response_type="code", client_id=client_id, scope="openid")
    assert response.status_code == 400 and "Location" not in response.headers


def test_disabled_client_is_refused(hub, app):
    from idp.store import clients

    client_id, _ = hub.add_client()
    with app.app_context():
        clients.set_disabled(clients.find(client_id), True)
    response = hub.authorize(response_type="code", client_id=client_id, redirect_uri=RP)
    assert response.status_code == 400 and "Location" not in response.headers


@pytest.mark.parametrize(
    "params, error",
    [
        ({}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"response_type": "code id_token"}, "unsupported_response_type"),
        ({"response_type": "code", "response_mode": "fragment"}, "invalid_request"),
        ({"response_type": "code", "request": "eyJ"}, "request_not_supported"),
        ({"response_type": "code", "request_uri": "https://x"}, "request_uri_not_supported"),
        ({"response_type": "code", "max_age": "-1"}, "invalid_request"),
        ({"response_type": "code", "claims": "{not json"}, "invalid_request"),
        ({"response_type": "code", "claims": '{"other": {}}'}, "invalid_request"),
        ({"response_type": "code", "prompt": "none login"}, "invalid_request"),
        (
            {"response_type": "code", "code_challenge": "x" * 43, "code_challenge_method": "plain"},
            "invalid_request",
        ),
        (
            {"response_type": "code", "code_challenge": "short", "code_challenge_method": "S256"},
            "invalid_request",
        ),
        ({"response_type": "code", "prompt": "none"}, "login_required"),
    ],
)
def test_errors_after_redirect_check_go_back_to_the_client(hub, params, error):
    client_id, _ = hub.add_client()
    response = hub.authorize(
        client_id=client_id, redirect_uri=RP, scope="openid", state="st-1", **params
    )
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith(RP + "?")
    query = query_of(location)
    assert query["error"] == error
    assert query["state"] == "st-1"
    assert query["iss"] == ISSUER


def test_repeated_parameters_are_refused(hub):
    client_id, _ = hub.add_client()
    response = hub.web.get(
        "/authorize?"
        + urlencode(
            [
                ("response_type", "code"),
                ("client_id", client_id),
                ("redirect_uri", RP),
                ("scope", "openid"),
                ("state", "a"),
                ("state", "b"),
            ]
        )
    )
    assert query_of(response.headers["Location"])["error"] == "invalid_request"


def test_repeated_client_id_is_a_page(hub):
    client_id, _ = hub.add_client()
    response = hub.web.get(
        "/authorize?"
        + urlencode(
            [
                ("response_type", "code"),
                ("client_id", client_id),
                ("client_id", client_id),
                ("redirect_uri", RP),
            ]
        )
    )
    assert response.status_code == 400 and "Location" not in response.headers


def test_public_client_must_use_pkce(hub):
    client_id, _ = hub.add_client(auth_method="none")
    response = hub.authorize(
        response_type="code", client_id=client_id, redirect_uri=RP, scope="openid", state="s"
    )
    assert query_of(response.headers["Location"])["error"] == "invalid_request"


def test_oversized_request_is_a_page(hub):
    client_id, _ = hub.add_client()
    response = hub.authorize(
        response_type="code", client_id=client_id, redirect_uri=RP, state="x" * 5000
    )
    assert response.status_code == 400 and "Location" not in response.headers


def test_post_to_authorize_works_like_get(hub):
    client_id, _ = hub.add_client()
    response = hub.web.post(
        "/authorize",
        data={
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": RP,
            "scope": "openid",
        },
    )
    assert response.status_code == 302 and "/interaction/" in response.headers["Location"]


def test_full_flow_returns_code_state_and_iss(hub):
    client_id, _ = hub.add_client()
    hub.add_user()
    response = hub.sign_in(client_id, state="xyz")
    query = query_of(response.headers["Location"])
    assert set(query) == {"code", "state", "iss"}
    assert query["state"] == "xyz" and query["iss"] == ISSUER


def test_wrong_password_shows_message_and_keeps_username(hub):
    client_id, _ = hub.add_client()
    hub.add_user()
    login_url = hub.login_url(client_id)
    response = hub.login(login_url, password="wrong-password")
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Tên đăng nhập hoặc mật khẩu không đúng" in html
    assert 'value="citizen01"' in html and "wrong-password" not in html


def test_login_form_without_csrf_token_is_refused(hub):
    client_id, _ = hub.add_client()
    hub.add_user()
    login_url = hub.login_url(client_id)
    hub.web.get(login_url)
    response = hub.web.post(login_url, data={"username": "citizen01", "password": "Mật-khẩu-123"})
    assert response.status_code == 400
    assert "idp_sso" not in response.headers.get("Set-Cookie", "")


def test_inactive_user_cannot_sign_in(hub, app):
    client_id, _ = hub.add_client()
    hub.add_user(active=False)
    response = hub.sign_in(client_id)
    assert response.status_code == 400


def test_login_attempts_are_limited_per_username(hub, app):
    client_id, _ = hub.add_client()
    hub.add_user()
    login_url = hub.login_url(client_id)
    limit = app.config["IDP"].login.max_attempts_per_user
    for _ in range(limit):
        hub.login(login_url, password="wrong-password")
    response = hub.login(login_url)  # the right password, but too late
    assert response.status_code == 400
    assert "quá nhiều lần" in response.get_data(as_text=True) and "khóa đến" in response.get_data(
        as_text=True
    )


def test_login_limit_expires_with_time(hub, app, clock):
    client_id, _ = hub.add_client()
    hub.add_user()
    login_url = hub.login_url(client_id)
    for _ in range(app.config["IDP"].login.max_attempts_per_user):
        hub.login(login_url, password="wrong-password")
    if app.config["IDP"].redis_url:
        pytest.skip("Redis expires keys on its own clock; the SQL store follows the app clock")
    clock.advance(app.config["IDP"].login.attempt_window + 1)
    assert hub.login(login_url).status_code == 302


def test_consent_deny_returns_access_denied(hub):
    client_id, _ = hub.add_client()
    hub.add_user()
    response = hub.sign_in(client_id, consent=False, state="s1")
    consent_url = response.headers["Location"]
    assert consent_url.endswith("/consent")
    response = hub.follow(hub.consent(consent_url, decision="deny"))
    query = query_of(response.headers["Location"])
    assert query["error"] == "access_denied" and query["state"] == "s1"
    assert query["iss"] == ISSUER


def test_cancel_on_login_page_returns_access_denied(hub):
    from tests.conftest import hidden_inputs

    client_id, _ = hub.add_client()
    login_url = hub.login_url(client_id, state="c")
    form = hidden_inputs(hub.web.get(login_url).get_data(as_text=True))
    response = hub.follow(hub.web.post(login_url.replace("/login", "/abort"), data=form))
    assert query_of(response.headers["Location"])["error"] == "access_denied"


def test_consent_is_remembered_and_first_party_skips_it(hub):
    client_id, _ = hub.add_client()
    first_party, _ = hub.add_client(name="Cổng tỉnh", first_party=True)
    hub.add_user()
    hub.code_for(client_id)
    # Same client again: no consent page, no password (SSO).
    response = hub.sign_in(client_id, consent=False)
    assert "code" in query_of(response.headers["Location"])
    response = hub.sign_in(first_party, consent=False)
    assert "code" in query_of(response.headers["Location"])


def test_consent_for_more_scope_asks_again(hub):
    client_id, _ = hub.add_client()
    hub.add_user()
    hub.code_for(client_id, scope="openid")
    response = hub.sign_in(client_id, consent=False, scope="openid email")
    assert response.headers["Location"].endswith("/consent")


def test_sso_second_client_gets_code_without_password(hub):
    a, _ = hub.add_client(name="A", first_party=True)
    b, _ = hub.add_client(name="B", first_party=True, redirect_uris=["https://b.example/cb"])
    hub.add_user()
    hub.code_for(a)
    response = hub.authorize(
        response_type="code",
        client_id=b,
        redirect_uri="https://b.example/cb",
        scope="openid",
        prompt="none",
        state="n",
    )
    query = query_of(response.headers["Location"])
    assert "code" in query and query["state"] == "n"


def test_prompt_none_with_consent_missing_returns_consent_required(hub):
    a, _ = hub.add_client(name="A", first_party=True)
    b, _ = hub.add_client(name="B", redirect_uris=["https://b.example/cb"])
    hub.add_user()
    hub.code_for(a)
    response = hub.authorize(
        response_type="code",
        client_id=b,
        redirect_uri="https://b.example/cb",
        scope="openid",
        prompt="none",
    )
    assert query_of(response.headers["Location"])["error"] == "consent_required"


def test_prompt_login_asks_for_password_again(hub):
    a, _ = hub.add_client(first_party=True)
    hub.add_user()
    hub.code_for(a)
    response = hub.authorize(
        response_type="code", client_id=a, redirect_uri=RP, scope="openid", prompt="login"
    )
    assert response.headers["Location"].endswith("/login")
    response = hub.follow(hub.login(response.headers["Location"]))
    assert "code" in query_of(response.headers["Location"])


def test_prompt_consent_shows_consent_again(hub):
    a, _ = hub.add_client()
    hub.add_user()
    hub.code_for(a)
    response = hub.authorize(
        response_type="code", client_id=a, redirect_uri=RP, scope="openid", prompt="consent"
    )
    assert response.headers["Location"].endswith("/consent")


def test_max_age_older_than_session_requires_login(hub, clock):
    a, _ = hub.add_client(first_party=True)
    hub.add_user()
    hub.code_for(a)
    clock.advance(120)
    response = hub.authorize(
        response_type="code",
        client_id=a,
        redirect_uri=RP,
        scope="openid",
        max_age="60",
        prompt="none",
        state="m",
    )
    assert query_of(response.headers["Location"])["error"] == "login_required"
    response = hub.authorize(
        response_type="code",
        client_id=a,
        redirect_uri=RP,
        scope="openid",
        max_age="600",
        prompt="none",
    )
    assert "code" in query_of(response.headers["Location"])


def test_session_idle_timeout_ends_sso(hub, clock, app):
    a, _ = hub.add_client(first_party=True)
    hub.add_user()
    hub.code_for(a)
    clock.advance(app.config["IDP"].session.idle_timeout + 1)
    response = hub.authorize(
        response_type="code", client_id=a, redirect_uri=RP, scope="openid", prompt="none"
    )
    assert query_of(response.headers["Location"])["error"] == "login_required"


def test_login_hint_prefills_username(hub):
    a, _ = hub.add_client()
    login_url = hub.login_url(a, login_hint="citizen77")
    page = hub.web.get(login_url).get_data(as_text=True)
    assert 'value="citizen77"' in page


def test_ui_locales_en_shows_english(hub):
    a, _ = hub.add_client()
    login_url = hub.login_url(a, ui_locales="en-GB vi")
    page = hub.web.get(login_url).get_data(as_text=True)
    assert "Sign in to continue to" in page and '<html lang="en">' in page


def test_vietnamese_is_the_default(hub):
    a, _ = hub.add_client()
    login_url = hub.login_url(a)
    page = hub.web.get(login_url).get_data(as_text=True)
    assert "Đăng nhập để tiếp tục vào" in page and '<html lang="vi">' in page


def test_login_page_allows_form_redirect_to_the_client_in_csp(hub):
    a, _ = hub.add_client()
    login_url = hub.login_url(a)
    page = hub.web.get(login_url)
    csp = page.headers["Content-Security-Policy"]
    assert "form-action 'self' https://rp.example;" in csp
    assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp


def test_id_token_hint_for_another_user_requires_login(hub):
    import base64

    a, secret = hub.add_client(first_party=True)
    hub.add_user(username="citizen01")
    hub.add_user(username="citizen02")
    code = hub.code_for(a, username="citizen02")
    id_token = hub.token(
        {"grant_type": "authorization_code", "code": code, "redirect_uri": RP}, auth=(a, secret)
    ).get_json()["id_token"]
    hub.web.delete_cookie("idp_sso")
    hub.code_for(a, username="citizen01")
    response = hub.authorize(
        response_type="code",
        client_id=a,
        redirect_uri=RP,
        scope="openid",
        prompt="none",
        id_token_hint=id_token,
    )
    assert query_of(response.headers["Location"])["error"] == "login_required"
    # A forged hint is an invalid request.
    header, payload, sig = id_token.split(".")
    forged = ".".join([header, payload, base64.urlsafe_b64encode(b"x" * 256).decode().rstrip("=")])
    response = hub.authorize(
        response_type="code",
        client_id=a,
        redirect_uri=RP,
        scope="openid",
        prompt="none",
        id_token_hint=forged,
    )
    assert query_of(response.headers["Location"])["error"] == "invalid_request"


def test_expired_interaction_shows_start_again_page(hub, app):
    response = hub.web.get("/interaction/doesnotexist/login")
    assert response.status_code == 400
    assert "bắt đầu lại" in response.get_data(as_text=True)
    response = hub.web.get("/authorize/resume/doesnotexist")
    assert response.status_code == 400


def test_nonce_cannot_be_replayed(hub):
    a, _ = hub.add_client(first_party=True)
    hub.add_user()
    hub.code_for(a, nonce="n-123")
    response = hub.authorize(
        response_type="code", client_id=a, redirect_uri=RP, scope="openid", nonce="n-123"
    )
    assert query_of(response.headers["Location"])["error"] == "invalid_request"


def test_pkce_public_client_flow_issues_code(hub):
    a, _ = hub.add_client(auth_method="none", first_party=True)
    hub.add_user()
    _, challenge = pkce_pair()
    code = hub.code_for(a, code_challenge=challenge, code_challenge_method="S256")
    assert code


def test_session_absolute_timeout_ends_sso_even_when_active(hub, clock, app):
    a, _ = hub.add_client(first_party=True)
    hub.add_user()
    hub.code_for(a)
    cfg = app.config["IDP"].session
    step, elapsed = cfg.idle_timeout - 61, 0

    def silent():
        response = hub.authorize(
            response_type="code", client_id=a, redirect_uri=RP, scope="openid", prompt="none"
        )
        return query_of(response.headers["Location"])

    while elapsed + step < cfg.absolute_timeout:
        clock.advance(step)
        elapsed += step
        assert "code" in silent()  # active use keeps the session alive...
    clock.advance(cfg.absolute_timeout - elapsed)
    assert silent()["error"] == "login_required"  # ...but never past the absolute lifetime
