"""Two `idp serve` instances (two gunicorn workers each) on different ports, sharing one
PostgreSQL database and one Redis (or, on one host, one SQLite file), behave as one hub: sign in
on one, exchange and refresh on the other, log out on either; a disabled client is refused by
both within a few seconds; fifty concurrent uses of one code give exactly one success, and of one
refresh token exactly one new pair (every use gets it: a retry after a lost answer)."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from tests.conftest import REDIS_URL, fresh_pg_database

from .live import Browser, LiveHub

REDIRECT = "https://rp.example/cb"
PASSWORD = "Mật-khẩu-123"


@pytest.fixture(scope="module")
def shared_database():
    with fresh_pg_database("idp_scale") as url:
        yield url


@pytest.fixture(scope="module", params=["pg", "sqlite"])
def pair(request, tmp_path_factory):
    """Instances A and B: one issuer, one keys folder, one database, one short-lived store:
    PostgreSQL and Redis, or one SQLite file (and its short-lived table) on one host."""
    root = tmp_path_factory.mktemp("scale")
    if request.param == "pg":
        prefix = f"idpscale:{uuid.uuid4().hex[:8]}:"
        stores = (
            f'database_url = "{request.getfixturevalue("shared_database")}"\n'
            f'redis_url = "{REDIS_URL}"\nredis_key_prefix = "{prefix}"\n'
        )
    else:
        stores = f'database_url = "sqlite:///{root / "shared.db"}"\n'
    (root / "a").mkdir()
    (root / "b").mkdir()
    a, b = LiveHub(root / "a"), LiveHub(root / "b")
    for hub in (a, b):
        hub.config_path.write_text(
            f'issuer = "{a.url}"\ninstance_dir = "{hub.workdir / "instance"}"\n'
            f'keys_dir = "{root / "keys"}"\n{stores}'
            "[server]\nworkers = 2\n"
        )
    a.start()
    b.start()
    client = a.cli_json(
        "clients", "add", "--name", "Một cửa", "--redirect-uri", REDIRECT, "--first-party"
    )
    a.cli("users", "add", "--username", "congdan01", "--password", PASSWORD)
    yield SimpleNamespace(a=a, b=b, client_id=client["client_id"], secret=client["client_secret"])
    a.stop()
    b.stop()


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorize(pair, hub: LiveHub, browser: Browser) -> tuple[str, str]:
    """Sign in (or reuse the browser's session) on `hub`; returns the code and its verifier."""
    verifier, challenge = pkce()
    query = urlencode(
        {
            "response_type": "code",
            "client_id": pair.client_id,
            "redirect_uri": REDIRECT,
            "scope": "openid profile",
            "state": "s",
            "nonce": secrets.token_urlsafe(8),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    back = browser.sign_in(f"{hub.url}/authorize?{query}", "congdan01", PASSWORD)
    return parse_qs(urlsplit(back).query)["code"][0], verifier


def exchange(pair, hub: LiveHub, code: str, verifier: str) -> requests.Response:
    return requests.post(
        hub.url + "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
        auth=(pair.client_id, pair.secret),
        timeout=30,
    )


def refresh(pair, hub: LiveHub, token: str) -> requests.Response:
    return requests.post(
        hub.url + "/token",
        data={"grant_type": "refresh_token", "refresh_token": token},
        auth=(pair.client_id, pair.secret),
        timeout=30,
    )


def userinfo(hub: LiveHub, access_token: str) -> requests.Response:
    headers = {"Authorization": f"Bearer {access_token}"}
    return requests.get(hub.url + "/userinfo", headers=headers, timeout=10)


def new_browser(pair) -> Browser:
    browser = Browser(pair.a)
    browser.hub = SimpleNamespace(url="http://127.0.0.1:")  # either instance is the hub
    return browser


def test_sign_in_on_one_exchange_and_refresh_on_the_other_log_out_on_either(pair):
    browser = new_browser(pair)
    code, verifier = authorize(pair, pair.a, browser)
    tokens = exchange(pair, pair.b, code, verifier)
    assert tokens.status_code == 200, tokens.text
    renewed = refresh(pair, pair.a, tokens.json()["refresh_token"])
    assert renewed.status_code == 200, renewed.text
    assert userinfo(pair.b, renewed.json()["access_token"]).status_code == 200
    # Single sign-on across instances: B finds the session A started, no password asked.
    code, verifier = authorize(pair, pair.b, browser)
    assert exchange(pair, pair.a, code, verifier).status_code == 200
    # Logging out on B ends the session for A too.
    page = browser.open(pair.b.url + "/account")
    assert page.status_code == 200
    browser.submit(page, {})  # the account page's sign-out form
    again = browser.open(f"{pair.a.url}/account")
    assert "/login" in again.url


def test_a_disabled_client_is_refused_by_every_instance_within_seconds(pair):
    service = pair.a.cli_json("clients", "add-service", "--name", "Tự động")
    credentials = (service["client_id"], service["client_secret"])

    def answer(hub: LiveHub) -> int:
        data = {"grant_type": "client_credentials"}
        return requests.post(
            hub.url + "/token", data=data, auth=credentials, timeout=10
        ).status_code

    assert answer(pair.a) == 200 and answer(pair.b) == 200  # both now cache the client
    pair.b.cli("clients", "disable", service["client_id"])
    deadline = time.monotonic() + 15  # a bound on waiting, not a measurement
    refused = set()
    while time.monotonic() < deadline and refused != {"a", "b"}:
        refused |= {name for name, hub in (("a", pair.a), ("b", pair.b)) if answer(hub) == 401}
        time.sleep(0.2)
    assert refused == {"a", "b"}


def test_fifty_concurrent_redemptions_of_one_code_give_exactly_one_success(pair):
    code, verifier = authorize(pair, pair.a, new_browser(pair))
    hubs = [pair.a, pair.b] * 25
    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(lambda hub: exchange(pair, hub, code, verifier), hubs))
    winners = [r for r in answers if r.status_code == 200]
    assert len(winners) == 1, [r.status_code for r in answers]
    assert all(r.json().get("error") == "invalid_grant" for r in answers if r not in winners)
    # The code was replayed, so the tokens of the one success are revoked (RFC 6749 §4.1.2).
    deadline = time.monotonic() + 10
    while userinfo(pair.b, winners[0].json()["access_token"]).status_code != 401:
        assert time.monotonic() < deadline, "the replayed code's tokens still work"
        time.sleep(0.2)
    assert refresh(pair, pair.a, winners[0].json()["refresh_token"]).status_code == 400


def test_fifty_concurrent_uses_of_one_refresh_token_give_exactly_one_new_pair(pair):
    code, verifier = authorize(pair, pair.a, new_browser(pair))
    first = exchange(pair, pair.b, code, verifier).json()
    hubs = [pair.a, pair.b] * 25
    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(lambda hub: refresh(pair, hub, first["refresh_token"]), hubs))
    # One rotation; every other use is a retry within the window, by the same client, while
    # the new pair is unused: it gets that same pair (a lost answer is not theft).
    assert [r.status_code for r in answers] == [200] * 50
    pairs = {(r.json()["access_token"], r.json()["refresh_token"]) for r in answers}
    assert len(pairs) == 1
    (access, renewed) = pairs.pop()
    assert renewed != first["refresh_token"]
    assert userinfo(pair.b, access).status_code == 200
    assert refresh(pair, pair.a, renewed).status_code == 200
