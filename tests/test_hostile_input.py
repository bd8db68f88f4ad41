"""Malformed, oversized and hostile input gets the spec's error or a readable page, never a 500."""

import random
import string

import pytest

JUNK = [
    "",
    " ",
    "\x00",
    "%00",
    "%ff%fe",
    "é" * 50,
    "😀",
    "a" * 5000,
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "../../etc/passwd",
    "\r\nSet-Cookie: x=1",
    "null",
    "[]",
    "{}",
    '{"userinfo": 5}',
    "\\",
    '"',
    "javascript:alert(1)",
    "https://evil.example/cb",
]
ENDPOINTS = [
    ("GET", "/authorize"),
    ("POST", "/authorize"),
    ("POST", "/token"),
    ("GET", "/userinfo"),
    ("POST", "/userinfo"),
    ("POST", "/revoke"),
    ("POST", "/introspect"),
    ("GET", "/.well-known/openid-configuration"),
    ("GET", "/jwks"),
]
PARAMS = [
    "client_id",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "nonce",
    "prompt",
    "max_age",
    "claims",
    "code",
    "grant_type",
    "refresh_token",
    "code_verifier",
    "code_challenge",
    "code_challenge_method",
    "token",
    "token_type_hint",
    "client_secret",
    "client_assertion",
    "client_assertion_type",
    "access_token",
    "id_token_hint",
    "ui_locales",
    "login_hint",
]


def test_random_junk_never_causes_a_server_error(hub):
    client_id, secret = hub.add_client()
    rng = random.Random(20261122)
    for _ in range(300):
        method, path = rng.choice(ENDPOINTS)
        params = {}
        for name in rng.sample(PARAMS, rng.randint(0, 6)):
            params[name] = rng.choice(JUNK + [client_id, "code", "openid"])
        if rng.random() < 0.5:
            params["client_id"] = client_id
            params["redirect_uri"] = "https://rp.example/cb"
        headers = {}
        if rng.random() < 0.3:
            headers["Authorization"] = rng.choice(
                [
                    "Basic "
                    + "".join(rng.choices(string.ascii_letters + string.punctuation, k=20)),
                    "Bearer \x00",
                    "Bearer " + "x" * 3000,
                    "Basic Og==",
                    f"Basic {client_id}",
                ]
            )
        if method == "GET":
            response = hub.web.get(path, query_string=params, headers=headers)
        else:
            response = hub.web.post(path, data=params, headers=headers)
        assert response.status_code < 500, (method, path, params, response.get_data()[:300])


@pytest.mark.parametrize(
    "raw",
    [
        "/authorize?client_id=%ff%fe&redirect_uri=%c3%28",
        "/authorize?" + "&".join(f"p{i}=1" for i in range(200)),
        "/authorize?client_id=" + "a" * 8000,
        "/interaction/" + "x" * 500 + "/login",
        "/authorize/resume/%00",
        "/nope",
    ],
)
def test_odd_urls(hub, raw):
    response = hub.web.get(raw)
    assert 400 <= response.status_code < 500
    assert "text/html" in response.content_type


def test_oversized_body_is_refused(hub):
    response = hub.web.post("/token", data={"grant_type": "x" * (70 * 1024)})
    assert response.status_code == 413
    assert response.get_json()["error"] == "invalid_request"


def test_form_with_control_characters_and_overlong_username(hub):
    from tests.conftest import hidden_inputs

    client_id, _ = hub.add_client()
    url = hub.login_url(client_id)
    for username, password in [
        ("\x00\x01", "x"),
        ("u" * 500, "p"),
        ("a", "p" * 10000),
        ("😀", "%ff"),
    ]:
        form = hidden_inputs(hub.web.get(url).get_data(as_text=True))
        form.update(username=username, password=password)
        response = hub.web.post(url, data=form)
        assert response.status_code in (400, 413), username
    form = hidden_inputs(hub.web.get(url).get_data(as_text=True))
    raw = f"csrf_token={form['csrf_token']}&username=%ff%fe&password=%c3%28"
    response = hub.web.post(url, data=raw, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400


def test_json_endpoints_answer_json_for_unknown_methods(hub):
    response = hub.web.put("/token")
    assert response.status_code == 405 and response.get_json()["error"] == "invalid_request"
