"""Every sign-in belongs to the browser that started it (threat model §1), against `idp serve`
and `idp mock-national` as separate processes, on SQLite and on PostgreSQL + Redis: a link to
the national button, the first-national-login page, a forwarded national-portal callback and
the second-factor page do nothing in another browser; a session replaced in a browser ends
the way logout ends it."""

from __future__ import annotations

import secrets

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.flows.two_browsers import (
    FOREIGN,
    OTHER,
    OTHER_PASSWORD,
    PASSWORD,
    USER,
    Client,
    Person,
    newest_sms_code,
    start_hub,
)


@pytest.fixture(scope="module", params=["sqlite", "pg"])
def live(request, tmp_path_factory):
    backend = ""
    if request.param == "pg":
        from tests.conftest import REDIS_URL

        backend = (
            f'database_url = "{request.getfixturevalue("pg_database_url")}"\n'
            f'redis_url = "{REDIS_URL}"\nredis_key_prefix = "idp2b:{secrets.token_hex(4)}:"\n'
        )
    hub, mock = start_hub(tmp_path_factory.mktemp(f"two-browsers-{request.param}"), backend)
    hub.mock = mock
    yield hub
    hub.stop()
    mock.stop()
    if request.param == "pg":
        from tests.conftest import empty_pg

        empty_pg(request.getfixturevalue("pg_database_url"))


@pytest.fixture
def client(live):
    return Client(live, f"he-thong-{secrets.token_hex(3)}")


def claims_of(live, id_token: str) -> dict:
    jwks = KeySet.import_key_set(Person(live).session.get(live.url + "/jwks", timeout=5).json())
    return jwt.decode(id_token, jwks).claims


def test_a_link_to_the_national_button_opens_nothing_in_another_browser(live, client):
    attacker, victim = Person(live), Person(live)
    button = attacker.national_button(client)
    opened = victim.get(button)
    assert opened.status_code == 400 and "Location" not in opened.headers
    assert FOREIGN in opened.text
    # The attacker's own sign-in is untouched.
    assert attacker.get(button).headers["Location"].startswith(live.mock.url)


def test_the_first_national_login_page_belongs_to_its_browser(live, client):
    attacker, victim = Person(live), Person(live)
    callback = live.mock.decide(victim.to_national_portal(client), "an")
    choose = victim.open(callback)
    assert choose.url.endswith("/national/first") and "Nguyễn Văn An" in choose.text
    path = choose.url[len(live.url) :]

    seen = attacker.get(path)
    assert seen.status_code == 400 and FOREIGN in seen.text
    assert "Nguyễn Văn An" not in seen.text and "001090000001" not in seen.text
    taken = attacker.post(path, {"action": "create", "username": "keganxau01",
                                 "email": "attacker@example.net"})  # fmt: skip
    assert taken.status_code == 400 and "Location" not in taken.headers

    created = victim.send(
        choose, {"action": "create", "username": "nguyenvanan", "email": "an@example.vn"}
    )
    claims = claims_of(live, client.exchange(created.final_location)["id_token"])
    assert claims["email"] == "an@example.vn"

    # The next national sign-in of the same person, in a third browser, is the victim's account.
    again = Person(live)
    back = again.open(live.mock.decide(again.to_national_portal(client), "an"))
    tokens = client.exchange(back.final_location)
    assert claims_of(live, tokens["id_token"])["sub"] == claims["sub"]
    assert client.userinfo(tokens["access_token"]).json()["email"] == "an@example.vn"


def test_a_forwarded_national_callback_signs_nobody_in(live, client):
    attacker, victim = Person(live), Person(live)
    signed_in = victim.password_sign_in(client, USER, PASSWORD)
    victim_sub = claims_of(live, client.exchange(signed_in.final_location)["id_token"])["sub"]

    # The attacker signs in upstream as himself and stops before the hub's callback.
    callback = live.mock.decide(attacker.to_national_portal(client), "binh")
    forwarded = victim.get(callback)
    assert forwarded.status_code == 400 and FOREIGN in forwarded.text
    assert "Set-Cookie" not in forwarded.headers or "idp_sso" not in forwarded.headers["Set-Cookie"]

    # The victim's session is still the victim's, even silently.
    silent = victim.open(client.authorize_url(prompt="none"))
    assert claims_of(live, client.exchange(silent.final_location)["id_token"])["sub"] == victim_sub

    # And the state was not spent: the browser that went upstream goes on.
    onward = attacker.get(callback)
    assert onward.status_code == 302 and "/national/first" in onward.headers["Location"]


