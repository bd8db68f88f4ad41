"""Forgotten password, lockout, profile changes and counter-staff registration."""

from __future__ import annotations

import json
import os
import subprocess
from urllib.parse import urlsplit

from sqlalchemy import select

from idp.store import db
from idp.store.models import AuditEvent
from tests.accounts.test_registration import CITIZEN, post_form
from tests.conftest import hidden_inputs, last_sms_code, query_of

PASSWORD = "Mật-khẩu-123"
NEW_PASSWORD = "Sông-Hồng-chảy-mãi-2026"


def account_browser(hub, username="citizen01", password=PASSWORD):
    web = hub.app.test_client()
    login_url = web.get(web.get("/login").headers["Location"]).request.path
    form = hidden_inputs(web.get(login_url).get_data(as_text=True))
    form.update(username=username, password=password)
    response = web.post(login_url, data=form)
    assert response.status_code == 302, response.get_data(as_text=True)
    return web


def test_forgot_password_resets_and_ends_every_session(hub, smtp):
    client_id, _ = hub.add_client(first_party=True)
    hub.add_user(email="dan@example.vn")
    hub.code_for(client_id)  # a live session in this browser
    before = len(smtp.messages)
    for identifier in ("citizen01", "nobody", "nobody@example.vn"):
        response = post_form(hub.app.test_client(), "/password/forgot", {"identifier": identifier})
        assert response.status_code == 200 and "kiểm tra hộp thư" in response.get_data(as_text=True)
    assert len(smtp.messages) == before + 1  # same answer, one mail
    path = urlsplit(smtp.last_link("/password/reset/")).path
    other = hub.app.test_client()
    weak = post_form(other, path, {"password": "12345678", "password_confirm": "12345678"})
    assert weak.status_code == 400 and 'id="password-error"' in weak.get_data(as_text=True)
    done = post_form(other, path, {"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD})
    assert done.status_code == 200, done.get_data(as_text=True)
    assert (
        post_form(
            other, path, {"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD}
        ).status_code
        == 400
    )  # single use
    silent = hub.authorize(
        response_type="code",
        client_id=client_id,
        redirect_uri="https://rp.example/cb",
        scope="openid",
        prompt="none",
    )
    assert query_of(silent.headers["Location"])["error"] == "login_required"
    assert hub.sign_in(client_id, password=PASSWORD).status_code == 400
    assert "code" in query_of(hub.sign_in(client_id, password=NEW_PASSWORD).headers["Location"])


def test_reset_link_expires(hub, smtp, clock, app):
    hub.add_user(email="dan@example.vn")
    post_form(hub.web, "/password/forgot", {"identifier": "dan@example.vn"})
    path = urlsplit(smtp.last_link("/password/reset/")).path
    if app.config["IDP"].redis_url:
        hub.web.application.extensions["idp_kv"].delete(
            "reset:" + __import__("idp.security", fromlist=["x"]).sha256_hex(path.rsplit("/", 1)[1])
        )
    else:
        clock.advance(app.config["IDP"].accounts.reset_ttl + 1)
    assert hub.web.get(path).status_code == 400


def test_lockout_says_until_when_and_reset_lifts_it(hub, smtp, app):
    client_id, _ = hub.add_client(first_party=True)
    hub.add_user(email="dan@example.vn")
    for _ in range(app.config["IDP"].login.max_attempts_per_user):
        last = hub.sign_in(client_id, password="wrong-password!")
    html = last.get_data(as_text=True)
    assert "khóa đến" in html
    assert hub.sign_in(client_id, password=PASSWORD).status_code == 400  # still locked
    post_form(hub.web, "/password/forgot", {"identifier": "citizen01"})
    path = urlsplit(smtp.last_link("/password/reset/")).path
    post_form(
        hub.app.test_client(), path, {"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD}
    )
    assert hub.sign_in(client_id, password=NEW_PASSWORD).status_code == 302
    with app.app_context():
        events = db.session.scalars(select(AuditEvent.event)).all()
    assert "login_locked" in events and events.count("login_failure") >= 1


def test_profile_update_and_email_change_needs_confirmation(hub, smtp, app):
    hub.add_user(email="old@example.vn", full_name="Lê Văn Cũ", phone="0912345678")
    web = account_browser(hub)
    page = web.get("/account/profile")
    assert 'value="Lê Văn Cũ"' in page.get_data(as_text=True)
    form = hidden_inputs(page.get_data(as_text=True))
    form.update(
        full_name="Lê Văn Mới", phone="+84987654321", email="new@example.vn", address="5 Lý Thái Tổ"
    )
    response = web.post("/account/profile", data=form)
    # A new mobile number waits for the SMS code sent to it.
    assert response.status_code == 302 and response.headers["Location"].endswith("/account/phone")
    with app.app_context():
        from idp.store import users

        user = users.by_username("citizen01")
        assert user.full_name == "Lê Văn Mới" and user.phone == "0912345678"
        assert user.email == "old@example.vn"  # not until confirmed
    page = web.get("/account/phone").get_data(as_text=True)
    assert "09******21" in page
    confirmed = web.post(
        "/account/phone",
        data={**hidden_inputs(page), "action": "verify", "code": last_sms_code(app)},
    )
    assert confirmed.status_code == 302
    with app.app_context():
        user = users.by_username("citizen01")
        assert user.phone == "0987654321" and user.phone_verified
    assert "new@example.vn" in [m["To"] for m in smtp.messages]
    assert (
        hub.app.test_client().get(urlsplit(smtp.last_link("/email/confirm/")).path).status_code
        == 200
    )
    with app.app_context():
        assert users.by_username("citizen01").email == "new@example.vn"
    bad = web.post("/account/profile", data={**form, "phone": "12", "full_name": ""})
    html = bad.get_data(as_text=True)
    assert bad.status_code == 400 and 'id="phone-error"' in html and 'id="full_name-error"' in html


def test_change_password_needs_the_current_one_and_signs_out_other_devices(hub):
    hub.add_user()
    phone = account_browser(hub)
    laptop = account_browser(hub)
    form = hidden_inputs(laptop.get("/account/password").get_data(as_text=True))
    wrong = laptop.post(
        "/account/password",
        data={
            **form,
            "current_password": "nope",
            "password": NEW_PASSWORD,
            "password_confirm": NEW_PASSWORD,
        },
    )
    assert wrong.status_code == 400 and 'id="current_password-error"' in wrong.get_data(
        as_text=True
    )
    ok = laptop.post(
        "/account/password",
        data={
            **form,
            "current_password": PASSWORD,
            "password": NEW_PASSWORD,
            "password_confirm": NEW_PASSWORD,
        },
    )
    assert ok.status_code == 200
    assert laptop.get("/account").status_code == 200
    assert phone.get("/account").status_code == 302


def test_staff_register_a_citizen_who_sets_their_own_password(hub, smtp, app):
    client_id, _ = hub.add_client(first_party=True)
    from tests.accounts.test_phone_and_app import counter_staff

    hub.add_user(username="citizen02")
    assert account_browser(hub, "citizen02").get("/staff/register").status_code == 403
    staff = counter_staff(hub, app)
    fields = {k: v for k, v in CITIZEN.items() if not k.startswith("password")}
    response = post_form(staff, "/staff/register", fields)
    assert response.status_code == 200, response.get_data(as_text=True)
    message = smtp.messages[-1]
    assert message["To"] == CITIZEN["email"] and "Phạm Thị Cán Bộ" in message.get_content()
    path = urlsplit(smtp.last_link("/password/reset/")).path
    post_form(
        hub.app.test_client(), path, {"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD}
    )
    assert "code" in query_of(
        hub.sign_in(client_id, username="nguyenvanan", password=NEW_PASSWORD).headers["Location"]
    )
    with app.app_context():
        event = db.session.scalar(
            select(AuditEvent).where(AuditEvent.event == "user_registered_by_staff")
        )
        assert event.detail["staff"] == "canbo.motcua"
        assert event.detail["staff_name"] == "Phạm Thị Cán Bộ" and event.username == "nguyenvanan"


def test_grant_role_command(tmp_path):
    config = tmp_path / "idp.toml"
    config.write_text(f'instance_dir = "{tmp_path / "i"}"\n')

    def run(*a):
        return subprocess.run(
            ["idp", "--config", str(config), *a],
            capture_output=True,
            text=True,
            timeout=120,
            env=os.environ,
        )

    assert run("init").returncode == 0
    assert (
        run(
            "users", "add", "--username", "canbo.motcua", "--password", NEW_PASSWORD, "--json"
        ).returncode
        == 0
    )
    granted = run("users", "grant-role", "canbo.motcua", "staff")
    assert granted.returncode == 0 and "staff" in granted.stdout
    assert run("users", "grant-role", "canbo.motcua", "root").returncode != 0
    assert "(none)" in run("users", "revoke-role", "canbo.motcua", "staff").stdout
    assert (
        json.loads(
            run(
                "users", "add", "--username", "other.user", "--password", NEW_PASSWORD, "--json"
            ).stdout
        )["username"]
        == "other.user"
    )
