"""Devices and sessions: a citizen sees where they are signed in and ends sessions; an admin
ends every session of a user from the command line."""

from __future__ import annotations

import re

from flask.testing import FlaskClient

from tests.conftest import Hub, hidden_inputs, query_of

RP = "https://rp.example/cb"


def browser(hub: Hub, user_agent: str) -> FlaskClient:
    web = hub.app.test_client()
    web.environ_base["HTTP_USER_AGENT"] = user_agent
    return web


def sign_in_account(hub: Hub, web: FlaskClient) -> None:
    response = web.get("/account")
    assert response.status_code == 302 and "/login?next=/account" in response.headers["Location"]
    response = web.get(response.headers["Location"])
    login_url = response.headers["Location"]
    form = hidden_inputs(web.get(login_url).get_data(as_text=True))
    form.update(username="citizen01", password="Mật-khẩu-123")
    response = web.post(login_url, data=form)
    assert response.headers["Location"] == "/account"


def test_hub_login_only_returns_to_local_paths(hub):
    for bad in ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:x"]:
        response = hub.web.get("/login", query_string={"next": bad})
        login_url = response.headers["Location"]
        hub.add_user() if bad == "https://evil.example/" else None
        form = hidden_inputs(hub.web.get(login_url).get_data(as_text=True))
        form.update(username="citizen01", password="Mật-khẩu-123")
        assert hub.web.post(login_url, data=form).headers["Location"] == "/account"
        hub.web.delete_cookie("idp_sso")


def test_sessions_page_lists_devices_and_ends_one(hub):
    client_id, _ = hub.add_client(name="Hệ thống Một cửa", first_party=True)
    hub.add_user()
    phone, laptop = browser(hub, "Phone/1.0"), browser(hub, "Laptop/2.0")
    sign_in_account(hub, phone)
    sign_in_account(hub, laptop)
    Hub(hub.app, phone).code_for(client_id)  # the phone also used a service
    page = laptop.get("/account/sessions").get_data(as_text=True)
    assert "Phone/1.0" in page and "Laptop/2.0" in page and "Hệ thống Một cửa" in page
    phone_sid = re.search(
        r'action="/account/sessions/([^/]+)/end"', page.split("Phone/1.0")[1]
    ).group(1)
    form = hidden_inputs(page)
    response = laptop.post(f"/account/sessions/{phone_sid}/end", data=form)
    assert response.headers["Location"] == "/account/sessions"
    # The phone is signed out everywhere; the laptop is not.
    assert phone.get("/account").status_code == 302
    silent = phone.get(
        "/authorize",
        query_string={
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": RP,
            "scope": "openid",
            "prompt": "none",
        },
    )
    assert query_of(silent.headers["Location"])["error"] == "login_required"
    assert laptop.get("/account").status_code == 200


def test_end_other_sessions_and_sign_out(hub):
    hub.add_user()
    one, two = browser(hub, "One"), browser(hub, "Two")
    sign_in_account(hub, one)
    sign_in_account(hub, two)
    form = hidden_inputs(two.get("/account/sessions").get_data(as_text=True))
    two.post("/account/sessions/end-others", data=form)
    assert one.get("/account").status_code == 302
    page = two.get("/account/sessions").get_data(as_text=True)
    assert "One" not in page and "Two" in page
    assert two.post("/account/logout", data={}).status_code == 400  # no CSRF token
    response = two.post("/account/logout", data=hidden_inputs(page))
    assert response.status_code == 200 and "idp_sso=;" in response.headers["Set-Cookie"]
    assert two.get("/account").status_code == 302


def test_cannot_end_someone_elses_session(hub):
    hub.add_user(username="citizen01")
    hub.add_user(username="citizen02")
    victim = browser(hub, "Victim")
    sign_in_account(hub, victim)
    victim_sid = re.search(
        r"/account/sessions/([^/]+)/end", victim.get("/account/sessions").get_data(as_text=True)
    ).group(1)
    attacker = browser(hub, "Attacker")
    response = attacker.get("/login")
    login_url = attacker.get(response.headers["Location"]).request.path
    form = hidden_inputs(attacker.get(login_url).get_data(as_text=True))
    form.update(username="citizen02", password="Mật-khẩu-123")
    attacker.post(login_url, data=form)
    form = hidden_inputs(attacker.get("/account/sessions").get_data(as_text=True))
    attacker.post(f"/account/sessions/{victim_sid}/end", data=form)
    assert victim.get("/account").status_code == 200


def test_a_session_record_with_fields_from_a_newer_version_still_loads(app):
    """During a rolling deploy a newer worker may write fields this one does not know."""
    from idp.login import sessions
    from idp.store import kv

    with app.test_request_context("/"):
        session, _ = sessions.start(user_id=1, amr=["pwd"], acr="LoA1")
        record = kv().get(f"sso:{session.key}")
        kv().put(f"sso:{session.key}", {**record, "field_of_a_later_version": 1}, 600)
        loaded = sessions.by_sid(session.sid)
        assert loaded is not None and loaded.sid == session.sid and loaded.user_id == 1