def test_the_second_factor_step_belongs_to_its_browser(live):
    client = Client(live, f"mfa-{secrets.token_hex(3)}", "--require-mfa")
    attacker, victim = Person(live), Person(live)
    code_page = victim.password_sign_in(client, USER, PASSWORD)
    assert code_page.status_code == 200 and "/otp" in code_page.url, code_page.url
    assert "09******78" in code_page.text  # the masked number
    path = code_page.url[len(live.url) :]
    code = newest_sms_code(live)

    seen = attacker.get(path)
    assert seen.status_code == 400 and FOREIGN in seen.text and "******" not in seen.text
    tried = attacker.post(path, {"action": "verify", "method": "sms", "code": code})
    assert tried.status_code == 400 and "Location" not in tried.headers
    assert "idp_sso" not in tried.headers.get("Set-Cookie", "")

    done = victim.send(code_page, {"action": "verify", "method": "sms", "code": code})
    claims = claims_of(live, client.exchange(done.final_location)["id_token"])
    assert claims["acr"] == "LoA1-MFA"


@pytest.mark.parametrize("second", [OTHER, USER])
def test_a_session_replaced_in_the_browser_ends_like_logout(live, receiver, second):
    client = Client(live, f"bc-{secrets.token_hex(3)}", "--backchannel-logout-uri", receiver.url)
    browser = Person(live)
    first = client.exchange(browser.password_sign_in(client, USER, PASSWORD).final_location)
    old_sid = claims_of(live, first["id_token"])["sid"]
    assert client.userinfo(first["access_token"]).status_code == 200

    password = OTHER_PASSWORD if second == OTHER else PASSWORD
    page = browser.login_page(client, prompt="login")
    again = browser.submit(page, {"username": second, "password": password})
    newer = client.exchange(again.final_location)
    assert claims_of(live, newer["id_token"])["sid"] != old_sid

    # The replaced session's tokens are dead at once, as after logout.
    assert client.userinfo(first["access_token"]).status_code == 401
    assert client.introspect(first["access_token"]) == {"active": False}
    assert client.refresh(first["refresh_token"]).json()["error"] == "invalid_grant"
    assert client.userinfo(newer["access_token"]).status_code == 200
    # …and the client heard of it by the back channel.
    assert receiver.received.wait(15), "no back-channel logout for the replaced session"
    jwks = KeySet.import_key_set(browser.session.get(live.url + "/jwks", timeout=5).json())
    assert old_sid in {jwt.decode(t, jwks).claims["sid"] for t in receiver.tokens}


def test_the_password_page_belongs_to_its_browser(live, client):
    attacker, victim = Person(live), Person(live)
    login = attacker.login_page(client)
    path = login.url[len(live.url) :]
    seen = victim.get(path)
    assert seen.status_code == 400 and FOREIGN in seen.text
    posted = victim.post(path, {"username": USER, "password": PASSWORD})
    assert posted.status_code == 400 and "idp_sso" not in posted.headers.get("Set-Cookie", "")
    # The victim typed their password into a page of the attacker's sign-in: nothing happened,
    # and the attacker's browser is still not signed in as the victim.
    assert attacker.get(path).status_code == 200
    assert attacker.get("/account").status_code == 302


def test_a_logout_link_from_elsewhere_asks_before_ending_the_session(live, client):
    victim = Person(live)
    tokens = client.exchange(victim.password_sign_in(client, USER, PASSWORD).final_location)
    asked = victim.get(f"/logout?client_id={client.client_id}")
    assert asked.status_code == 200 and 'name="decision"' in asked.text
    assert client.userinfo(tokens["access_token"]).status_code == 200
    assert victim.get("/account").status_code == 200
